"""Training loop: energy + force loss, AdamW, warm-up + cosine LR, EMA, early stopping, BSCT in the loop.

>>> result = train(named_config("final"), train_structures, val_structures, TrainConfig(epochs=50))
>>> result.metrics["val"]["force_rmse_mev_per_angstrom"]

The model that is validated, kept as best, checkpointed and returned is the EMA of the weights.
With ``out_dir``, the full training state is saved after every epoch (``train_state.pt``); an
interrupted run started again with ``resume=True`` and the same settings and data continues from
the last finished epoch, to the same weights as an uninterrupted run.
"""

from __future__ import annotations

import copy
import logging
import os
import math
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from ase import Atoms

from bsct.data.validate import refuse_unsupported, validate_structures
from bsct.model.checkpoint import save_checkpoint
from bsct.model.config import ModelConfig
from bsct.model.transformer import TransformerMLIP, build_model
from bsct.runs import ResumeMismatchError, fingerprint, write_json
from bsct.train.callbacks import ScoreFn
from bsct.train.data import LabelledStructures, dataset_hash, elements_of, fit_reference_energies, force_rms
from bsct.train.loss import ErrorAccumulator, energy_force_loss

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings.

    Attributes:
        epochs: maximum number of passes over the training set.
        batch_size: structures per optimiser step.
        lr: peak learning rate of AdamW.
        weight_decay: AdamW decoupled weight decay.
        warmup_fraction: fraction of all steps with a linear LR ramp from 0.
        min_lr_ratio: final LR / peak LR of the cosine decay.
        energy_weight, force_weight: loss weights on (eV/atom)^2 and (eV/Å)^2.
        ema_decay: exponential moving average of the weights (0 = off); the decay used at
            step n is min(ema_decay, n / (n + 10)), so the average does not lag behind a short run.
        patience_epochs: stop after this many epochs without a better validation loss.
        grad_clip: max gradient norm.
        seed: seeds initialisation and shuffling.
        bsct_every_epochs: run the score callback every N epochs (0 = never).
        max_steps: stop after this many optimiser steps (None = no limit); for smoke tests.
        progress: show a tqdm progress bar on stderr.
        device: torch device to train on (``cpu``, ``cuda``); the returned model stays there.
    """

    epochs: int = 100
    batch_size: int = 4
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    min_lr_ratio: float = 0.05
    energy_weight: float = 1.0
    force_weight: float = 10.0
    ema_decay: float = 0.99
    patience_epochs: int = 20
    grad_clip: float = 10.0
    seed: int = 0
    bsct_every_epochs: int = 0
    max_steps: int | None = None
    progress: bool = True
    device: str = "cpu"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown train config keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)


@dataclass
class TrainResult:
    """model: best EMA model (eval mode); history: one dict per epoch; metrics: split -> errors;
    resumed_epochs: epochs taken from a saved state (run by an earlier, interrupted call)."""

    model: TransformerMLIP
    history: list[dict]
    metrics: dict[str, dict[str, float]]
    dataset_sha256: str
    checkpoint_path: Path | None = None
    resumed_epochs: int = 0

    def save(self, out_dir: str | Path, plot: bool = True) -> Path:
        """Write ``history.json``, ``metrics.json`` and (``plot``) ``history.png`` into ``out_dir``:
        the files ``bsct train`` writes beside the ``model.pt`` that :func:`train` saved."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "history.json", self.history)
        write_json(out / "metrics.json", {"dataset_sha256": self.dataset_sha256, **self.metrics})
        if plot:
            from bsct.train.plots import plot_history

            plot_history(self.history).savefig(out / "history.png", dpi=120)
        return out


