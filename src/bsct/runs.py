"""The runs layer, at the bottom of the package: what every resumable command shares.

Fingerprints of settings, file hashes, atomic JSON writing, strict-JSON cleaning, installed
versions, the resume-mismatch error and a cached step. Nothing here imports another part of
``bsct``, so every layer above may use it (potentials, data, scan, metrics, md, train, report,
study, the CLI).

``--resume`` means the same thing in every command: reuse each saved piece whose fingerprint
equals this run's, refuse (:class:`ResumeMismatchError`) a piece saved by another potential or
under other settings, and compute whatever is missing.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

#: Packages whose versions decide the numbers of a result (recorded beside it).
VERSION_PACKAGES = ("bsct", "ase", "numpy", "scipy", "torch", "chgnet", "sevenn", "tblite")


class ResumeMismatchError(ValueError):
    """A saved result that a resume must not reuse: another potential's, or other settings'."""


def canonical_json(settings) -> str:
    """The one text that settings are hashed as: sorted keys, anything unknown as ``str``."""
    return json.dumps(settings, sort_keys=True, default=str)


def fingerprint(settings, length: int | None = 16) -> str:
    """SHA-256 hex digest of :func:`canonical_json` of ``settings``, cut to ``length`` characters
    (``None`` keeps all 64). Equal settings give equal fingerprints in any process."""
    digest = hashlib.sha256(canonical_json(settings).encode()).hexdigest()
    return digest if length is None else digest[:length]


def safe_name(text: str, keep: str = "-_.") -> str:
    """``text`` as a file-name component: every character but letters, digits and ``keep`` -> ``_``."""
    return "".join(c if c.isalnum() or c in keep else "_" for c in text)


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def clean_json(value):
    """Strict-JSON copy: NaN/inf -> None, numpy and 0-d torch scalars -> Python numbers, keys -> str.

    The one converter every writer of the project uses (reports, study, MD, diatomics)."""
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | Path, data, indent: int | None = 1, newline: bool = False) -> Path:
    """Write ``data`` as strict JSON atomically: to a process-unique temporary file, then renamed, so a
    kill mid-write leaves the previous file and two processes writing the same file never mix.

    ``data`` goes through :func:`clean_json` (NaN/inf -> null) and is dumped with ``allow_nan=False``,
    so no result file ever holds a bare ``NaN``, which strict JSON readers refuse."""
    path = Path(path)
    text = json.dumps(clean_json(data), indent=indent, allow_nan=False) + ("\n" if newline else "")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def write_npz(path: str | Path, **arrays) -> Path:
    """Write ``arrays`` to a compressed ``.npz`` atomically, like :func:`write_json`: to a
    process-unique temporary file, then renamed (a killed run never leaves a half-written file)."""
    import numpy as np  # here, not at import: `bsct --help` imports this module

    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    return path


def versions(packages: Iterable[str] = VERSION_PACKAGES) -> dict[str, str]:
    """Installed versions of ``packages`` (those not installed are left out), plus Python's."""
    import platform
    from importlib import metadata

    out = {"python": platform.python_version()}
    for package in packages:
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return out


def differing_keys(saved: Mapping, expected: Mapping) -> list[str]:
    """Sorted top-level keys whose values differ between two settings dicts."""
    return sorted(str(k) for k in set(saved) | set(expected) if saved.get(k) != expected.get(k))


def check_resume(saved: Mapping, expected: Mapping, where: str | Path, hint: str = "") -> None:
    """Raise :class:`ResumeMismatchError` naming the differing keys unless ``saved == expected``."""
    if dict(saved) != dict(expected):
        diff = differing_keys(saved, expected)
        raise ResumeMismatchError(f"{where}: cannot resume, the saved settings differ in {diff}"
                                  + (f"; {hint}" if hint else "; use another output directory or drop --resume"))


class NotCached(Exception):
    """A cached step that a ``cached_only`` run would have to compute."""


_CACHED_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar("bsct_cached_only", default=False)


def cached_only(flag: bool = True) -> contextvars.Token:
    """Within the returned token's scope, :func:`cached_step` raises :class:`NotCached` rather
    than computing (for printing the tables of what has finished while a long run goes on).
    Reset with ``_CACHED_ONLY.reset(token)`` or use :func:`cached_only_scope`."""
    return _CACHED_ONLY.set(flag)


def is_cached_only() -> bool:
    return _CACHED_ONLY.get()


def reset_cached_only(token: contextvars.Token) -> None:
    _CACHED_ONLY.reset(token)


