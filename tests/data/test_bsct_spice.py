"""BSCT-SPICE reader: the shipped subset, and every error on a crafted bad system."""

import shutil

import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write

from bsct.data.bsct_spice import (
    BadSystemError,
    read_system,
    sample_root,
    smiles_charge,
    system_dirs,
)

BOND_TYPES = ["C-C", "C-N", "C-O", "C-P", "C-S", "N-N", "N-O", "N-P", "O-P"]


@pytest.fixture
def system(tmp_path):
    """A writable copy of the shipped C-O system (methanol, 6 atoms, 100 frames)."""
    src = system_dirs(sample_root(), ["C-O"])[0]
    dst = tmp_path / "C-O" / src.name
    shutil.copytree(src, dst)
    return dst


def _rewrite_comment(frame_file, old, new):
    lines = frame_file.read_text().split("\n")
    assert old in lines[1]
    lines[1] = lines[1].replace(old, new)
    frame_file.write_text("\n".join(lines))


def test_shipped_subset_has_one_readable_system_per_bond_type_with_the_licence():
    dirs = system_dirs(sample_root())
    assert [d.parent.name for d in dirs] == BOND_TYPES
    assert "MIT" in (sample_root() / "LICENSE").read_text()
    for d in dirs:
        scan = read_system(d)
        assert scan.bond_type == d.parent.name and scan.charge == 0
        n_atoms = len(scan.frames[0])
        assert scan.forces_ref_ev_per_angstrom.shape == (len(scan.frames), n_atoms, 3)
        i, j = scan.bond_index
        # the frame's bond length is the grid value from perturb_range
        np.testing.assert_allclose([f.get_distance(i, j) for f in scan.frames], scan.r_angstrom, atol=2e-3)
        assert set(np.unique(scan.fragment_labels)) == {0, 1} and len(scan.fragment_labels) == n_atoms
        assert scan.fragment_labels[i] != scan.fragment_labels[j]


def test_nan_reference_frames_are_dropped_with_their_grid_points(system):
    for k in (10, 11):
        _rewrite_comment(system / f"atoms_{k}.xyz", "energy=", "energy=nan dummy=")
    scan = read_system(system)
    assert scan.n_dropped == 2 and len(scan.frames) == 98
    grid = np.linspace(0.71, 2.84, 100)
    np.testing.assert_allclose(scan.r_angstrom, np.delete(grid, [10, 11]))
    assert np.isfinite(scan.energy_ref_ev).all()


def test_charge_from_smiles():
    assert smiles_charge("[H:1][N+:2]([H:3])([H:4])[H:5]") == 1
    assert smiles_charge("[O-:1][C:2](=[O:3])[O-:4]") == -2
    assert smiles_charge("[NH3+:1][CH2:2][C:3](=[O:4])[O-:5]") == 0  # zwitterion
    assert smiles_charge("[Fe+2:1]") == 2


def test_charge_of_a_system_comes_from_its_smiles(system):
    for k in range(100):
        _rewrite_comment(system / f"atoms_{k}.xyz", "[O:1]", "[O-:1]")
    assert read_system(system).charge == -1


def test_missing_frame_is_named(system):
    (system / "atoms_37.xyz").unlink()
    with pytest.raises(BadSystemError, match=r"atoms_37\.xyz: missing scan frame 37 of 100"):
        read_system(system)


def test_frame_with_other_atoms_is_named(system):
    atoms = read(system / "atoms_5.xyz")
    fewer = atoms[:-1]
    fewer.calc = SinglePointCalculator(fewer, energy=atoms.get_potential_energy(), forces=atoms.get_forces()[:-1])
    write(system / "atoms_5.xyz", fewer, format="extxyz")
    with pytest.raises(BadSystemError, match=r"atoms_5\.xyz: 5 atoms .* differ from frame 0 \(6 atoms\)"):
        read_system(system)


def test_unreadable_frame_is_named(system):
    (system / "atoms_3.xyz").write_text("not an xyz file\n")
    with pytest.raises(BadSystemError, match=r"atoms_3\.xyz: cannot read"):
        read_system(system)


def test_unreadable_missing_or_incomplete_partition_is_named(system):
    npz = system / "partition.npz"
    with np.load(npz) as part:
        keys = {k: part[k] for k in part.files}
    np.savez(npz, **{k: v for k, v in keys.items() if k != "labels"})
    with pytest.raises(BadSystemError, match="partition.npz: missing key 'labels'"):
        read_system(system)
    np.savez(npz, **(keys | {"labels": keys["labels"][:-1]}))
    with pytest.raises(BadSystemError, match="labels .* one 0/1 per atom"):
        read_system(system)
    np.savez(npz, **(keys | {"bond_index": np.array([0, 6])}))
    with pytest.raises(BadSystemError, match="bond_index"):
        read_system(system)
    npz.write_bytes(b"\x00garbage")
    with pytest.raises(BadSystemError, match="partition.npz: unreadable"):
        read_system(system)
    npz.unlink()
    with pytest.raises(BadSystemError, match="no partition.npz"):
        read_system(system)


def test_folder_without_partition_is_listed_not_hidden(system):
    (system.parent / "99999").mkdir()
    dirs = system_dirs(system.parent.parent)
    assert [d.name for d in dirs] == [system.name, "99999"]
