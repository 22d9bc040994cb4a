"""Adapters both ways between ASE calculators and the batched protocol."""

from __future__ import annotations

from collections.abc import Collection
from typing import Callable

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from bsct.potentials.protocol import AtomsBatch, BatchedPotential, PotentialOutput


def in_vacuum_box(atoms: Atoms, cutoff_angstrom: float | None, name: str) -> Atoms:
    """``atoms`` ready for a crystal-only model (CHGNet): a fully periodic structure as it is, a
    molecule in a periodic box wide enough that no atom sees another's image (extent + 2·cutoff +
    2 Å along each axis, centred); partly periodic structures are refused."""
    if atoms.pbc.all():
        return atoms
    if atoms.pbc.any():
        raise ValueError(f"{name} needs fully periodic or fully free structures, got pbc={atoms.pbc.tolist()}")
    margin = 2 * (cutoff_angstrom or 10.0) + 2.0
    boxed = atoms.copy()
    extent = boxed.positions.max(axis=0) - boxed.positions.min(axis=0)
    boxed.cell = np.diag(extent + margin)
    boxed.pbc = True
    boxed.center()
    return boxed


class CalculatorPotential:
    """An ASE calculator behind the batched interface, evaluated one configuration at a time.

    Each configuration gets its own ``Atoms`` with the calculator attached; ASE's
    ``check_state`` tells the calculator what changed (positions, cell, numbers).

    ``calculator`` is an instance (used for every call) or a zero-argument factory. With a factory
    and ``reuse=False`` each call builds a fresh calculator, shared only by that call's frames;
    with ``reuse=True`` the first one built is kept for the adapter's life. Reuse is right only
    for calculators whose result depends on nothing but the atoms given, to the last bit:

    - matscipy's Stillinger-Weber rebuilds its neighbour pairs on every call: reused (bit-exact).
    - tblite starts each SCF from the previous wavefunction, so a kept calculator's result
      depends on what it saw before: fresh per call.
    - ASE's EMT and LennardJones keep a neighbour list with a 0.3 Å skin, rebuilt only when an
      atom moved further. Building it is most of EMT's cost, but a kept list orders neighbours by
      the kd-tree of the positions it was built at and EMT sums in that order, so a kept EMT
      differs from a fresh one in the last bits (~1e-13 eV) in a few frames. EMT is fresh per
      call by default (results stay as they were); ``emt[reuse=True]`` keeps it for speed
      (docs/benchmarks.md, "Reused ASE calculators").

    A kept calculator is not pickled: a copy sent to a worker process builds its own.

    ``supported_elements`` (symbols or atomic numbers) declares the elements the calculator is
    parametrised for, so input validation can refuse others before any call; left out,
    validation probes the calculator instead.
    """

    def __init__(
        self,
        calculator: Calculator | Callable[[], Calculator],
        cutoff_angstrom: float | None = None,
        conservative: bool = True,
        name: str | None = None,
        periodic_only: bool = False,
        supported_elements: Collection[str | int] | None = None,
        reuse: bool = False,
    ):
        self._calculator = calculator
        self._reuse = reuse
        self._kept: Calculator | None = None
        self.cutoff_angstrom = cutoff_angstrom
        self.conservative = conservative
        self.name = name or type(self._get_calculator()).__name__
        self.periodic_only = periodic_only
        if supported_elements is not None:  # absent attribute = undeclared (probed)
            self.supported_elements = frozenset(supported_elements)

    def _prepare(self, atoms: Atoms) -> Atoms:
        return in_vacuum_box(atoms, self.cutoff_angstrom, self.name) if self.periodic_only else atoms

    def _get_calculator(self) -> Calculator:
        calc = self._calculator
        if isinstance(calc, Calculator):
            return calc
        if not self._reuse:
            return calc()
        if self._kept is None:
            self._kept = calc()
        return self._kept

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_kept": None}

    def __call__(self, batch: AtomsBatch, compute_stress: bool = False) -> PotentialOutput:
        energies, forces, stresses = [], [], []
        calc = self._get_calculator()
        for atoms in map(self._prepare, batch.to_atoms()):
            atoms.calc = calc
            energies.append(atoms.get_potential_energy())
            forces.append(atoms.get_forces())
            if compute_stress:
                stresses.append(atoms.get_stress(voigt=False) if atoms.pbc.all() else np.zeros((3, 3)))
        dtype, device = batch.positions_angstrom.dtype, batch.positions_angstrom.device
        return PotentialOutput(
            torch.as_tensor(np.asarray(energies, dtype=np.float64), dtype=dtype, device=device),
            torch.as_tensor(np.concatenate(forces), dtype=dtype, device=device),
            torch.as_tensor(np.stack(stresses), dtype=dtype, device=device) if compute_stress else None,
        )


class TorchCalculator(Calculator):
    """A batched potential as an ASE calculator (energy, forces, stress for periodic cells)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, potential: BatchedPotential, dtype: torch.dtype = torch.float64, **kwargs):
        super().__init__(**kwargs)
        self.potential = potential
        self.dtype = dtype

    def calculate(self, atoms: Atoms | None = None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        batch = AtomsBatch.from_atoms([self.atoms], dtype=self.dtype)
        want_stress = "stress" in properties and bool(self.atoms.pbc.all())
        out = self.potential(batch, compute_stress=want_stress)
        energy = float(out.energy_ev[0])
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["forces"] = out.forces_ev_per_angstrom.detach().cpu().numpy().astype(np.float64)
        if want_stress and out.stress_ev_per_angstrom3 is not None:
            s = out.stress_ev_per_angstrom3[0].detach().cpu().numpy()
            self.results["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])


def as_batched(potential) -> BatchedPotential:
    """Accept a batched potential or an ASE calculator; return something batched."""
    if isinstance(potential, Calculator):
        return CalculatorPotential(potential)
    if callable(potential) and hasattr(potential, "cutoff_angstrom") and hasattr(potential, "conservative"):
        return potential
    raise TypeError(
        f"{type(potential).__name__} is neither an ASE Calculator nor a batched potential "
        "(a callable with `cutoff_angstrom` and `conservative` attributes)"
    )
