"""The one contract every potential meets: many configurations in, energies and forces out.

Layout follows TorchSim: all systems of a batch are one flat atom array plus a sorted
per-atom ``system_idx``; energies are per system, forces per atom. ASE conventions hold
throughout: Å, eV, eV/Å, cell rows are lattice vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

import numpy as np
import torch
from ase import Atoms


@dataclass(frozen=True)
class AtomsBatch:
    """Many configurations (possibly of different sizes) as one flat atom array.

    Attributes:
        positions_angstrom: (n_atoms, 3) Cartesian positions in Å.
        atomic_numbers: (n_atoms,) int64.
        system_idx: (n_atoms,) int64, sorted, values 0..n_systems-1; which system each atom is in.
        cell_angstrom: (n_systems, 3, 3); rows are lattice vectors (ASE convention), zeros allowed
            for non-periodic systems.
        pbc: (n_systems, 3) bool.
    """

    positions_angstrom: torch.Tensor
    atomic_numbers: torch.Tensor
    system_idx: torch.Tensor
    cell_angstrom: torch.Tensor
    pbc: torch.Tensor

    @property
    def n_atoms(self) -> int:
        return int(self.positions_angstrom.shape[0])

    @property
    def n_systems(self) -> int:
        return int(self.cell_angstrom.shape[0])

    @property
    def n_atoms_per_system(self) -> torch.Tensor:
        """(n_systems,) int64 number of atoms in each system."""
        return torch.bincount(self.system_idx, minlength=self.n_systems)

    @classmethod
    def from_atoms(
        cls,
        structures: Sequence[Atoms],
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
    ) -> "AtomsBatch":
        """Concatenate ASE structures into one batch (copies; the Atoms are not touched)."""
        if len(structures) == 0:
            raise ValueError("cannot build a batch from zero structures")
        positions = np.concatenate([a.get_positions() for a in structures])
        numbers = np.concatenate([a.get_atomic_numbers() for a in structures])
        system_idx = np.repeat(np.arange(len(structures)), [len(a) for a in structures])
        cells = np.stack([a.cell.array for a in structures])
        pbc = np.stack([a.pbc for a in structures])
        return cls.from_arrays(positions, numbers, system_idx, cells, pbc, dtype=dtype, device=device)

    @classmethod
    def from_arrays(
        cls,
        positions_angstrom,
        atomic_numbers,
        system_idx,
        cell_angstrom,
        pbc,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
    ) -> "AtomsBatch":
        """Build a batch from array-likes, checking shapes so a mistake fails here, not deep in a model."""
        pos = torch.as_tensor(np.asarray(positions_angstrom), dtype=dtype, device=device)
        z = torch.as_tensor(np.asarray(atomic_numbers), dtype=torch.int64, device=device)
        idx = torch.as_tensor(np.asarray(system_idx), dtype=torch.int64, device=device)
        cell = torch.as_tensor(np.asarray(cell_angstrom), dtype=dtype, device=device)
        pbc_t = torch.as_tensor(np.asarray(pbc), dtype=torch.bool, device=device)
        n_atoms = pos.shape[0]
        if pos.ndim != 2 or pos.shape[1] != 3:
            raise ValueError(f"positions must be (n_atoms, 3), got {tuple(pos.shape)}")
        if z.shape != (n_atoms,) or idx.shape != (n_atoms,):
            raise ValueError("atomic_numbers and system_idx must be (n_atoms,)")
        if cell.ndim != 3 or cell.shape[1:] != (3, 3):
            raise ValueError(f"cell must be (n_systems, 3, 3), got {tuple(cell.shape)}")
        if pbc_t.shape != (cell.shape[0], 3):
            raise ValueError(f"pbc must be (n_systems, 3), got {tuple(pbc_t.shape)}")
        if n_atoms and bool((idx[1:] < idx[:-1]).any()):
            raise ValueError("system_idx must be sorted")
        if n_atoms and (int(idx.min()) < 0 or int(idx.max()) >= cell.shape[0]):
            raise ValueError("system_idx values must lie in 0..n_systems-1")
        return cls(pos, z, idx, cell, pbc_t)

    def to_atoms(self) -> list[Atoms]:
        """Split back into ASE structures (detached numpy copies)."""
        pos = self.positions_angstrom.detach().cpu().numpy()
        z = self.atomic_numbers.cpu().numpy()
        idx = self.system_idx.cpu().numpy()
        cell = self.cell_angstrom.detach().cpu().numpy()
        pbc = self.pbc.cpu().numpy()
        return [
            Atoms(numbers=z[idx == s], positions=pos[idx == s], cell=cell[s], pbc=pbc[s])
            for s in range(self.n_systems)
        ]

    def select(self, system_indices: Sequence[int]) -> "AtomsBatch":
        """A new batch holding only the given systems, renumbered 0..len-1 in the given order."""
        parts = [torch.nonzero(self.system_idx == s).flatten() for s in system_indices]
        atom_idx = torch.cat(parts)
        new_idx = torch.cat(
            [torch.full((len(p),), k, dtype=torch.int64, device=atom_idx.device) for k, p in enumerate(parts)]
        )
        sel = torch.as_tensor(list(system_indices), dtype=torch.int64, device=atom_idx.device)
        return AtomsBatch(
            self.positions_angstrom[atom_idx],
            self.atomic_numbers[atom_idx],
            new_idx,
            self.cell_angstrom[sel],
            self.pbc[sel],
        )

    def with_positions(self, positions_angstrom: torch.Tensor) -> "AtomsBatch":
        """Same systems, new positions (for autograd or for moving atoms without mutation)."""
        return AtomsBatch(positions_angstrom, self.atomic_numbers, self.system_idx, self.cell_angstrom, self.pbc)


@dataclass
class PotentialOutput:
    """What a potential returns for a batch.

    Attributes:
        energy_ev: (n_systems,) total energy in eV.
        forces_ev_per_angstrom: (n_atoms, 3) in eV/Å.
        stress_ev_per_angstrom3: (n_systems, 3, 3) in eV/Å^3 (ASE sign convention), or None.
    """

    energy_ev: torch.Tensor
    forces_ev_per_angstrom: torch.Tensor
    stress_ev_per_angstrom3: torch.Tensor | None = None


@runtime_checkable
class BatchedPotential(Protocol):
    """Any potential that evaluates a whole :class:`AtomsBatch` in one call.

    Attributes:
        cutoff_angstrom: interaction range in Å, or None when unknown / unbounded. Scans use it
            to extend past the cutoff and to check that forces vanish beyond it.
        conservative: True when forces are -dE/dx by construction.

    Contract (checked by :func:`bsct.testing.check_potential`): inputs are never modified; a
    batch gives the same result as each system alone; outputs have the shapes documented on
    :class:`PotentialOutput`.
    """

    cutoff_angstrom: float | None
    conservative: bool

    def __call__(self, batch: AtomsBatch, compute_stress: bool = False) -> PotentialOutput: ...


def forces_and_stress_from_energy(
    energy_fn,
    batch: AtomsBatch,
    compute_stress: bool = False,
    create_graph: bool = False,
) -> PotentialOutput:
    """Evaluate ``energy_fn(batch) -> (n_systems,)`` and differentiate it.

    Forces are -dE/dx by autograd. Stress uses the strain trick: positions and cell are
    deformed by a symmetric strain ε = 0 and σ = (1/V) dE/dε (ASE sign convention).
    ``create_graph=True`` keeps the graph so a force loss can be trained.
    """
    pos = batch.positions_angstrom.detach().clone().requires_grad_(True)
    cell = batch.cell_angstrom.detach().clone()
    inputs = [pos]
    if compute_stress:
        strain = torch.zeros_like(cell, requires_grad=True)
        sym = 0.5 * (strain + strain.transpose(1, 2))
        eye = torch.eye(3, dtype=cell.dtype, device=cell.device)
        deform = eye + sym  # (n_systems, 3, 3)
        pos_in = torch.einsum("ai,aij->aj", pos, deform[batch.system_idx])
        cell = torch.bmm(cell, deform)
        inputs.append(strain)
    else:
        pos_in = pos
    deformed = AtomsBatch(pos_in, batch.atomic_numbers, batch.system_idx, cell, batch.pbc)
    energy = energy_fn(deformed)
    grads = torch.autograd.grad(energy.sum(), inputs, create_graph=create_graph, allow_unused=True)
    forces = -grads[0] if grads[0] is not None else torch.zeros_like(pos)
    stress = None
    if compute_stress:
        volume = torch.abs(torch.linalg.det(batch.cell_angstrom))
        de_dstrain = grads[1] if grads[1] is not None else torch.zeros_like(cell)
        stress = de_dstrain / volume.clamp_min(1e-12)[:, None, None]
    if not create_graph:
        energy, forces = energy.detach(), forces.detach()
        stress = stress.detach() if stress is not None else None
    return PotentialOutput(energy, forces, stress)


#: dtype names a SPEC can give (``chgnet:0.3.0[dtype=float64]``, ``model.pt[dtype=float32]``)
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def torch_dtype(name: str | torch.dtype) -> torch.dtype:
    """``"float32"`` / ``"float64"`` (or a torch dtype) as a torch dtype; anything else is refused."""
    if isinstance(name, torch.dtype) and name in DTYPES.values():
        return name
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    return DTYPES[name]
