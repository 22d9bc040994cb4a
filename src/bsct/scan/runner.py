"""Evaluate scans: many scan points per model call, raw curves saved before any metric."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bsct.potentials.evaluate import MAX_ATOMS_PER_CALL, Configurations, evaluate
from bsct.potentials.protocol import BatchedPotential
from bsct.runs import write_npz
from bsct.scan.collisions import guard_mask
from bsct.scan.geometry import ScanGeometry

log = logging.getLogger(__name__)


@dataclass
class ScanCurve:
    """Raw result of one bond scan.

    Attributes:
        label, bond_type, structure_idx, i, j, mode: which bond and how it was scanned.
        r_angstrom: (n_points,) bond length.
        energy_ev: (n_points,) total energy, NaN where the model failed.
        forces_ev_per_angstrom: (n_points, n_atoms, 3), NaN where the model failed.
        dx_dr: (n_atoms, 3) displacement per Å of bond length (the scan direction).
        r0_angstrom: the bond length in the input structure.
        min_cross_distance_angstrom: (n_points,) closest approach of the two fragments, or None.
        closest_third_atom_angstrom: (n_points,) closest approach of a moving atom (i or j) to any
            other atom, pair-mode scans of v2 (:mod:`bsct.scan.collisions`); None when not recorded.
        evaluated: (n_points,) bool, the points the model was asked for (v2 skips those its
            collision guard never scores; their E and F are NaN but not failures); None = all.
        errors: one message per failed point ("point k at r=... : ...").
        eval_seconds: wall time spent in the model.
        n_model_calls: how many times the potential was called.
        run_fingerprint: the run it belongs to (a resume recomputes a curve of another run).
    """

    label: str
    bond_type: str
    structure_idx: int
    i: int
    j: int
    mode: str
    r_angstrom: np.ndarray
    energy_ev: np.ndarray
    forces_ev_per_angstrom: np.ndarray
    dx_dr: np.ndarray
    r0_angstrom: float
    min_cross_distance_angstrom: np.ndarray | None = None
    errors: list[str] = field(default_factory=list)
    eval_seconds: float = 0.0
    n_model_calls: int = 0
    closest_third_atom_angstrom: np.ndarray | None = None
    run_fingerprint: str = ""
    evaluated: np.ndarray | None = None

    @property
    def failed_mask(self) -> np.ndarray:
        """(n_points,) True where the model's evaluation failed (raised, or gave NaN/inf)."""
        ok = np.isfinite(self.energy_ev) & np.isfinite(self.forces_ev_per_angstrom).all(axis=(1, 2))
        return ~ok if self.evaluated is None else ~ok & self.evaluated

    @property
    def n_failed_points(self) -> int:
        return int(self.failed_mask.sum())

    @property
    def scan_force_ev_per_angstrom(self) -> np.ndarray:
        """(n_points,) f_r = -dE/dr as the model's forces see it: Σ_atoms F·dx/dr."""
        return np.einsum("kad,ad->k", self.forces_ev_per_angstrom, self.dx_dr)

    def save(self, path: str | Path) -> None:
        """Write to ``.npz`` (atomically: a killed run never leaves a half-written curve)."""
        arrays = {k: v for k, v in vars(self).items() if isinstance(v, np.ndarray)}
        meta = {k: v for k, v in vars(self).items() if not isinstance(v, np.ndarray) and v is not None}
        meta["errors"] = np.array(self.errors, dtype=str)
        write_npz(path, **arrays, **{f"meta_{k}": np.asarray(v) for k, v in meta.items()})

    @classmethod
    def load(cls, path: str | Path) -> "ScanCurve":
        with np.load(path, allow_pickle=False) as data:
            kwargs = {}
            for key in data.files:
                if key.startswith("meta_"):
                    value = data[key]
                    kwargs[key[5:]] = value.tolist() if key == "meta_errors" else value.item()
                else:
                    kwargs[key] = data[key]
        return cls(**kwargs)


