"""BSCT v2 on one scanned bond: the scan's arrays, its collision guard and the model's cutoff fed to
:func:`bsct.metrics.bsct_v2.analyse_arrays_v2` (docs/metrics_v2.md).

What this adds to the pure function:

- **Scored points**: finite points (a failed evaluation is reported as a failure by the caller,
  never scored) inside the collision guard's range (:func:`bsct.scan.collisions.scored_mask`):
  in pair mode the closest approach of atom i or j to any third atom, recorded per point in the
  curve; in fragment mode the closest approach of the two rigid fragments, which is the bond
  itself unless two non-bonded atoms of the fragments come closer (a compressed molecule).
- **Far field**: the residual-force test runs where the scan force must vanish: a dimer beyond
  the model's cutoff, or fragments farther apart than it. In a crystal's pair scan the moving
  atoms keep their other neighbours, so f_r need not vanish and the test is off.
- **Confirmation**: step and kink detections are re-scanned with the model at h/8 by v1's
  :func:`~bsct.metrics.scan_metrics.confirm_jump` (threshold: the v2 detection's own) and dropped
  when they do not persist, as v1 does for its jumps: a steep but smooth feature the coarse grid
  could not resolve (EMT's Fermi cutoff at 60 points) is not a step.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import numpy as np

from bsct.metrics.arena import diatomic_metrics
from bsct.metrics.bsct_v2 import MIN_SEGMENT_POINTS, ScanAnalysisV2, analyse_arrays_v2
from bsct.metrics.detectors import Artifact, Tolerances, grid_step_angstrom
from bsct.metrics.consistency import true_runs
from bsct.metrics.floors import Detection, FloorsV2
from bsct.metrics.merge import MergedArtifact
from bsct.metrics.scan_metrics import Refiner, confirm_jump
from bsct.scan.collisions import guard_mask
from bsct.scan.runner import ScanCurve

log = logging.getLogger(__name__)

_TOLERANCE_OF_KIND = {
    "energy_jump": "energy_jump_ev",
    "force_jump": "force_jump_ev_per_angstrom",
    "curvature_jump": "curvature_jump_ev_per_angstrom2",
}


@dataclass
class BondAnalysisV2:
    """v2's result on one bond, shaped like v1's :class:`~bsct.metrics.scan_metrics.ScanAnalysis`
    where the report reads both (``score``, ``artifacts`` as v1 records, ``r_eq_angstrom``,
    ``peer_metrics``, ``summary``).

    Attributes:
        result: the full :class:`~bsct.metrics.bsct_v2.ScanAnalysisV2` (merged artifacts, noise).
        guard: (n,) bool, True on the collision guard's range (failed points not removed).
        scored: (n,) bool, the points actually scored (guard and finite).
    """

    result: ScanAnalysisV2
    guard: np.ndarray
    scored: np.ndarray
    peer_metrics: dict[str, float] = field(default_factory=dict)
    summary: dict[str, float] = field(default_factory=dict)

    @property
    def score(self) -> float:
        """Unweighted S; NaN when no point could be scored (nothing evaluated)."""
        return self.result.score if self.result.n_scored else float("nan")

    @property
    def weighted_score(self) -> float:
        return self.result.weighted_score if self.result.n_scored else float("nan")

    @property
    def temperature_k(self) -> float | None:
        return self.result.temperature_k

    @property
    def r_eq_angstrom(self) -> float:
        return self.result.r_eq_angstrom

    @property
    def scored_range_angstrom(self) -> tuple[float, float]:
        return self.result.scored_range_angstrom

    @property
    def merged(self) -> list[MergedArtifact]:
        return self.result.artifacts

    @property
    def artifacts(self) -> list[Artifact]:
        return self.result.v1_artifacts

    def stretches(self, r_angstrom: np.ndarray) -> list[tuple[float, float]]:
        """(r_first, r_last) of each stretch the detectors ran on, in the order of ``result.noise``."""
        return [(float(r_angstrom[a]), float(r_angstrom[b - 1])) for a, b in true_runs(self.scored)
                if b - a >= MIN_SEGMENT_POINTS]


def collision_guard(curve: ScanCurve, fraction: float) -> np.ndarray:
    """(n,) bool: the points the scan still probes the bond (module docstring)."""
    return guard_mask(curve.mode, curve.r_angstrom, curve.closest_third_atom_angstrom,
                      curve.min_cross_distance_angstrom, fraction)


def _confirmer(refine: Refiner, curve: ScanCurve, h_angstrom: float):
    """A ``confirm`` callback for :func:`analyse_arrays_v2`: v1's h/8 re-scan at the v2 threshold."""

    def confirm(d: Detection) -> Detection | None:
        tol = dataclasses.replace(Tolerances(), **{_TOLERANCE_OF_KIND[d.kind]: d.threshold})
        if confirm_jump(d.kind, d.r_angstrom, h_angstrom, d.size, refine, curve.dx_dr, tol) is None:
            log.debug("bond %s: %s at %.3f Å not confirmed at h/8", curve.label, d.kind, d.r_angstrom)
            return None
        return dataclasses.replace(d, detail=f"{d.detail}; confirmed at h/8" if d.detail else "confirmed at h/8")

    return confirm


def analyse_bond_v2(
    curve: ScanCurve,
    n_atoms: int,
    cutoff_angstrom: float | None,
    temperature_k: float | None = None,
    collision_fraction: float = 0.5,
    floors: FloorsV2 = FloorsV2(),
    refine: Refiner | None = None,
    drop_kinds: tuple[str, ...] = (),
) -> BondAnalysisV2:
    """BSCT v2 of one scanned bond (module docstring). ``n_atoms``: atoms in the scanned structure;
    ``drop_kinds``: detectors left out (ablations, :func:`~bsct.metrics.bsct_v2.analyse_arrays_v2`)."""
    r = curve.r_angstrom
    f_r = curve.scan_force_ev_per_angstrom
    guard = collision_guard(curve, collision_fraction)
    scored = guard & ~curve.failed_mask
    cutoff, far = None, None
    if cutoff_angstrom is not None:
        if curve.mode == "pair" and n_atoms == 2:
            cutoff = cutoff_angstrom
        elif curve.mode == "fragment" and curve.min_cross_distance_angstrom is not None:
            far = curve.min_cross_distance_angstrom > cutoff_angstrom
        if (cutoff is not None or far is not None) and r[-1] <= cutoff_angstrom:  # where v2 tests the far field
            log.warning("bond %s: the scan ends at %.2f Å, inside the cutoff %.2f Å: forces past the cutoff "
                        "are not probed", curve.label, r[-1], cutoff_angstrom)
    confirm = _confirmer(refine, curve, grid_step_angstrom(r)) if refine is not None else None
    result = analyse_arrays_v2(r, curve.energy_ev, f_r, r_eq_hint=curve.r0_angstrom, cutoff_angstrom=cutoff,
                               far_mask=far, temperature_k=temperature_k, include=scored, floors=floors,
                               bond_label=curve.label, bond_type=curve.bond_type, confirm=confirm,
                               environment=curve.mode == "pair" and n_atoms > 2, n_atoms=n_atoms,
                               drop_kinds=drop_kinds)
    summary = {"n_excluded_by_collision_guard": int((~guard).sum())}
    return BondAnalysisV2(result, guard, scored, diatomic_metrics(r, curve.energy_ev, f_r), summary)
