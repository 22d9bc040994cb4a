"""The scan's own noise: ~1e-16 for float64 analytic curves, the planted σ within a factor 2,
robust to a planted step, float32 rounding of a 100 eV total energy at ulp/√12."""

import numpy as np
import pytest
from v2_curves import default_grid, morse, morse_float32_total, planted_energy_step

from bsct.metrics.noise import global_noise, local_noise, scan_noise


def test_float64_analytic_morse_has_noise_below_1e_12_everywhere_including_the_wall():
    r = default_grid()
    e, f = morse(r)
    noise = scan_noise(e, f)
    assert noise.energy_ev < 1e-12 and noise.force_ev_per_angstrom < 1e-12
    # local, so the steep wall (E = 2.9 eV, f_r = 12 eV/Å at the first point) is included
    assert noise.energy_local_ev.max() < 1e-12 and noise.force_local_ev_per_angstrom.max() < 1e-12
    assert noise.energy_local_ev.shape == r.shape


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("sigma", [1e-5, 1e-3])
def test_seeded_gaussian_noise_is_estimated_within_a_factor_2(seed, sigma):
    r = default_grid()
    e, f = morse(r)
    rng = np.random.default_rng(seed)
    est_e = global_noise(e + rng.normal(0, sigma, len(r)))
    est_f = global_noise(f + rng.normal(0, 10 * sigma, len(r)))
    assert 0.5 < est_e / sigma < 2.0
    assert 0.5 < est_f / (10 * sigma) < 2.0
    loc = local_noise(e + rng.normal(0, sigma, len(r)))
    assert 0.5 < np.median(loc) / sigma < 2.0


@pytest.mark.parametrize("seed", range(5))
def test_one_planted_step_does_not_inflate_the_estimate_more_than_2x(seed):
    r = default_grid()
    sigma = 1e-5
    noise = np.random.default_rng(seed).normal(0, sigma, len(r))
    clean = planted_energy_step(r, 0.0, 3.2)[0] + noise
    stepped = planted_energy_step(r, 1e-2, 3.2)[0] + noise  # a step 1000 σ high
    assert global_noise(stepped) / global_noise(clean) < 2.0
    assert 0.5 < global_noise(stepped) / sigma < 2.0
    k = int(np.searchsorted(r, 3.2))
    assert local_noise(stepped)[k] / sigma < 2.0  # right at the step
    assert local_noise(stepped)[k] / local_noise(clean)[k] < 2.0


def test_float32_rounding_of_a_100_ev_total_energy_is_seen_at_ulp_over_sqrt12():
    r = default_grid()
    e32, f32 = morse_float32_total(r)
    expected = np.spacing(np.float32(100.0)) / np.sqrt(12)  # 7.6e-6/√12 = 2.2e-6 eV
    assert 0.5 < global_noise(e32) / expected < 2.0


def test_per_atom_forces_give_one_sigma_per_component():
    r = default_grid()
    e, f = morse(r)
    forces = np.zeros((len(r), 2, 3))
    forces[:, 0, 0], forces[:, 1, 0] = -f, f
    forces += np.random.default_rng(0).normal(0, 1e-4, forces.shape)
    noise = scan_noise(e, f, forces)
    assert noise.atom_forces_ev_per_angstrom.shape == (2, 3)
    assert np.all((noise.atom_forces_ev_per_angstrom > 0.5e-4) & (noise.atom_forces_ev_per_angstrom < 2e-4))
