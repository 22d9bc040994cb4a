"""Diatomic curves on MLIP Arena's grid: geometry, failures kept per pair, resume, report, CHGNet smoke."""

import json
import sys

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from bsct.cli import main
from bsct.potentials import AtomsBatch, PotentialOutput
from bsct.registry import load_potential
from bsct.report.diatomics_plots import periodic_table_position, plot_diatomic_curve, plot_periodic_table
from bsct.scan.diatomics import (
    DiatomicGrid,
    dimer_geometry,
    evaluate_dimer,
    force_on_second_ev_per_angstrom,
    pair_record,
    parse_pairs,
    run_diatomics,
    run_diatomics_to,
    run_pair,
    score_diatomic_curve,
)
from bsct.runs import ResumeMismatchError


def test_grid_is_arenas_single_atom_radii_with_mean_for_mixed_pairs():
    grid = DiatomicGrid()
    r = grid.grid_angstrom("H", "H")
    # 0.9 × R_cov(H) = 0.9 × 0.31, 3.1 × R_vdW(H) = 3.1 × 1.2, n = int((3.72 - 0.279) / 0.01) = 344
    assert r[0] == pytest.approx(0.279) and r[-1] == pytest.approx(3.72) and len(r) == 344
    assert np.diff(r) == pytest.approx(np.full(343, (3.72 - 0.279) / 343))
    c_o = grid.grid_angstrom("C", "O")
    assert c_o[0] == pytest.approx(0.9 * (0.76 + 0.66) / 2) and c_o[-1] == pytest.approx(3.1 * (1.77 + 1.50) / 2)
    assert grid.r_range_angstrom("Pm")[1] == 6.0  # no Alvarez radius -> Arena's 6 Å
    assert grid.r_range_angstrom("Og")[1] == 6.0  # beyond the table


def test_dimer_sits_in_arenas_box_without_periodicity():
    r = DiatomicGrid().grid_angstrom("Cu", "Cu")
    geo = dimer_geometry("Cu", "Cu", r)
    a = 5 * r[-1]
    np.testing.assert_allclose(np.diag(geo.atoms.cell.array), [a, a + 0.001, a + 0.002])
    assert not geo.atoms.pbc.any()
    pos = geo.positions_angstrom()
    np.testing.assert_allclose(np.linalg.norm(pos[:, 1] - pos[:, 0], axis=1), r, atol=1e-12)
    np.testing.assert_allclose(pos.mean(axis=1), np.tile(np.diag(geo.atoms.cell.array) / 2, (len(r), 1)), atol=1e-12)


def test_pairs_parse_elements_all_and_extra_pairs():
    assert parse_pairs("H,C", "C-O,H-H") == [("H", "H"), ("C", "C"), ("C", "O")]
    assert len(parse_pairs("all", None)) == 118
    with pytest.raises(ValueError, match="unknown element"):
        parse_pairs("H,Xx", None)


def test_arena_force_is_minus_de_dr_on_a_morse_dimer():
    potential = load_potential("morse")
    res = run_pair(potential, "Cu", "Cu", DiatomicGrid(step_angstrom=0.05), refine_jumps=False)
    r, e, f = res.curve.r_angstrom, res.curve.energy_ev, res.force_ev_per_angstrom
    np.testing.assert_allclose(f, res.curve.scan_force_ev_per_angstrom, atol=1e-10)  # Arena's F = our f_r here
    inner = slice(2, -2)
    np.testing.assert_allclose(f[inner], -np.gradient(e, r)[inner], rtol=0.05, atol=0.02)
    assert res.score.metrics["force-flip-times"] == 1 and res.score.analysis.score == 0.0
    assert res.curve.n_model_calls == int(np.ceil(len(r) / 100))  # batched: one call per 100 dimers


class _FailsFor:
    """A Morse potential that raises for one element and returns NaN below some distance."""

    cutoff_angstrom, conservative, name = None, True, "flaky"

    def __init__(self, bad_z: int, nan_below_angstrom: float = 0.0):
        self.inner, self.bad_z, self.nan_below = load_potential("morse"), bad_z, nan_below_angstrom

    def __call__(self, batch: AtomsBatch, compute_stress: bool = False) -> PotentialOutput:
        if bool((batch.atomic_numbers == self.bad_z).any()):
            raise RuntimeError(f"element {self.bad_z} not supported")
        out = self.inner(batch)
        pos = batch.positions_angstrom.reshape(-1, 2, 3)
        short = torch.linalg.norm(pos[:, 1] - pos[:, 0], dim=1) < self.nan_below
        return PotentialOutput(torch.where(short, torch.nan, out.energy_ev), out.forces_ev_per_angstrom, None)


