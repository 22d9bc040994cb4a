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
from bsct.runs import file_sha256, write_json

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


def _run_task(task) -> list[Atoms]:
    return task.fn(lambda: None)


def _label_one(method, item: tuple[Atoms, dict]) -> Atoms:
    return label(item[0], method, item[1])


def _pool(workers: int):
    """A process pool of ``workers`` spawned processes, or None for ``workers == 1``.

    Spawned (not forked) so that no OpenMP or BLAS state of this process is inherited; they
    get this process's environment, ``OMP_NUM_THREADS`` included.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1:
        return None
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from bsct.runs import init_worker_signals

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=init_worker_signals)


def sample_frames(module, size: str, seed: int, executor=None, tick=lambda _n: None) -> tuple[list, list]:
    """(pool, unseen) of a system recipe, its tasks run here or on ``executor``.

    Same frames either way: every task draws from its own random streams and results are
    concatenated in task order, whichever finishes first. ``tick(n)`` reports n more frames.
    """
    tasks = module.sample_tasks(size, seed)
    if executor is None:
        results = [task.fn(lambda: tick(1)) for task in tasks]
    else:
        from concurrent.futures import as_completed

        futures = {executor.submit(_run_task, task): i for i, task in enumerate(tasks)}
        results = [None] * len(tasks)
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            tick(tasks[futures[future]].n_frames)
    pool = [a for task, frames in zip(tasks, results) if task.part == "pool" for a in frames]
    unseen = [a for task, frames in zip(tasks, results) if task.part == "unseen" for a in frames]
    return pool, unseen


def label_frames(items: list[tuple[Atoms, dict]], method, executor=None, chunksize: int = 1,
                 tick=lambda: None) -> list[Atoms]:
    """Labelled copies of ``items`` (atoms, extra info), in order; here or on ``executor``.

    Each frame gets a fresh calculator (:func:`label`), so where it is labelled cannot matter.
    """
    from functools import partial

    if executor is None:
        mapped = (label(atoms, method, info) for atoms, info in items)
    else:
        mapped = executor.map(partial(_label_one, method), items, chunksize=chunksize)
    out = []
    for atoms in mapped:
        out.append(atoms)
        tick()
    return out


def write_splits(out: Path, labelled: dict[str, list[Atoms]]) -> dict[str, dict]:
    """Write each split as extxyz into ``out``; return the manifest's ``files`` entries.

    Each file is written under a process-unique name, checksummed, then renamed, so two processes
    making the same set at once (parallel study jobs) never read each other's half-written file.
    """
    from ase.io import read, write

    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, frames_out in labelled.items():
        path, tmp = out / f"{split}.extxyz", out / f".{split}.extxyz.{os.getpid()}.tmp"
        write(str(tmp), frames_out, format="extxyz")
        frames = read(str(tmp), index=":", format="extxyz")  # checksum what the file holds (extxyz rounds to 1e-8)
        files[split] = {
            "file": path.name,
            "n_frames": len(frames),
            "n_atoms": int(sum(len(a) for a in frames)),
            "bytes": tmp.stat().st_size,
            "sha256": file_sha256(tmp),
            "content_sha256": content_checksum(frames),
        }
        tmp.replace(path)
    return files


def generate(
    system: str,
    size: str = "ci",
    seed: int = 0,
    out_dir: str | Path | None = None,
    progress: bool = True,
    force: bool = False,
    workers: int = 1,
) -> dict:
    """Make (or find cached) the dataset; return its manifest (also written as ``manifest.json``).

    Args:
        system: ``cu``, ``si``, ``water`` or ``molecules``.
        size: ``ci`` (small, committed in the package) or ``full``.
        seed: everything random derives from it.
        out_dir: target folder; default :func:`default_out_dir`.
        progress: show tqdm bars on stderr.
        force: regenerate even when a matching cached set exists.
        workers: processes that sample the recipe's independent tasks and label frames;
            the files are byte-identical for any number.
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
    n_expected = sum(task.n_frames for task in module.sample_tasks(size, seed))
    executor = _pool(workers)
    try:
        t0 = time.perf_counter()
        with tqdm(total=n_expected, desc=f"{system}/{size}: sample", unit="frame", disable=not progress) as bar:
            pool, unseen = sample_frames(module, size, seed, executor, tick=bar.update)
        t_sample = time.perf_counter() - t0

        t1 = time.perf_counter()
        splits = split_pool(pool, seed)
        splits["unseen"] = unseen
        items = [(atoms, {**atoms.info, "system": system, "size": size, "seed": int(seed), "split": split})
                 for split in SPLITS for atoms in splits[split]]
        with tqdm(total=len(items), desc=f"{system}/{size}: label ({module.METHOD.name})", unit="frame",
                  disable=not progress) as bar:
            flat = label_frames(items, module.METHOD, executor, chunksize=max(1, len(items) // (32 * workers)),
                                tick=lambda: bar.update(1))
    except BaseException:  # SIGINT/SIGTERM or an error: the workers must not outlive it
        if executor is not None:
            from bsct.runs import terminate_pool

            terminate_pool(executor)
        raise
    finally:
        if executor is not None:
            executor.shutdown()
    labelled: dict[str, list[Atoms]] = {}
    for split in SPLITS:
        labelled[split], flat = flat[:len(splits[split])], flat[len(splits[split]):]
    t_label = time.perf_counter() - t1

    files = write_splits(out, labelled)
    manifest = {
        "key": key,
        "files": files,
        "versions": module.METHOD.versions_string(),
        "timing_s": {"sample": round(t_sample, 1), "label": round(t_label, 1),
                     "total": round(time.perf_counter() - t0, 1)},
        "workers": workers,
        "command": f"bsct data generate {system} --size {size} --seed {seed} --out {out}",
    }
    write_json(out / "manifest.json", manifest, indent=2, newline=True)  # last: cached once every file is in place
    log.info("%s: wrote %s in %.0f s", out, ", ".join(f"{s} {files[s]['n_frames']}" for s in SPLITS),
             manifest["timing_s"]["total"])
    return manifest
