"""Severity at a temperature: w = exp(-max(0, E(r_artifact) - E_min)/(k_B T))."""

import math

import numpy as np
import pytest
from v2_curves import morse, planted_energy_step

from bsct.metrics.bsct_v2 import analyse_arrays_v2, artifact_strength
from bsct.metrics.severity import K_B_EV_PER_K, boltzmann_weight, energy_above_minimum_ev
from bsct.scan.geometry import ScanRange


def test_boltzmann_weight_formula_and_limits():
    assert K_B_EV_PER_K == pytest.approx(8.617333262e-5, rel=1e-9)
    assert boltzmann_weight(0.1, 300.0) == pytest.approx(math.exp(-0.1 / (8.617333262e-5 * 300.0)))
    assert boltzmann_weight(0.1, 300.0) == pytest.approx(0.0209, rel=1e-2)
    assert boltzmann_weight(3.0, 300.0) < 1e-50
    assert boltzmann_weight(3.0, None) == 1.0  # no temperature: today's unweighted score
    assert boltzmann_weight(-0.2, 300.0) == 1.0  # below the minimum: fully reachable
    assert boltzmann_weight(0.0, 0.0) == 1.0 and boltzmann_weight(1e-9, 0.0) == 0.0
    with pytest.raises(ValueError):
        boltzmann_weight(0.1, -1.0)


def test_energy_above_minimum_takes_the_low_side_of_a_step():
    r = np.linspace(0, 1, 11)
    e = np.where(r < 0.5, 0.2, 1.2)
    assert energy_above_minimum_ev(r, e, 0.55, e_min_ev=0.0) == pytest.approx(1.2)  # between 0.5 and 0.6: both high
    assert energy_above_minimum_ev(r, e, 0.45, e_min_ev=0.0) == pytest.approx(0.2)  # straddles the step: low side
    assert energy_above_minimum_ev(r, e, 0.45, e_min_ev=0.5) == 0.0


def test_a_3_eV_high_compression_artifact_does_not_dominate_a_300_K_verdict():
    # Morse from 1.2 Å: a 50 meV step where E - E_min = 3 eV (r = 2.5 - ln(1 + sqrt(3/0.35))/1.4 = 1.523 Å)
    # and a 1 meV step near the minimum (2.6 Å, 6 meV up).
    r = ScanRange(r_min_scale=0.48).grid_angstrom(2.5, 6.0)
    r_wall = 2.5 - math.log(1 + math.sqrt(3.0 / 0.35)) / 1.4
    e, f = planted_energy_step(r, 5e-2, r_wall)
    e = e + 1e-3 * (r >= 2.6)
    cold = analyse_arrays_v2(r, e, f, r_eq_hint=2.5)
    warm = analyse_arrays_v2(r, e, f, r_eq_hint=2.5, temperature_k=300.0)
    assert [a.kind for a in cold.artifacts] == ["energy_jump", "energy_jump"]
    wall, near = warm.artifacts
    # the low side of the interval: within one grid step of 3 eV on an 11 eV/Å wall (h = 0.024 Å)
    assert wall.energy_above_min_ev == pytest.approx(3.0, abs=0.3)
    assert wall.weight < 1e-40
    assert near.energy_above_min_ev == pytest.approx(morse(np.array([2.6]))[0][0] + 0.35, abs=2e-3)
    assert near.weight == pytest.approx(math.exp(-near.energy_above_min_ev / (K_B_EV_PER_K * 300)))
    assert cold.score == pytest.approx(warm.score)  # the unweighted score is kept
    assert warm.weighted_score == pytest.approx(near.weight * artifact_strength(near), rel=1e-9)
    assert artifact_strength(wall) > artifact_strength(near)  # unweighted, the wall step dominates ...
    assert warm.weighted_score < 0.5 * warm.score  # ... at 300 K it does not
    assert cold.weighted_score == cold.score  # temperature None = weight 1
