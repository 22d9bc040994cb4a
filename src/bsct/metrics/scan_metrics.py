"""All detectors on one scan curve, their artifacts and the scan's BSCT score.

Score of one scan (dimensionless, 0 when every detector is quiet):
    S_scan = Σ_c log10(1 + X_c)
over the components c below, with X_c the largest excess of that detector divided by its
tolerance (sums for wells and sign flips, which can occur several times). Formulas and
defaults: docs/metrics.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from bsct.metrics.arena import diatomic_metrics
from bsct.metrics.detectors import (
    Artifact,
    Tolerances,
    consistency_profile,
    curvature_jump_profile,
    equilibrium_index,
    jump_profile,
    pick_events,
    roughness_profile,
    sign_flip_runs,
    spurious_minima,
)

COMPONENTS = (
    "energy_jump",
    "force_jump",
    "curvature_jump",
    "roughness",
    "force_inconsistency",
    "spurious_minimum",
    "force_sign_flip",
    "residual_force",
    "nonfinite",
)
"""Score components, highest order first: lower-order events near a higher one are echoes.
``nonfinite`` stays 0 (kept so the JSON keeps its keys): failed points are failed evaluations,
reported beside the score, not artifacts."""


@dataclass
class ScanAnalysis:
    """Artifacts of one scan and its score.

    Attributes:
        artifacts: every flagged defect, localised.
        components: normalised excess X_c per component (0 = quiet).
        score: Σ log10(1 + X_c).
        r_eq_angstrom: where the physical minimum was taken to be.
        summary: scalar descriptors worth reporting even when nothing is flagged.
        peer_metrics: MLIP Arena's diatomic curve metrics on this scan (:mod:`bsct.metrics.arena`).
    """

    artifacts: list[Artifact]
    components: dict[str, float]
    score: float
    r_eq_angstrom: float
    summary: dict[str, float] = field(default_factory=dict)
    peer_metrics: dict[str, float] = field(default_factory=dict)


def _finite_segments(ok: np.ndarray, min_len: int = 8) -> list[slice]:
    segments, k, n = [], 0, len(ok)
    while k < n:
        if ok[k]:
            s = k
            while k < n and ok[k]:
                k += 1
            if k - s >= min_len:
                segments.append(slice(s, k))
        else:
            k += 1
    return segments


class Curve(Protocol):
    """What the detectors read of one scan (:class:`bsct.scan.runner.ScanCurve` is one); defined
    here so that metrics need nothing from the scan layer above them.

    Arrays: r (n,) Å increasing, energy (n,) eV, forces (n, n_atoms, 3) eV/Å, dx_dr (n_atoms, 3)
    Å per Å of bond length, scan force f_r = Σ F·dx/dr (n,) eV/Å, and, when known, the smallest
    distance between the two moving fragments (n,) Å for the residual-force check.
    """

    label: str
    bond_type: str
    r_angstrom: np.ndarray
    energy_ev: np.ndarray
    forces_ev_per_angstrom: np.ndarray
    dx_dr: np.ndarray
    r0_angstrom: float | None
    min_cross_distance_angstrom: np.ndarray | None

    @property
    def scan_force_ev_per_angstrom(self) -> np.ndarray: ...


Refiner = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""Evaluates the model at extra bond lengths: r (m,) -> energy (m,), forces (m, n_atoms, 3)."""

JUMP_KINDS = ("energy_jump", "force_jump", "curvature_jump")


def _jump_quantity(kind: str, r, energy, forces, dx_dr, tol: Tolerances):
    if kind == "energy_jump":
        return jump_profile(r, energy, tol.energy_jump_ev, "eV")
    if kind == "force_jump":
        return jump_profile(r, forces, tol.force_jump_ev_per_angstrom, "eV/Å")
    f_r = np.einsum("kad,ad->k", forces, dx_dr)
    return curvature_jump_profile(r, f_r, tol.curvature_jump_ev_per_angstrom2)


