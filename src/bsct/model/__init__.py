"""The reference Transformer MLIP (see docs/model.md).

Public API (imported lazily, so ``import bsct.model`` does not load torch)::

    from bsct.model import named_config, build_model, load_model
    model = build_model(named_config("final", elements=(29,)), seed=0)
    out = model(AtomsBatch.from_atoms(frames), compute_stress=True)   # a batched potential
"""

from __future__ import annotations

from bsct.runs import lazy_exports

_EXPORTS = {
    "ModelConfig": "bsct.model.config",
    "NAMED_CONFIGS": "bsct.model.config",
    "named_config": "bsct.model.config",
    "TransformerMLIP": "bsct.model.transformer",
    "build_model": "bsct.model.transformer",
    "save_checkpoint": "bsct.model.checkpoint",
    "load_checkpoint": "bsct.model.checkpoint",
    "load_model": "bsct.model.checkpoint",
    "load_checkpoint_potential": "bsct.model.checkpoint",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
