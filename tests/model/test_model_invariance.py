"""Rotation, translation, permutation and periodic-image invariance of the Transformer MLIP (float64)."""

import numpy as np
import pytest
import torch
from ase.build import bulk, molecule
from scipy.spatial.transform import Rotation

from bsct.model.config import named_config
from bsct.model.transformer import build_model
from bsct.potentials.protocol import AtomsBatch

pytestmark = pytest.mark.usefixtures("one_thread")

MOLECULES_AND_CU = dict(n_layers=2, elements=(1, 6, 8, 29), dtype="float64")
GRAPHS = ["knn", "diffknn", "radius"]


@pytest.fixture
def model_for(tiny):
    def make(graph, **kw):
        return build_model(named_config("final", **tiny(**MOLECULES_AND_CU, graph=graph, **kw)), seed=0)

    return make


def crystal():
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 1))
    atoms.rattle(0.1, seed=3)
    return atoms


def mol():
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=4)
    return atoms


def evaluate(model, atoms):
    out = model(AtomsBatch.from_atoms([atoms]), compute_stress=bool(atoms.pbc.all()))
    return out.energy_ev[0].item(), out.forces_ev_per_angstrom.numpy(), out.stress_ev_per_angstrom3


@pytest.mark.parametrize("graph", GRAPHS)
@pytest.mark.parametrize("make", [crystal, mol])
def test_rotation_and_translation(model_for, graph, make):
    model = model_for(graph)
    atoms = make()
    e0, f0, s0 = evaluate(model, atoms)
    rot = Rotation.random(random_state=1).as_matrix()
    moved = atoms.copy()
    moved.set_cell(atoms.cell.array @ rot.T, scale_atoms=False)
    moved.positions = atoms.positions @ rot.T + np.array([0.3, -1.2, 2.5])
    e1, f1, s1 = evaluate(model, moved)
    assert e1 == pytest.approx(e0, abs=1e-9)
    np.testing.assert_allclose(f1, f0 @ rot.T, atol=1e-9)
    if s0 is not None:
        np.testing.assert_allclose(s1[0].numpy(), rot @ s0[0].numpy() @ rot.T, atol=1e-9)


@pytest.mark.parametrize("graph", GRAPHS)
@pytest.mark.parametrize("make", [crystal, mol])
def test_permutation(model_for, graph, make):
    model = model_for(graph)
    atoms = make()
    e0, f0, _ = evaluate(model, atoms)
    perm = np.random.default_rng(0).permutation(len(atoms))
    e1, f1, _ = evaluate(model, atoms[perm])
    assert e1 == pytest.approx(e0, abs=1e-9)
    np.testing.assert_allclose(f1, f0[perm], atol=1e-9)


@pytest.mark.parametrize("graph", GRAPHS)
def test_periodic_image_choice_and_supercell(model_for, graph):
    model = model_for(graph)
    atoms = crystal()
    e0, f0, s0 = evaluate(model, atoms)
    shifted = atoms.copy()
    rng = np.random.default_rng(2)
    shifts = rng.integers(-2, 3, size=(len(atoms), 3))
    shifted.positions = atoms.positions + shifts @ atoms.cell.array
    e1, f1, s1 = evaluate(model, shifted)
    assert e1 == pytest.approx(e0, abs=1e-9)
    np.testing.assert_allclose(f1, f0, atol=1e-9)
    e2, f2, s2 = evaluate(model, atoms.repeat((1, 2, 1)))
    assert e2 == pytest.approx(2 * e0, abs=1e-8)
    np.testing.assert_allclose(f2, np.concatenate([f0, f0]), atol=1e-9)
    np.testing.assert_allclose(s2[0].numpy(), s0[0].numpy(), atol=1e-9)


def test_batch_equals_single_runs_and_inputs_unchanged(model_for):
    model = model_for("diffknn")
    structures = [crystal(), mol()]
    batch = AtomsBatch.from_atoms(structures)
    before = batch.positions_angstrom.clone()
    out = model(batch)
    assert torch.equal(batch.positions_angstrom, before)
    for s, atoms in enumerate(structures):
        e, f, _ = evaluate(model, atoms)
        assert out.energy_ev[s].item() == pytest.approx(e, abs=1e-10)
        np.testing.assert_allclose(out.forces_ev_per_angstrom[batch.system_idx == s].numpy(), f, atol=1e-10)


def test_isolated_atom_and_float32(tiny):
    from ase import Atoms

    model = build_model(named_config("final", **tiny(**{**MOLECULES_AND_CU, "dtype": "float32"})), seed=0)
    out = model(AtomsBatch.from_atoms([Atoms("Cu", positions=[[0, 0, 0]])], dtype=torch.float32))
    assert out.energy_ev.shape == (1,) and out.forces_ev_per_angstrom.abs().max() == 0
    out64 = model(AtomsBatch.from_atoms([mol()]))  # float64 batch through a float32 model
    assert out64.energy_ev.dtype == torch.float64


def test_unknown_element_is_refused(tiny):
    model = build_model(named_config("baseline", **tiny(**{**MOLECULES_AND_CU, "elements": (29,)})), seed=0)
    with pytest.raises(ValueError, match="not in the model's element list"):
        model(AtomsBatch.from_atoms([mol()]))


@pytest.mark.parametrize("name", ["baseline", "+diffknn", "+temperature", "final"])
def test_project_conformance_check(tiny, name):
    from bsct.testing import check_potential

    model = build_model(named_config(name, **tiny(**MOLECULES_AND_CU)), seed=0)
    report = check_potential(model, [crystal(), mol()])
    assert all(np.isfinite(v) for v in report.values())
