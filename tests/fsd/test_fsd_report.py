"""FSD report: the per-system figure and report.html (worst systems first, problems listed)."""

import numpy as np

from bsct.fsd.metric import METRIC_KEYS
from bsct.fsd.report import plot_file_name, plot_fsd_system, write_fsd_report

R = np.linspace(0.8, 2.0, 13)


def curves(step_at: int) -> dict:
    log_ratio = np.zeros_like(R)
    log_ratio[step_at + 1 :] = 2.0  # one jump: the steepest step is frames step_at, step_at + 1
    return {"r_angstrom": R, "eq_idx": 4, "energy_ref_profile_ev": (R - R[4]) ** 2,
            "energy_model_profile_ev": (R - R[4]) ** 2 + 0.1, "dforce_sq_ref": R**2, "dforce_sq_model": R**2 + 1,
            "log_ratio": log_ratio}


def result(fsd_by_label: dict[str, float]) -> dict:
    systems = {lab: {k: v for k in METRIC_KEYS} | {"n_atoms": 5, "r_eq_angstrom": 1.2}
               for lab, v in fsd_by_label.items()}
    mean = {k: float(np.mean(list(fsd_by_label.values()))) for k in METRIC_KEYS} | {"n_systems": len(systems)}
    return {"schema": "bsct.fsd/2", "model": "toy<model>", "data": "/data", "eps_ev_per_angstrom": 1.0, "systems": systems, "per_bond": {"C-O": mean}, "mean": mean,
            "skipped": [{"system": "C-C/9", "error": "missing <frame>"}],
            "failures": [{"system": "N-O/3", "error": "RuntimeError: boom"}],
            "timings": {"wall_seconds": 1.0, "eval_seconds": 0.5, "n_frames_evaluated": 26,
                        "frames_per_second": 52.0, "workers": 1, "n_systems_evaluated": 2,
                        "n_systems_from_cache": 0, "resumed_eval_seconds": 0.0}}


def test_the_figure_marks_the_steepest_step_of_the_log_ratio():
    fig = plot_fsd_system("C-O/1", curves(step_at=7), result({"C-O/1": 3.0})["systems"]["C-O/1"])
    ax_e, ax_f, ax_l = fig.axes
    marked = next(line for line in ax_l.get_lines() if line.get_label() == "steepest step (FSD)")
    np.testing.assert_array_equal(marked.get_xdata(), R[7:9])
    assert ax_e.get_ylim() == (-1.0, 11.0) and "FSD 3.00" in ax_e.get_title()


def test_the_page_ranks_the_worst_first_embeds_only_those_and_lists_problems(tmp_path):
    res = result({"C-O/1": 1.0, "C-O/2": 5.0})
    page_path = write_fsd_report(res, {"C-O/1": curves(3), "C-O/2": curves(8)}, tmp_path, n_worst=1)
    page = page_path.read_text()
    assert sorted(p.name for p in (tmp_path / "plots").glob("*.png")) == ["C-O_1.png", "C-O_2.png"]
    assert page.count("data:image/png;base64,") == 1  # only the worst system's plot is embedded
    ranking = page[page.index("Worst systems"):page.index("Plots of the worst")]
    assert "C-O/2" in ranking and "C-O/1" not in ranking
    (tmp_path / "all").mkdir()  # run_fsd makes the folder before it writes the report
    both = write_fsd_report(res, {"C-O/1": curves(3), "C-O/2": curves(8)}, tmp_path / "all", plots=False).read_text()
    ranking = both[both.index("Worst systems"):both.index("Plots of the worst")]
    assert ranking.index("C-O/2") < ranking.index("C-O/1") and "(plots not written)" in both
    assert "toy&lt;model&gt;" in page and "missing &lt;frame&gt;" in page and "RuntimeError: boom" in page


def test_an_existing_plot_is_kept_on_a_resumed_run(tmp_path):
    (tmp_path / "plots").mkdir()
    kept = tmp_path / "plots" / plot_file_name("C-O/1")
    kept.write_bytes(b"earlier run")
    write_fsd_report(result({"C-O/1": 1.0}), {"C-O/1": curves(3)}, tmp_path)
    assert kept.read_bytes() == b"earlier run" and plot_file_name("C-O/1") == "C-O_1.png"