def cached_step(path: str | Path, settings: dict, compute: Callable[[], dict], force: bool = False) -> dict:
    """Run ``compute`` unless ``path`` holds a result of the same settings; save it with its wall time.

    The record on disk is ``{"fingerprint", "settings", "step_wall_seconds", **result}``, written
    atomically; the returned record has ``cached`` True when it was read back. Saved results of
    other settings are recomputed (a step's settings are its identity). In a ``cached_only``
    scope a step to compute raises :class:`NotCached` instead.
    """
    path = Path(path)
    fp = fingerprint(settings)
    if path.exists() and not force:
        saved = json.loads(path.read_text())
        if saved.get("fingerprint") == fp:
            log.info("%s: cached", path)
            saved["cached"] = True
            return saved
        log.info("%s: settings changed, recomputing", path)
    if _CACHED_ONLY.get():
        raise NotCached(str(path))
    t0 = time.perf_counter()
    result = compute()
    record = {"fingerprint": fp, "settings": settings, "step_wall_seconds": time.perf_counter() - t0, **result}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, clean_json(record))  # atomic: a killed step leaves no half-written result
    record["cached"] = False
    return record


# ---------------------------------------------------------------- exit codes, run folders, threads
#
# What every command shares about how a run ends and where it writes. The CLI maps exceptions
# to exit codes in one place (bsct.cli.exit_code_of); the sources raise these precise errors.

EXIT_OK = 0  #: done, and under the gate (if any)
EXIT_ABOVE_GATE = 1  #: done, result above the gate (--fail-above, --min-stable-fraction, demo misses)
EXIT_BAD_INPUT = 2  #: bad input, or a model that cannot run: nothing trustworthy was computed
EXIT_FAILED_EVALUATIONS = 3  #: the run finished, but some model evaluations failed (result incomplete)
EXIT_SIGINT = 130  #: interrupted by SIGINT (Ctrl-C); finished pieces kept for --resume
EXIT_SIGTERM = 143  #: interrupted by SIGTERM; finished pieces kept for --resume


class BadInput(ValueError):
    """Input the run cannot use (file, SPEC, option, output folder) or a model that cannot run: exit 2."""


class RunDirInUse(BadInput):
    """Another live process owns the output folder (holds its lock)."""


