"""Potentials: the batched protocol, ASE adapters both ways, built-in pair potentials (the model SPEC registry is `bsct.registry`, one layer up)."""

from bsct.potentials.ase_adapters import CalculatorPotential, TorchCalculator, as_batched
from bsct.potentials.protocol import AtomsBatch, BatchedPotential, PotentialOutput, forces_and_stress_from_energy

__all__ = [
    "AtomsBatch",
    "BatchedPotential",
    "CalculatorPotential",
    "PotentialOutput",
    "TorchCalculator",
    "as_batched",
    "forces_and_stress_from_energy",
]
