"""A tiny labelled Cu dataset made on the fly with ASE's EMT (for tests, demos and benchmarks).

Used when the committed ci datasets (``bsct.data.ci_path``) are not there.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator


def emt_copper(
    n_frames: int = 8,
    repeat: tuple[int, int, int] = (2, 2, 2),
    rattle_angstrom: float = 0.08,
    max_strain: float = 0.03,
    seed: int = 0,
) -> list[Atoms]:
    """Rattled, randomly strained fcc Cu supercells (32 atoms for the default) labelled by EMT.

    Labels sit in a SinglePointCalculator, as read from an extxyz file.
    """
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n_frames):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeat)
        strain = np.eye(3) + rng.uniform(-max_strain, max_strain, (3, 3))
        atoms.set_cell(atoms.cell.array @ (0.5 * (strain + strain.T)), scale_atoms=True)
        atoms.positions += rng.normal(0.0, rattle_angstrom, atoms.positions.shape)
        atoms.calc = EMT()
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        frames.append(atoms)
    return frames
