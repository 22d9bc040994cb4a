"""Collision guard: a pair scan in fcc Cu stops being scored where a moving atom meets the next
atom of its row (known answer r = 1.5 r0 for fraction 0.5), minimum-image aware."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from bsct.scan.bonds import find_bonds
from bsct.scan.collisions import closest_third_atom_distance_angstrom, scored_mask
from bsct.scan.geometry import ScanRange, build_scan


def test_fcc_cu_pair_scan_is_masked_where_a_moving_atom_meets_the_next_atom_of_its_row():
    cu = bulk("Cu", "fcc", a=3.61)
    bond = find_bonds(cu)[0]
    geo = build_scan(cu, bond, ScanRange(n_points=240), mode="pair")  # cell grown so the scan fits
    r0 = bond.r0_angstrom
    assert r0 == pytest.approx(3.61 / np.sqrt(2), rel=1e-9)
    pos = geo.positions_angstrom()
    d3 = closest_third_atom_distance_angstrom(pos, geo.i, geo.j, geo.atoms.cell.array, geo.atoms.pbc)
    r = geo.r_angstrom
    # Known answer: beyond r0 the closest third atom is the next one of the row, r0 - (r - r0)/2 away
    stretched = r > 1.1 * r0
    np.testing.assert_allclose(d3[stretched], r0 - (r[stretched] - r0) / 2, atol=1e-9)
    # at equilibrium the other nearest neighbours are r0 away
    k0 = int(np.argmin(abs(r - r0)))
    assert d3[k0] == pytest.approx(r0, rel=0.02)
    mask = scored_mask(d3, r, fraction=0.5)
    assert mask[0] and mask[k0]
    last = np.flatnonzero(mask)[-1]
    assert r[last] <= 1.5 * r0 < r[last + 1]  # the scored range ends exactly at d3 = r/2
    assert not mask[last + 1 :].any()
    assert r[-1] == pytest.approx(2.5 * r0)  # the unguarded scan went on to 2.5 r0 (d3 = 0.25 r0)
    assert d3[-1] == pytest.approx(0.25 * r0, rel=1e-6)


def test_minimum_image_sees_a_third_atom_across_the_cell_boundary():
    # a chain along x in a 10 Å periodic box: atom 2 sits at x = 9.5, i.e. 0.5 Å behind atom 0
    atoms = Atoms("H3", positions=[[0.0, 0, 0], [1.0, 0, 0], [9.5, 0, 0]], cell=[10, 10, 10], pbc=True)
    pos = atoms.positions[None]
    assert closest_third_atom_distance_angstrom(pos, 0, 1, atoms.cell.array, atoms.pbc)[0] == pytest.approx(0.5)
    no_pbc = closest_third_atom_distance_angstrom(pos, 0, 1, atoms.cell.array, False)[0]
    assert no_pbc == pytest.approx(8.5)  # without periodicity the same atom is 8.5 Å from atom 1
    assert closest_third_atom_distance_angstrom(pos[:, :2], 0, 1, np.eye(3) * 10, True)[0] == np.inf  # a dimer


def test_scored_mask_ends_the_range_at_the_first_collision_and_starts_at_the_first_good_point():
    r = np.linspace(1.0, 3.0, 9)
    d3 = np.array([0.2, 2.0, 2.0, 2.0, 0.9, 2.0, 2.0, 2.0, 2.0])  # bad first point, then a collision at index 4
    mask = scored_mask(d3, r, fraction=0.5)
    assert mask.tolist() == [False, True, True, True, False, False, False, False, False]
    assert not scored_mask(np.zeros(9), r).any()
    assert scored_mask(np.full(9, 10.0), r).all()
