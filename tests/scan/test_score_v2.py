"""BSCT v2 wired into run_bsct: what it finds that v1 misses, the collision guard on a crystal, the
temperature weight, and v1 left exactly as it was."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from bsct import run_bsct
from bsct.scan.api import BSCTConfig
from bsct.scan.geometry import ScanRange
from bsct.scan.runner import ScanCurve

DIMER = Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])


def lj_force_at_cutoff_ev_per_angstrom(epsilon: float, sigma: float, rc: float) -> float:
    """|f(rc)| of 4ε[(σ/r)^12 − (σ/r)^6]: the force step of a potential shifted (not smoothed) at rc."""
    return abs(24 * epsilon / rc * (2 * (sigma / rc) ** 12 - (sigma / rc) ** 6))


def test_v2_finds_the_lj_cutoff_force_step_that_v1_misses():
    sigma = 2.5 / 2 ** (1 / 6)  # minimum at the dimer's 2.5 Å
    epsilon, rc = 0.5, 3 * sigma  # ASE's default rc = 3σ: a force step of a few meV/Å, the textbook NVE drift
    step = lj_force_at_cutoff_ev_per_angstrom(epsilon, sigma, rc)
    assert 1e-3 < step < 1e-2  # below v1's 10 meV/Å tolerance, above v2's 0.5 meV/Å floor
    spec = f"lj[sigma_angstrom={sigma},epsilon_ev={epsilon},cutoff_angstrom={rc}]"
    v1 = run_bsct(spec, [DIMER], max_per_type=1, progress=False)
    v2 = run_bsct(spec, [DIMER], max_per_type=1, progress=False, score_version="v2")
    assert v1.artifacts == [] and v1.score == 0
    r = v2.results[0].curve.r_angstrom
    assert r[-1] > rc  # the scan goes past the cutoff (ScanRange's cutoff + 1 Å)
    h = r[1] - r[0]
    (art,) = v2.artifacts
    assert art.kind == "force_jump" and abs(art.r_angstrom - rc) <= h
    assert art.size == pytest.approx(step, rel=0.1)
    assert v2.score > 0 and v2.complete and "confirmed at h/8" in art.detail


def test_v2_on_an_emt_fcc_pair_scan_scores_only_where_no_third_atom_is_too_close(tmp_path):
    cu = bulk("Cu", "fcc", a=3.61)
    fraction = 0.5
    report = run_bsct("emt", [cu], max_per_type=1, progress=False, score_version="v2", out_dir=tmp_path,
                      scan_range=ScanRange(n_points=60), collision_fraction=fraction)
    res = report.results[0]
    c, a = res.curve, res.analysis
    assert c.mode == "pair"
    closest = c.closest_third_atom_angstrom
    too_close = closest < fraction * c.r_angstrom
    assert too_close.any() and not a.guard[too_close].any()  # the collision points are excluded ...
    lo, hi = a.scored_range_angstrom
    for art in a.merged:  # ... and no artifact, nor any of its evidence, lies where a third atom is too close
        for d in (art.primary, *art.evidence):
            k = int(np.argmin(abs(c.r_angstrom - d.r_angstrom)))
            assert not too_close[k] and lo <= d.r_angstrom <= hi
    assert hi <= 1.5 * c.r0_angstrom + 1e-9  # fcc rows: d3 = r0 - (r - r0)/2 falls below r/2 at 1.5 r0
    data = json.loads((tmp_path / "results.json").read_text())
    bond = data["bonds"][0]
    assert data["schema"] == "bsct.report/2" and bond["scored_range_angstrom"] == [lo, hi]
    assert bond["n_excluded_by_collision_guard"] == int(too_close.sum())
    saved = ScanCurve.load(next((tmp_path / "curves").glob("*.npz")))
    np.testing.assert_array_equal(saved.closest_third_atom_angstrom, closest)
    assert "scored r (Å)" in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize("spec", [
    "emt",  # smooth: nothing either way
    "planted[kind=energy_step,size=0.01,r_star_angstrom=3.2]",  # a planted step inside the scored range
])
def test_points_the_guard_never_scores_are_not_evaluated_and_the_score_is_the_same(spec, tmp_path):
    cu = bulk("Cu", "fcc", a=3.61, cubic=True)
    skip = run_bsct(spec, [cu], progress=False, score_version="v2", out_dir=tmp_path / "skip")
    full = run_bsct(spec, [cu], progress=False, score_version="v2", evaluate_unscored=True)
    (a, b) = skip.results[0], full.results[0]
    assert skip.score == full.score and len(skip.artifacts) == len(full.artifacts)
    assert [x.r_angstrom for x in skip.artifacts] == [x.r_angstrom for x in full.artifacts]
    assert (spec == "emt") == (skip.score == 0)
    evaluated = a.curve.evaluated
    # fcc <110> rows: the third atom is r0 - (r - r0)/2 away, closer than r/2 past 1.5 r0
    np.testing.assert_array_equal(evaluated, a.curve.r_angstrom <= 1.5 * a.curve.r0_angstrom + 1e-9)
    assert 0.3 < evaluated.mean() < 0.6 and b.curve.evaluated is None
    assert np.isnan(a.curve.energy_ev[~evaluated]).all()
    np.testing.assert_array_equal(a.curve.energy_ev[evaluated], b.curve.energy_ev[evaluated])
    assert skip.complete and skip.n_failed_points == 0  # skipped is not failed
    saved = ScanCurve.load(next((tmp_path / "skip" / "curves").glob("*.npz")))
    np.testing.assert_array_equal(saved.evaluated, evaluated)


def test_evaluate_unscored_is_a_v2_setting():
    with pytest.raises(ValueError, match="v1 evaluates every point"):
        BSCTConfig(evaluate_unscored=True)


def test_temperature_weights_down_an_artifact_high_on_the_wall(tmp_path):
    # an energy step at 1.9 Å, ~0.6 eV up the Morse wall of the 2.5 Å dimer: e^(-0.6/kT) ~ 1e-10 at 300 K
    spec = "planted[kind=energy_step,size=0.01,r_star_angstrom=1.9]"
    report = run_bsct(spec, [DIMER], max_per_type=1, progress=False, score_version="v2", temperature_k=300.0,
                      out_dir=tmp_path)
    art = next(m for m in report.results[0].analysis.merged if m.kind == "energy_jump")
    assert abs(art.r_angstrom - 1.9) < 0.05 and art.energy_above_min_ev > 0.3 and art.weight < 1e-4
    assert art.artifact.size == pytest.approx(0.01, rel=0.05)  # it still counts in full unweighted
    assert report.score > 1 and report.weighted_score < 1e-3 * report.score
    assert report.gate_score == report.weighted_score
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["temperature_k"] == 300.0 and data["weighted_score"] < data["score"]
    b = data["bonds"][0]
    assert b["temperature_k"] == 300.0 and b["weighted_score"] < b["score"]
    assert all(a["weight"] < 1e-4 for a in b["artifacts"]) and b["noise"]


def test_v1_config_keeps_its_settings_and_fingerprint_and_v2_changes_them():
    v1 = BSCTConfig()
    assert list(v1.to_dict()) == ["max_per_type", "seed", "bond_types", "scan_range", "mode", "grow_cell",
                                  "tolerances", "refine_jumps", "max_atoms_per_call"]  # as before v2 existed
    v2 = BSCTConfig(score_version="v2")
    assert {"score_version", "temperature_k", "collision_fraction", "floors"} <= set(v2.to_dict())
    assert v2.fingerprint() != v1.fingerprint() != BSCTConfig(score_version="v2", temperature_k=300).fingerprint()
    with pytest.raises(ValueError, match="v2"):
        BSCTConfig(temperature_k=300)  # a temperature means nothing to v1
    with pytest.raises(ValueError, match="score_version"):
        BSCTConfig(score_version="v3")


def test_h8_rescan_drops_a_kink_the_coarse_grid_could_not_resolve():
    # EMT's Fermi cutoff (~5.4 Å) is smooth but steep: at 80 points v2 reads it as a kink; re-scanned
    # with the model at h/8 it does not persist (v1's confirm_jump), and the tail bump it hid remains.
    coarse = dict(progress=False, score_version="v2", scan_range=ScanRange(n_points=80))
    blind = run_bsct("emt", [DIMER], refine_jumps=False, **coarse)
    seen = run_bsct("emt", [DIMER], refine_jumps=True, **coarse)
    assert "curvature_jump" in {a.kind for a in blind.artifacts}
    assert "curvature_jump" not in {a.kind for a in seen.artifacts}
    assert [a.kind for a in seen.artifacts] == ["tail_bump"]
    assert seen.n_model_calls > blind.n_model_calls  # the re-scan is paid for and counted


def test_sw_si_diamond_pair_scan_is_guarded_and_its_environment_is_not_a_tail_bump():
    """Past SW's 3.77 Å cutoff the pair does not interact: f_r is the back bonds pulling the two
    displaced atoms home and falls steadily to the end of the scored range (it was a 1.08 eV/Å
    'tail_bump' at the last scored point). The guard holds; a smooth reference is clean."""
    report = run_bsct("sw-si", [bulk("Si", "diamond", a=5.431)], max_per_type=1, progress=False, score_version="v2",
                      scan_range=ScanRange(n_points=120))
    c, a = report.results[0].curve, report.results[0].analysis
    too_close = c.closest_third_atom_angstrom < 0.5 * c.r_angstrom
    assert too_close.any() and not a.scored[too_close].any()
    f = c.scan_force_ev_per_angstrom[a.scored]
    assert f[-1] < f[np.argmax(np.where(c.r_angstrom[a.scored] > 3.4, f, -np.inf))] - 0.5  # the environment's decline
    assert a.merged == [] and report.score == 0.0
