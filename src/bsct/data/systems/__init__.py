"""Per-system recipes: how each reference dataset is sampled.

Each module exposes ``METHOD`` (a :class:`bsct.data.reference.ReferenceMethod`), ``SIZES``
(per size name, the counts of each kind of frame) and
``sample_tasks(size, seed) -> list[SampleTask]``: the recipe cut into independent parts
(``bsct data generate --workers N`` runs them in N processes), each returning unlabelled
in-distribution frames (``part == "pool"``, split later into train/val/test) or held-out
unseen-structure frames, with ``info['config_type']`` set. ``sample(size, seed, tick) ->
(pool, unseen)`` runs them one after another; ``tick()`` is called once per frame.
"""

from __future__ import annotations

import importlib
from types import ModuleType

SYSTEMS: tuple[str, ...] = ("cu", "si", "water", "molecules")
_ALIASES = {"copper": "cu", "silicon": "si", "h2o": "water", "molecule": "molecules", "organic": "molecules"}


def canonical_system(name: str) -> str:
    """Lower-case system name, with aliases (``Cu``, ``copper`` -> ``cu``); ValueError if unknown."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in SYSTEMS:
        raise ValueError(f"unknown system {name!r}; choose one of {', '.join(SYSTEMS)}")
    return key


def system_module(name: str) -> ModuleType:
    return importlib.import_module(f"bsct.data.systems.{canonical_system(name)}")
