"""Energy and force steps (metrics/steps.py) on a steep wall the grid barely resolves.

The curve is SevenNet-0's O–H scan of a water molecule (float32 model, 240 points from
0.58 Å, autograd forces; `bsct scan --score-version v2`, saved in tests/metrics/curves/). At
0.797 Å (f_r ≈ 19 eV/Å) the two-degree resolution estimate of the force step passes through
0.09 eV/Å between 0.25 and 0.89 eV/Å at its neighbours, and the cubic step filter reads
−0.128 eV/Å there; re-scanned at h/8 there is no step (docs/metrics_v2.md)."""

from pathlib import Path

import numpy as np
import pytest

from bsct.metrics.bsct_v2 import analyse_arrays_v2
from bsct.metrics.noise import scan_noise
from bsct.metrics.steps import force_steps

CURVE = Path(__file__).parent / "curves" / "sevennet0_water_oh.npz"


def wall_scan():
    d = np.load(CURVE)
    return d["r_angstrom"], d["energy_ev"], d["scan_force_ev_per_angstrom"], float(d["r0_angstrom"])


def with_force_step(r, e, f, size, r_star, decay=0.5):
    """E += s·x·e^(−x/decay)·H(x): f_r drops by s at r* (what a hard cutoff does)."""
    x = r - r_star
    on = x >= 0
    g = size * x * np.exp(-np.clip(x, 0, None) / decay) * on
    dg = size * (1 - x / decay) * np.exp(-np.clip(x, 0, None) / decay) * on
    return e + g, f - dg


def test_an_unresolved_wall_is_not_a_force_step():
    r, e, f, _ = wall_scan()
    assert force_steps(r, f, scan_noise(e, f).force_local_ev_per_angstrom) == []


@pytest.mark.parametrize("size, r_star", [(0.002, 3.3), (0.005, 3.6), (5.0, 0.8)])
def test_a_planted_force_step_on_the_same_scan_is_found_once(size, r_star):
    """In the resolved tail (3.3, 3.6 Å: the curve's own step filter reads < 0.1 meV/Å there) and
    a large one on the wall. (At 1.3-2.6 Å the 240-point grid does not resolve this model's curve
    to 1 meV/Å: its own J and allowance are 1-30 meV/Å, so steps of a few meV/Å are not claimed there.)"""
    r, e, f, r0 = wall_scan()
    e2, f2 = with_force_step(r, e, f, size, r_star)
    found = force_steps(r, f2, scan_noise(e2, f2).force_local_ev_per_angstrom)
    assert len(found) == 1
    assert abs(found[0].r_angstrom - r_star) <= r[1] - r[0]
    assert found[0].size == pytest.approx(size, rel=0.15)
    arts = [m for m in analyse_arrays_v2(r, e2, f2, r_eq_hint=r0).artifacts if abs(m.r_angstrom - r_star) < 0.1]
    assert [m.kind for m in arts] == ["force_jump"]
