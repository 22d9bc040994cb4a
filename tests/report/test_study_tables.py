"""The Markdown tables of a study, from hand-made rows (no study is run)."""

import json
import math

import numpy as np

from bsct.metrics.correlation import correlation_summary
from bsct.report.study_tables import (
    STEP_SECONDS,
    ablation_markdown,
    config_type_error_markdown,
    correlation_markdown,
    cost_markdown,
    elastic_markdown,
    fmt,
    row_markdown,
    step_time_markdown,
    with_interval,
)
from bsct.runs import clean_json


def study_row(name, kind="variant", system="cu", **over):
    row = {"system": system, "potential": name, "kind": kind, "test_energy_rmse_mev_per_atom": 1.234,
           "test_force_rmse_mev_per_angstrom": 56.78, "unseen_force_rmse_mev_per_angstrom": 90.1,
           "bsct_score": 0.0, "bsct_artifacts": 0, "bsct_artifact_kinds": {}, "fsd_per_angstrom": 0.5,
           "md_stable_fraction": 1.0, "md_replicas": 2, "md_failure_reasons": {}, "md_mean_time_to_failure_ps": 0.2,
           "md_duration_ps": 0.2, "bsct_seconds": 2.0, "md_seconds": 20.0, "cost_ratio_bsct_over_md": 0.1,
           "train_seconds": 7.0, "errors_seconds": 1.0, "fsd_seconds": 3.0}
    return {**row, **over}


def test_fmt_and_interval():
    assert fmt(None) == fmt(math.nan) == fmt(math.inf) == "–"
    assert fmt(0.123456) == "0.123" and fmt(0.123456, 2) == "0.12" and fmt(3) == "3"
    assert with_interval(-0.876, (-1.0, -0.64)) == "-0.88 [-1.00, -0.64]"
    assert with_interval(0.5, (None, None)) == "0.50 (no interval: n < 5)"  # as read back from JSON
    assert with_interval(0.5, (math.nan, math.nan)) == "0.50 (no interval: n < 5)"


def test_row_marks_planted_controls_and_lists_artifacts_and_failures():
    row = study_row("planted energy step", "planted", bsct_score=2.53, bsct_artifacts=2,
                    bsct_artifact_kinds={"energy_jump": 1, "force_spike": 1}, md_stable_fraction=0.5,
                    md_failure_reasons={"energy_drift": 1}, train_seconds=None)
    assert row_markdown(row) == ("| planted energy step *(planted)* | planted | 1.23 | 56.8 | 90.1 "
                                 "| 2.53 (2: energy jump 1, force spike 1) | 0.5 | 0.5 (2; energy drift 1) "
                                 "| 0.2 / 0.2 | 2 / 20 = 0.1 | – |")


def test_ablation_has_a_table_per_system_the_floor_pending_and_the_step_times():
    rows = [study_row("baseline"), study_row("final", bsct_score=0.3),
            study_row("emt", "reference", train_seconds=None), study_row("sw-si", "reference", system="si")]
    text = ablation_markdown(rows, {}, systems=("cu", "si"), size="ci", seed=0, wall_seconds=12.3,
                             fsd_floor_per_angstrom={"cu": 2.3456}, pending=["cu/T=20"])
    lines = text.splitlines()
    assert lines[0] == "Study size `ci`, seed 0, 4 potentials, 12 s this invocation."
    assert "Cached results only: 1 potential not finished yet (cu/T=20)." in lines
    assert lines.index("### cu") < lines.index("### si")
    assert "FSD floor of this FSD set: 2.35 1/Å (a model whose force deviation stays under ε scores this; " \
           "from the reference labels alone, docs/fsd.md)." in lines
    assert sum(line.startswith("FSD floor") for line in lines) == 1  # si has none
    step_h = [sum(r.get(k) or 0.0 for r in rows) / 3600.0 for _, k in STEP_SECONDS]
    assert "| all | " + " | ".join(f"{h:.2f}" for h in step_h) + f" | {sum(step_h):.2f} |" in lines
    assert text.endswith("\n") and "Elastic constants" not in text


def test_step_times_per_system_in_worker_hours():
    rows = [study_row("a", train_seconds=3600.0, md_seconds=7200.0), study_row("b", system="si", md_seconds=None)]
    lines = step_time_markdown(rows)
    assert lines[2] == "| system | train | errors | BSCT | FSD | MD | elastic | total |"
    assert lines[4].startswith("| cu | 1.00 | 0.00 | 0.00 | 0.00 | 2.00 | 0.00 | 3.00 |")
    assert lines[5] == "| si | 0.00 | 0.00 | 0.00 | 0.00 | 0.00 | 0.00 | 0.00 |"


def test_cost_ratio_leaves_out_third_party_and_counts_finished_runs():
    rows = [study_row("a", cost_ratio_bsct_over_md=0.1), study_row("b", cost_ratio_bsct_over_md=0.3,
                                                                    md_stable_fraction=0.5),
            study_row("c", "third_party", cost_ratio_bsct_over_md=5.0), study_row("d", cost_ratio_bsct_over_md=None)]
    assert cost_markdown(rows) == [
        f"- cost ratio BSCT s / MD s (one MD protocol, n = 2): median {np.median([0.1, 0.3]):.2g}, range 0.1–0.3",
        "- cost ratio BSCT s / MD s (MD ran to the end, n = 1): median 0.1, range 0.1–0.1"]


