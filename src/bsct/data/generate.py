"""Generate a reference dataset: sample, label, split, write, checksum, cache.

``generate(system, size, seed, out_dir)`` writes ``train/val/test/unseen.extxyz`` and a
``manifest.json`` to ``out_dir``. The result is a pure function of (system, size, seed,
generator version, reference-method versions): run it twice and the content checksums agree.
If ``out_dir`` already holds a manifest with the same key whose files still match their
checksums, nothing is recomputed (the cache).

Splits: the in-distribution pool is shuffled by ``child_rng(seed, 'split')`` and cut 80/10/10
into train/val/test; the unseen-structure frames (other phases, surfaces, densities or whole
molecules, see each system module) form ``unseen``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
from ase import Atoms

from bsct.data.reference import GENERATOR_VERSION, label
from bsct.data.sampling import child_rng
from bsct.data.systems import canonical_system, system_module

log = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "val", "test", "unseen")
SIZES: tuple[str, ...] = ("ci", "full")
VAL_FRACTION = 0.1
TEST_FRACTION = 0.1


def default_out_dir(system: str, size: str, seed: int) -> Path:
    """``$BSCT_DATA_DIR/<system>-<size>-seed<seed>`` (default ``~/.cache/bsct/datasets``)."""
    root = Path(os.environ.get("BSCT_DATA_DIR", Path.home() / ".cache" / "bsct" / "datasets"))
    return root / f"{canonical_system(system)}-{size}-seed{seed}"


def content_checksum(frames: list[Atoms]) -> str:
    """SHA-256 of the numbers that matter, rounded so that text formatting cannot change it.

    Per frame, in order: atomic numbers, pbc, cell and positions (rounded to 1e-6 Å), energy
    (1e-6 eV), forces (1e-5 eV/Å) and stress if present (1e-7 eV/Å^3). Provenance strings
    (package versions) are deliberately excluded, so a set regenerated under newer packages
    compares equal when its numbers do.
    """
    h = hashlib.sha256()

    def put(array, decimals=None):
        a = np.asarray(array, dtype=float if decimals is not None else np.int64)
        if decimals is not None:
            a = np.round(a, decimals) + 0.0  # + 0.0 folds -0.0 into 0.0
        h.update(np.ascontiguousarray(a).tobytes())

    for atoms in frames:
        put(atoms.numbers)
        put(atoms.pbc.astype(np.int64))
        put(atoms.cell.array, 6)
        put(atoms.positions, 6)
        calc = atoms.calc
        results = getattr(calc, "results", {}) if calc is not None else {}
        put([results.get("energy", np.nan)], 6)
        put(results.get("forces", np.zeros((0, 3))), 5)
        if "stress" in results:
            put(np.asarray(results["stress"]).reshape(-1)[:6] if np.size(results["stress"]) == 6
                else _voigt(results["stress"]), 7)
    return h.hexdigest()


def _voigt(stress) -> np.ndarray:
    s = np.asarray(stress).reshape(3, 3)
    return np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def split_pool(pool: list[Atoms], seed: int) -> dict[str, list[Atoms]]:
    """Deterministic 80/10/10 shuffle-split of the pool into train/val/test (each non-empty if possible)."""
    n = len(pool)
    order = child_rng(seed, "split").permutation(n)
    n_val = max(1, round(VAL_FRACTION * n)) if n >= 3 else 0
    n_test = max(1, round(TEST_FRACTION * n)) if n >= 3 else 0
    val_idx, test_idx, train_idx = order[:n_val], order[n_val:n_val + n_test], order[n_val + n_test:]
    # keep generation order inside each split: easier to read, same content
    return {name: [pool[i] for i in sorted(idx.tolist())]
            for name, idx in (("train", train_idx), ("val", val_idx), ("test", test_idx))}


def cache_key(system: str, size: str, seed: int) -> dict:
    module = system_module(system)
    return {"system": canonical_system(system), "size": size, "seed": int(seed),
            "generator_version": GENERATOR_VERSION, "method": module.METHOD.name,
            "method_params": module.METHOD.params_string(), "counts": module.SIZES[size]}


def read_manifest(out_dir: Path) -> dict | None:
    path = Path(out_dir) / "manifest.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def is_cached(out_dir: Path, key: dict) -> bool:
    """True when ``out_dir`` holds a manifest for ``key`` and every split file matches its sha256."""
    manifest = read_manifest(out_dir)
    if manifest is None or manifest.get("key") != key:
        return False
    for entry in manifest.get("files", {}).values():
        path = Path(out_dir) / entry["file"]
        if not path.exists() or file_sha256(path) != entry["sha256"]:
            return False
    return set(manifest.get("files", {})) == set(SPLITS)


def generate(
    system: str,
    size: str = "ci",
    seed: int = 0,
    out_dir: str | Path | None = None,
    progress: bool = True,
    force: bool = False,
) -> dict:
    """Make (or find cached) the dataset; return its manifest (also written as ``manifest.json``).

    Args:
        system: ``cu``, ``si``, ``water`` or ``molecules``.
        size: ``ci`` (small, committed in the package) or ``full``.
        seed: everything random derives from it.
        out_dir: target folder; default :func:`default_out_dir`.
        progress: show tqdm bars on stderr.
        force: regenerate even when a matching cached set exists.
    """
    from tqdm.auto import tqdm

    system = canonical_system(system)
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    out = Path(out_dir) if out_dir is not None else default_out_dir(system, size, seed)
    key = cache_key(system, size, seed)
    if not force and is_cached(out, key):
        log.info("%s: cached %s/%s seed %d, nothing to do", out, system, size, seed)
        return read_manifest(out)

    module = system_module(system)
    n_expected = (module.expected_frames(size) if hasattr(module, "expected_frames")
                  else sum(module.SIZES[size].values()))
    t0 = time.perf_counter()
    with tqdm(total=n_expected, desc=f"{system}/{size}: sample", unit="frame", disable=not progress) as bar:
        pool, unseen = module.sample(size, seed, tick=lambda: bar.update(1))
    t_sample = time.perf_counter() - t0

    t1 = time.perf_counter()
    splits = split_pool(pool, seed)
    splits["unseen"] = unseen
    labelled: dict[str, list[Atoms]] = {}
    with tqdm(total=len(pool) + len(unseen), desc=f"{system}/{size}: label ({module.METHOD.name})",
              unit="frame", disable=not progress) as bar:
        for split in SPLITS:
            frames = []
            for atoms in splits[split]:
                info = dict(atoms.info)
                info.update(system=system, size=size, seed=int(seed), split=split)
                frames.append(label(atoms, module.METHOD, info))
                bar.update(1)
            labelled[split] = frames
    t_label = time.perf_counter() - t1

    from ase.io import read, write

    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for split in SPLITS:
        path = out / f"{split}.extxyz"
        write(str(path), labelled[split], format="extxyz")
        frames = read(str(path), index=":")  # checksum what the file holds (extxyz rounds to 1e-8)
        files[split] = {
            "file": path.name,
            "n_frames": len(frames),
            "n_atoms": int(sum(len(a) for a in frames)),
            "bytes": path.stat().st_size,
            "sha256": file_sha256(path),
            "content_sha256": content_checksum(frames),
        }
    manifest = {
        "key": key,
        "files": files,
        "versions": module.METHOD.versions_string(),
        "timing_s": {"sample": round(t_sample, 1), "label": round(t_label, 1),
                     "total": round(time.perf_counter() - t0, 1)},
        "command": f"bsct data generate {system} --size {size} --seed {seed} --out {out}",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    log.info("%s: wrote %s in %.0f s", out, ", ".join(f"{s} {files[s]['n_frames']}" for s in SPLITS),
             manifest["timing_s"]["total"])
    return manifest
