"""Force Smoothness Deviation: known answers computed by hand from the definition."""

import numpy as np
import pytest

from bsct.data.bsct_spice import read_system, sample_root, system_dirs
from bsct.fsd.metric import (
    METRIC_KEYS,
    energy_profile_from_forces,
    flat_floor_from_dforce,
    flat_model_smoothness,
    force_smoothness_deviation,
)


@pytest.fixture(scope="module")
def spice():
    return read_system(system_dirs(sample_root(), ["C-O"])[0])


def _dimer_scan(r_angstrom, k_ev_per_angstrom2=10.0, r0_angstrom=1.5):
    """Two atoms on x, harmonic bond: positions (n, 2, 3), forces (n, 2, 3), energy (n,)."""
    n = len(r_angstrom)
    pos = np.zeros((n, 2, 3))
    pos[:, 1, 0] = r_angstrom
    f = np.zeros((n, 2, 3))
    f[:, 1, 0] = -k_ev_per_angstrom2 * (r_angstrom - r0_angstrom)
    f[:, 0, 0] = -f[:, 1, 0]
    return pos, f, 0.5 * k_ev_per_angstrom2 * (r_angstrom - r0_angstrom) ** 2


def test_official_key_names():
    assert METRIC_KEYS == ("full_smoothness", "full_energy_mae", "full_forces_mae",
                           "compress_smoothness", "compress_energy_mae", "compress_forces_mae",
                           "stretch_smoothness", "stretch_energy_mae", "stretch_forces_mae")


def test_fsd_is_zero_for_the_reference_itself_and_blind_to_energy_offsets(spice):
    res = force_smoothness_deviation(spice.r_angstrom, spice.forces_ref_ev_per_angstrom,
                                     spice.forces_ref_ev_per_angstrom, spice.energy_ref_ev + 123.0,
                                     spice.positions_angstrom)
    assert res.full_smoothness == 0 and res.compress_smoothness == 0 and res.stretch_smoothness == 0
    assert res.full_forces_mae == 0
    # the reference's own forces integrate back to its energy up to the trapezoid error of a 0.02 Å grid
    assert res.full_energy_mae < 0.05


def test_force_step_of_known_size_at_known_r_gives_log_step_over_spacing():
    r = np.linspace(1.0, 3.0, 101)  # h = 0.02 Å, minimum at r = 1.5 (frame 25)
    pos, f_ref, e_ref = _dimer_scan(r)
    f_model = f_ref.copy()
    f_model[r > 2.5, 1, 0] *= 3.0  # atom 1's force triples beyond 2.5 Å
    res = force_smoothness_deviation(r, f_model, f_ref, e_ref, pos)
    # by hand: dF_ref = (a, -a) so |dF_ref|² = 2a²; model (a, -3a) so 10a²; L jumps 0 -> log 5 in one step
    assert res.full_smoothness == pytest.approx(np.log(5.0) / 0.02, rel=1e-9)
    assert res.stretch_smoothness == res.full_smoothness and res.compress_smoothness == 0
    assert res.r_eq_angstrom == pytest.approx(1.5)


def test_flat_model_floor_is_the_steepest_step_of_the_reference_log_force():
    r = np.linspace(1.0, 3.0, 101)  # h = 0.02 Å, minimum at 1.5 Å
    _, f_ref, e_ref = _dimer_scan(r)
    floor = flat_model_smoothness(r, f_ref, e_ref)
    # by hand: |dF_ref|² = 2k²d² = 200 d², floored at ε² = 1 up to d = 0.0707 Å; the steepest step of
    # log max(200 d², 1) is the first one fully off the floor, d = 0.08 -> 0.10 Å: log(0.10²/0.08²) / h
    expected = np.log(0.10**2 / 0.08**2) / 0.02
    assert floor["flat_full_smoothness"] == pytest.approx(expected, rel=1e-9)
    assert floor["flat_compress_smoothness"] == pytest.approx(expected, rel=1e-9)
    assert floor["flat_stretch_smoothness"] == pytest.approx(expected, rel=1e-9)
    # a model that is exact has FSD 0, far below the floor; one frozen at F_ref(r_eq) sits on it
    frozen = np.broadcast_to(f_ref[25], f_ref.shape)
    assert force_smoothness_deviation(r, frozen, f_ref, e_ref).full_smoothness == pytest.approx(expected, rel=1e-9)


