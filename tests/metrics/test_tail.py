"""Tail shape: a bump of the attractive-tail force is found with its amplitude even without a
sign change; monotonic tails (Morse, switched Morse in float32, smoothed LJ) are quiet; forces
past the cutoff are found above the noise only."""

import numpy as np
import pytest
from v2_curves import as_float32, default_grid, emt_cu_dimer, lj_dimer, morse, torch_morse

from bsct.metrics.detectors import equilibrium_index
from bsct.metrics.noise import scan_noise
from bsct.metrics.tail import residual_force, tail_bumps, tail_start_index


def bumps(r, e, f, r0=2.5):
    noise = scan_noise(e, f)
    return tail_bumps(r, f, equilibrium_index(r, e, r0), noise.force_local_ev_per_angstrom)


def max_dip(f):
    """Brute force: the largest f_i - f_j over i < j."""
    return max(float(np.max(f[:j]) - f[j]) for j in range(1, len(f)))


def planted_bump(r, swing_ev_per_angstrom, r_star=5.0, width=0.1):
    """Morse + a narrow Gaussian c·exp(-((r-r*)/w)²): the force swings by ±swing around r*."""
    e, f = morse(r)
    c = swing_ev_per_angstrom * width / (np.sqrt(2) * np.exp(-0.5))  # max of 2c x/w² e^(-x²/w²) = swing
    x = (r - r_star) / width
    return e + c * np.exp(-x**2), f + 2 * c * x / width * np.exp(-x**2)


@pytest.mark.parametrize("swing", [0.005, 0.02])
def test_a_narrow_tail_bump_is_found_with_its_amplitude_without_a_sign_change(swing):
    r = default_grid()
    e, f = planted_bump(r, swing)
    k_ext = int(np.argmin(f))
    assert f[k_ext:].max() < 0  # the force never changes sign: v1's sign-flip test is blind here
    found = bumps(r, e, f)
    assert len(found) == 1
    fine = np.linspace(r[k_ext], r[-1], 20001)
    expected = max_dip(planted_bump(fine, swing)[1][::10])  # the same measure on a 10x finer curve
    assert found[0].size == pytest.approx(expected, rel=0.1)
    assert 5.0 <= found[0].r_angstrom <= 5.3  # the bottom of the dip, past the crest at r* + w/√2
    assert found[0].unit == "eV/Å"


def test_tail_bump_size_is_the_largest_fall_of_the_tail_force():
    r = default_grid()
    e, f = planted_bump(r, 0.02)
    k0 = tail_start_index(f, equilibrium_index(r, e, 2.5), 5e-4)
    assert r[k0] == pytest.approx(2.5 + np.log(2) / 1.4, abs=r[1] - r[0])  # Morse inflection r0 + ln2/a
    assert bumps(r, e, f)[0].size == pytest.approx(max_dip(f[k0:]), rel=1e-12)


def smooth_tails():
    r = default_grid()
    yield "morse float64", r, *morse(r), 2.5
    yield "morse float32", r, *as_float32(*morse(r)), 2.5
    yield "switched Morse, torch float64", r, *torch_morse(r, "float64"), 2.5
    yield "switched Morse, torch float32", r, *torch_morse(r, "float32"), 2.5
    for sigma, eps in ((1.0, 1.0), (2.0, 0.5)):
        yield f"LJ smooth σ={sigma}", *lj_dimer(sigma, eps, smooth=True), 2 ** (1 / 6) * sigma
        yield f"LJ unsmoothed σ={sigma}", *lj_dimer(sigma, eps, smooth=False), 2 ** (1 / 6) * sigma
    rng = np.random.default_rng(3)
    e, f = morse(r)
    yield "morse + float32-level noise", r, e + rng.normal(0, 1e-5, len(r)), f + rng.normal(0, 1e-4, len(r)), 2.5


def test_monotonic_tails_are_quiet():
    for name, r, e, f, r0 in smooth_tails():
        assert bumps(r, e, f, r0) == [], name


