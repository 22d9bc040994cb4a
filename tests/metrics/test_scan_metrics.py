"""All detectors on one scan and its score (metrics/scan_metrics.py), on curves from the public
scan API: a smooth Morse dimer, the same curve with a planted energy step, failed points and a
force left beyond the cutoff."""

import dataclasses

import numpy as np
import pytest
from ase import Atoms

from bsct import run_bsct
from bsct.metrics.detectors import Tolerances
from bsct.metrics.scan_metrics import COMPONENTS, analyse_curve


@pytest.fixture(scope="module")
def morse_curve():
    dimer = Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])
    report = run_bsct("morse", [dimer], progress=False)
    return report.results[0].curve, report.cutoff_angstrom


def test_smooth_curve_scores_zero_with_every_component_quiet(morse_curve):
    curve, cutoff = morse_curve
    a = analyse_curve(curve, cutoff_angstrom=cutoff)
    assert a.score == 0.0 and a.artifacts == []
    assert list(a.components) == list(COMPONENTS) and all(x == 0.0 for x in a.components.values())
    assert a.r_eq_angstrom == pytest.approx(2.5, abs=0.15)  # Morse minimum near the input bond
    assert set(a.peer_metrics) >= {"force-flip-times", "tortuosity"}


def test_an_energy_step_is_found_where_it_is_and_scores_log10_of_the_excess(morse_curve):
    curve, cutoff = morse_curve
    k = int(np.searchsorted(curve.r_angstrom, 3.2))
    stepped = dataclasses.replace(curve, energy_ev=curve.energy_ev + np.where(np.arange(len(curve.r_angstrom)) >= k, 0.05, 0.0))
    a = analyse_curve(stepped, cutoff_angstrom=cutoff)
    jumps = [x for x in a.artifacts if x.kind == "energy_jump"]
    assert len(jumps) == 1 and jumps[0].r_angstrom == pytest.approx(curve.r_angstrom[k], abs=0.05)
    assert a.components["energy_jump"] > 0
    assert a.score == pytest.approx(sum(np.log10(1 + x) for x in a.components.values()))
    # a tolerance above the step makes the same curve clean
    assert analyse_curve(stepped, Tolerances(energy_jump_ev=1.0), cutoff_angstrom=cutoff).components["energy_jump"] == 0


def test_failed_points_are_skipped_not_scored_as_artifacts(morse_curve):
    # A failed evaluation says nothing about smoothness (issue #22): the caller reports it and
    # marks the run incomplete; the detectors judge the finite stretches only.
    curve, cutoff = morse_curve
    e = curve.energy_ev.copy()
    e[10:13] = np.nan
    e[40] = np.nan
    a = analyse_curve(dataclasses.replace(curve, energy_ev=e), cutoff_angstrom=cutoff)
    assert a.artifacts == [] and a.score == 0.0 and a.components["nonfinite"] == 0.0
    nothing = analyse_curve(dataclasses.replace(curve, energy_ev=np.full_like(e, np.nan)), cutoff_angstrom=cutoff)
    assert np.isnan(nothing.score) and nothing.artifacts == []  # nothing evaluated: no score, not a clean 0


def test_force_beyond_the_cutoff_is_a_residual_force(morse_curve):
    curve, cutoff = morse_curve
    assert curve.min_cross_distance_angstrom is not None
    forces = curve.forces_ev_per_angstrom.copy()
    beyond = np.flatnonzero(curve.min_cross_distance_angstrom > cutoff)
    assert len(beyond) >= 3
    forces[beyond[0]] += 0.5  # a force on atoms that cannot see each other any more
    a = analyse_curve(dataclasses.replace(curve, forces_ev_per_angstrom=forces), cutoff_angstrom=cutoff)
    (resid,) = [x for x in a.artifacts if x.kind == "residual_force"]
    assert resid.r_angstrom == pytest.approx(curve.r_angstrom[beyond[0]])
    assert a.summary["residual_force_max_ev_per_angstrom"] >= 0.5