def test_flat_floor_from_an_fsd_result_equals_the_floor_from_the_labels(spice):
    res = force_smoothness_deviation(spice.r_angstrom, spice.forces_ref_ev_per_angstrom * 1.1,
                                     spice.forces_ref_ev_per_angstrom, spice.energy_ref_ev)
    from_labels = flat_model_smoothness(spice.r_angstrom, spice.forces_ref_ev_per_angstrom, spice.energy_ref_ev)
    assert flat_floor_from_dforce(spice.r_angstrom, res.dforce_sq_ref, res.eq_idx) == from_labels
    assert from_labels["flat_full_smoothness"] > 1.0  # a real DFT scan has a steep repulsive wall


def test_eps_floor_hides_deviations_below_eps():
    r = np.linspace(1.0, 3.0, 101)
    pos, _, e_ref = _dimer_scan(r)
    f_ref = np.zeros_like(pos)
    f_model = f_ref.copy()
    f_model[50, 0, 1] = 0.5  # |dF_model|² = 0.25 (eV/Å)² at one frame, reference 0
    floored = force_smoothness_deviation(r, f_model, f_ref, e_ref, pos, eps_ev_per_angstrom=1.0)
    assert floored.full_smoothness == 0  # 0.25 < ε² = 1: both sides sit on the floor
    fine = force_smoothness_deviation(r, f_model, f_ref, e_ref, pos, eps_ev_per_angstrom=0.1)
    assert fine.full_smoothness == pytest.approx(np.log(0.25 / 0.01) / 0.02, rel=1e-9)


def test_energy_profile_integrates_linear_forces_exactly():
    r = np.linspace(1.0, 3.0, 41)
    pos, f, e = _dimer_scan(r, k_ev_per_angstrom2=7.0, r0_angstrom=1.3)
    np.testing.assert_allclose(energy_profile_from_forces(pos, f), e - e[0], atol=1e-12)


def test_energy_profile_of_a_non_conservative_model_ignores_forces_across_the_path():
    r = np.linspace(1.0, 3.0, 41)
    pos, f, e = _dimer_scan(r)
    f_swirl = f.copy()
    f_swirl[:, :, 1] = np.sin(5 * r)[:, None]  # forces along y, the atoms move along x only
    res = force_smoothness_deviation(r, f_swirl, f, e, pos)
    assert res.full_energy_mae == pytest.approx(0.0, abs=1e-12)
    assert res.full_forces_mae == pytest.approx(np.mean(np.abs(np.sin(5 * r))) / 3)


def test_energy_mae_parts_split_at_the_reference_minimum():
    r = np.linspace(1.0, 2.0, 11)  # minimum at r = 1.5, frame 5
    pos, f, e = _dimer_scan(r)
    f_model = f * 2.0  # twice as stiff: profile 2(e - e_eq), error e - e_eq
    res = force_smoothness_deviation(r, f_model, f, e, pos)
    err = np.abs(e - e[5])
    assert res.full_energy_mae == pytest.approx(np.mean(err))
    assert res.compress_energy_mae == pytest.approx(np.mean(err[:6]))
    assert res.stretch_energy_mae == pytest.approx(np.mean(err[5:]))
    assert res.compress_forces_mae == pytest.approx(np.mean(np.abs(f[:6])))


def test_fsd_rejects_mismatched_shapes_and_unsorted_r():
    with pytest.raises(ValueError, match="shape mismatch"):
        force_smoothness_deviation(np.arange(3.0), np.zeros((3, 2, 3)), np.zeros((3, 3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="increase"):
        force_smoothness_deviation(np.array([1.0, 3.0, 2.0]), np.zeros((3, 2, 3)), np.zeros((3, 2, 3)), np.zeros(3))