def test_elastic_table_gives_each_constant_and_its_deviation_from_the_reference():
    reference = {"a0_angstrom": 3.59, "C11": 172.6, "C12": 115.4, "C44": 89.9, "bulk_modulus_gpa_eos": 134.4}
    model = {"a0_angstrom": 3.61, "C11": 158.5, "C12": 82.7, "C44": 75.8, "bulk_modulus_gpa_eos": 108.2}
    rows = [{"system": "cu", "potential": "final", "kind": "variant", "elastic": model},
            {"system": "cu", "potential": "emt", "kind": "reference", "elastic": reference},
            {"system": "cu", "potential": "baseline", "kind": "variant"}]
    lines = elastic_markdown(rows)
    final = next(line for line in lines if "| final |" in line)
    for key in ("C11", "C12", "C44", "bulk_modulus_gpa_eos"):
        assert f"{model[key]:.1f} ({100 * (model[key] - reference[key]) / reference[key]:+.0f} %)" in final
    assert "| cu | emt | 3.590 | 172.6 | 115.4 | 89.9 | 134.4 |" in lines
    assert not any("baseline" in line for line in lines)
    assert elastic_markdown(rows[2:]) == []


def test_config_type_table_gives_each_variant_its_energy_offset_and_force_rmse_per_type():
    def group(mean, f_rmse, n):
        return {"energy_mean_error_mev_per_atom": mean, "force_rmse_mev_per_angstrom": f_rmse, "n_frames": n}

    final = {"test": {"bulk": group(7.24, 15.6, 12), "slab": group(-18.6, 20.2, 5)}, "unseen": {"bcc": group(40.0, 52.7, 4)}}
    baseline = {"test": {"bulk": group(1.8, 33.0, 12)}}
    rows = [{"system": "cu", "potential": "baseline", "kind": "variant", "errors_by_config_type": baseline},
            {"system": "cu", "potential": "final", "kind": "variant", "errors_by_config_type": final},
            {"system": "cu", "potential": "emt", "kind": "reference", "errors_by_config_type": baseline},
            {"system": "si", "potential": "final", "kind": "variant"}]
    lines = config_type_error_markdown(rows)
    assert "| split | config_type | frames | baseline | final |" in lines  # the reference is not a variant
    assert "| test | bulk | 12 | +1.8 · 33 | +7.2 · 16 |" in lines
    assert "| test | slab | 5 | – | -18.6 · 20 |" in lines  # a type one potential was not measured on
    assert "| unseen | bcc | 4 | – | +40.0 · 53 |" in lines
    assert not any(line.startswith("Errors by structure type, si") for line in lines)  # no si row has it
    assert config_type_error_markdown(rows[3:]) == []


def test_correlation_table_gives_each_subset_score_and_measure_its_row():
    rows = [{"system": "cu", "potential": f"p{i}", "kind": "variant", "bsct_score": float(s), "md_stable_fraction": f,
             "md_mean_time_to_failure_ps": f, "md_duration_ps": 1.0, "fsd_per_angstrom": float(i)}
            for i, (s, f) in enumerate([(3.0, 0.0), (1.0, 0.25), (0.5, 0.5), (0.2, 0.75), (0.0, 1.0)])]
    water = [{**r, "system": "water"} for r in rows[:2]]  # too few to correlate on their own
    si = [{**r, "system": "si"} for r in rows[:4]]  # a correlation, but too few for an interval
    c = correlation_summary(rows + water + si, n_bootstrap=100)
    table = correlation_markdown(c)
    assert table[0].startswith("| potentials | n | score | MD measure | Pearson r [95 % CI]")
    fsd = c["system_cu"]["fsd_time_to_failure_fraction"]
    assert (f"| within cu | 5 | FSD | time to failure fraction | {fsd['pearson_r']:.2f} [{fsd['pearson_ci95'][0]:.2f}, "
            f"{fsd['pearson_ci95'][1]:.2f}] | {fsd['spearman_rho']:.2f} [{fsd['spearman_ci95'][0]:.2f}, "
            f"{fsd['spearman_ci95'][1]:.2f}] |") in table
    assert "| all potentials | 11 | BSCT | stable fraction | -" in "\n".join(table)
    si_r = c["system_si"]["stable_fraction"]
    assert (f"| within si | 4 | BSCT | stable fraction | {si_r['pearson_r']:.2f} (no interval: n < 5) "
            f"| {si_r['spearman_rho']:.2f} (no interval: n < 5) |") in table
    assert "| within water | 2 | BSCT | stable fraction | need at least 3 finite pairs to correlate, got 2 | |" in table
    assert correlation_markdown(json.loads(json.dumps(clean_json(c)))) == table  # as read back from study.json
    assert len([line for line in table if line.startswith("| within cu |")]) == 4  # 2 scores x 2 MD measures
