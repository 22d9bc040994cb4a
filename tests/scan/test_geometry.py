"""Scan frames: the bond has the requested length, only the right atoms move, cells grow."""

import numpy as np
import pytest
from ase.build import bulk, molecule

from bsct.scan.bonds import find_bonds
from bsct.scan.geometry import ScanRange, build_scan, perpendicular_widths_angstrom


def test_fragment_scan_moves_rigid_fragments_and_sets_bond_length():
    ethanol = molecule("CH3CH2OH")
    bond = next(b for b in find_bonds(ethanol) if b.bond_type == "C-O")
    geo = build_scan(ethanol, bond, ScanRange(n_points=50))
    assert geo.mode == "fragment"
    pos = geo.positions_angstrom()
    lengths = np.linalg.norm(pos[:, geo.j] - pos[:, geo.i], axis=1)
    np.testing.assert_allclose(lengths, geo.r_angstrom, atol=1e-10)
    # distances inside each fragment never change
    for side in (0, 1):
        idx = np.flatnonzero(geo.side == side)
        d = np.linalg.norm(pos[:, idx, None] - pos[:, None, idx], axis=-1)
        np.testing.assert_allclose(d, d[:1].repeat(len(d), 0), atol=1e-10)
    assert geo.min_cross_distance_angstrom()[-1] > geo.min_cross_distance_angstrom()[0]


def test_pair_scan_moves_only_the_two_atoms():
    ethanol = molecule("CH3CH2OH")
    bond = next(b for b in find_bonds(ethanol) if b.bond_type == "C-C")
    geo = build_scan(ethanol, bond, ScanRange(n_points=20), mode="pair")
    moved = np.flatnonzero(np.abs(geo.dx_dr).sum(axis=1) > 0)
    assert sorted(moved.tolist()) == sorted([geo.i, geo.j])


def test_default_range_covers_compression_and_past_the_cutoff():
    geo = build_scan(molecule("H2"), find_bonds(molecule("H2"))[0], cutoff_angstrom=5.0)
    r0 = geo.r0_angstrom
    assert geo.r_angstrom[0] == pytest.approx(max(0.6 * r0, 0.5))
    assert geo.r_angstrom[-1] == pytest.approx(6.0)
    assert len(geo.r_angstrom) >= 200
    with pytest.raises(ValueError, match="ring"):
        benzene = molecule("C6H6")
        build_scan(benzene, next(b for b in find_bonds(benzene) if b.bond_type == "C-C"), mode="fragment")


def test_periodic_scan_grows_the_cell_and_keeps_the_bond():
    cu = bulk("Cu", "fcc", a=3.61)  # one atom: the bond joins it to its own image
    bond = find_bonds(cu)[0]
    geo = build_scan(cu, bond, ScanRange(n_points=30), cutoff_angstrom=5.0)
    assert len(geo.atoms) > 1 and geo.i != geo.j
    half = 0.5 * perpendicular_widths_angstrom(geo.atoms.cell.array).min()
    assert geo.r_angstrom[-1] <= half
    # the scanned pair really is at distance r (minimum image in the grown cell)
    for r, pos in zip(geo.r_angstrom[[0, -1]], geo.positions_angstrom()[[0, -1]]):
        frame = geo.atoms.copy()
        frame.positions = pos
        assert frame.get_distance(geo.i, geo.j, mic=True) == pytest.approx(r, abs=1e-9)


def test_periodic_scan_refuses_to_reach_half_the_cell_without_growing():
    cu = bulk("Cu", "fcc", a=3.61, cubic=True)
    with pytest.raises(ValueError, match="half the cell"):
        build_scan(cu, find_bonds(cu)[0], cutoff_angstrom=5.0, grow_cell=False)