def test_emt_cu_dimer_has_a_real_tail_bump_at_its_fermi_cutoff():
    # Known answer, not a false alarm: EMT's density cutoff makes the dimer force fall from
    # -0.110 eV/Å at 5.2 Å to -0.234 eV/Å at 5.36 Å before it rises to 0 (see the samples below).
    r, e, f = emt_cu_dimer()
    found = bumps(r, e, f, 2.3)
    assert len(found) == 1
    assert 5.3 < found[0].r_angstrom < 5.45
    assert 0.11 < found[0].size < 0.15
    k = np.searchsorted(r, [5.2, 5.36])
    assert f[k[1]] < f[k[0]] - 0.1


def test_residual_force_past_the_cutoff_is_found_above_the_noise_only():
    r = default_grid()
    e, f = morse(r)  # the analytic Morse has no cutoff: claiming 5 Å exposes its tail force
    found = residual_force(r, f, scan_noise(e, f).force_local_ev_per_angstrom, cutoff_angstrom=5.0)
    beyond = r > 5.0
    assert len(found) == 1 and found[0].size == pytest.approx(np.abs(f[beyond]).max())
    assert found[0].r_angstrom == pytest.approx(r[beyond][0])
    # the switched Morse (cutoff 6 Å) is exactly 0 there; a planted 2 meV/Å far-field force is found
    e, f = torch_morse(r, "float64")
    sig = scan_noise(e, f).force_local_ev_per_angstrom
    assert residual_force(r, f, sig, cutoff_angstrom=6.0) == []
    planted = residual_force(r, f + 2e-3 * (r > 6.2), sig, cutoff_angstrom=6.0)
    assert len(planted) == 1 and planted[0].size == pytest.approx(2e-3)
    # float32-level noise beyond the cutoff is not a residual force
    rng = np.random.default_rng(0)
    noisy = f + rng.normal(0, 1e-4, len(r))
    assert residual_force(r, noisy, scan_noise(e, noisy).force_local_ev_per_angstrom, cutoff_angstrom=6.0) == []
    # an unsmoothed LJ is exactly 0 past rc
    r, e, f = lj_dimer(1.0, 1.0, smooth=False)
    assert residual_force(r, f, scan_noise(e, f).force_local_ev_per_angstrom, cutoff_angstrom=3.0) == []


def crystal_like_pair_scan(r, k_env=0.05, dip_ev_per_angstrom=0.0, r_star=3.6, width=0.1):
    """Morse plus the restoring force of the moving atoms' other neighbours, −k_env·(r − r0)
    (a crystal's pair scan: f_r keeps falling once the bond's attraction has faded), and an
    optional Gaussian dip of the force f_r −= a·exp(−((r − r*)/w)²) with its energy."""
    from scipy.special import erf

    e, f = morse(r)
    e = e + 0.5 * k_env * (r - 2.5) ** 2
    f = f - k_env * (r - 2.5)
    a = dip_ev_per_angstrom
    return (e - a * width * np.sqrt(np.pi) / 2 * erf((r - r_star) / width),
            f - a * np.exp(-(((r - r_star) / width) ** 2)))


def test_the_environments_steady_decline_is_not_a_tail_bump_but_a_dip_on_it_is():
    r = default_grid()
    e, f = crystal_like_pair_scan(r)
    k_ext = int(np.argmin(f[:150]))
    assert np.argmax(f[k_ext:]) < len(f) - k_ext - 1  # the tail force turns down: a one-sided dip exists
    eq, sig = equilibrium_index(r, e, 2.5), scan_noise(e, f).force_local_ev_per_angstrom
    assert len(tail_bumps(r, f, eq, sig)) == 1  # as a dimer's tail it would be a defect
    assert tail_bumps(r, f, eq, sig, environment=True) == []
    e, f = crystal_like_pair_scan(r, dip_ev_per_angstrom=0.05)
    found = tail_bumps(r, f, eq, scan_noise(e, f).force_local_ev_per_angstrom, environment=True)
    assert len(found) == 1
    assert abs(found[0].r_angstrom - 3.6) < 2 * (r[1] - r[0])
    # the recovered part of the dip: the planted 0.05 eV/Å less the trend over the dip's flank
    assert 0.02 < found[0].size < 0.05
