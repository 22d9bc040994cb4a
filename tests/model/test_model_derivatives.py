"""Forces equal -dE/dx and stress equals (1/V) dE/d(strain), by central finite differences (float64)."""

import numpy as np
import pytest
from ase.build import bulk, molecule

from bsct.model.config import named_config
from bsct.model.transformer import build_model
from bsct.potentials.protocol import AtomsBatch

pytestmark = pytest.mark.usefixtures("one_thread")

MOLECULES_AND_CU = dict(n_layers=2, elements=(1, 6, 8, 29), dtype="float64")


def energy(model, atoms):
    return model(AtomsBatch.from_atoms([atoms])).energy_ev[0].item()


@pytest.mark.parametrize("name,extra", [("baseline", {}), ("+diffknn", {}), ("+temperature", {}), ("final", {}),
                                        ("final", {"degree_embedding": True})])
@pytest.mark.parametrize("system", ["crystal", "molecule"])
def test_forces_are_minus_gradient(tiny, name, extra, system):
    model = build_model(named_config(name, **tiny(**MOLECULES_AND_CU, **extra)), seed=1)
    if system == "crystal":
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 1))
        atoms.rattle(0.1, seed=5)
    else:
        atoms = molecule("CH3CH2OH")
        atoms.rattle(0.05, seed=5)
    forces = model(AtomsBatch.from_atoms([atoms])).forces_ev_per_angstrom.numpy()
    h = 1e-5
    for atom, axis in [(0, 0), (3, 1), (len(atoms) - 1, 2)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[atom, axis] += h
        minus.positions[atom, axis] -= h
        fd = -(energy(model, plus) - energy(model, minus)) / (2 * h)
        assert forces[atom, axis] == pytest.approx(fd, abs=1e-7)


def test_stress_is_strain_derivative(tiny):
    model = build_model(named_config("final", **tiny(**MOLECULES_AND_CU)), seed=1)
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 1))
    atoms.rattle(0.1, seed=6)
    stress = model(AtomsBatch.from_atoms([atoms]), compute_stress=True).stress_ev_per_angstrom3[0].numpy()
    volume = atoms.get_volume()
    h = 1e-5
    for a, b in [(0, 0), (1, 2), (0, 1)]:
        values = []
        for sign in (1, -1):
            eps = np.zeros((3, 3))
            eps[a, b] += 0.5 * sign * h
            eps[b, a] += 0.5 * sign * h
            strained = atoms.copy()
            strained.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
            values.append(energy(model, strained))
        fd = (values[0] - values[1]) / (2 * h) / volume
        assert stress[a, b] == pytest.approx(fd, abs=1e-8)
