"""Which structures an MD stability test starts from.

A start far from equilibrium fails every potential, the reference included, within
femtoseconds, and so measures the start, not the potential: :func:`md_start_frames` keeps the
thermal frames of a dataset and orders them so a few replicas still visit every composition.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Substrings of ``atoms.info["config_type"]`` that mark a frame unfit to start MD from.
DISTORTED_KINDS = ("liquid", "rattled", "stretched")

#: One-line description of :func:`md_start_frames`' rule (recorded with MD results as their ``start``).
MD_START = "thermal test frames (no liquid, rattled, stretched), round-robin over compositions"


def max_reference_force(atoms) -> float:
    """Largest |force component| (eV/Å) of the reference labels on ``atoms``; 0 when unlabelled."""
    forces = atoms.calc.results.get("forces") if atoms.calc is not None else None
    return float(np.abs(forces).max()) if forces is not None else 0.0  # unlabelled: file order


def md_start_frames(frames: Sequence) -> list:
    """MD starting structures: thermal frames, one composition after another.

    Rattled and stretched frames are left out: they sit eV/Å from equilibrium, so the bond
    criterion (bonds measured on the start) fires within femtoseconds for every potential,
    the reference included. Liquid snapshots are left out because a liquid quenched to the
    300 K thermostat changes its coordination by itself. If nothing is left, all frames are
    used. Compositions are taken round-robin (within one, lowest reference force first) so 8
    replicas visit 8 molecules, not 8 CH4s.
    """
    kept = [a for a in frames if not any(k in str(a.info.get("config_type", "")) for k in DISTORTED_KINDS)]
    kept = kept or list(frames)
    groups: dict[str, list] = {}
    for a in kept:
        groups.setdefault(a.get_chemical_formula(), []).append(a)
    for group in groups.values():
        group.sort(key=max_reference_force)
    ordered = []
    for rank in range(max(len(g) for g in groups.values())):
        ordered += [g[rank] for g in groups.values() if rank < len(g)]
    return ordered
