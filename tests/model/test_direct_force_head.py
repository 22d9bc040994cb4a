"""The direct-force head: forces that rotate with the structure but are not -dE/dx."""

import numpy as np
import pytest
from ase.build import bulk, molecule
from scipy.spatial.transform import Rotation

from bsct.model.config import named_config
from bsct.model.transformer import build_model
from bsct.potentials.protocol import AtomsBatch

DIRECT = dict(elements=(1, 6, 8, 29), dtype="float64", force_head="direct")


@pytest.fixture
def model(tiny, one_thread):
    return build_model(named_config("final", **tiny(**DIRECT)), seed=0)


def _forces(model, atoms):
    out = model(AtomsBatch.from_atoms([atoms]))
    return out.energy_ev[0].item(), out.forces_ev_per_angstrom.numpy()


def test_direct_forces_rotate_with_the_structure_and_ignore_translation(model):
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=1)
    e0, f0 = _forces(model, atoms)
    rot = Rotation.from_euler("xyz", [30, -50, 110], degrees=True).as_matrix()
    turned = atoms.copy()
    turned.positions = atoms.positions @ rot.T + np.array([1.0, -2.0, 0.5])
    e1, f1 = _forces(model, turned)
    assert abs(e1 - e0) < 1e-10
    np.testing.assert_allclose(f1, f0 @ rot.T, atol=1e-10)
    assert np.abs(f0).max() > 1e-3  # a real force field, not zeros


def test_direct_forces_are_not_the_energy_gradient(model):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    atoms.rattle(0.1, seed=2)
    _, f = _forces(model, atoms)
    h = 1e-5
    fd = np.zeros(3)
    for k in range(3):
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[0, k] += h
        minus.positions[0, k] -= h
        fd[k] = -(_forces(model, plus)[0] - _forces(model, minus)[0]) / (2 * h)
    assert model.conservative is False
    assert np.abs(f[0] - fd).max() > 1e-3  # a gradient head agrees to ~1e-8 (test_model_derivatives)


def test_direct_forces_train_through_create_graph(model):
    atoms = molecule("H2O")
    out = model(AtomsBatch.from_atoms([atoms]), create_graph=True)
    loss = (out.forces_ev_per_angstrom**2).sum()
    loss.backward()
    grads = [p.grad for p in model.force_readout.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)
