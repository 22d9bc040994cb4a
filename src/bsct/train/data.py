"""Training data: labelled structures, cached candidate neighbour pairs, batching, normalisation."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from ase import Atoms

from bsct.potentials.neighbors import NeighborPairs, neighbor_pairs
from bsct.potentials.protocol import AtomsBatch


def labels_of(atoms: Atoms) -> tuple[float, np.ndarray]:
    """(energy_ev, forces_ev_per_angstrom (n, 3)) from an attached calculator or info/arrays."""
    if atoms.calc is not None:
        return float(atoms.get_potential_energy()), np.asarray(atoms.get_forces(), dtype=np.float64)
    for e_key in ("energy", "REF_energy", "energy_ev"):
        if e_key in atoms.info:
            for f_key in ("forces", "REF_forces", "forces_ev_per_angstrom"):
                if f_key in atoms.arrays:
                    return float(atoms.info[e_key]), np.asarray(atoms.arrays[f_key], dtype=np.float64)
    raise ValueError("structure has no energy/forces labels (no calculator, no info['energy'] / arrays['forces'])")


def dataset_hash(structures: Sequence[Atoms]) -> str:
    """sha256 over numbers, positions, cell, pbc and labels of every frame, in order."""
    h = hashlib.sha256()
    for atoms in structures:
        energy, forces = labels_of(atoms)
        for arr in (atoms.numbers.astype(np.int64), atoms.positions, atoms.cell.array, atoms.pbc, forces):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update(np.float64(energy).tobytes())
    return h.hexdigest()


def elements_of(structures: Sequence[Atoms]) -> tuple[int, ...]:
    return tuple(sorted({int(z) for a in structures for z in a.numbers}))


def fit_reference_energies(structures: Sequence[Atoms], elements: Sequence[int]) -> np.ndarray:
    """(n_elements,) per-element energies E_Z (eV) minimising sum_s (E_s - sum_Z n_sZ E_Z)^2.

    Least squares with ``numpy.linalg.lstsq`` (minimum-norm when elements always co-occur in
    fixed ratios, e.g. water only: then only the combination is determined, which is all a
    model of such data needs).
    """
    col = {z: k for k, z in enumerate(elements)}
    counts = np.zeros((len(structures), len(elements)))
    energies = np.zeros(len(structures))
    for s, atoms in enumerate(structures):
        for z in atoms.numbers:
            counts[s, col[int(z)]] += 1
        energies[s] = labels_of(atoms)[0]
    ref, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return ref


def force_rms(structures: Sequence[Atoms]) -> float:
    """Root mean square force component (eV/Å) of the labels; the model's energy scale."""
    f = np.concatenate([labels_of(a)[1].ravel() for a in structures])
    return float(np.sqrt(np.mean(f**2))) if f.size else 1.0


@dataclass
class Frame:
    """One labelled structure with its candidate pairs (within r_cut) cached."""

    atoms: Atoms
    energy_ev: float
    forces_ev_per_angstrom: np.ndarray  # (n_atoms, 3)
    pairs: NeighborPairs


class LabelledStructures:
    """Structures + labels, with neighbour pairs computed once (training positions do not move)."""

    def __init__(self, structures: Sequence[Atoms], r_cut_angstrom: float):
        if len(structures) == 0:
            raise ValueError("no structures")
        self.frames: list[Frame] = []
        for atoms in structures:
            energy, forces = labels_of(atoms)
            pairs = neighbor_pairs(AtomsBatch.from_atoms([atoms]), r_cut_angstrom)
            self.frames.append(Frame(atoms, energy, forces, pairs))
        self.structures = list(structures)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def n_atoms(self) -> int:
        return sum(len(f.atoms) for f in self.frames)

    def batch(self, indices: Sequence[int], dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"):
        """(AtomsBatch, NeighborPairs, energy_ev (n_systems,), forces (n_atoms, 3)) for the frames, on ``device``."""
        frames = [self.frames[k] for k in indices]
        batch = AtomsBatch.from_atoms([f.atoms for f in frames], dtype=dtype, device=device)
        offsets = np.concatenate([[0], np.cumsum([len(f.atoms) for f in frames])[:-1]])
        pairs = NeighborPairs(
            torch.cat([f.pairs.i_idx + int(o) for f, o in zip(frames, offsets)]).to(device),
            torch.cat([f.pairs.j_idx + int(o) for f, o in zip(frames, offsets)]).to(device),
            torch.cat([f.pairs.shift_idx for f in frames]).to(device),
        )
        energy = torch.tensor([f.energy_ev for f in frames], dtype=dtype, device=device)
        forces = torch.as_tensor(np.concatenate([f.forces_ev_per_angstrom for f in frames]), dtype=dtype, device=device)
        return batch, pairs, energy, forces

    def batches(self, batch_size: int, rng: np.random.Generator | None = None, dtype=torch.float32, device="cpu"):
        """Yield batches over all frames; shuffled when ``rng`` is given."""
        order = rng.permutation(len(self)) if rng is not None else np.arange(len(self))
        for start in range(0, len(order), batch_size):
            yield self.batch(order[start : start + batch_size].tolist(), dtype, device)
