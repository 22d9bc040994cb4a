"""Cubic elastic constants C11, C12, C44 (GPa) of any potential by finite strain.

Strains ±δ of the cell (atoms follow affinely, then optionally relax at fixed cell, which a
diamond lattice needs for C44); stress σ = (1/V) dE/dε from the calculator (ASE convention);
central differences:
    C11 = dσ_xx/dε_xx,  C12 = dσ_yy/dε_xx,  C44 = dσ_yz/dγ_yz  (γ_yz = 2ε_yz, engineering shear).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms, units
from ase.optimize import BFGS


def _stress_voigt(atoms: Atoms, strain: np.ndarray, calc, relax_internal: bool, fmax_ev_per_angstrom: float) -> np.ndarray:
    strained = atoms.copy()
    strained.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
    strained.calc = calc
    if relax_internal:
        BFGS(strained, logfile=None).run(fmax=fmax_ev_per_angstrom, steps=200)
    return strained.get_stress(voigt=True)  # xx yy zz yz xz xy, eV/Å³


def elastic_constants_cubic(
    atoms: Atoms,
    calculator,
    strain: float = 0.005,
    relax_internal: bool = True,
    fmax_ev_per_angstrom: float = 1e-4,
) -> dict[str, float]:
    """C11, C12, C44 in GPa for a cubic crystal (``atoms`` at its equilibrium lattice constant).

    ``calculator``: an ASE calculator, or a batched potential (wrapped as ASE calculator).
    """
    from ase.calculators.calculator import Calculator

    if not isinstance(calculator, Calculator):
        from bsct.potentials.ase_adapters import TorchCalculator

        calculator = TorchCalculator(calculator)
    if not atoms.pbc.all():
        raise ValueError("elastic constants need a periodic crystal")
    e_xx = np.zeros((3, 3))
    e_xx[0, 0] = strain
    shear = np.zeros((3, 3))
    shear[1, 2] = shear[2, 1] = strain / 2  # γ_yz = strain
    s_plus, s_minus = (_stress_voigt(atoms, sign * e_xx, calculator, relax_internal, fmax_ev_per_angstrom) for sign in (1, -1))
    t_plus, t_minus = (_stress_voigt(atoms, sign * shear, calculator, relax_internal, fmax_ev_per_angstrom) for sign in (1, -1))
    c11 = (s_plus[0] - s_minus[0]) / (2 * strain)
    c12 = (s_plus[1] - s_minus[1]) / (2 * strain)
    c44 = (t_plus[3] - t_minus[3]) / (2 * strain)
    return {name: float(value / units.GPa) for name, value in (("C11", c11), ("C12", c12), ("C44", c44))}
