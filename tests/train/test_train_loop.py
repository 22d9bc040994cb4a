"""Training: every named config lowers the loss on ci data; EMA, early stopping, seeding, BSCT callback, CLI."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from bsct.model.config import named_config
from bsct.model.transformer import build_model
from bsct.potentials.protocol import AtomsBatch
from bsct.registry import load_potential
from bsct.train.callbacks import default_score_fn, energy_curve_roughness
from bsct.train.data import LabelledStructures, dataset_hash, fit_reference_energies, force_rms
from bsct.runs import ResumeMismatchError
from bsct.train.loop import STATE_FILE, TrainConfig, check_no_saved_state, evaluate, train
from bsct.train.toydata import emt_copper

pytestmark = pytest.mark.usefixtures("one_thread")


def cu_data(split: str, n: int):
    """The committed ci Cu split when present (first n frames), else a fresh EMT set."""
    try:
        from bsct.data import ci_path
        from bsct.data.io import read_structures

        frames = read_structures(ci_path("cu", split))
        return frames[:n]
    except (ImportError, FileNotFoundError, ValueError):
        return emt_copper(n, seed={"train": 0, "val": 1, "test": 2}[split])


@pytest.fixture(scope="module")
def train_set():
    return cu_data("train", 6)


@pytest.mark.parametrize("name", ["baseline", "+diffknn", "+temperature", "final"])
def test_each_named_config_lowers_the_loss(tiny, name, train_set):
    cfg = named_config(name, **tiny())
    tc = TrainConfig(epochs=4, batch_size=2, lr=5e-3, ema_decay=0.0, warmup_fraction=0.0, progress=False, seed=0)
    start = build_model(cfg.__class__(**{**cfg.to_dict(), "elements": (29,)}), seed=0)
    start.set_normalization(torch.as_tensor(fit_reference_energies(train_set, (29,))), force_rms(train_set))
    data = LabelledStructures(train_set, cfg.r_cut_angstrom)
    before = evaluate(start, data)["loss"]
    result = train(cfg, train_set, None, tc)
    after = evaluate(result.model, data)["loss"]
    assert after < 0.9 * before
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert {"energy_rmse_mev_per_atom", "force_rmse_mev_per_angstrom", "energy_mae_mev_per_atom",
            "force_mae_mev_per_angstrom"} <= set(result.metrics["val"])


def test_bsct_callback_checkpoint_and_hash(tiny, train_set, tmp_path):
    val = cu_data("val", 2)
    calls = []

    def score(potential):
        calls.append(potential)
        return energy_curve_roughness(potential, val[:1], n_points=40)

    tc = TrainConfig(epochs=2, batch_size=3, bsct_every_epochs=1, progress=False)
    result = train(named_config("final", **tiny()), train_set, val, tc, out_dir=tmp_path, score_fn=score,
                   test_structures=val)
    assert len(calls) == 2 and all(np.isfinite(h["bsct_score"]) for h in result.history)
    assert set(result.metrics) == {"val", "test"}
    payload = torch.load(result.checkpoint_path, weights_only=True)
    assert payload["dataset_sha256"] == dataset_hash(train_set) == result.dataset_sha256
    assert payload["history"][1]["bsct_score"] == result.history[1]["bsct_score"]
    potential = load_potential(str(result.checkpoint_path))
    out = potential(AtomsBatch.from_atoms(val[:1]))
    assert np.isfinite(out.energy_ev.item())


def test_seeded_runs_repeat_and_early_stopping(tiny, train_set):
    tc = TrainConfig(epochs=10, batch_size=3, lr=0.0, patience_epochs=1, progress=False, seed=3)
    a = train(named_config("baseline", **tiny()), train_set, None, tc)
    b = train(named_config("baseline", **tiny()), train_set, None, tc)
    assert len(a.history) == 2  # no improvement with lr = 0: stops after `patience` stale epoch
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]


def test_interrupted_training_resumes_to_the_same_weights(tiny, train_set, tmp_path):
    val = cu_data("val", 2)
    tc = TrainConfig(epochs=4, batch_size=2, lr=5e-3, bsct_every_epochs=1, progress=False, seed=1)
    cfg = named_config("+diffknn", **tiny())
    straight = train(cfg, train_set, val, tc, out_dir=tmp_path / "straight", score_fn=lambda pot: 0.0)
    assert not (tmp_path / "straight" / STATE_FILE).exists()  # removed once model.pt is written

    class Killed(Exception):
        pass

    def kill_in_epoch_3(pot, calls=[]):
        calls.append(1)
        if len(calls) == 3:
            raise Killed
        return 0.0

    with pytest.raises(Killed):
        train(cfg, train_set, val, tc, out_dir=tmp_path / "cut", score_fn=kill_in_epoch_3)
    assert (tmp_path / "cut" / STATE_FILE).exists() and not (tmp_path / "cut" / "model.pt").exists()
    epochs_run = []
    resumed = train(cfg, train_set, val, tc, out_dir=tmp_path / "cut", score_fn=lambda pot: epochs_run.append(1) or 0.0,
                    resume=True)
    assert len(epochs_run) == 2 and resumed.resumed_epochs == 2  # only epochs 3 and 4 ran again
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in straight.history]
    for a, b in zip(resumed.model.state_dict().values(), straight.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_saved_state_of_other_settings_is_refused_on_resume_and_replaced_without(tiny, train_set, tmp_path):
    tc = TrainConfig(epochs=2, batch_size=2, progress=False, seed=1)
    cfg = named_config("baseline", **tiny())

    def stop(pot):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, train_set, None, replace(tc, bsct_every_epochs=2), out_dir=tmp_path, score_fn=stop)
    assert (tmp_path / STATE_FILE).exists()
    with pytest.raises(ValueError, match="--resume"):
        check_no_saved_state(tmp_path)  # what `bsct train` checks without --resume
    with pytest.raises(ResumeMismatchError, match="other settings"):
        train(cfg, train_set, None, replace(tc, lr=1e-3), out_dir=tmp_path, resume=True)
    other = train(cfg, train_set, None, replace(tc, lr=1e-3), out_dir=tmp_path)  # resume=False: afresh
    fresh = train(cfg, train_set, None, replace(tc, lr=1e-3))
    assert [h["train_loss"] for h in other.history] == [h["train_loss"] for h in fresh.history]
    assert not (tmp_path / STATE_FILE).exists()
    check_no_saved_state(tmp_path)  # a finished run leaves no state to refuse


def test_reference_energies_by_least_squares():
    frames = []
    for n_h, n_o in [(2, 1), (4, 2), (1, 3), (5, 1)]:
        atoms = Atoms("H" * n_h + "O" * n_o, positions=np.arange(3 * (n_h + n_o)).reshape(-1, 3) * 2.0)
        atoms.calc = SinglePointCalculator(atoms, energy=-13.6 * n_h - 432.0 * n_o, forces=np.zeros((len(atoms), 3)))
        frames.append(atoms)
    np.testing.assert_allclose(fit_reference_energies(frames, (1, 8)), [-13.6, -432.0], atol=1e-9)


def test_roughness_sees_a_planted_step():
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])
    smooth = energy_curve_roughness(load_potential("morse"), [atoms])
    stepped = energy_curve_roughness(load_potential("planted[kind=energy_step,size=0.01]"), [atoms])
    assert stepped > smooth + 0.015
    score = default_score_fn([atoms])
    assert score(load_potential("morse")) == 0.0  # the smooth reference is clean
    assert score(load_potential("planted[kind=energy_step,size=0.01,r_star_angstrom=3.2]")) > 0.1


def test_bsct_score_in_the_loop_scores_a_float32_model_in_float64_without_touching_it():
    import copy

    from bsct.model.config import named_config
    from bsct.model.transformer import build_model

    cluster = Atoms("Cu3", positions=[[0, 0, 0], [2.5, 0, 0], [1.2, 2.1, 0]])
    model = build_model(named_config("final", elements=(29,), hidden_dim=8, n_heads=2, n_layers=1,
                                     n_vector_channels=2, n_rbf=4, r_cut_angstrom=4.0, k_neighbors=4), seed=0)
    score = default_score_fn([cluster])
    assert score(model) == score(copy.deepcopy(model).to(torch.float64))
    assert model.dtype == torch.float32  # the training copy is not cast


def test_cli_train(tiny, tmp_path):
    from ase.io import write

    from bsct.cli import main

    write(tmp_path / "train.extxyz", emt_copper(3, seed=0))
    write(tmp_path / "val.extxyz", emt_copper(2, seed=1))
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"model": {"preset": "+temperature", **tiny()}, "train": {"batch_size": 2}}))
    out = tmp_path / "run"
    rc = main(["train", "--config", str(config), "--data", str(tmp_path / "train.extxyz"), "--val",
               str(tmp_path / "val.extxyz"), "--out", str(out), "--epochs", "1", "--no-progress", "--set", "k_neighbors=6"])
    assert rc == 0
    assert (out / "model.pt").is_file() and (out / "history.png").is_file()
    history = json.loads((out / "history.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(history) == 1 and "force_rmse_mev_per_angstrom" in metrics["val"]
    assert load_potential(str(out / "model.pt")).config.k_neighbors == 6


def test_cli_train_refuses_a_saved_state_without_resume_and_continues_it_with(tiny, tmp_path, caplog):
    import logging

    from ase.io import read, write

    from bsct.cli import main

    write(tmp_path / "train.extxyz", emt_copper(3, seed=0))
    write(tmp_path / "val.extxyz", emt_copper(2, seed=1))
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"model": {"preset": "baseline", **tiny()}, "train": {"batch_size": 2}}))
    out = tmp_path / "run"
    args = ["train", "--config", str(config), "--data", str(tmp_path / "train.extxyz"), "--val",
            str(tmp_path / "val.extxyz"), "--out", str(out), "--epochs", "2", "--bsct-every", "1", "--no-progress"]

    def killed_in_epoch_2(pot, calls=[]):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return 0.0

    # the same run as the command's, interrupted after its first epoch was saved
    tc = TrainConfig(batch_size=2, epochs=2, bsct_every_epochs=1, progress=False)
    with pytest.raises(KeyboardInterrupt):
        train(named_config("baseline", **tiny()), read(tmp_path / "train.extxyz", ":"), read(tmp_path / "val.extxyz", ":"),
              tc, out_dir=out, score_fn=killed_in_epoch_2)
    state = (out / STATE_FILE).read_bytes()
    with caplog.at_level(logging.INFO):
        assert main(args) == 2  # never silently overwritten
        assert "--resume" in caplog.text
        assert (out / STATE_FILE).read_bytes() == state and not (out / "model.pt").exists()
        caplog.clear()
        assert main(args + ["--resume"]) == 0
        assert "resuming after epoch 1" in caplog.text
    assert len(json.loads((out / "history.json").read_text())) == 2 and (out / "model.pt").is_file()
    assert not (out / STATE_FILE).exists()
