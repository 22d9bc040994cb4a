"""docs/validation.md text and the study's figures, from a synthetic zoo with planted answers."""

import copy
import math

import matplotlib
import numpy as np
import pytest
from validation_zoo import protocol_analysis, synthetic_zoo

from bsct.metrics.validation_analysis import analyse
from bsct.report.validation_plots import (plot_predictor_vs_failure, plot_roc, plot_survival_by_verdict,
                                         validation_figures)
from bsct.report.validation_report import answer_paragraph, interval, overall_answer, validation_markdown


@pytest.fixture(scope="module")
def zoo():
    return synthetic_zoo(seed=0)


@pytest.fixture(scope="module")
def result(zoo):
    return analyse(*zoo, protocol_analysis(), n_bootstrap=10, n_permutations=50).to_dict()


def test_first_paragraph_answers_with_the_numbers(result):
    md = validation_markdown(result, protocol_commit="651ed7b")
    title, blank, first = md.split("\n")[:3]
    assert title.startswith("# Validation") and blank == ""
    p = result["primary"]
    assert first.startswith("**Answer: yes.** On the held-out half (48 units")
    for b in (p["difference"], p["auc_a"], p["auc_b"]):
        assert f"{b['estimate']:.2f} [{b['lo']:.2f}, {b['hi']:.2f}]" in first
    assert "4 architecture families" in first and "coarse" in first and "35 different sets" in first
    assert "651ed7b" in md and "## Constructed to fail" in md


def test_undetermined_and_no_are_said_plainly(result):
    d = copy.deepcopy(result)
    d["answer"] = {"predicts": "yes", "beats_short_nve": "undetermined", "short_nve_predicts": "yes"}
    first = answer_paragraph(d)
    assert first.startswith("**Answer: undetermined.**") and "includes 0" in first
    d["answer"]["beats_short_nve"] = "no"
    assert answer_paragraph(d).startswith("**Answer: no.**")
    assert overall_answer({"predicts": "no", "beats_short_nve": "undetermined"}) == "no"
    d["primary"] = {**d["primary"], "difference": None, "missing": "no predictor column for short_nve"}
    text = answer_paragraph(d)
    assert "could not be computed (no predictor column for short_nve)" in text and "cost is **undetermined**" in text
    bsct_auc = d["held_out"]["predictors"]["bsct_v2_at_T"]["outcomes"]["any_failure"]["auc"]
    assert f"AUC {interval(bsct_auc)}" in text


def test_tables_have_a_row_per_predictor_and_thresholds(result):
    md = validation_markdown(result)
    held = md.split("## Held-out half")[1].split("## Verdict")[0]
    rows = [line for line in held.splitlines() if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == ["bsct_v2_at_T", "good", "random", "short_nve"]
    good = result["held_out"]["predictors"]["good"]["outcomes"]["any_failure"]["auc"]
    assert interval(good) in rows[1]
    t = result["thresholds"]["good"]["applied"]["held_out"]
    verdict = md.split("## Verdict")[1].split("## Constructed")[0]
    assert f"| {t['tp']} | {t['fp']} | {t['tn']} | {t['fn']} | 0 |" in verdict
    assert interval({"estimate": None}) == "–" and interval({"estimate": 0.5, "lo": None, "hi": None}) == "0.50 [–]"


def test_roc_has_one_curve_per_predictor_per_outcome(zoo):
    units, _ = zoo
    fig = plot_roc(units)
    assert len(fig.axes) == 3
    for ax in fig.axes:
        labels = [line.get_label() for line in ax.lines]
        assert labels[0] == "chance" and len(labels) == 1 + 4
        assert any(label.startswith("good (AUC ") for label in labels)
    first = fig.axes[0]
    good = next(line for line in first.lines if line.get_label().startswith("good"))
    assert good.get_xdata()[0] == 0 and good.get_ydata()[-1] == 1  # a ROC curve runs from (0, 0) to (1, 1)
    units = units.assign(structural_failure=False)
    assert fig.axes and plot_roc(units).axes[2].texts[0].get_text() == "undefined: one class only"


def test_survival_split_by_verdict_draws_two_curves_that_separate(zoo, result):
    units, replicas = zoo
    threshold = result["thresholds"]["good"]["calibration"]["value"]
    fig = plot_survival_by_verdict(units, replicas, "good", threshold)
    (ax,) = fig.axes
    flagged, stable = ax.lines
    assert flagged.get_label().startswith("predicted to fail") and stable.get_label().startswith("predicted stable")
    assert flagged.get_ydata()[-1] < 0.8 and stable.get_ydata()[-1] > 0.95  # the planted predictor separates
    n = sum(int(line.get_label().split(": ")[1].split()[0]) for line in ax.lines)
    assert n == int((replicas.merge(units, on=["potential", "system", "temperature_k"])["split"] == "held_out").sum())
    fig = plot_survival_by_verdict(units, replicas, "random", math.nan)
    assert len(fig.axes[0].lines) == 1 and "no calibration threshold" in fig.axes[0].lines[0].get_label()


def test_scatter_has_a_panel_per_system_and_a_colour_per_family(zoo):
    units, _ = zoo
    before = dict(matplotlib.rcParams)
    fig = plot_predictor_vs_failure(units, "good")
    assert [ax.get_title().split()[0] for ax in fig.axes] == ["cu", "si"]
    for ax in fig.axes:
        assert len(ax.collections) == 8  # 4 held-out families x 2 temperatures
        assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == sorted(
            units.loc[units["split"] == "held_out", "family"].unique())
        points = np.concatenate([c.get_offsets() for c in ax.collections])
        assert len(points) == 24  # 12 held-out potentials x 2 temperatures in each system
    assert dict(matplotlib.rcParams) == before


def test_every_figure_of_the_page_is_made_and_linked(zoo, result):
    units, replicas = zoo
    figures = validation_figures(units, replicas, result["thresholds"])
    names = ["bsct_v2_at_T", "good", "random", "short_nve"]
    assert list(figures) == ["roc", *(f"{kind}_{n}" for n in names for kind in ("survival", "scatter"))]
    assert all(len(fig.axes) >= 1 for fig in figures.values())
    md = validation_markdown(result, figures={"ROC, held-out": "validation/roc.png"})
    assert "## Figures (held-out half)\n\n![ROC, held-out](validation/roc.png)" in md
