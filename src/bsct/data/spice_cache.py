"""A cache of parsed BSCT-SPICE systems, so a second FSD run (of another model) reads no extxyz.

Parsing a system's 100 extxyz frames costs ~5 ms per frame, a large share of FSD for a small
model. :func:`load_system` keeps what :func:`~bsct.data.bsct_spice.read_system` returns as one
``.npz`` per system in the cache folder, named by a key over

    the parser version (``PARSER_VERSION``) and, for every file of the system folder, its name
    and SHA-256 (:func:`bsct.runs.file_sha256`),

so a changed, added or removed frame (or a new parser) gives another key and the system is
parsed again; hashing the files costs far less than parsing them. Each entry also stores its key
and is checked on reading: an unreadable, incomplete or mismatched entry is logged, parsed again
and rewritten. Entries are written atomically (:func:`bsct.runs.write_npz`), so concurrent
workers and killed runs never leave a half-written entry. Only systems that parse are cached
(a bad folder raises as before, every time).

Where: ``$BSCT_CACHE_DIR/bsct_spice/`` when ``BSCT_CACHE_DIR`` is set (``off``, ``0`` or empty
disables the cache), else ``$XDG_CACHE_HOME/bsct/bsct_spice/`` (``~/.cache/bsct/bsct_spice/``).
Old entries are never needed again once their files change; delete the folder to reclaim space.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from ase import Atoms

from bsct.data.bsct_spice import PARSER_VERSION, SpiceScan, read_system
from bsct.runs import file_sha256, fingerprint, write_npz

log = logging.getLogger(__name__)

CACHE_ENV = "BSCT_CACHE_DIR"
_DISABLED = ("", "0", "off", "none", "false")


def cache_root() -> Path | None:
    """The cache folder for parsed systems, or None when ``BSCT_CACHE_DIR`` disables it."""
    env = os.environ.get(CACHE_ENV)
    if env is not None:
        return None if env.strip().lower() in _DISABLED else Path(env).expanduser() / "bsct_spice"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bsct" / "bsct_spice"


def system_key(path: str | Path) -> str:
    """Key of a system folder: the parser version and (name, SHA-256) of each of its files."""
    files = sorted(p for p in Path(path).iterdir() if p.is_file())
    return fingerprint({"parser": PARSER_VERSION, "files": [[p.name, file_sha256(p)] for p in files]}, length=32)


def _to_arrays(scan: SpiceScan, key: str) -> dict[str, np.ndarray]:
    return {
        "key": np.asarray(key), "bond_type": np.asarray(scan.bond_type), "system_id": np.asarray(scan.system_id),
        "smiles": np.asarray(scan.smiles), "charge": np.asarray(scan.charge), "n_dropped": np.asarray(scan.n_dropped),
        "r_angstrom": scan.r_angstrom, "energy_ref_ev": scan.energy_ref_ev,
        "forces_ref_ev_per_angstrom": scan.forces_ref_ev_per_angstrom, "fragment_labels": scan.fragment_labels,
        "bond_index": np.asarray(scan.bond_index), "positions": scan.positions_angstrom,
        "numbers": scan.frames[0].numbers, "cells": np.stack([a.cell.array for a in scan.frames]),
        "pbcs": np.stack([a.pbc for a in scan.frames]),
    }


def _from_arrays(data, key: str) -> SpiceScan:
    if str(data["key"]) != key:
        raise ValueError(f"entry holds key {str(data['key'])!r}, not {key!r}")
    numbers = data["numbers"]
    # read_system stacks ASE's column-major per-frame force arrays; the same memory layout here keeps
    # numpy's reductions (FSD's |dF|² sums) summing in the same order: results equal to the last bit.
    forces = np.stack([np.asfortranarray(f) for f in data["forces_ref_ev_per_angstrom"]])
    frames = [Atoms(numbers=numbers, positions=p, cell=c, pbc=b)
              for p, c, b in zip(data["positions"], data["cells"], data["pbcs"])]
    return SpiceScan(
        bond_type=str(data["bond_type"]), system_id=str(data["system_id"]), smiles=str(data["smiles"]),
        r_angstrom=data["r_angstrom"], frames=frames, energy_ref_ev=data["energy_ref_ev"],
        forces_ref_ev_per_angstrom=forces,
        bond_index=tuple(int(i) for i in data["bond_index"]), fragment_labels=data["fragment_labels"],
        charge=int(data["charge"]), n_dropped=int(data["n_dropped"]),
    )


def load_system(path: str | Path, cache: bool = True) -> SpiceScan:
    """:func:`~bsct.data.bsct_spice.read_system`, through the cache (module docstring).

    Raises what ``read_system`` raises. ``cache=False`` (or a disabled cache) reads the files.
    """
    root = cache_root() if cache else None
    if root is None:
        return read_system(path)
    key = system_key(path)
    entry = root / f"{key}.npz"
    if entry.exists():
        try:
            with np.load(entry, allow_pickle=False) as data:
                return _from_arrays(data, key)
        except Exception as exc:  # noqa: BLE001 - a corrupt or foreign entry is rebuilt, never trusted
            log.warning("%s: cached system unusable (%s: %s); parsing %s again", entry, type(exc).__name__, exc, path)
    scan = read_system(path)
    try:
        root.mkdir(parents=True, exist_ok=True)
        write_npz(entry, **_to_arrays(scan, key))
    except OSError as exc:  # a read-only or full cache folder costs speed, not the run
        log.warning("cannot write the system cache %s (%s); continuing without it", entry, exc)
    return scan
