"""Checkpoint round trip: save -> torch.load(weights_only=True) -> same energies, through every entry point."""

import numpy as np
import pytest
import torch
from ase.build import bulk

from bsct.model.checkpoint import load_checkpoint, load_model, save_checkpoint
from bsct.model.config import NAMED_CONFIGS, ModelConfig, named_config
from bsct.model.transformer import TransformerMLIP, build_model
from bsct.potentials.ase_adapters import TorchCalculator
from bsct.potentials.protocol import AtomsBatch, BatchedPotential
from bsct.registry import load_potential

pytestmark = pytest.mark.usefixtures("one_thread")

CU_ONLY = dict(elements=(29,))


def crystal():
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 1))
    atoms.rattle(0.05, seed=7)
    return atoms


@pytest.mark.parametrize("extra", [{}, {"learn_temperature": True}, {"degree_embedding": True}])
def test_round_trip_through_load_potential_and_ase(tiny, tmp_path, extra):
    model = build_model(named_config("final", **tiny(**CU_ONLY, **extra)), seed=0)
    model.set_normalization(torch.tensor([-3.5]), 0.7)
    path = save_checkpoint(tmp_path / "m.pt", model, {"epochs": 1}, "abc123", [{"epoch": 1, "val_loss": 0.5}], {"val": {"loss": 0.5}})

    payload = torch.load(path, weights_only=True)
    assert payload["dataset_sha256"] == "abc123" and payload["history"][0]["epoch"] == 1
    assert ModelConfig.from_dict(payload["model_config"]) == model.config

    atoms = crystal()
    batch = AtomsBatch.from_atoms([atoms], dtype=torch.float32)
    ref = model(batch, compute_stress=True)
    potential = load_potential(str(path))
    assert isinstance(potential, BatchedPotential) and isinstance(potential, TransformerMLIP)
    assert potential.cutoff_angstrom == 4.0 and potential.conservative
    out = potential(AtomsBatch.from_atoms([atoms]), compute_stress=True)  # float64 evaluation
    assert out.energy_ev.item() == pytest.approx(ref.energy_ev.item(), rel=1e-5)
    np.testing.assert_allclose(out.forces_ev_per_angstrom.numpy(), ref.forces_ev_per_angstrom.numpy(), atol=1e-4)

    same = load_model(path)
    assert same.dtype == torch.float32
    assert torch.equal(same(batch).energy_ev, ref.energy_ev)

    atoms.calc = TorchCalculator(potential)
    assert atoms.get_potential_energy() == pytest.approx(out.energy_ev.item(), abs=1e-10)
    np.testing.assert_allclose(atoms.get_forces(), out.forces_ev_per_angstrom.numpy(), atol=1e-10)
    assert atoms.get_stress().shape == (6,)


def test_a_field_added_later_keeps_old_configs_and_fingerprints_valid(tiny):
    """degree_embedding came after models were trained: at its default it is not in to_dict()
    (the study's fingerprints and training resume keys hash that dict), and a config saved
    without it loads with the default; switched on, it is saved and adds parameters."""
    plain, with_degree = named_config("final", **tiny(**CU_ONLY)), named_config("final", **tiny(**CU_ONLY, degree_embedding=True))
    assert "degree_embedding" not in plain.to_dict()
    assert ModelConfig.from_dict(plain.to_dict()) == plain
    assert ModelConfig.from_dict(with_degree.to_dict()) == with_degree
    names = {n for n, _ in build_model(plain, seed=0).named_parameters()}
    assert {n for n, _ in build_model(with_degree, seed=0).named_parameters()} - names == {"degree.weight"}


def test_foreign_file_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not a bsct Transformer MLIP checkpoint"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_named_configs_are_one_step_apart():
    base, diff, temp, final = (NAMED_CONFIGS[k] for k in ["baseline", "+diffknn", "+temperature", "final"])
    assert (base.graph, diff.graph) == ("knn", "diffknn")
    assert base.attention_temperature == diff.attention_temperature == 1.0 < temp.attention_temperature
    assert temp.rbf_width_multiplier < final.rbf_width_multiplier
    assert named_config("diffknn") == diff
    with pytest.raises(ValueError):
        named_config("nope")
    with pytest.raises(ValueError):
        ModelConfig.from_dict({"hidden_dimension": 3})


def test_broadened_smearing_is_wider():
    from bsct.model.radial import GaussianRadialBasis

    d = torch.linspace(0, 4, 401)
    narrow, wide = GaussianRadialBasis(4.0, 8, 1.0)(d), GaussianRadialBasis(4.0, 8, 2.0)(d)
    assert narrow.shape == (401, 8)
    # wider Gaussians: smaller maximum slope per feature
    assert (wide.diff(dim=0).abs().max() < 0.6 * narrow.diff(dim=0).abs().max())


def test_learned_temperature_gets_a_gradient_and_bad_overrides_fail(tiny):
    model = build_model(named_config("+temperature", **tiny(**CU_ONLY, learn_temperature=True)), seed=0)
    out = model(AtomsBatch.from_atoms([crystal()], dtype=torch.float32), create_graph=True)
    (out.energy_ev.sum() + out.forces_ev_per_angstrom.pow(2).sum()).backward()
    temperature = model.blocks[0].attention.log_temperature
    assert temperature.grad is not None and torch.isfinite(temperature.grad).all()
    assert torch.allclose(model.blocks[0].attention.temperature, torch.tensor(2.0))
    with pytest.raises(ValueError, match="unknown model config keys"):
        named_config("final", hidden_dimension=3)


def test_checkpoint_spec_takes_a_dtype_and_nothing_else(tiny, tmp_path):
    from bsct.registry import potential_identity
    from bsct.runs import BadInput

    model = build_model(named_config("final", **tiny(**CU_ONLY)), seed=0)
    path = str(save_checkpoint(tmp_path / "m.pt", model))
    f64, f32 = load_potential(path), load_potential(path + "[dtype=float32]")
    assert (f64.dtype, f32.dtype) == (torch.float64, torch.float32)
    atoms = crystal()
    e64 = f64(AtomsBatch.from_atoms([atoms])).energy_ev.item()
    e32 = f32(AtomsBatch.from_atoms([atoms], dtype=torch.float32)).energy_ev.item()
    assert e32 == pytest.approx(e64, rel=1e-5) and e32 != e64  # the same function, rounded differently
    assert potential_identity(path + "[dtype=float32]")["sha256"] == potential_identity(path)["sha256"]
    with pytest.raises(BadInput, match="only dtype"):
        load_potential(path + "[temperature=2]")
    with pytest.raises(BadInput, match="dtype must be one of float32, float64"):
        load_potential(path + "[dtype=float16]")