@torch.no_grad()
def _ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.lerp_(p.detach(), 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


def evaluate(
    model: TransformerMLIP,
    data: LabelledStructures,
    batch_size: int = 8,
    energy_weight: float = 1.0,
    force_weight: float = 10.0,
) -> dict[str, float]:
    """Energy/force RMSE and MAE (meV/atom, meV/Å) and the loss of ``model`` on ``data``."""
    acc = ErrorAccumulator()
    loss_sum, n = 0.0, 0
    device = next(model.parameters()).device
    for batch, pairs, energy, forces in data.batches(batch_size, dtype=model.dtype, device=device):
        out = model(batch, pairs=pairs)
        loss, _ = energy_force_loss(
            out.energy_ev, out.forces_ev_per_angstrom, energy, forces, batch.n_atoms_per_system,
            energy_weight, force_weight,
        )
        acc.add(out.energy_ev, out.forces_ev_per_angstrom, energy, forces, batch.n_atoms_per_system)
        loss_sum += float(loss) * batch.n_systems
        n += batch.n_systems
    return {"loss": loss_sum / max(n, 1), **acc.metrics()}


def warmup_cosine_factor(total_steps: int, warmup_fraction: float, min_lr_ratio: float):
    """Learning-rate factor per optimiser step: linear warm-up over ``warmup_fraction`` of the
    steps, then cosine decay to ``min_lr_ratio`` (for ``torch.optim.lr_scheduler.LambdaLR``)."""
    warmup = max(1, int(round(warmup_fraction * total_steps)))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


STATE_FILE = "train_state.pt"


def _resume_key(model_config: ModelConfig, tc: TrainConfig, data_sha: str, val_sha: str) -> str:
    """What must match for a saved training state to be continued (not progress or device)."""
    settings = {k: v for k, v in tc.to_dict().items() if k not in ("progress", "device")}
    return fingerprint([model_config.to_dict(), settings, data_sha, val_sha], length=None)


def check_no_saved_state(out_dir: str | Path) -> None:
    """Refuse an ``out_dir`` that holds an interrupted training's state: a run without
    ``--resume`` must not silently overwrite hours of training (``bsct train`` calls this)."""
    path = Path(out_dir) / STATE_FILE
    if path.exists():
        raise ValueError(f"{path}: {out_dir} holds the state of an interrupted training; pass --resume to "
                         "continue it, or use another --out")


def _save_state(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # a kill mid-write leaves the previous epoch's state intact


def train(
    model_config: ModelConfig,
    train_structures: Sequence[Atoms],
    val_structures: Sequence[Atoms] | None = None,
    train_config: TrainConfig = TrainConfig(),
    out_dir: str | Path | None = None,
    score_fn: ScoreFn | None = None,
    test_structures: Sequence[Atoms] | None = None,
    resume: bool = False,
) -> TrainResult:
    """Train a Transformer MLIP; see :class:`TrainConfig`. Validation falls back to the training set.

    When the training data hold elements the config lacks, ``elements`` is replaced by the
    data's elements. With ``out_dir``, writes ``model.pt`` (best EMA model, history, metrics;
    :meth:`TrainResult.save` adds history.json, metrics.json and history.png) and saves the
    training state after every epoch. ``resume=True`` continues a saved state of the same
    settings and data and refuses (:class:`~bsct.runs.ResumeMismatchError`) one of others;
    ``resume=False`` starts afresh, replacing a saved state.
    """
    tc = train_config
    validate_structures(train_structures, source="training data", what="training")
    data_elements = elements_of(train_structures)
    if not set(data_elements) <= set(model_config.elements):
        log.info("model elements set to the training data's %s", list(data_elements))
        model_config = replace(model_config, elements=data_elements)
    for split, frames in (("validation data", val_structures), ("test data", test_structures)):
        if frames:  # an element the model has no embedding for would fail only after the first epoch
            validate_structures(frames, source=split, what="training")
            refuse_unsupported(frames, model_config.elements, source=split,
                               name="the model being trained (elements of its config and the training data)")
    torch.manual_seed(tc.seed)
    rng = np.random.default_rng(tc.seed)
    r_cut = model_config.r_cut_angstrom
    train_data = LabelledStructures(train_structures, r_cut)
    val_data = LabelledStructures(val_structures, r_cut) if val_structures else train_data
    data_sha = dataset_hash(train_structures)

    model = build_model(model_config, seed=tc.seed).to(tc.device)
    ref = fit_reference_energies(train_structures, model_config.elements)
    model.set_normalization(torch.as_tensor(ref), force_rms(train_structures))
    ema = copy.deepcopy(model).requires_grad_(False)

    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    steps_per_epoch = math.ceil(len(train_data) / tc.batch_size)
    total_steps = tc.epochs * steps_per_epoch
    if tc.max_steps is not None:
        total_steps = min(total_steps, tc.max_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine_factor(total_steps, tc.warmup_fraction, tc.min_lr_ratio))

    history: list[dict] = []
    best_loss, best_state, stale, step, start_epoch = math.inf, copy.deepcopy(ema.state_dict()), 0, 0, 0
    state_path = Path(out_dir) / STATE_FILE if out_dir is not None else None
    resume_key = _resume_key(model_config, tc, data_sha, dataset_hash(val_structures) if val_structures else "")
    if state_path is not None and state_path.exists() and not resume:
        log.warning("%s: starting afresh (resume=False); this run replaces the saved state", state_path)
    elif state_path is not None and state_path.exists():
        state = torch.load(state_path, weights_only=True)
        if state.get("key") != resume_key:
            raise ResumeMismatchError(f"{state_path}: cannot resume, the saved training state was written with "
                                      "other settings or data; use another --out")
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        history, best_loss, best_state = state["history"], state["best_loss"], state["best_state"]
        stale, step, start_epoch = state["stale"], state["step"], len(state["history"])
        log.info("%s: resuming after epoch %d of %d", state_path, start_epoch, tc.epochs)
    from tqdm.auto import tqdm

    bar = tqdm(range(start_epoch, tc.epochs), desc="train", disable=not tc.progress, leave=False,
               initial=start_epoch, total=tc.epochs)
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        loss_sum, n_sys = 0.0, 0
        for batch, pairs, energy, forces in train_data.batches(tc.batch_size, rng, dtype=model.dtype, device=tc.device):
            out = model(batch, create_graph=True, pairs=pairs)
            loss, _ = energy_force_loss(
                out.energy_ev, out.forces_ev_per_angstrom, energy, forces, batch.n_atoms_per_system,
                tc.energy_weight, tc.force_weight,
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            optimizer.step()
            scheduler.step()
            _ema_update(ema, model, min(tc.ema_decay, step / (step + 10.0)))  # warm-up: early steps count fully
            loss_sum += float(loss.detach()) * batch.n_systems
            n_sys += batch.n_systems
            step += 1
            if tc.max_steps is not None and step >= tc.max_steps:
                break
        ema.eval()
        val = evaluate(ema, val_data, energy_weight=tc.energy_weight, force_weight=tc.force_weight)
        record = {
            "epoch": epoch + 1,
            "step": step,
            "lr": float(scheduler.get_last_lr()[0]),
            "train_loss": loss_sum / max(n_sys, 1),
            "val_loss": val["loss"],
            "val_energy_rmse_mev_per_atom": val["energy_rmse_mev_per_atom"],
            "val_force_rmse_mev_per_angstrom": val["force_rmse_mev_per_angstrom"],
            "epoch_time_s": time.perf_counter() - t0,
        }
        if score_fn is not None and tc.bsct_every_epochs and (epoch + 1) % tc.bsct_every_epochs == 0:
            t1 = time.perf_counter()
            record["bsct_score"] = float(score_fn(ema))
            record["bsct_time_s"] = time.perf_counter() - t1
        history.append(record)
        bar.set_postfix(loss=f"{record['train_loss']:.3g}", val_f_rmse=f"{val['force_rmse_mev_per_angstrom']:.1f}")
        log.debug("epoch %d: %s", epoch + 1, record)
        if val["loss"] < best_loss:
            best_loss, best_state, stale = val["loss"], copy.deepcopy(ema.state_dict()), 0
        else:
            stale += 1
        if stale >= tc.patience_epochs or (tc.max_steps is not None and step >= tc.max_steps):
            break
        if state_path is not None:
            _save_state(state_path, {
                "key": resume_key, "model": model.state_dict(), "ema": ema.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "history": history,
                "best_loss": best_loss, "best_state": best_state, "stale": stale, "step": step,
            })
    bar.close()

    ema.load_state_dict(best_state)
    ema.eval()
    metrics = {"val": evaluate(ema, val_data, energy_weight=tc.energy_weight, force_weight=tc.force_weight)}
    if test_structures:
        metrics["test"] = evaluate(ema, LabelledStructures(test_structures, r_cut),
                                   energy_weight=tc.energy_weight, force_weight=tc.force_weight)
    path = None
    if out_dir is not None:
        path = save_checkpoint(Path(out_dir) / "model.pt", ema, tc.to_dict(), data_sha, history, metrics)
        state_path.unlink(missing_ok=True)
    return TrainResult(ema, history, metrics, data_sha, path, resumed_epochs=start_epoch)