def evaluate_chunked(
    potential: BatchedPotential,
    geometry: ScanGeometry,
    points_per_call: int,
    on_chunk: Callable[[int], None] | None = None,
    only: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[int, str], int]:
    """Energy (n,), forces (n, n_atoms, 3), failures {point: message} and the number of model calls.

    ``points_per_call`` scan points per model call through :func:`bsct.potentials.evaluate.evaluate`:
    failed or non-finite points are NaN, the others kept. ``only`` (n,) bool: evaluate these
    points, leave the rest NaN. ``on_chunk(n_points_done)`` drives a progress bar.
    """
    r = geometry.r_angstrom
    idx = np.arange(len(r)) if only is None else np.flatnonzero(only)
    frames = Configurations(geometry.atoms, geometry.positions_angstrom(r[idx]))
    ev = evaluate(potential, frames, points_per_call * len(geometry.atoms), on_chunk=on_chunk)
    if only is None:
        return ev.energy_ev, ev.stacked_forces(), ev.failures, ev.n_model_calls
    energy = np.full(len(r), np.nan)
    forces = np.full((len(r), len(geometry.atoms), 3), np.nan)
    if len(idx):
        energy[idx], forces[idx] = ev.energy_ev, ev.stacked_forces()
    return energy, forces, {int(idx[k]): msg for k, msg in ev.failures.items()}, ev.n_model_calls


def evaluate_scan(
    potential: BatchedPotential,
    geometry: ScanGeometry,
    max_atoms_per_call: int = MAX_ATOMS_PER_CALL,
    record_collisions: bool = False,
    on_chunk: Callable[[int], None] | None = None,
    guard_fraction: float | None = None,
) -> ScanCurve:
    """Energies and forces at every scan point, ``max_atoms_per_call`` atoms per model call.

    Failed or non-finite points are NaN and listed in ``errors``, one line per point.
    ``record_collisions``: also record, in pair mode, each point's closest approach of a moving
    atom to a third atom (BSCT v2's collision guard; v1 curves stay as they were).
    ``guard_fraction``: evaluate only the points the collision guard at this fraction will score
    (:func:`bsct.scan.collisions.guard_mask`, geometry alone); the others stay NaN, are marked in
    ``evaluated`` and are not failures.
    ``on_chunk(n_points_done)`` after each call moves a progress bar within the bond.
    """
    r = geometry.r_angstrom
    start = time.perf_counter()
    cross = geometry.min_cross_distance_angstrom()
    closest = geometry.closest_third_atom_angstrom() if record_collisions or guard_fraction is not None else None
    only = None
    if guard_fraction is not None:
        only = guard_mask(geometry.mode, r, closest, cross, guard_fraction)
        only = None if only.all() else only
    per_call = max(1, max_atoms_per_call // max(len(geometry.atoms), 1))
    energy, forces, failures, n_calls = evaluate_chunked(potential, geometry, per_call, on_chunk, only)
    if only is not None and on_chunk is not None:
        on_chunk(int((~only).sum()))  # the points not evaluated, so a progress bar still ends full
    errors = [f"point {k} at r={r[k]:.4f} Å: {msg}" for k, msg in failures.items()]
    if errors:
        log.warning("bond %s of structure %d: %d of %d points failed, first: %s",
                    geometry.bond.label, geometry.bond.structure_idx, len(errors), len(r), errors[0])
    bond = geometry.bond
    return ScanCurve(
        label=bond.label,
        bond_type=bond.bond_type,
        structure_idx=bond.structure_idx,
        i=geometry.i,
        j=geometry.j,
        mode=geometry.mode,
        r_angstrom=r.copy(),
        energy_ev=energy,
        forces_ev_per_angstrom=forces,
        dx_dr=geometry.dx_dr.copy(),
        r0_angstrom=bond.r0_angstrom,
        min_cross_distance_angstrom=cross,
        errors=errors,
        eval_seconds=time.perf_counter() - start,
        n_model_calls=n_calls,
        closest_third_atom_angstrom=closest if record_collisions else None,
        evaluated=only,
    )


def evaluate_points(
    potential: BatchedPotential, geometry: ScanGeometry, r_angstrom: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Energy (m,) and forces (m, n_atoms, 3) at extra bond lengths, in one model call.

    Used to refine a scan locally; a failure gives NaN rather than an exception, and the raw
    output is returned as it came (the detectors judge non-finite values).
    """
    frames = Configurations(geometry.atoms, geometry.positions_angstrom(np.asarray(r_angstrom, float)))
    ev = evaluate(potential, frames, None, retry_frames=False, mark_non_finite=False)
    if ev.failures:
        log.debug("bond %s: refinement failed (%s)", geometry.bond.label, next(iter(ev.failures.values())))
    return ev.energy_ev, ev.stacked_forces()
