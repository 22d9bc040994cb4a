"""Calculators kept across calls (CalculatorPotential(reuse=True)) against a fresh calculator per frame."""

import pickle

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones as AseLJ

from bsct.potentials import CalculatorPotential
from bsct.potentials.evaluate import evaluate
from bsct.registry import load_potential


def scan_frames(element: str, structure: str, a: float, bond_angstrom: float) -> list:
    """Frames of one cell with atom 1 moved along its bond to atom 0, then a larger cell (another atom count)."""
    cell = bulk(element, structure, a=a, cubic=True).repeat(2)
    cell.rattle(0.03, seed=7)
    direction = cell.positions[1] - cell.positions[0]
    direction /= np.linalg.norm(direction)
    frames = []
    for r in bond_angstrom + np.array([-0.4, -0.2, 0.0, 0.05, 0.1, 0.3, 0.6]):
        frame = cell.copy()
        frame.positions[1] = frame.positions[0] + r * direction
        frames.append(frame)
    other = bulk(element, structure, a=a * 1.01, cubic=True).repeat((3, 2, 2))
    other.rattle(0.03, seed=8)
    return frames + [other]


def fresh_per_frame(make, frames):
    energies, forces = [], []
    for frame in frames:
        atoms = frame.copy()
        atoms.calc = make()
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
    return np.array(energies), np.concatenate(forces)


def one_frame_per_call(potential, frames):
    result = evaluate(potential, frames, max_atoms_per_call=1)
    assert result.failures == {} and result.n_model_calls == len(frames)
    return result.energy_ev, result.forces_ev_per_angstrom


def test_sw_si_keeps_one_calculator_and_equals_a_fresh_one_bit_for_bit():
    from matscipy.calculators.manybody import Manybody
    from matscipy.calculators.manybody.explicit_forms import StillingerWeber
    from matscipy.calculators.manybody.explicit_forms.stillinger_weber import Stillinger_Weber_PRB_31_5262_Si

    potential = load_potential("sw-si")
    frames = scan_frames("Si", "diamond", 5.431, 2.35)
    energy, forces = one_frame_per_call(potential, frames)
    assert potential._get_calculator() is potential._get_calculator()
    ref_energy, ref_forces = fresh_per_frame(lambda: Manybody(**StillingerWeber(Stillinger_Weber_PRB_31_5262_Si)), frames)
    assert np.array_equal(energy, ref_energy)
    assert np.array_equal(forces, ref_forces)


def test_emt_by_default_builds_a_fresh_calculator_per_call_so_values_stay_bit_exact():
    potential = load_potential("emt")
    assert potential._get_calculator() is not potential._get_calculator()
    frames = scan_frames("Cu", "fcc", 3.61, 2.55)
    energy, forces = one_frame_per_call(potential, frames)
    ref_energy, ref_forces = fresh_per_frame(EMT, frames)
    assert np.array_equal(energy, ref_energy)
    assert np.array_equal(forces, ref_forces)


def test_kept_emt_and_lj_agree_with_fresh_ones_to_rounding():
    """Kept neighbour lists order neighbours as built at earlier positions: equal to ~1e-13 eV, not bit for bit."""
    frames = scan_frames("Cu", "fcc", 3.61, 2.55)
    for make in (EMT, lambda: AseLJ(sigma=2.3, epsilon=0.4, rc=5.0)):
        kept = CalculatorPotential(make, reuse=True)
        energy, forces = one_frame_per_call(kept, frames)
        assert kept._get_calculator() is kept._get_calculator()
        ref_energy, ref_forces = fresh_per_frame(make, frames)
        np.testing.assert_allclose(energy, ref_energy, rtol=0, atol=1e-10)
        np.testing.assert_allclose(forces, ref_forces, rtol=0, atol=1e-10)


def test_a_pickled_adapter_builds_its_own_calculator():
    potential = load_potential("emt[reuse=True]")
    frames = scan_frames("Cu", "fcc", 3.61, 2.55)[:2]
    one_frame_per_call(potential, frames)
    assert potential._kept is not None
    copy = pickle.loads(pickle.dumps(potential))
    assert copy._kept is None and potential._kept is not None
    energy, forces = one_frame_per_call(copy, frames[:1])
    ref_energy, ref_forces = fresh_per_frame(EMT, frames[:1])
    assert np.array_equal(energy, ref_energy) and np.array_equal(forces, ref_forces)