def test_a_failing_pair_keeps_its_error_and_the_others_go_on():
    grid = DiatomicGrid(step_angstrom=0.05)
    records = run_diatomics(_FailsFor(bad_z=8, nan_below_angstrom=0.5), [("H", "H"), ("O", "O"), ("Cu", "Cu")],
                            grid=grid, refine_jumps=False, progress=False)
    assert list(records) == ["H-H", "O-O", "Cu-Cu"]
    assert "not supported" in records["O-O"]["errors"][0] and records["O-O"]["bsct_score"] is None
    assert records["Cu-Cu"]["errors"] == [] and records["Cu-Cu"]["metrics"]["force-flip-times"] == 1
    h = records["H-H"]  # NaN below 0.5 Å: those points named, the rest scored
    assert h["n_failed_points"] == int((np.asarray(h["r_angstrom"]) < 0.5).sum()) > 0
    assert "non-finite" in h["errors"][0] and h["metrics"]["force-flip-times"] == 1
    # failed points are reported as failures, not scored as an artifact, and the score says it is partial
    assert h["complete"] is False and records["O-O"]["complete"] is False and "complete" not in records["Cu-Cu"]
    assert h["artifacts"] == [] and h["bsct_components"]["nonfinite"] == 0


def test_chunk_that_raises_is_retried_point_by_point():
    r = np.linspace(0.5, 4.0, 30)
    geo = dimer_geometry("H", "H", r)
    calls = []

    def potential(batch, compute_stress=False):
        calls.append(batch.n_systems)
        pos = batch.positions_angstrom.reshape(-1, 2, 3)
        if bool((torch.linalg.norm(pos[:, 1] - pos[:, 0], dim=1) > 3.9).any()):
            raise RuntimeError("boom")
        n = batch.n_systems
        return PotentialOutput(torch.zeros(n, dtype=torch.float64), torch.zeros(2 * n, 3, dtype=torch.float64), None)

    potential.cutoff_angstrom, potential.conservative = None, True
    curve = evaluate_dimer(potential, geo, points_per_call=10)
    assert np.isnan(curve.energy_ev[r > 3.9]).all() and np.isfinite(curve.energy_ev[r <= 3.9]).all()
    assert calls[:3] == [10, 10, 10] and len(curve.errors) == 1 and "boom" in curve.errors[0]


@pytest.mark.parametrize("step_ev, arena_sees_it", [(-0.02, True), (+0.02, False)])
def test_score_a_curve_you_already_have_finds_a_planted_step(step_ev, arena_sees_it):
    r = np.linspace(1.0, 6.0, 500)
    x = np.exp(-1.5 * (r - 2.0))
    e, f = (1 - x) ** 2 - 1, -3 * x * (1 - x)
    e = e + step_ev * (r > 4.0)  # a 20 meV energy step at 4 Å
    score = score_diatomic_curve(r, e, f, "Cu-Cu")
    # Far -> near, E falls towards the well: a step down (E rises) is against the slope and adds
    # two ΔE flips; a step along the slope leaves every ΔE negative, so Arena's counts stay clean.
    assert score.metrics["energy-diff-flip-times"] == (3 if arena_sees_it else 1)
    steps = [a for a in score.analysis.artifacts if a.kind == "energy_jump"]
    assert len(steps) == 1 and steps[0].r_angstrom == pytest.approx(4.0, abs=0.02)  # ours: both, located
    assert score.analysis.score > 0


@pytest.mark.parametrize("step_ev_per_angstrom, arena_force_jump_ev_per_angstrom", [(0.1, 0.2), (-0.1, 0.0)])
def test_a_force_step_along_the_slope_is_invisible_to_arena_but_located_by_ours(
    step_ev_per_angstrom, arena_force_jump_ev_per_angstrom
):
    r = np.linspace(1.0, 6.0, 500)
    x = np.exp(-1.5 * (r - 2.0))
    kink = step_ev_per_angstrom * np.maximum(0.0, 4.0 - r)  # E gains a kink at 4 Å, F steps there
    score = score_diatomic_curve(r, (1 - x) ** 2 - 1 + kink, -3 * x * (1 - x) + step_ev_per_angstrom * (r < 4.0))
    assert score.metrics["force-jump"] == pytest.approx(arena_force_jump_ev_per_angstrom, abs=2e-3)
    assert score.metrics["force-flip-times"] == 1
    steps = [a for a in score.analysis.artifacts if a.kind == "force_jump"]
    assert len(steps) == 1 and steps[0].r_angstrom == pytest.approx(4.0, abs=0.02)


