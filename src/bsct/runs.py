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