class FailedEvaluations(RuntimeError):
    """The run finished but some model evaluations failed: exit 3 (the result is incomplete)."""

    def __init__(self, message: str, n_failed: int = 0):
        super().__init__(message)
        self.n_failed = n_failed


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like KeyboardInterrupt for SIGINT (so ``except Exception``
    in the evaluators does not swallow it): exit 143."""


def outcome_exit_code(*, n_failed: int = 0, above_gate: bool = False) -> int:
    """The exit code of a run that finished: failed evaluations (3) win over the gate (1), since
    a score of a model that did not run everywhere is not a score to gate on."""
    if n_failed:
        return EXIT_FAILED_EVALUATIONS
    return EXIT_ABOVE_GATE if above_gate else EXIT_OK


LOCK_NAME = ".bsct.lock"
TEMPORARY_FILES = (".*.tmp", "*.tmp.npz")  #: what an atomic write leaves when killed mid-write


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


class RunDir:
    """A run owns its output folder while it runs: ``with RunDir(out, resume, overwrite, owned):``.

    On entry, before any work: ``out`` must be a folder that can be created and written (else
    :class:`BadInput`); the lock ``out/.bsct.lock`` is taken with ``fcntl.flock`` (a second
    live run is refused with :class:`RunDirInUse` naming the holder's PID; the file is removed
    when the run ends and the lock dies with its process, so a killed run leaves no stale
    lock, only a file the next run takes over); without ``resume`` a folder that
    already holds anything is refused unless ``overwrite``, which deletes the entries matching
    ``owned`` (glob patterns of what this command writes) and nothing else. Never emptied silently.
    """

    def __init__(self, out: str | Path, resume: bool = False, overwrite: bool = False,
                 owned: Iterable[str] = (), command: str = "bsct"):
        self.out = Path(out)
        self.resume, self.overwrite = resume, overwrite
        self.owned = tuple(owned)
        self.command = command
        self._fh = None

    def __enter__(self) -> "RunDir":
        import errno
        import fcntl

        out = self.out
        if out.exists() and not out.is_dir():
            raise BadInput(f"--out {out}: is a file, not a folder")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BadInput(f"--out {out}: cannot create it ({exc.strerror or exc})") from exc
        if not os.access(out, os.W_OK | os.X_OK):
            raise BadInput(f"--out {out}: not writable")
        lock = out / LOCK_NAME
        while True:
            try:
                fh = open(lock, "a+")
            except OSError as exc:
                raise BadInput(f"--out {out}: not writable ({exc.strerror or exc})") from exc
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                fh.seek(0)
                holder = fh.read().strip() or "unknown"
                fh.close()
                if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise RunDirInUse(f"--out {out}: in use by another bsct run (PID {holder}); wait for it to "
                                      "finish or choose another --out") from None
                raise BadInput(f"--out {out}: cannot lock {lock} ({exc.strerror or exc})") from exc
            try:  # the holder removes the file when it ends: make sure ours is still the one at the path
                if os.stat(lock).st_ino == os.fstat(fh.fileno()).st_ino:
                    break
            except FileNotFoundError:
                pass
            fh.close()
        self._fh = fh
        try:
            self._claim()
        except BaseException:
            self.release()
            raise
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        return self

    def _claim(self) -> None:
        present = sorted(p.name for p in self.out.iterdir() if p.name != LOCK_NAME)
        if not present or self.resume:
            return
        if not self.overwrite:
            shown = ", ".join(present[:5]) + (f" and {len(present) - 5} more" if len(present) > 5 else "")
            raise BadInput(f"--out {self.out}: already holds a run ({shown}); pass --resume to continue it, "
                           "--overwrite to replace it, or choose another --out")
        removed = [name for name in present if self._owns(name)]
        for name in removed:
            _remove(self.out / name)
        kept = [name for name in present if not self._owns(name)]
        log.info("--overwrite: removed %s from %s%s", removed or "nothing", self.out,
                 f" (kept {kept}: not written by `{self.command}`)" if kept else "")

    def _owns(self, name: str) -> bool:
        from fnmatch import fnmatchcase

        return any(fnmatchcase(name, pattern) for pattern in self.owned + TEMPORARY_FILES)

    def release(self) -> None:
        if self._fh is not None:
            import fcntl

            (self.out / LOCK_NAME).unlink(missing_ok=True)  # before unlocking: a waiter then retries
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __exit__(self, *exc) -> None:
        self.release()


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota if any."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def idle_cpus() -> int:
    """CPUs not already busy: :func:`available_cpus` less the 1-minute load average (at least 1)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    n = available_cpus()  # once: it reads the cgroup quota file
    return max(1, min(n, round(n - load)))


def default_threads(workers: int = 1, max_threads: int = 4) -> int:
    """Threads per process when the user gives none: the idle CPUs (at most ``max_threads``),
    split over ``workers`` processes. Never oversubscribed: on a busy machine torch's default
    (one thread per core) makes small systems many times slower than one thread (threads spin
    waiting for each other: CHGNet on one water molecule, 125 s vs 8.8 s on 2 busy cores)."""
    return max(1, min(idle_cpus(), max_threads) // max(1, workers))


THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def configure_threads(threads: int | None, workers: int = 1) -> int:
    """Threads per process (this one and each worker): ``threads`` or :func:`default_threads`.

    Sets torch's intra-op threads here and the OpenMP/MKL/BLAS environment, which worker
    processes inherit; returns the count used."""
    n = threads if threads is not None else default_threads(workers)
    if n < 1:
        raise BadInput(f"--threads must be >= 1, got {n}")
    for key in THREAD_ENV:
        os.environ[key] = str(n)
    import torch

    torch.set_num_threads(n)
    return n


def terminate_pool(executor) -> None:
    """Stop a ``ProcessPoolExecutor`` now: cancel what has not started, terminate the workers (on
    SIGINT/SIGTERM the parent must not leave them computing), and reap them."""
    processes = list((getattr(executor, "_processes", None) or {}).values())  # shutdown forgets them
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    executor.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=5)


def init_worker_signals() -> None:
    """In a pool worker: SIGTERM ends it at once (a forked worker must not inherit the parent's
    handler, which would turn it into an exception the pool reports and survives), SIGINT is
    left to the parent (Ctrl-C reaches the whole process group; the parent stops the pool), and
    on Linux the worker gets SIGTERM when its parent dies, even by SIGKILL."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], object]:
    """A package's ``__getattr__`` (PEP 562) that imports an exported name's module on first use,
    so ``import bsct.<package>`` (and ``bsct --help``) loads no torch, ASE or numpy.

    ``exports`` maps each public name to the module that defines it::

        __getattr__ = lazy_exports(__name__, {"run_md_stability": "bsct.md.run"})
    """

    def __getattr__(name: str):
        if name in exports:
            import importlib

            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