def test_command_writes_json_plots_html_and_resumes(tmp_path, capsys):
    out = tmp_path / "dia"
    assert main(["diatomics", "--model", "morse", "--elements", "H", "--out", str(out), "--step", "0.05", "--no-progress",
                 "--metric", "bsct_score"]) == 0
    first = json.loads((out / "diatomics.json").read_text())
    assert first["schema"] == "bsct.diatomics/1" and list(first["pairs"]) == ["H-H"]
    rec = first["pairs"]["H-H"]
    assert {"r_angstrom", "energy_ev", "force_ev_per_angstrom", "metrics", "artifacts", "bsct_score"} <= set(rec)
    assert main(["diatomics", "--model", "morse", "--elements", "H,Cu", "--pairs", "Cu-H", "--out", str(out),
                 "--step", "0.05", "--resume", "--no-progress"]) == 0
    second = json.loads((out / "diatomics.json").read_text())
    assert list(second["pairs"]) == ["H-H", "Cu-Cu", "Cu-H"]
    assert second["pairs"]["H-H"]["seconds"] == rec["seconds"]  # reused, not re-run
    assert (out / "plots" / "Cu-H.png").exists() and (out / "plots" / "ptable_force-flip-times.png").exists()
    assert second["timings"]["n_points"] == sum(len(p["r_angstrom"]) for p in second["pairs"].values())
    assert "Diatomics section" in (out / "report.html").read_text()
    assert main(["diatomics", "--model", "emt", "--elements", "H", "--out", str(out), "--resume", "--no-progress"]) == 2


def _without_timings(doc):
    if isinstance(doc, dict):
        return {k: _without_timings(v) for k, v in doc.items() if "seconds" not in k and k != "timings"}
    return [_without_timings(v) for v in doc] if isinstance(doc, list) else doc


def test_library_writes_the_same_file_as_the_command_and_refuses_another_grid(tmp_path):
    assert main(["diatomics", "--model", "morse", "--elements", "H,C", "--out", str(tmp_path / "cli"), "--step", "0.05",
                 "--no-progress"]) == 0
    data = run_diatomics_to(tmp_path / "lib", "morse", [("H", "H"), ("C", "C")], DiatomicGrid(step_angstrom=0.05),
                            progress=False)
    cli = json.loads((tmp_path / "cli" / "diatomics.json").read_text())
    lib = json.loads((tmp_path / "lib" / "diatomics.json").read_text())
    assert list(lib) == list(cli) and _without_timings(lib) == _without_timings(cli) == _without_timings(data)
    assert (tmp_path / "lib" / "report.html").exists() and (tmp_path / "lib" / "plots" / "C-C.png").exists()
    with pytest.raises(ResumeMismatchError, match=r"differ in \['grid'\]"):
        run_diatomics_to(tmp_path / "lib", "morse", [("H", "H")], DiatomicGrid(step_angstrom=0.1), resume=True)
    with pytest.raises(ValueError, match="--metric"):
        run_diatomics_to(tmp_path / "x", "morse", [("H", "H")], report_metric="nonsense")


def test_resume_refuses_a_retrained_checkpoint_at_the_same_path(tmp_path):
    from bsct.model import ModelConfig, build_model
    from bsct.model.checkpoint import save_checkpoint

    tiny = ModelConfig(elements=(29,), hidden_dim=8, n_layers=1, n_heads=2, n_vector_channels=2, n_rbf=4,
                       r_cut_angstrom=4.0, k_neighbors=8)
    path, out = tmp_path / "model.pt", tmp_path / "out"
    args = ["diatomics", "--model", str(path), "--elements", "Cu", "--out", str(out), "--step", "0.2",
            "--no-progress"]
    save_checkpoint(path, build_model(tiny, seed=0))
    assert main(args) == 0
    assert main(args + ["--resume"]) == 0  # the same file: resumes
    save_checkpoint(path, build_model(tiny, seed=1))  # retrained in place
    assert main(args + ["--resume"]) == 2


def test_missing_package_names_what_to_install(monkeypatch, tmp_path, caplog):
    monkeypatch.setitem(sys.modules, "chgnet", None)  # import chgnet now raises ImportError
    monkeypatch.setitem(sys.modules, "chgnet.model", None)
    with pytest.raises(ValueError, match="needs the `chgnet` package: pip install"):
        load_potential("chgnet:0.3.0")
    assert main(["diatomics", "--model", "chgnet:0.3.0", "--elements", "H", "--out", str(tmp_path)]) == 2
    assert "pip install" in caplog.text


