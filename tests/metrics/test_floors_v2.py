"""v2 thresholds = max(k_σ·noise, floor) + resolution allowance: 0.1 meV energy steps and 1 meV/Å
force steps are found in float64 on the default grid, float32 noise alone never is, a smooth steep
wall is not a step, and ASE's unsmoothed LJ has its textbook force step |F(rc)| at rc."""

import math

import numpy as np
import pytest
from v2_curves import (
    as_float32,
    default_grid,
    lj_dimer,
    lj_force_at_cutoff,
    morse,
    morse_float32_total,
    planted_energy_step,
    planted_force_step,
    torch_morse,
)

from bsct.metrics.floors import FloorsV2
from bsct.metrics.noise import scan_noise
from bsct.metrics.steps import energy_steps, force_steps


def steps(r, e, f, floors=FloorsV2()):
    noise = scan_noise(e, f)
    return (energy_steps(r, e, noise.energy_local_ev, floors),
            force_steps(r, f, noise.force_local_ev_per_angstrom, floors))


def test_defaults_and_the_false_alarm_budget_they_imply():
    fl = FloorsV2()
    assert (fl.k_sigma, fl.energy_floor_ev, fl.force_floor_ev_per_angstrom) == (6.0, 5e-5, 5e-4)
    p_two_sided = math.erfc(fl.k_sigma / math.sqrt(2))  # 2Φ(-6) = 2.0e-9
    assert p_two_sided * 240 * 5 < 1e-5  # ~2,400 tests per scan: < 1e-5 noise-born artifacts per scan
    assert fl.energy_floor_ev < 1e-4 / 1.9 and fl.force_floor_ev_per_angstrom < 1e-3 / 1.9  # targets clear by ~2x
    assert fl.energy_floor_ev > 6 * np.spacing(np.float32(100.0))  # > 6 float32 ulps of a 100 eV total energy


@pytest.mark.parametrize("r_star", [2.3, 2.9, 3.2, 4.1, 5.5, 6.5])
def test_a_0p1_meV_energy_step_on_float64_morse_is_found_where_it_is_with_its_size(r_star):
    r = default_grid()
    h = r[1] - r[0]
    found_e, found_f = steps(r, *planted_energy_step(r, 1e-4, r_star))
    assert len(found_e) == 1 and found_f == []
    assert abs(found_e[0].r_angstrom - r_star) <= h
    # below r0 the wall steepens: the cubic fits' own error (their resolution allowance) is 1.3e-5 eV at 2.3 Å
    assert found_e[0].size == pytest.approx(1e-4, rel=0.05 if r_star > 2.5 else 0.15)


@pytest.mark.parametrize("r_star", [2.3, 2.9, 3.2, 4.1, 5.5, 6.5])
def test_a_1_meV_per_angstrom_force_step_on_float64_morse_is_found_where_it_is_with_its_size(r_star):
    r = default_grid()
    h = r[1] - r[0]
    found_e, found_f = steps(r, *planted_force_step(r, 1e-3, r_star))
    assert found_e == [] and len(found_f) == 1
    assert abs(found_f[0].r_angstrom - r_star) <= h
    assert found_f[0].size == pytest.approx(1e-3, rel=0.06)


def test_steps_below_the_floors_are_not_reported_in_float64():
    r = default_grid()
    assert steps(r, *planted_energy_step(r, 2e-5, 3.2)) == ([], [])
    assert steps(r, *planted_force_step(r, 2e-4, 3.2)) == ([], [])


def float32_curves():
    r = default_grid()
    e, f = morse(r)
    yield "morse rounded to float32", r, *as_float32(e, f)
    yield "morse - 100 eV rounded to float32", r, *morse_float32_total(r)
    yield "switched Morse, torch float32 autograd", r, *torch_morse(r, "float32")
    for seed in range(20):
        rng = np.random.default_rng(seed)
        for sigma_ev in (1e-5, 1e-4):  # float32 models (issue #19): 1e-5 - 1e-4
            yield f"seeded noise {sigma_ev} seed {seed}", r, e + rng.normal(0, sigma_ev, len(r)), \
                f + rng.normal(0, 10 * sigma_ev, len(r))


def test_float32_noise_alone_is_never_a_step():
    for name, r, e, f in float32_curves():
        assert steps(r, e, f) == ([], []), name


def test_a_step_well_above_float32_noise_is_still_found_there():
    r = default_grid()
    rng = np.random.default_rng(7)
    e, f = planted_energy_step(r, 1e-3, 3.2)
    found_e, _ = steps(r, e + rng.normal(0, 1e-5, len(r)), f + rng.normal(0, 1e-4, len(r)))
    assert len(found_e) == 1 and found_e[0].size == pytest.approx(1e-3, rel=0.1)
    # ... and its threshold is the noise's, not the floor's: 6 σ × gain 2.2 ≈ 1.3e-4 eV
    assert 0.8e-4 < found_e[0].threshold < 3e-4


@pytest.mark.parametrize("sigma, epsilon", [(1.0, 1.0), (2.0, 0.5)])
def test_ase_lennard_jones_force_step_at_rc_is_found_with_its_size_and_the_steep_wall_is_not_a_step(sigma, epsilon):
    r, e, f = lj_dimer(sigma, epsilon, smooth=False)
    rc, h = 3.0 * sigma, r[1] - r[0]
    assert e[0] > 50.0  # the scan starts high on the repulsive wall (E ~ 4ε(1/0.67)^12)
    found_e, found_f = steps(r, e, f)
    assert found_e == []  # E is shifted to be continuous at rc
    assert len(found_f) == 1
    assert abs(found_f[0].r_angstrom - rc) <= h
    assert found_f[0].size == pytest.approx(abs(lj_force_at_cutoff(sigma, epsilon)), rel=0.03)
    # the smoothed LJ: the same wall, no step anywhere
    r, e, f = lj_dimer(sigma, epsilon, smooth=True)
    assert steps(r, e, f) == ([], [])
