"""Other architectures trained on our data by their own packages (bsct.train.external).

The nequip tests need the optional ``zoo`` extra and skip without it (``pytest.importorskip("nequip")``).
"""

import json

import numpy as np
import pytest
from ase.build import bulk

from bsct.data import ci_path
from bsct.data.io import read_structures
from bsct.potentials import AtomsBatch
from bsct.registry import load_potential
from bsct.train.external import nequip_config, train_nequip, training_subset


def test_training_subsets_are_nested_and_fixed():
    frames = read_structures(ci_path("cu", "train"))
    small, large = training_subset(frames, 5), training_subset(frames, 20)
    assert [a.positions.tolist() for a in small] == [a.positions.tolist() for a in large[:5]]
    assert len(training_subset(frames, None)) == len(frames)
    with pytest.raises(ValueError, match="n_train"):
        training_subset(frames, len(frames) + 1)


def test_config_carries_the_chosen_seed_epochs_and_checkpoints(tmp_path):
    config = nequip_config(tmp_path / "t.extxyz", tmp_path / "v.extxyz", tmp_path, model="allegro", symbols=["Cu"],
                           seed=7, epochs=12, checkpoints_at=[12, 3], cutoff_angstrom=4.0, model_dtype="float64",
                           batch_size=2, lr=1e-3, energy_weight=1.0, hyper={"num_layers": 2})
    model = config["training_module"]["model"]
    assert model["_target_"] == "allegro.model.AllegroModel" and model["seed"] == 7 and model["num_layers"] == 2
    assert config["trainer"]["max_epochs"] == 12 and config["data"]["seed"] == 7
    assert config["trainer"]["callbacks"][1]["epochs"] == [3, 12]
    with pytest.raises(ValueError, match="unknown nequip-framework model"):
        nequip_config(tmp_path, tmp_path, tmp_path, model="mace", symbols=["Cu"], seed=0, epochs=1, checkpoints_at=[1],
                      cutoff_angstrom=4.0, model_dtype="float64", batch_size=1, lr=1e-3, energy_weight=1.0)


def test_checkpoints_must_lie_within_training(tmp_path):
    with pytest.raises(ValueError, match="checkpoints_at"):
        train_nequip(ci_path("cu", "train"), tmp_path, epochs=3, checkpoints_at=(2, 5))


def test_train_nequip_keeps_each_requested_checkpoint_and_caches():
    pytest.importorskip("nequip")
    from zoo_models import tiny_nequip, tiny_nequip_kwargs

    paths = tiny_nequip("nequip")
    assert [p.name for p in paths] == ["epoch0001.ckpt", "epoch0002.ckpt"]
    out_dir = paths[0].parents[2]
    record = json.loads((out_dir / "train.json").read_text())
    assert record["n_train_structures"] == 4 and record["elements"] == ["Cu"]
    mtimes = [p.stat().st_mtime_ns for p in paths]
    assert train_nequip(out_dir=out_dir, **tiny_nequip_kwargs("nequip")) == list(paths)  # read back, not retrained
    assert [p.stat().st_mtime_ns for p in paths] == mtimes
    cu = bulk("Cu", "fcc", a=3.6, cubic=True)
    cu.rattle(0.05, seed=3)
    batch = AtomsBatch.from_atoms([cu])
    e1, e2 = (float(load_potential(f"nequip:{p}")(batch).energy_ev[0]) for p in paths)
    assert e1 != e2  # two points along training, two different models


@pytest.mark.slow
def test_same_seed_same_weights(tmp_path):
    pytest.importorskip("nequip")
    from zoo_models import tiny_nequip, tiny_nequip_kwargs

    again = train_nequip(out_dir=tmp_path, **tiny_nequip_kwargs("nequip"))[-1]
    cu = bulk("Cu", "fcc", a=3.6, cubic=True)
    cu.rattle(0.05, seed=4)
    batch = AtomsBatch.from_atoms([cu])
    first = load_potential(f"nequip:{tiny_nequip('nequip')[-1]}")(batch)
    second = load_potential(f"nequip:{again}")(batch)
    assert float(first.energy_ev[0]) == float(second.energy_ev[0])
    np.testing.assert_array_equal(first.forces_ev_per_angstrom.numpy(), second.forces_ev_per_angstrom.numpy())


def test_an_interrupted_run_resumes_only_with_the_same_settings(tmp_path):
    from bsct.train.external import _resumable

    run = tmp_path / "run"
    assert _resumable(run, {"seed": 0}) is None  # fresh: records what it starts
    (run / "last.ckpt").write_text("state after some epochs")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "epoch0001.ckpt").write_text("kept point")
    assert _resumable(run, {"seed": 0}) == run / "last.ckpt"
    assert _resumable(run, {"seed": 1}) is None  # other settings: the old state is removed, not continued
    assert not (run / "last.ckpt").exists() and not (run / "checkpoints" / "epoch0001.ckpt").exists()