def test_periodic_table_positions_and_figures():
    assert periodic_table_position("H") == (1, 1) and periodic_table_position("He") == (1, 18)
    assert periodic_table_position("C") == (2, 14) and periodic_table_position("Si") == (3, 14)
    assert periodic_table_position("Cu") == (4, 11) and periodic_table_position("Au") == (6, 11)
    assert periodic_table_position("Hf") == (6, 4) and periodic_table_position("Og") == (7, 18)
    assert periodic_table_position("La") == (8, 3) and periodic_table_position("Lr") == (9, 17)
    cells = {periodic_table_position(s) for s in parse_pairs("all", None) for s in s[:1]}
    assert len(cells) == 118  # no two elements share a cell
    assert isinstance(plot_periodic_table({"H": 1.0, "Cu": 3.0, "O": None}, "force-flip-times"), Figure)
    rec = pair_record(run_pair(load_potential("morse"), "H", "H", DiatomicGrid(step_angstrom=0.05), refine_jumps=False))
    assert isinstance(plot_diatomic_curve(rec), Figure)


def test_chgnet_h2_smoke_on_a_coarse_grid():
    potential = load_potential("chgnet:0.3.0")
    res = run_pair(potential, "H", "H", DiatomicGrid(step_angstrom=0.1), refine_jumps=False)
    assert res.curve.errors == [] and len(res.curve.r_angstrom) == 34
    f = res.curve.forces_ev_per_angstrom
    np.testing.assert_allclose(f[:, 0], -f[:, 1], atol=1e-3)  # a dimer feels no net force
    np.testing.assert_allclose(res.force_ev_per_angstrom, force_on_second_ev_per_angstrom(f, dimer_geometry(
        "H", "H", res.curve.r_angstrom).positions_angstrom()))
    m = res.score.metrics
    assert m["force-flip-times"] >= 1 and np.isfinite(m["tortuosity"]) and np.isfinite(res.score.analysis.score)
    r_min = res.curve.r_angstrom[np.argmin(res.curve.energy_ev)]
    assert 0.6 < r_min < 0.9  # H2 bond ~0.74 Å


PLANTED_CU = "planted[kind=energy_step,size=0.01,r_star_angstrom=3.5]"  # on the default Morse (r0 2.5 Å, switch 4.5-6 Å)


def test_v2_finds_a_planted_dimer_step_once_and_its_smooth_twin_clean(tmp_path):
    grid = DiatomicGrid(step_angstrom=0.02)
    smooth = run_diatomics_to(tmp_path / "smooth", "morse", [("Cu", "Cu")], grid,
                              progress=False, report_metric=None, score_version="v2", temperature_k=300.0)
    rec = smooth["pairs"]["Cu-Cu"]
    assert smooth["score_version"] == "v2" and rec["score_version"] == "v2" and rec["temperature_k"] == 300.0
    assert rec["bsct_score"] == 0.0 and rec["artifacts"] == []
    planted = run_diatomics_to(tmp_path / "planted", PLANTED_CU, [("Cu", "Cu")], grid, progress=False,
                               report_metric=None, score_version="v2")["pairs"]["Cu-Cu"]
    near = [a for a in planted["artifacts"] if abs(a["r_angstrom"] - 3.5) < 0.5]
    assert [a["kind"] for a in near] == ["energy_jump"]
    step = near[0]
    assert abs(step["r_angstrom"] - 3.5) <= 0.02 and step["size"] == pytest.approx(0.01, rel=0.02)
    # the rest is real: Morse's switch (4.5-6 Å) multiplies the planted +10 meV too, f_r = -0.01·S'(r) > 0
    assert all(a["kind"] == "tail_bump" and a["r_angstrom"] > 4.5 for a in planted["artifacts"] if a is not step)
    assert planted["bsct_score"] == pytest.approx(sum(a["strength"] for a in planted["artifacts"]))
    assert planted["bsct_weighted_score"] == planted["bsct_score"]  # no temperature: weights 1
    with pytest.raises(ResumeMismatchError, match="score_version"):  # a v2 file is not resumed as v1
        run_diatomics_to(tmp_path / "planted", PLANTED_CU, [("Cu", "Cu")], grid, progress=False, report_metric=None,
                         resume=True)
    with pytest.raises(ValueError, match="v2"):
        run_diatomics_to(tmp_path / "x", "morse", [("H", "H")], grid, temperature_k=300.0)
