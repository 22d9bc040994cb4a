"""Bond discovery on molecules and crystals, deterministic selection, clear errors."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule

from bsct.scan.bonds import find_bonds, molecular_fragments, select_bonds, symmetry_classes


def test_ethanol_bonds_by_covalent_radii():
    bonds = find_bonds(molecule("CH3CH2OH"))
    types = sorted(b.bond_type for b in bonds)
    assert types.count("C-H") == 5 and types.count("C-C") == 1 and types.count("C-O") == 1 and types.count("H-O") == 1
    assert len(bonds) == 8  # no H...H or C...O second neighbours


@pytest.mark.parametrize("atoms, n_bonds, per_atom, r_nn", [
    # fcc, 4-atom cubic cell: an atom's 12 nearest neighbours are 4 images each of the 3 other
    # atoms; one bond per unordered pair (its shortest image) gives 6 bonds, 3 per atom
    (bulk("Cu", "fcc", a=3.61, cubic=True), 6, 3, 3.61 / np.sqrt(2)),
    # diamond, 8-atom cubic cell: an atom's 4 nearest neighbours are 4 different atoms: 16 bonds
    (bulk("Si", "diamond", a=5.431, cubic=True), 16, 4, 5.431 * np.sqrt(3) / 4),
])
def test_crystal_first_shell_with_minimum_image(atoms, n_bonds, per_atom, r_nn):
    bonds = find_bonds(atoms)
    assert all(abs(b.r0_angstrom - r_nn) < 1e-6 for b in bonds)
    counts = np.zeros(len(atoms), int)
    for b in bonds:
        counts[b.i] += 1
        counts[b.j] += 1
    assert len(bonds) == n_bonds and (counts == per_atom).all()


def test_one_atom_cell_bonds_to_its_own_image():
    bonds = find_bonds(bulk("Cu", "fcc", a=3.61))
    assert len(bonds) == 1 and bonds[0].i == bonds[0].j and bonds[0].shift_idx != (0, 0, 0)


def test_selection_is_seeded_deterministic_and_counts_types():
    data = [molecule("CH3CH2OH"), molecule("CH3CH2OH")]
    a = select_bonds(data, max_per_type=2, seed=7)
    b = select_bonds(data, max_per_type=2, seed=7)
    assert [x.label for x in a.bonds] == [x.label for x in b.bonds]
    assert a.counts_found == {"C-C": 2, "C-H": 10, "C-O": 2, "H-O": 2}
    assert a.counts_chosen == {"C-C": 2, "C-H": 2, "C-O": 2, "H-O": 2}
    only = select_bonds(data, max_per_type=1, bond_types=["C-O"])
    assert [x.bond_type for x in only.bonds] == ["C-O"]


def test_fragments_split_chain_bonds_and_refuse_ring_bonds():
    ethanol = molecule("CH3CH2OH")
    cc = next(b for b in find_bonds(ethanol) if b.bond_type == "C-C")
    side = molecular_fragments(ethanol, cc)
    assert side is not None and side[cc.i] == 0 and side[cc.j] == 1 and (side >= 0).all()
    benzene = molecule("C6H6")
    ring_bond = next(b for b in find_bonds(benzene) if b.bond_type == "C-C")
    assert molecular_fragments(benzene, ring_bond) is None


@pytest.mark.parametrize("data, match", [
    ([], "empty"),
    ([Atoms("H")], "no bonds found"),
    ([Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]], pbc=True)], "no valid cell"),
    ([Atoms(numbers=[0, 1], positions=[[0, 0, 0], [0.7, 0, 0]])], "unknown element"),
])
def test_bad_datasets_get_clear_errors(data, match):
    with pytest.raises(ValueError, match=match):
        select_bonds(data)


def _stretched_energy_ev(atoms, bond, stretch_angstrom: float) -> float:
    """EMT energy with ``bond`` stretched by moving i and j apart symmetrically (images move too)."""
    from ase.calculators.emt import EMT

    moved = atoms.copy()
    vec = atoms.positions[bond.j] + np.asarray(bond.shift_idx) @ atoms.cell.array - atoms.positions[bond.i]
    u = vec / np.linalg.norm(vec)
    moved.positions[bond.i] -= 0.5 * stretch_angstrom * u
    moved.positions[bond.j] += 0.5 * stretch_angstrom * u
    moved.calc = EMT()
    return moved.get_potential_energy()


@pytest.mark.parametrize("atoms, n_classes", [
    (bulk("Cu", "fcc", a=3.61, cubic=True), 1),
    (bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2), 1),  # 192 bonds, all equivalent
    (bulk("Si", "diamond", a=5.431, cubic=True), 1),
    (bulk("NaCl", "rocksalt", a=5.64, cubic=True), 1),
])
def test_perfect_crystals_have_one_distinct_bond(atoms, n_classes):
    bonds = find_bonds(atoms)
    assert len(set(symmetry_classes(atoms, bonds))) == n_classes < len(bonds)


def test_symmetry_merges_nothing_in_a_rattled_cell_or_a_molecule():
    rattled = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    rattled.rattle(0.01, seed=0)  # 100x the symmetry tolerance: no operation left but the identity
    bonds = find_bonds(rattled)
    assert symmetry_classes(rattled, bonds) == list(range(len(bonds)))
    water = molecule("H2O")
    assert symmetry_classes(water, find_bonds(water)) == [0, 1]  # molecules: not 3D periodic, left alone


def test_bonds_of_one_class_give_the_same_stretch_energy_and_classes_differ():
    # a vacancy leaves bonds at different distances from it: several classes, each truly equivalent
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    del atoms[0]
    bonds = find_bonds(atoms)
    classes = symmetry_classes(atoms, bonds)
    members: dict[int, list] = {}
    for bond, label in zip(bonds, classes):
        members.setdefault(label, []).append(bond)
    assert 2 < len(members) < len(bonds)
    firsts = []
    for group in members.values():
        energies = [_stretched_energy_ev(atoms, b, 0.4) for b in group[:4]]
        np.testing.assert_allclose(energies, energies[0], rtol=0, atol=1e-9)
        firsts.append(energies[0])
    assert np.ptp(firsts) > 1e-3  # not all alike: the classes are not one class split by accident


def test_distinct_selection_counts_found_and_distinct_bonds():
    cu = bulk("Cu", "fcc", a=3.61, cubic=True)
    every = select_bonds([cu], max_per_type=3)
    distinct = select_bonds([cu], max_per_type=3, distinct=True)
    assert len(every.bonds) == 3 and every.counts_distinct is None
    assert len(distinct.bonds) == 1 and distinct.counts_found == {"Cu-Cu": 6} and distinct.counts_distinct == {"Cu-Cu": 1}
