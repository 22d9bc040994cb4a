"""Neighbour pairs of a batch: the same pairs as a brute-force search over periodic images, for
crystals, free molecules and slabs, with pair vectors that carry gradients."""

import itertools

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, fcc111, molecule

from bsct.potentials.neighbors import neighbor_pairs
from bsct.potentials.protocol import AtomsBatch


def brute_force_pairs(atoms: Atoms, cutoff: float, offset: int = 0) -> set[tuple[int, int, int, int, int]]:
    """(i, j, S) of every directed pair closer than ``cutoff`` over images S in [-3, 3]^3 (periodic
    directions only)."""
    ranges = [range(-3, 4) if p else range(1) for p in atoms.pbc]
    pos, cell = atoms.positions, np.asarray(atoms.cell)
    out = set()
    for shift in itertools.product(*ranges):
        d = pos[None, :, :] + np.asarray(shift) @ cell - pos[:, None, :]
        close = np.linalg.norm(d, axis=-1) < cutoff
        for i, j in zip(*np.nonzero(close)):
            if i != j or any(shift):
                out.add((int(i) + offset, int(j) + offset, *shift))
    return out


def as_set(pairs) -> set[tuple[int, int, int, int, int]]:
    return {(int(i), int(j), *map(int, s)) for i, j, s in zip(pairs.i_idx, pairs.j_idx, pairs.shift_idx)}


def test_pairs_match_a_brute_force_search_for_crystal_molecule_and_slab_in_one_batch():
    crystal = bulk("Cu", "fcc", a=3.61).repeat((2, 1, 1))  # small cell: images of itself within the cutoff
    crystal.rattle(0.05, seed=1)
    mol = molecule("CH3CH2OH")
    slab = fcc111("Cu", (2, 2, 2), vacuum=5.0)  # periodic in x, y only
    slab.pbc = (True, True, False)
    cutoff = 3.0
    pairs = neighbor_pairs(AtomsBatch.from_atoms([crystal, mol, slab]), cutoff)

    expected = brute_force_pairs(crystal, cutoff) | brute_force_pairs(mol, cutoff, offset=len(crystal)) \
        | brute_force_pairs(slab, cutoff, offset=len(crystal) + len(mol))
    assert as_set(pairs) == expected
    assert len(pairs.i_idx) == len(expected)  # no pair twice


def test_vectors_are_the_image_distances_and_differentiable():
    atoms = bulk("Si", "diamond", a=5.43)
    atoms.rattle(0.02, seed=3)
    batch = AtomsBatch.from_atoms([atoms])
    batch.positions_angstrom.requires_grad_(True)
    pairs = neighbor_pairs(batch, 2.6)
    vectors = pairs.vectors_angstrom(batch)
    assert len(vectors) == 8  # 4 neighbours of each of the 2 atoms
    np.testing.assert_allclose(vectors.norm(dim=1).detach().numpy(), 5.43 * np.sqrt(3) / 4, atol=0.1)
    expected = atoms.positions[pairs.j_idx] - atoms.positions[pairs.i_idx] + pairs.shift_idx.numpy() @ atoms.cell[:]
    np.testing.assert_allclose(vectors.detach().numpy(), expected, atol=1e-12)
    vectors.norm(dim=1).sum().backward()
    assert batch.positions_angstrom.grad is not None
    assert torch.allclose(batch.positions_angstrom.grad.sum(0), torch.zeros(3, dtype=torch.float64), atol=1e-10)


def test_isolated_atom_has_no_pairs_and_a_singular_periodic_cell_is_refused():
    empty = neighbor_pairs(AtomsBatch.from_atoms([Atoms("Cu", positions=[[0, 0, 0]])]), 5.0)
    assert empty.i_idx.shape == (0,) and empty.shift_idx.shape == (0, 3)
    flat = Atoms("Cu2", positions=[[0, 0, 0], [1, 0, 0]], cell=[[3, 0, 0], [0, 3, 0], [0, 0, 0]], pbc=True)
    with pytest.raises(ValueError, match="system 0 is periodic .* cell is singular"):
        neighbor_pairs(AtomsBatch.from_atoms([flat]), 2.0)
