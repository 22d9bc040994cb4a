"""Training of the reference Transformer MLIP (see docs/model.md).

Public API (imported lazily)::

    from bsct.train import train, TrainConfig
    result = train(named_config("final"), train_frames, val_frames, TrainConfig(epochs=100), out_dir="runs/x")
"""

from __future__ import annotations

from bsct.runs import lazy_exports

_EXPORTS = {
    "TrainConfig": "bsct.train.loop",
    "TrainResult": "bsct.train.loop",
    "train": "bsct.train.loop",
    "evaluate": "bsct.train.loop",
    "default_score_fn": "bsct.train.callbacks",
    "energy_curve_roughness": "bsct.train.callbacks",
    "dataset_hash": "bsct.train.data",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
