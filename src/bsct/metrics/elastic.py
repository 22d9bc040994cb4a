"""Cubic elastic constants C11, C12, C44 (GPa) of any potential by finite strain.

Strains ±δ of the cell (atoms follow affinely, then optionally relax at fixed cell, which a
diamond lattice needs for C44); stress σ = (1/V) dE/dε from the calculator (ASE convention);
central differences:
    C11 = dσ_xx/dε_xx,  C12 = dσ_yy/dε_xx,  C44 = dσ_yz/dγ_yz  (γ_yz = 2ε_yz, engineering shear).

Each potential is measured at its own lattice constant: :func:`eos_lattice_constant` fits an
equation of state E(V) over a few isotropic scalings of the cell, and
:func:`elastic_constants_at_equilibrium` strains the cell rescaled to that a0.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms, units
from ase.eos import EquationOfState
from ase.optimize import BFGS

#: Volume scalings of the cell whose energies the equation of state is fitted to (±6 %).
EOS_VOLUME_SCALES = (0.94, 0.97, 1.0, 1.03, 1.06)


def _stress_voigt(atoms: Atoms, strain: np.ndarray, calc, relax_internal: bool, fmax_ev_per_angstrom: float) -> np.ndarray:
    strained = atoms.copy()
    strained.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
    strained.calc = calc
    if relax_internal:
        BFGS(strained, logfile=None).run(fmax=fmax_ev_per_angstrom, steps=200)
    return strained.get_stress(voigt=True)  # xx yy zz yz xz xy, eV/Å³


def _as_calculator(calculator):
    """An ASE calculator as is; a batched potential wrapped as one."""
    from ase.calculators.calculator import Calculator

    if not isinstance(calculator, Calculator):
        from bsct.potentials.ase_adapters import TorchCalculator

        calculator = TorchCalculator(calculator)
    return calculator


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
    calculator = _as_calculator(calculator)
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


def eos_lattice_constant(crystal: Atoms, calculator, volume_scales=EOS_VOLUME_SCALES) -> tuple[float, float]:
    """Equilibrium lattice constant a0 (Å) and bulk modulus (GPa) of a cubic ``crystal`` under
    ``calculator``, from an equation of state (ASE's default, Stabilized Jellium) fitted to the
    energies of the cell scaled in volume by ``volume_scales``, atoms following affinely.

    ``crystal``: a cubic cell near equilibrium (its cell[0, 0] is the lattice constant).
    ``calculator``: an ASE calculator, or a batched potential (wrapped as ASE calculator).
    """
    calculator = _as_calculator(calculator)
    volumes, energies = [], []
    for s in volume_scales:
        atoms = crystal.copy()
        atoms.set_cell(crystal.cell * s ** (1 / 3), scale_atoms=True)
        atoms.calc = calculator
        energies.append(atoms.get_potential_energy())
        volumes.append(atoms.get_volume())
    v0, _, b = EquationOfState(volumes, energies).fit()
    a0 = float(crystal.cell[0, 0] * (v0 / crystal.get_volume()) ** (1 / 3))
    return a0, float(b / units.GPa)


def elastic_constants_at_equilibrium(crystal: Atoms, calculator, volume_scales=EOS_VOLUME_SCALES) -> dict[str, float]:
    """``a0_angstrom`` and ``bulk_modulus_gpa_eos`` from :func:`eos_lattice_constant`, and C11,
    C12, C44 (GPa, :func:`elastic_constants_cubic`) of ``crystal`` rescaled to that a0.

    A potential's elastic constants are compared at its own zero-pressure lattice constant, not
    the reference's: at another potential's a0 the cell is under pressure and the constants
    mix elastic response with that pre-stress.
    """
    calculator = _as_calculator(calculator)
    a0, bulk_modulus_gpa = eos_lattice_constant(crystal, calculator, volume_scales)
    atoms = crystal.copy()
    atoms.set_cell(np.eye(3) * a0, scale_atoms=True)
    constants = elastic_constants_cubic(atoms, calculator)
    return {"a0_angstrom": a0, "bulk_modulus_gpa_eos": bulk_modulus_gpa, **constants}
