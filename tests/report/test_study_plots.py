"""Scatter plots of a study: what they draw, and that they leave matplotlib's global state alone."""

import matplotlib
import pytest

from bsct.metrics.correlation import correlation_summary
from bsct.report.study_plots import axis_labels, md_measure, plot_correlation, plot_correlation_by_system


def rows_of(system, scores, fractions, kind="variant"):
    return [{"system": system, "potential": f"p{i}", "kind": "planted" if i == 0 else kind, "bsct_score": float(s),
             "md_stable_fraction": f, "md_mean_time_to_failure_ps": f / 2, "md_duration_ps": 0.5,
             "fsd_per_angstrom": 1.0 + i}
            for i, (s, f) in enumerate(zip(scores, fractions))]


CU = rows_of("cu", [3.0, 1.0, 0.5, 0.2, 0.0], [0.0, 0.25, 0.5, 0.75, 1.0])
SI = [{**r, "system": "si", "kind": "variant", "bsct_score": 3.0 - r["bsct_score"]} for r in CU]


def test_by_system_panels_are_titled_with_their_own_correlation():
    c = correlation_summary(CU + SI, n_bootstrap=100)
    fig = plot_correlation_by_system(CU + SI, c)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    cu = c["system_cu"]["stable_fraction"]
    assert len(titles) == 2 and titles[0] == (
        f"cu: r = {cu['pearson_r']:.2f} [{cu['pearson_ci95'][0]:.2f}, {cu['pearson_ci95'][1]:.2f}], ρ = -1.00 (n = 5)")
    assert titles[1].startswith("si: r = ") and titles[1].endswith("ρ = 1.00 (n = 5)")
    assert sum(len(ax.collections) for ax in fig.axes) == 10  # every potential drawn once
    # three systems on a 2 x 2 grid: the fourth panel is switched off
    water = [{**r, "system": "water"} for r in CU]
    fig = plot_correlation_by_system(CU + SI + water, correlation_summary(CU + SI + water, n_bootstrap=10))
    assert len(fig.axes) == 4 and not fig.axes[3].axison


def test_pooled_scatter_draws_each_row_with_md_once_with_its_measure():
    no_md = {**CU[1], "potential": "scan-only", "md_stable_fraction": None}
    fig = plot_correlation(CU + [no_md], "time_to_failure_fraction", "fsd_per_angstrom")
    (ax,) = fig.axes
    points = [tuple(c.get_offsets()[0]) for c in ax.collections]
    assert points == [(r["fsd_per_angstrom"], md_measure(r, "time_to_failure_fraction")) for r in CU]
    assert (ax.get_xlabel(), ax.get_ylabel()) == axis_labels("fsd_per_angstrom", "time_to_failure_fraction")
    assert ax.get_xscale() == "symlog"
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"variant", "planted", "cu"}
    assert ax.collections[0].get_facecolor().size == 0  # the planted control is drawn hollow


def test_points_on_one_spot_share_one_label():
    rows = [{**CU[4], "potential": name} for name in ("a", "b", "c", "d")]
    (ax,) = plot_correlation(rows).axes
    (label,) = [t.get_text() for t in ax.texts]
    assert label == "4 potentials: cu/a, cu/b, cu/c, cu/d"


def test_figures_are_not_registered_with_pyplot_nor_change_rcparams(tmp_path):
    import matplotlib.pyplot as plt

    before = (plt.get_fignums(), dict(matplotlib.rcParams))
    fig = plot_correlation(CU)
    fig.savefig(tmp_path / "scatter.png", dpi=50)
    assert (tmp_path / "scatter.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (plt.get_fignums(), dict(matplotlib.rcParams)) == before


@pytest.mark.parametrize("y_key", ["md_stable_fraction", "time_to_failure_fraction"])
def test_md_measure(y_key):
    assert md_measure(CU[2], y_key) == pytest.approx(0.5)
