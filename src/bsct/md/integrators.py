"""Batched MD integrators in torch: an init function and step functions on an immutable state.

All replicas live in one flat atom array (the :class:`~bsct.potentials.protocol.AtomsBatch`
layout) and advance together, so each step costs exactly one call of the potential for all of
them. Steps return a new :class:`MDState`; the input state is never modified.

Units: Å, fs, eV, amu, K. Velocities are in Å/fs, so kinetic energy needs the conversion
``EV_PER_AMU_ANGSTROM2_PER_FS2`` (1 amu·Å²/fs² = 103.64 eV) and the acceleration of an atom is
``a = F / (m · EV_PER_AMU_ANGSTROM2_PER_FS2)`` in Å/fs².
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np
import torch
from ase import units

from bsct.potentials.protocol import AtomsBatch, PotentialOutput

EV_PER_AMU_ANGSTROM2_PER_FS2 = 1.0 / units.fs**2  # 103.6427 eV
BOLTZMANN_EV_PER_K = units.kB

ForceFn = Callable[[AtomsBatch], PotentialOutput]


@dataclass(frozen=True)
class MDState:
    """Positions, velocities and the forces at those positions, for many systems at once.

    Attributes:
        batch: the configurations (positions in Å, numbers, sorted ``system_idx``, cell, pbc).
            Positions are never wrapped back into the cell, so displacements and bond vectors
            built from the starting periodic shifts stay valid.
        velocities_angstrom_per_fs: (n_atoms, 3).
        masses_amu: (n_atoms,).
        energy_ev: (n_systems,) potential energy at ``batch`` positions.
        forces_ev_per_angstrom: (n_atoms, 3) forces at ``batch`` positions.
        time_fs: simulated time since the state was initialised.
    """

    batch: AtomsBatch
    velocities_angstrom_per_fs: torch.Tensor
    masses_amu: torch.Tensor
    energy_ev: torch.Tensor
    forces_ev_per_angstrom: torch.Tensor
    time_fs: float = 0.0

    @property
    def n_systems(self) -> int:
        return self.batch.n_systems

    def select(self, system_indices: Sequence[int]) -> "MDState":
        """A new state with only the given systems (renumbered in the given order)."""
        idx = self.batch.system_idx
        atom_idx = torch.cat([torch.nonzero(idx == s).flatten() for s in system_indices])
        sel = torch.as_tensor(list(system_indices), dtype=torch.int64, device=idx.device)
        return MDState(
            batch=self.batch.select(system_indices),
            velocities_angstrom_per_fs=self.velocities_angstrom_per_fs[atom_idx],
            masses_amu=self.masses_amu[atom_idx],
            energy_ev=self.energy_ev[sel],
            forces_ev_per_angstrom=self.forces_ev_per_angstrom[atom_idx],
            time_fs=self.time_fs,
        )


def kinetic_energy_ev(state: MDState) -> torch.Tensor:
    """(n_systems,) K = Σ_i ½ m_i |v_i|² in eV."""
    per_atom = 0.5 * state.masses_amu * (state.velocities_angstrom_per_fs**2).sum(dim=1)
    per_atom = per_atom * EV_PER_AMU_ANGSTROM2_PER_FS2
    out = torch.zeros(state.n_systems, dtype=per_atom.dtype, device=per_atom.device)
    return out.index_add(0, state.batch.system_idx, per_atom)


def temperature_k(state: MDState) -> torch.Tensor:
    """(n_systems,) instantaneous T = 2K / (3 N k_B), the convention of ``ase.Atoms.get_temperature``."""
    n_atoms = state.batch.n_atoms_per_system.to(state.energy_ev.dtype)
    return 2.0 * kinetic_energy_ev(state) / (3.0 * n_atoms * BOLTZMANN_EV_PER_K)


def init_state(
    batch: AtomsBatch,
    velocities_angstrom_per_fs: torch.Tensor,
    masses_amu: torch.Tensor,
    force_fn: ForceFn,
) -> MDState:
    """Evaluate the forces once and wrap everything into a state (inputs are not modified)."""
    out = force_fn(batch)
    return MDState(
        batch=batch,
        velocities_angstrom_per_fs=velocities_angstrom_per_fs.to(batch.positions_angstrom.dtype).clone(),
        masses_amu=masses_amu.to(batch.positions_angstrom.dtype).clone(),
        energy_ev=out.energy_ev.detach(),
        forces_ev_per_angstrom=out.forces_ev_per_angstrom.detach(),
    )


def _acceleration(state: MDState, forces_ev_per_angstrom: torch.Tensor) -> torch.Tensor:
    """(n_atoms, 3) a = F / m in Å/fs²."""
    return forces_ev_per_angstrom / (state.masses_amu[:, None] * EV_PER_AMU_ANGSTROM2_PER_FS2)


def velocity_verlet_step(state: MDState, force_fn: ForceFn, timestep_fs: float) -> MDState:
    """One NVE step, velocity Verlet (time-reversible, symplectic, global energy error O(Δt²)).

        v(t + Δt/2) = v(t) + Δt/2 · F(x(t)) / m
        x(t + Δt)   = x(t) + Δt · v(t + Δt/2)
        v(t + Δt)   = v(t + Δt/2) + Δt/2 · F(x(t + Δt)) / m

    One call of ``force_fn`` for all systems.
    """
    dt = float(timestep_fs)
    v_half = state.velocities_angstrom_per_fs + 0.5 * dt * _acceleration(state, state.forces_ev_per_angstrom)
    positions = state.batch.positions_angstrom + dt * v_half
    batch = state.batch.with_positions(positions)
    out = force_fn(batch)
    forces = out.forces_ev_per_angstrom.detach()
    v_new = v_half + 0.5 * dt * _acceleration(state, forces)
    return replace(
        state,
        batch=batch,
        velocities_angstrom_per_fs=v_new,
        energy_ev=out.energy_ev.detach(),
        forces_ev_per_angstrom=forces,
        time_fs=state.time_fs + dt,
    )


def langevin_baoab_step(
    state: MDState,
    force_fn: ForceFn,
    timestep_fs: float,
    temperature_k: float,
    friction_per_fs: float,
    noise: torch.Tensor,
) -> MDState:
    """One Langevin (NVT) step, BAOAB splitting (Leimkuhler & Matthews 2013).

        B: v ← v + Δt/2 · F/m
        A: x ← x + Δt/2 · v
        O: v ← c₁ v + c₂ √(k_B T / m) ξ,    c₁ = exp(-γ Δt),  c₂ = √(1 - c₁²)
        A: x ← x + Δt/2 · v
        B: v ← v + Δt/2 · F(x)/m

    ``noise`` is ξ, (n_atoms, 3) standard normal, drawn by the caller so each replica can keep
    its own seeded generator (a replica's trajectory does not depend on its batch mates).
    One call of ``force_fn`` per step.
    """
    dt = float(timestep_fs)
    c1 = math.exp(-friction_per_fs * dt)
    c2 = math.sqrt(max(0.0, 1.0 - c1 * c1))
    kt_ev = BOLTZMANN_EV_PER_K * temperature_k
    sigma = torch.sqrt(kt_ev / (state.masses_amu * EV_PER_AMU_ANGSTROM2_PER_FS2))[:, None]  # Å/fs
    v = state.velocities_angstrom_per_fs + 0.5 * dt * _acceleration(state, state.forces_ev_per_angstrom)
    x = state.batch.positions_angstrom + 0.5 * dt * v
    v = c1 * v + c2 * sigma * noise.to(v.dtype)
    x = x + 0.5 * dt * v
    batch = state.batch.with_positions(x)
    out = force_fn(batch)
    forces = out.forces_ev_per_angstrom.detach()
    v = v + 0.5 * dt * _acceleration(state, forces)
    return replace(
        state,
        batch=batch,
        velocities_angstrom_per_fs=v,
        energy_ev=out.energy_ev.detach(),
        forces_ev_per_angstrom=forces,
        time_fs=state.time_fs + dt,
    )


def velocities_from_atoms(structures) -> np.ndarray:
    """(n_atoms, 3) Å/fs from the momenta stored on ASE Atoms (ASE velocity unit is Å/(ASE time))."""
    return np.concatenate([a.get_velocities() for a in structures]) * units.fs