def confirm_jump(
    kind: str, r_angstrom: float, h_angstrom: float, coarse_size: float, refine: Refiner, dx_dr, tol: Tolerances,
    n_fine: int = 41,
) -> tuple[float, float, float] | None:
    """Re-scan ±2.5 grid steps around a candidate jump at h/8 and keep it only if it persists.

    A true discontinuity keeps its size under refinement; a steep but smooth feature that the
    coarse grid could not resolve shrinks (its residual falls like h^5). Confirmed when the fine
    scan flags the same kind with at least half the coarse size. Returns (r, size, excess) or None.
    """
    r_fine = np.linspace(r_angstrom - 2.5 * h_angstrom, r_angstrom + 2.5 * h_angstrom, n_fine)
    energy, forces = refine(r_fine)
    if not (np.isfinite(energy).all() and np.isfinite(forces).all()):
        return None
    prof = _jump_quantity(kind, r_fine, energy, forces, dx_dr, tol)
    k = int(np.argmax(prof.excess))
    if prof.excess[k] <= 0 or prof.value[k] < 0.5 * coarse_size:
        return None
    return float(prof.r_angstrom[k]), float(prof.value[k]), float(prof.excess[k])


def analyse_curve(
    curve: Curve,
    tolerances: Tolerances = Tolerances(),
    cutoff_angstrom: float | None = None,
    refine: Refiner | None = None,
) -> ScanAnalysis:
    """Run every detector on ``curve``; see module docstring for the score.

    With ``refine`` (a way to evaluate the model at extra bond lengths), every candidate jump
    is re-scanned at 8x resolution and dropped if it does not persist (:func:`confirm_jump`).
    Points where E or a force is not finite (failed evaluations) are skipped, not scored; with
    no finite point the score is NaN.
    """
    tol = tolerances
    r = curve.r_angstrom
    e = curve.energy_ev
    forces = curve.forces_ev_per_angstrom
    f_r = curve.scan_force_ev_per_angstrom
    ok = np.isfinite(e) & np.isfinite(forces).all(axis=(1, 2))
    excess = {c: 0.0 for c in COMPONENTS}
    found: list[Artifact] = []

    def add(kind, r_at, size, unit, exc, detail=""):
        found.append(Artifact(kind, float(r_at), float(size), unit, float(exc), curve.label, curve.bond_type, detail))

    # Non-finite points are failed evaluations, not a property of the model's smoothness: they
    # are skipped here and reported as failures by the caller (the score is then incomplete).

    separation = tol.event_separation_points
    higher_order: list[float] = []  # r of events that make lower-order detectors echo
    summary: dict[str, float] = {}
    eq_idx = equilibrium_index(np.where(ok, r, np.nan), np.where(ok, e, np.nan), curve.r0_angstrom) if ok.any() else 0
    h = float(r[1] - r[0])

    for seg in _finite_segments(ok):
        rs, es, fs, frs = r[seg], e[seg], forces[seg], f_r[seg]
        profiles = [
            ("energy_jump", jump_profile(rs, es, tol.energy_jump_ev, "eV"), tol.energy_jump_ev),
            ("force_jump", jump_profile(rs, fs, tol.force_jump_ev_per_angstrom, "eV/Å"), tol.force_jump_ev_per_angstrom),
        ]
        kappa_prof = curvature_jump_profile(rs, frs, tol.curvature_jump_ev_per_angstrom2)
        profiles.append(("curvature_jump", kappa_prof, tol.curvature_jump_ev_per_angstrom2))
        # Roughness first: jumps inside a rough stretch are part of it, not separate events.
        rough = roughness_profile(rs, frs, tol.roughness_ev_per_angstrom2, tol.roughness_window_points)
        summary["roughness_max_ev_per_angstrom2"] = max(
            summary.get("roughness_max_ev_per_angstrom2", 0.0), float(rough.value.max())
        )
        rough_r = rough.r_angstrom[rough.excess > 0]
        if len(rough_r):
            k = int(np.argmax(rough.excess))
            add("roughness", rough.r_angstrom[k], rough.value[k], rough.unit, rough.excess[k],
                f"rough over r = {rough_r.min():.3f}-{rough_r.max():.3f} Å")
            excess["roughness"] = max(excess["roughness"], rough.excess[k] / tol.roughness_ev_per_angstrom2)
            higher_order.extend(rough_r.tolist())
        for kind, prof, scale in profiles:
            for k in pick_events(prof.excess, separation):
                if any(abs(prof.r_angstrom[k] - r_high) <= (separation + 1) * h for r_high in higher_order):
                    continue
                r_at, size, exc = prof.r_angstrom[k], prof.value[k], prof.excess[k]
                if refine is not None:
                    confirmed = confirm_jump(kind, r_at, h, size, refine, curve.dx_dr, tol)
                    if confirmed is None:
                        summary[f"unconfirmed_{kind}"] = summary.get(f"unconfirmed_{kind}", 0) + 1
                        continue
                    r_at, size, exc = confirmed
                add(kind, r_at, size, prof.unit, exc, "confirmed at h/8" if refine is not None else "")
                excess[kind] = max(excess[kind], exc / scale)
            higher_order.extend(a.r_angstrom for a in found if a.kind == kind)


        cons = consistency_profile(rs, es, frs, tol.force_inconsistency_ev_per_angstrom)
        near_jump = np.zeros(len(cons.excess), bool)
        for r_high in higher_order:
            near_jump |= np.abs(cons.r_angstrom - r_high) <= (separation + 1) * h
        cons_excess = np.where(near_jump, 0.0, cons.excess)
        clean = ~near_jump
        if clean.any():
            summary["force_inconsistency_rms_ev_per_angstrom"] = float(np.sqrt(np.mean(cons.value[clean] ** 2)))
        if cons_excess.max() > 0:
            k = int(np.argmax(cons_excess))
            add("force_inconsistency", cons.r_angstrom[k], cons.value[k], "eV/Å", cons_excess[k])
            excess["force_inconsistency"] = max(excess["force_inconsistency"], cons_excess[k] / tol.force_inconsistency_ev_per_angstrom)

        seg_eq = int(np.clip(eq_idx - seg.start, 0, len(rs) - 1))
        for k, depth in spurious_minima(rs, es, seg_eq, tol.well_depth_ev):
            add("spurious_minimum", rs[k], depth, "eV", depth - tol.well_depth_ev)
            excess["spurious_minimum"] += (depth - tol.well_depth_ev) / tol.well_depth_ev
        for start, stop, worst, side in sign_flip_runs(frs, seg_eq, tol.sign_flip_force_ev_per_angstrom):
            size = abs(frs[worst])
            add("force_sign_flip", rs[worst], size, "eV/Å", size - tol.sign_flip_force_ev_per_angstrom,
                f"{side}, r = {rs[start]:.3f}-{rs[stop - 1]:.3f} Å")
            excess["force_sign_flip"] += (size - tol.sign_flip_force_ev_per_angstrom) / tol.sign_flip_force_ev_per_angstrom

    # Out of range: fragments farther apart than the cutoff cannot interact.
    if cutoff_angstrom is not None and curve.min_cross_distance_angstrom is not None:
        beyond = ok & (curve.min_cross_distance_angstrom > cutoff_angstrom)
        if beyond.sum() >= 2:
            idx = np.flatnonzero(beyond)
            f_ref = forces[idx[-1]]
            drift = np.linalg.norm(forces[idx] - f_ref, axis=-1).max(axis=1)
            resid = np.maximum(np.abs(f_r[idx]), drift)
            k = int(np.argmax(resid))
            summary["residual_force_max_ev_per_angstrom"] = float(resid[k])
            exc = resid[k] - tol.residual_force_ev_per_angstrom
            if exc > 0:
                add("residual_force", r[idx[k]], resid[k], "eV/Å", exc,
                    f"fragments {curve.min_cross_distance_angstrom[idx[k]]:.2f} Å apart, cutoff {cutoff_angstrom:.2f} Å")
                excess["residual_force"] = exc / tol.residual_force_ev_per_angstrom

    # Nothing evaluated: no score (NaN), rather than the 0 of a clean curve.
    score = float(sum(np.log10(1.0 + x) for x in excess.values())) if ok.any() else float("nan")
    r_eq = float(r[eq_idx]) if ok.any() else float("nan")
    found.sort(key=lambda a: (a.r_angstrom, a.kind))
    peers = diatomic_metrics(r, e, f_r)
    return ScanAnalysis(found, excess, score, r_eq, summary, peers)
