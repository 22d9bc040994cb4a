"""Geometry samplers shared by the reference-data generators.

Every sampler takes an explicit ``numpy.random.Generator`` and never touches global random
state, so a dataset is a pure function of its seed. Samplers return new ``Atoms`` without a
calculator; labelling by the reference method happens afterwards (:mod:`bsct.data.reference`).
Units: Å, fs, K.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator


def child_rng(seed: int, *keys: int | str) -> np.random.Generator:
    """An independent generator for one part of a dataset.

    Derived from ``seed`` and ``keys`` only, so adding or resizing one part never shifts the
    random stream of another. String keys are hashed stably (not with Python's salted ``hash``).
    """
    words = [int(seed)]
    for key in keys:
        if isinstance(key, str):
            words.append(int.from_bytes(key.encode()[:16].ljust(16, b"\0"), "little") % (2**63))
        else:
            words.append(int(key))
    return np.random.default_rng(words)


def strip(atoms: Atoms) -> Atoms:
    """A copy with positions, numbers, cell and pbc only (no calculator, velocities or info)."""
    return Atoms(numbers=atoms.numbers.copy(), positions=atoms.positions.copy(), cell=atoms.cell.array.copy(),
                 pbc=atoms.pbc.copy())


def rattle(atoms: Atoms, sigma_angstrom: float, rng: np.random.Generator) -> Atoms:
    """Copy with every atom displaced by an isotropic Gaussian of width ``sigma_angstrom``."""
    out = strip(atoms)
    out.positions += rng.normal(0.0, sigma_angstrom, size=out.positions.shape)
    return out


def strain(atoms: Atoms, max_strain: float, rng: np.random.Generator) -> Atoms:
    """Copy under a random symmetric strain ε, each component uniform in ±``max_strain``.

    Cell and positions are both mapped by (1 + ε), so fractional coordinates are kept.
    """
    eps = rng.uniform(-max_strain, max_strain, size=(3, 3))
    eps = 0.5 * (eps + eps.T)
    out = strip(atoms)
    out.set_cell(out.cell.array @ (np.eye(3) + eps), scale_atoms=True)
    return out


def maxwell_boltzmann(atoms: Atoms, temperature_k: float, rng: np.random.Generator) -> None:
    """Set ``atoms``' momenta from the Maxwell-Boltzmann distribution at ``temperature_k`` (in place)."""
    try:  # ASE >= 3.28
        from ase.md.velocitydistribution import thermalize_momenta

        thermalize_momenta(atoms, temperature_K=temperature_k, rng=rng)
    except ImportError:
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_k, rng=rng)


def run_md(
    atoms: Atoms,
    calculator: Calculator,
    temperature_k: float,
    timestep_fs: float,
    n_equil_steps: int,
    n_samples: int,
    stride_steps: int,
    rng: np.random.Generator,
    friction_per_fs: float = 0.01,
    initial_temperature_k: float | None = None,
    on_sample: Callable[[], None] | None = None,
) -> list[Atoms]:
    """Langevin MD with ``calculator``; return ``n_samples`` snapshots ``stride_steps`` apart.

    Velocities start from Maxwell-Boltzmann at ``initial_temperature_k`` (default 2 T, which
    equipartition halves quickly); the thermostat is ``ase.md.langevin.Langevin`` driven by
    ``rng``. Constraints on ``atoms`` (e.g. rigid water) are respected. ``atoms`` is not
    modified; a copy is propagated.
    """
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary

    work = atoms.copy()
    work.calc = calculator
    t0 = 2.0 * temperature_k if initial_temperature_k is None else initial_temperature_k
    maxwell_boltzmann(work, t0, rng)
    Stationary(work)
    dyn = Langevin(work, timestep_fs * units.fs, temperature_K=temperature_k,
                   friction=friction_per_fs / units.fs, fixcm=False, rng=rng)
    if n_equil_steps:
        dyn.run(n_equil_steps)
    frames = []
    for _ in range(n_samples):
        dyn.run(stride_steps)
        frames.append(strip(work))
        if on_sample is not None:
            on_sample()
    return frames


def min_distance_angstrom(atoms: Atoms) -> float:
    """Shortest interatomic distance (minimum image for periodic directions); inf for one atom."""
    if len(atoms) < 2:
        return float("inf")
    if atoms.pbc.any():
        from ase.neighborlist import neighbor_list

        d = neighbor_list("d", atoms, 3.0)
        if len(d):
            return float(d.min())
        return float("inf")
    diff = atoms.positions[:, None, :] - atoms.positions[None, :, :]
    dist = np.sqrt((diff**2).sum(-1))
    dist[np.diag_indices(len(atoms))] = np.inf
    return float(dist.min())
