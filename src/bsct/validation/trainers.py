"""Training the zoo: the Transformer through :func:`bsct.train.loop.train` (as the study's train
step does), other architectures through the trainer named in :data:`bsct.validation.zoo.TRAINERS`.

Checkpoints along one training: the EMA weights after epoch ``round(f x epochs)`` for each
fraction f < 1 (saved by a per-epoch hook), and the trained model (best validation EMA, what
``bsct train`` writes) for f = 1.
"""

from __future__ import annotations

import math
from pathlib import Path

from bsct.validation.zoo import TRAINERS, Training, size_key, trainer_of


def checkpoint_epochs(fractions, epochs: int) -> list[int | None]:
    """The epoch after which each fraction's checkpoint is taken (None for f = 1: the trained model)."""
    return [None if f >= 1.0 else max(1, int(round(f * epochs))) for f in fractions]


class _SnapshotHook:
    """A ``score_fn`` for :func:`bsct.train.loop.train` that saves the EMA model after chosen epochs.

    ``train`` calls it once per epoch (``bsct_every_epochs=1``) and records its return value
    as ``bsct_score`` in the history: NaN here, since it scores nothing."""

    def __init__(self, epochs_to_path: dict[int, Path], train_config: dict):
        self.epochs_to_path, self.train_config, self.epoch = epochs_to_path, train_config, 0

    def __call__(self, ema) -> float:
        from bsct.model.checkpoint import save_checkpoint

        self.epoch += 1
        if self.epoch in self.epochs_to_path:
            save_checkpoint(self.epochs_to_path[self.epoch], ema, self.train_config)
        return math.nan


def train_transformer(training: Training, out_dir: Path, progress: bool = False) -> list[str]:
    """Train one Transformer of the zoo into ``out_dir``; the checkpoint SPEC of each fraction.

    A training interrupted part-way restarts from its first epoch (the snapshot hook counts
    epochs from the start)."""
    from bsct.model.config import named_config
    from bsct.study.config import SIZES
    from bsct.study.steps import study_frames
    from bsct.train.loop import TrainConfig, train

    size = SIZES[size_key(training.model_size)]
    model_cfg = named_config(training.config_name, **{**size.model_overrides, **dict(training.model_overrides)})
    tc = TrainConfig(epochs=training.epochs, batch_size=size.batch_size, lr=size.lr, seed=training.seed,
                     max_steps=training.max_steps, progress=progress, bsct_every_epochs=1)
    epochs = checkpoint_epochs(training.checkpoints_at, training.epochs)
    paths = [out_dir / ("model.pt" if e is None else f"model_epoch{e}.pt") for e in epochs]
    hook = _SnapshotHook({e: p for e, p in zip(epochs, paths) if e is not None}, tc.to_dict())
    result = train(model_cfg, study_frames(training.system, "train", training.training_set),
                   study_frames(training.system, "val", training.training_set), tc, out_dir=out_dir, score_fn=hook)
    result.save(out_dir)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:  # early stopping before a snapshot epoch
        raise RuntimeError(f"training stopped after {len(result.history)} epochs, before checkpoints {missing}")
    return [str(p) for p in paths]


def train_external(training: Training, out_dir: Path, progress: bool = False) -> list[str]:
    """Train with another package's trainer (:data:`TRAINERS`); SPECs of its checkpoints."""
    from bsct.data import reference_path

    trainer = trainer_of(training.arch)
    data_path = reference_path(training.system, "train", size=training.training_set, generate=True, progress=progress)
    if training.epochs is None:
        raise ValueError(f"protocol: [zoo.{training.arch}] needs epochs for the {training.family} trainer")
    # the package trainers keep checkpoints at finished-epoch counts, the protocol gives fractions
    epochs_at = [training.epochs if e is None else e for e in checkpoint_epochs(training.checkpoints_at, training.epochs)]
    paths = trainer(data_path, out_dir, model=training.family.split("/", 1)[-1], n_train=None, seed=training.seed,
                    epochs=training.epochs, checkpoints_at=epochs_at)
    prefix = TRAINERS[training.arch][1]
    return [f"{prefix}{p}" for p in paths]


def train_any(training: Training, out_dir: Path, progress: bool = False) -> list[str]:
    """The checkpoint SPECs of ``training`` (one per fraction, in order)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if training.arch == "transformer":
        return train_transformer(training, out_dir, progress)
    return train_external(training, out_dir, progress)
