"""Faulty model factories for the tests of failure handling, importable as model SPECs
(``faulty_models:broken``): ``tests/`` is on ``sys.path`` while pytest runs (the folder of the
rootmost conftest), and benchmarks/replay_tries.py copies this file next to its own factories.

One place for what tests/test_cli_errors.py, tests/scan/test_command.py, tests/test_testing.py and
the replay each wrote again."""

import torch
from ase.calculators.calculator import Calculator, all_changes

from bsct.potentials import PotentialOutput
from bsct.potentials.pair import Morse


def raises():
    """A factory that cannot build its model (exit 2: the model cannot run)."""
    raise RuntimeError("cannot find my weights")


def returns_none():
    """A factory that returns nothing usable (exit 2)."""
    return None


class Broken(Calculator):
    """An ASE calculator that raises at every point (exit 3: the run finished with failed evaluations)."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        raise RuntimeError("this calculator cannot evaluate anything: it fails at every point")


def broken():
    return Broken()


class NaNMorse(Morse):
    """Morse that returns NaN energies everywhere (a model that 'runs' but gives nothing)."""

    def forward(self, batch, compute_stress=False):
        out = super().forward(batch, compute_stress)
        return PotentialOutput(torch.full_like(out.energy_ev, float("nan")), out.forces_ev_per_angstrom, None)


def nan_morse():
    return NaNMorse()
