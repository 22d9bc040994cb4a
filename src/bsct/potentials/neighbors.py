"""Neighbour pairs for a batch: indices from matscipy (fast, C), vectors from torch (differentiable).

The index search is not differentiable and needs none: which pairs lie inside a cutoff is
piecewise constant in the positions. The pair vectors are then built in torch from the
positions and integer cell shifts, so energies built on them carry gradients (forces, stress).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from ase.neighborlist import primitive_neighbor_list
from matscipy.neighbours import neighbour_list

from bsct.potentials.protocol import AtomsBatch


@dataclass(frozen=True)
class NeighborPairs:
    """Directed pairs (i -> j), both directions present.

    Attributes:
        i_idx, j_idx: (n_pairs,) int64 flat atom indices into the batch.
        shift_idx: (n_pairs, 3) int64 integer cell shifts: r_ij = x_j - x_i + shift_idx @ cell.
    """

    i_idx: torch.Tensor
    j_idx: torch.Tensor
    shift_idx: torch.Tensor

    def vectors_angstrom(self, batch: AtomsBatch) -> torch.Tensor:
        """(n_pairs, 3) r_j - r_i with periodic images, differentiable in positions and cell."""
        cell = batch.cell_angstrom[batch.system_idx[self.i_idx]]  # (n_pairs, 3, 3)
        shift = torch.einsum("pk,pkd->pd", self.shift_idx.to(cell.dtype), cell)
        pos = batch.positions_angstrom
        return pos[self.j_idx] - pos[self.i_idx] + shift


def _system_pairs(positions, cell, pbc, cutoff_angstrom):
    """(i, j, S) for one system; matscipy when it can, ASE otherwise."""
    if np.all(pbc):
        return neighbour_list("ijS", positions=positions, cell=cell, pbc=pbc, cutoff=cutoff_angstrom)
    if not np.any(pbc):
        # matscipy bins atoms in the cell, so give it a box around the (free) molecule.
        if len(positions) == 0:
            return np.zeros(0, int), np.zeros(0, int), np.zeros((0, 3), int)
        lo = positions.min(axis=0) - cutoff_angstrom
        extent = positions.max(axis=0) + cutoff_angstrom - lo + 1.0
        box = np.diag(extent)
        return neighbour_list(
            "ijS", positions=positions - lo, cell=box, pbc=[False] * 3, cutoff=cutoff_angstrom
        )
    return primitive_neighbor_list("ijS", pbc, cell, positions, cutoff_angstrom, self_interaction=False)


def neighbor_pairs(batch: AtomsBatch, cutoff_angstrom: float) -> NeighborPairs:
    """All directed pairs closer than ``cutoff_angstrom`` within each system of the batch."""
    pos = batch.positions_angstrom.detach().cpu().numpy().astype(np.float64)
    cells = batch.cell_angstrom.detach().cpu().numpy().astype(np.float64)
    pbcs = batch.pbc.cpu().numpy()
    counts = batch.n_atoms_per_system.cpu().numpy()
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    i_all, j_all, s_all = [], [], []
    for s in range(batch.n_systems):
        sl = slice(offsets[s], offsets[s] + counts[s])
        if np.any(pbcs[s]) and abs(np.linalg.det(cells[s])) < 1e-12:
            raise ValueError(f"system {s} is periodic (pbc={pbcs[s].tolist()}) but its cell is singular")
        i, j, S = _system_pairs(pos[sl], cells[s], pbcs[s], cutoff_angstrom)
        i_all.append(i + offsets[s])
        j_all.append(j + offsets[s])
        s_all.append(np.asarray(S).reshape(-1, 3))
    device = batch.positions_angstrom.device
    return NeighborPairs(
        torch.as_tensor(np.concatenate(i_all), dtype=torch.int64, device=device),
        torch.as_tensor(np.concatenate(j_all), dtype=torch.int64, device=device),
        torch.as_tensor(np.concatenate(s_all), dtype=torch.int64, device=device),
    )
