"""Evaluate scans: many scan points per model call, raw curves saved before any metric."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bsct.potentials.protocol import AtomsBatch, BatchedPotential
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
        errors: one message per failed point ("point k at r=... : ...").
        eval_seconds: wall time spent in the model.
        n_model_calls: how many times the potential was called.
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

    @property
    def scan_force_ev_per_angstrom(self) -> np.ndarray:
        """(n_points,) f_r = -dE/dr as the model's forces see it: Σ_atoms F·dx/dr."""
        return np.einsum("kad,ad->k", self.forces_ev_per_angstrom, self.dx_dr)

    def save(self, path: str | Path) -> None:
        """Write to ``.npz`` (atomically: a killed run never leaves a half-written curve)."""
        path = Path(path)
        tmp = path.with_suffix(".tmp.npz")
        arrays = {k: v for k, v in vars(self).items() if isinstance(v, np.ndarray)}
        meta = {k: v for k, v in vars(self).items() if not isinstance(v, np.ndarray) and v is not None}
        meta["errors"] = np.array(self.errors, dtype=str)
        np.savez_compressed(tmp, **arrays, **{f"meta_{k}": np.asarray(v) for k, v in meta.items()})
        tmp.replace(path)

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


def _points_batch(geometry: ScanGeometry, positions: np.ndarray) -> AtomsBatch:
    """k scan frames of one structure as one batch (only positions differ)."""
    k, n_atoms, _ = positions.shape
    atoms = geometry.atoms
    return AtomsBatch.from_arrays(
        positions.reshape(-1, 3),
        np.tile(atoms.numbers, k),
        np.repeat(np.arange(k), n_atoms),
        np.repeat(atoms.cell.array[None], k, axis=0),
        np.repeat(atoms.pbc[None], k, axis=0),
    )


def call_potential(potential: BatchedPotential, batch: AtomsBatch) -> tuple[np.ndarray, np.ndarray]:
    """Energies (n_systems,) and forces (n_atoms, 3) as float64 numpy, shapes checked."""
    out = potential(batch)
    energy = out.energy_ev.detach().cpu().double().numpy()
    forces = out.forces_ev_per_angstrom.detach().cpu().double().numpy()
    if energy.shape != (batch.n_systems,) or forces.shape != (batch.n_atoms, 3):
        raise ValueError(
            f"potential returned energy {energy.shape} and forces {forces.shape}; "
            f"expected ({batch.n_systems},) and ({batch.n_atoms}, 3)"
        )
    return energy, forces


# Atoms per model call when a scan is evaluated in batches. Memory grows with the call: a `full`
# size +diffknn model on water peaks at 11.7 GiB at 20,000 atoms per call and 1.4 GiB at 2,000
# (benchmarks/bench_scan_memory.py, docs/benchmarks.md).
MAX_ATOMS_PER_CALL = 2_000


def evaluate_chunked(
    potential: BatchedPotential,
    geometry: ScanGeometry,
    points_per_call: int,
    on_chunk: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[int, str], int]:
    """Energy (n,), forces (n, n_atoms, 3), failures {point: message} and the number of model calls.

    One model call per ``points_per_call`` scan points. A call that raises is retried point by
    point so the failing points are named and the others kept; failed or non-finite points are
    NaN. ``on_chunk(n_points_done)`` drives a progress bar.
    """
    r = geometry.r_angstrom
    n_points, n_atoms = len(r), len(geometry.atoms)
    positions = geometry.positions_angstrom()
    energy = np.full(n_points, np.nan)
    forces = np.full((n_points, n_atoms, 3), np.nan)
    failures: dict[int, str] = {}
    n_calls = 0
    for lo in range(0, n_points, points_per_call):
        hi = min(lo + points_per_call, n_points)
        try:
            n_calls += 1
            e, f = call_potential(potential, _points_batch(geometry, positions[lo:hi]))
            energy[lo:hi], forces[lo:hi] = e, f.reshape(hi - lo, n_atoms, 3)
        except Exception as exc:  # find the bad points, keep the good ones
            log.debug("bond %s: batch %d-%d failed (%s); retrying point by point", geometry.bond.label, lo, hi, exc)
            for k in range(lo, hi):
                try:
                    n_calls += 1
                    e, f = call_potential(potential, _points_batch(geometry, positions[k : k + 1]))
                    energy[k], forces[k] = e[0], f
                except Exception as point_exc:
                    failures[k] = f"{type(point_exc).__name__}: {point_exc}"
        if on_chunk is not None:
            on_chunk(hi - lo)
    bad = ~np.isfinite(energy) | ~np.isfinite(forces).all(axis=(1, 2))
    for k in np.flatnonzero(bad):
        failures.setdefault(int(k), "non-finite energy or forces")
    energy[bad], forces[bad] = np.nan, np.nan
    return energy, forces, dict(sorted(failures.items())), n_calls


def evaluate_scan(
    potential: BatchedPotential,
    geometry: ScanGeometry,
    max_atoms_per_call: int = MAX_ATOMS_PER_CALL,
) -> ScanCurve:
    """Energies and forces at every scan point, ``max_atoms_per_call`` atoms per model call.

    Failed or non-finite points are NaN and listed in ``errors``, one line per point.
    """
    r = geometry.r_angstrom
    start = time.perf_counter()
    per_call = max(1, max_atoms_per_call // max(len(geometry.atoms), 1))
    energy, forces, failures, n_calls = evaluate_chunked(potential, geometry, per_call)
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
        min_cross_distance_angstrom=geometry.min_cross_distance_angstrom(),
        errors=errors,
        eval_seconds=time.perf_counter() - start,
        n_model_calls=n_calls,
    )



def evaluate_points(
    potential: BatchedPotential, geometry: ScanGeometry, r_angstrom: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Energy (m,) and forces (m, n_atoms, 3) at extra bond lengths, in one model call.

    Used to refine a scan locally; a failure gives NaN rather than an exception.
    """
    r = np.asarray(r_angstrom, float)
    n_atoms = len(geometry.atoms)
    try:
        e, f = call_potential(potential, _points_batch(geometry, geometry.positions_angstrom(r)))
        return e, f.reshape(len(r), n_atoms, 3)
    except Exception as exc:
        log.debug("bond %s: refinement failed (%s)", geometry.bond.label, exc)
        return np.full(len(r), np.nan), np.full((len(r), n_atoms, 3), np.nan)
