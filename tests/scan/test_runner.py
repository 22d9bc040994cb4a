"""Batched scan evaluation: one model call per batch, failures named and contained, resume."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.emt import EMT

from bsct import run_bsct
from bsct.potentials import PotentialOutput
from bsct.potentials.pair import Morse
from bsct.runs import ResumeMismatchError
from bsct.scan.bonds import find_bonds
from bsct.scan.geometry import ScanRange, build_scan
from bsct.scan.runner import ScanCurve, evaluate_scan

DIMER = Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])


class CountingMorse(Morse):
    """A real Morse potential that counts its calls and can fail on chosen bond lengths."""

    def __init__(self, fail_between=None, nan_between=None):
        super().__init__()
        self.calls = 0
        self.fail_between, self.nan_between = fail_between, nan_between

    def forward(self, batch, compute_stress=False):
        self.calls += 1
        out = super().forward(batch, compute_stress)
        if not (self.fail_between or self.nan_between):
            return out
        pos = batch.positions_angstrom.reshape(batch.n_systems, 2, 3)
        r = (pos[:, 1] - pos[:, 0]).norm(dim=1)
        if self.fail_between and ((r > self.fail_between[0]) & (r < self.fail_between[1])).any():
            raise RuntimeError("model blew up")
        if self.nan_between:
            bad = (r > self.nan_between[0]) & (r < self.nan_between[1])
            energy = out.energy_ev.clone()
            energy[bad] = float("nan")
            out = PotentialOutput(energy, out.forces_ev_per_angstrom)
        return out


def geometry(n=100):
    return build_scan(DIMER, find_bonds(DIMER)[0], ScanRange(n_points=n), cutoff_angstrom=6.0)


def test_torch_potential_is_called_once_per_batch_not_per_point():
    pot = CountingMorse()
    curve = evaluate_scan(pot, geometry(240))
    assert pot.calls == 1 == curve.n_model_calls
    pot = CountingMorse()
    evaluate_scan(pot, geometry(240), max_atoms_per_call=100)  # 50 points per call
    assert pot.calls == 5


def test_scan_force_is_minus_de_dr():
    curve = evaluate_scan(Morse(), geometry(400))
    r, e, f = curve.r_angstrom, curve.energy_ev, curve.scan_force_ev_per_angstrom
    np.testing.assert_allclose(f[1:-1], -np.gradient(e, r)[1:-1], rtol=2e-3, atol=1e-3)  # central differences err by h²E'''/6


def test_a_model_that_raises_on_some_points_keeps_the_rest():
    pot = CountingMorse(fail_between=(3.0, 3.1))
    curve = evaluate_scan(pot, geometry(100))
    bad = (curve.r_angstrom > 3.0) & (curve.r_angstrom < 3.1)
    assert np.isnan(curve.energy_ev[bad]).all() and np.isfinite(curve.energy_ev[~bad]).all()
    assert len(curve.errors) == bad.sum()
    assert "model blew up" in curve.errors[0] and "r=3.0" in curve.errors[0]


def test_nan_points_are_failed_evaluations_not_artifacts_and_the_rest_is_analysed(tmp_path):
    pot = CountingMorse(nan_between=(4.0, 4.2))
    report = run_bsct(pot, [DIMER], progress=False, out_dir=tmp_path)
    assert report.artifacts == []  # the smooth rest of the Morse curve is clean
    curve = report.results[0].curve
    r_failed = curve.r_angstrom[curve.failed_mask]
    assert len(r_failed) == report.n_failed_points > 0 and ((r_failed > 4.0) & (r_failed < 4.2)).all()
    assert not report.complete and np.isfinite(report.score)
    assert "non-finite" in curve.errors[0]
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["complete"] is False and data["n_failed_points"] == len(r_failed)
    assert data["bonds"][0]["n_failed_points"] == len(r_failed) and "non-finite" in data["failed_evaluations"][0]


def test_curve_save_load_round_trip(tmp_path):
    curve = evaluate_scan(CountingMorse(fail_between=(3.0, 3.05)), geometry(60))
    curve.save(tmp_path / "c.npz")
    back = ScanCurve.load(tmp_path / "c.npz")
    np.testing.assert_array_equal(back.energy_ev, curve.energy_ev)
    assert back.errors == curve.errors and back.label == curve.label and back.mode == curve.mode


def test_resume_skips_finished_bonds(tmp_path):
    data = [Atoms("Cu3", positions=[[0, 0, 0], [2.5, 0, 0], [1.25, 2.2, 0]])]
    first = run_bsct(CountingMorse(), data, out_dir=tmp_path, progress=False, refine_jumps=False)
    assert len(list((tmp_path / "curves").glob("*.npz"))) == len(first.results) == 3
    pot = CountingMorse()
    again = run_bsct(pot, data, out_dir=tmp_path, progress=False, refine_jumps=False, resume=True)
    assert pot.calls == 0 and again.score == first.score
    # the resumed report counts what the saved curves cost the first run
    assert first.resumed_model_seconds == 0
    assert again.resumed_model_seconds == sum(r.curve.eval_seconds for r in first.results) > 0
    assert json.loads((tmp_path / "results.json").read_text())["timings"]["resumed_model_seconds"] == again.resumed_model_seconds
    with pytest.raises(ResumeMismatchError, match="cannot resume"):
        run_bsct(pot, data, out_dir=tmp_path, progress=False, resume=True, seed=5)
    other = CountingMorse()
    other.r0_angstrom = 2.775  # same class and name, another potential
    with pytest.raises(ResumeMismatchError, match="cannot resume"):
        run_bsct(other, data, out_dir=tmp_path, progress=False, refine_jumps=False, resume=True)


def test_ase_calculator_runs_point_by_point_behind_the_same_runner():
    from bsct.potentials import CalculatorPotential

    geo = geometry(30)
    curve = evaluate_scan(CalculatorPotential(EMT), geo)
    # each point is EMT itself on that dimer: E(r) from a fresh ASE calculation
    for r, e in zip(curve.r_angstrom[::7], curve.energy_ev[::7]):
        dimer = Atoms("Cu2", positions=[[0, 0, 0], [r, 0, 0]])
        dimer.calc = EMT()
        assert e == pytest.approx(dimer.get_potential_energy(), abs=1e-10)
