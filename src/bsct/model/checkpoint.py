"""Checkpoints: state dict + config + dataset hash, plain types only, loaded with ``weights_only=True``.

Layout of the saved dict::

    format          "bsct-transformer-mlip/1"
    model_config    ModelConfig.to_dict()
    model_state     state_dict of the (EMA) model
    train_config    dict or None
    dataset_sha256  str or None (hash of the training set, bsct.train.data.dataset_hash)
    history         list of per-epoch dicts of numbers, or None
    metrics         dict of final metrics, or None
"""

from __future__ import annotations

from pathlib import Path

import torch

from bsct.model.config import ModelConfig
from bsct.model.transformer import TransformerMLIP

FORMAT = "bsct-transformer-mlip/1"


def save_checkpoint(
    path: str | Path,
    model: TransformerMLIP,
    train_config: dict | None = None,
    dataset_sha256: str | None = None,
    history: list[dict] | None = None,
    metrics: dict | None = None,
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "model_config": model.config.to_dict(),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "train_config": train_config,
        "dataset_sha256": dataset_sha256,
        "history": history,
        "metrics": metrics,
    }
    torch.save(payload, path)
    return path


def load_checkpoint(path: str | Path) -> dict:
    """The saved dict (see module docstring); raises ValueError on a foreign file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated, not a torch file, or needs pickled code
        reason = str(exc).strip().splitlines()[0].split(". ")[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" in str(exc) or "Weights only" in str(exc):
            reason = "it holds pickled Python objects, not only weights (refused: loading it could run code)"
        raise ValueError(f"{path}: cannot read this checkpoint ({type(exc).__name__}: {reason})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a bsct Transformer MLIP checkpoint (format {FORMAT!r} expected)")
    return payload


def load_model(path: str | Path, dtype: torch.dtype | None = None) -> TransformerMLIP:
    """Rebuild the model from a checkpoint, in eval mode; ``dtype`` overrides the trained dtype."""
    payload = load_checkpoint(path)
    cfg = ModelConfig.from_dict(payload["model_config"])
    model = TransformerMLIP(cfg)
    model.load_state_dict(payload["model_state"])
    if dtype is not None:
        model.to(dtype)
    return model.eval()


def load_checkpoint_potential(path: str | Path, dtype: torch.dtype = torch.float64) -> TransformerMLIP:
    """A checkpoint as a batched potential (what ``load_potential("model.pt")`` returns).

    Runs in float64 by default: the same function as trained, evaluated without float32
    rounding noise, which a smoothness test would otherwise read as roughness.
    """
    return load_model(path, dtype=dtype)
