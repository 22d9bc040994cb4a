"""BSCT v2 on one scan: noise-derived thresholds, merged artifacts, unweighted and weighted score.

Pipeline of :func:`analyse_arrays_v2` (each step in its own module):

1. Scored points: finite E and f_r, and ``include`` (the collision guard of
   :mod:`bsct.scan.collisions`; points where a moving atom runs into a third atom are not
   scored). Non-finite points inside the scored range are one ``nonfinite`` artifact per run.
   The detectors run on each contiguous stretch of scored points (≥ ``MIN_SEGMENT_POINTS``).
2. Noise σ_E(r), σ_f(r) from the stretch itself (:mod:`bsct.metrics.noise`), the largest within
   the step filters' 17-point support.
3. Detectors, thresholds max(k_σ·σ·gain, floor) + resolution allowance (:mod:`bsct.metrics.floors`):
   ``energy_jump`` and ``force_jump`` (:mod:`bsct.metrics.steps`), ``curvature_jump`` and
   ``roughness`` (:mod:`bsct.metrics.shape`), ``force_inconsistency``
   (:mod:`bsct.metrics.consistency`), ``tail_bump`` and ``residual_force``
   (:mod:`bsct.metrics.tail`), ``spurious_minimum`` (v1's prominence test with depth threshold
   max(2·k_σ·σ_E, energy floor), σ_E the local noise at the well) and compression-side
   ``force_sign_flip`` (f_r < −max(k_σ σ_f, force floor), local σ_f, before r_eq; the stretch
   side is the tail detector's).
4. Detections at the same place merge into one artifact (:mod:`bsct.metrics.merge`).
5. Each artifact gets ΔE above the bond minimum and a Boltzmann weight at ``temperature_k``
   (:mod:`bsct.metrics.severity`).

Score (dimensionless, 0 when nothing is found; v1's log compression, but per merged artifact
instead of per detector, so one defect counts once):

    X_d     = (size_d − threshold_d) / threshold_d          strength of detection d
    X_a     = max_{d ∈ a} X_d                                strength of artifact a: its strongest
                                                             detection, primary or evidence
    S       = Σ_a log10(1 + X_a)                             unweighted score
    S_T     = Σ_a w_a · log10(1 + X_a),  w_a = exp(−ΔE_a/(k_B T))   weighted score (= S for T None)

For ``nonfinite`` the threshold is n_scored/1000 points, so X ≈ 1000 × the failed fraction − 1,
as in v1. A threshold derived from the noise makes X the artifact's signal-to-threshold ratio:
a 10× floor step scores log10(10) = 1. The primary names the artifact (the most specific kind);
its strength is the strongest of its detections, so merging never lowers a score: a 1 meV rough
stretch that merges into a barely significant force inconsistency at its edge still counts as
the roughness it is (benchmarks/sensitivity_v2.py found the score rising with k_σ before).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from bsct.metrics.consistency import true_runs, force_inconsistency
from bsct.metrics.detectors import Artifact, equilibrium_index, grid_step_angstrom, sign_flip_runs, spurious_minima
from bsct.metrics.floors import Detection, FloorsV2
from bsct.metrics.merge import MergedArtifact, merge_detections
from bsct.metrics.noise import ScanNoise, float32_sum_noise_ev, scan_noise
from bsct.metrics.severity import boltzmann_weight, energy_above_minimum_ev
from bsct.metrics.shape import curvature_steps, roughness
from bsct.metrics.steps import WINDOW_POINTS as STEP_WINDOW_POINTS, energy_steps, force_steps
from bsct.metrics.tail import residual_force, tail_bumps

CONFIRMABLE_KINDS = ("energy_jump", "force_jump", "curvature_jump")
"""Kinds a ``confirm`` callback re-examines (a local re-scan at a finer grid, as v1's refinement)."""

MIN_SEGMENT_POINTS = 24
"""Shortest stretch the detectors run on: two 8-point step windows and a noise estimate."""


@dataclass
class ScanAnalysisV2:
    """Result of :func:`analyse_arrays_v2`.

    Attributes:
        artifacts: merged artifacts, sorted by r (each with primary, evidence, ΔE, weight).
        score: unweighted S = Σ log10(1 + X_a).
        weighted_score: S_T = Σ w_a log10(1 + X_a) (equals ``score`` when temperature_k is None).
        temperature_k: the temperature of the weights, or None.
        r_eq_angstrom: the bond minimum used for ΔE and for the tail.
        e_min_ev: E at r_eq.
        scored_range_angstrom: (first, last) r that was scored, (nan, nan) if none.
        n_scored: number of scored points.
        noise: per stretch, the :class:`ScanNoise` (same order as the stretches along r).
        detections: every detection before merging.
    """

    artifacts: list[MergedArtifact]
    score: float
    weighted_score: float
    temperature_k: float | None
    r_eq_angstrom: float
    e_min_ev: float
    scored_range_angstrom: tuple[float, float]
    n_scored: int
    noise: list[ScanNoise] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)

    @property
    def v1_artifacts(self) -> list[Artifact]:
        """The merged artifacts as v1 :class:`Artifact` records (for the existing report)."""
        return [m.artifact for m in self.artifacts]


def artifact_strength(m: MergedArtifact) -> float:
    """log10(1 + X), X the largest strength of the artifact's detections (primary and evidence):
    the artifact's contribution to the unweighted score.

    X is infinite only when the threshold is 0 (floors set to 0 on a noiseless scan); such an
    artifact counts 3 (X = 999), the most a v1 component could reach from a failed scan.
    """
    x = max(d.ratio for d in (m.primary, *m.evidence))
    return float(np.log10(1.0 + max(x, 0.0))) if np.isfinite(x) else 3.0


def weighted_score_at(artifacts, temperature_k: float | None) -> float:
    """S_T of artifacts already analysed at any temperature: each carries its energy above the
    bond minimum, and detection does not depend on T, so re-weighting needs no re-analysis."""
    return float(sum(boltzmann_weight(m.energy_above_min_ev or 0.0, temperature_k) * artifact_strength(m)
                     for m in artifacts))


def analyse_arrays_v2(
    r_angstrom,
    energy_ev,
    scan_force_ev_per_angstrom,
    *,
    r_eq_hint: float | None = None,
    cutoff_angstrom: float | None = None,
    far_mask=None,
    temperature_k: float | None = None,
    include=None,
    floors: FloorsV2 = FloorsV2(),
    bond_label: str = "",
    bond_type: str = "",
    confirm: Callable[[Detection], Detection | None] | None = None,
    environment: bool = False,
    n_atoms: int | None = None,
    drop_kinds: tuple[str, ...] = (),
) -> ScanAnalysisV2:
    """BSCT v2 of one scan (module docstring).

    Args:
        r_angstrom: (n,) uniform increasing bond lengths, Å.
        energy_ev: (n,) E(r), eV (any offset).
        scan_force_ev_per_angstrom: (n,) f_r = Σ F·dx/dr = −dE/dr for a conservative model, eV/Å.
        r_eq_hint: the bond's starting length r0 (Å): the minimum is looked for in [0.8, 1.3]·r0.
        cutoff_angstrom: model cutoff; f_r must vanish where r exceeds it (dimer/pair scans).
        far_mask: (n,) bool, True where the moving parts are beyond the cutoff (fragment scans);
            overrides ``cutoff_angstrom`` for the residual-force test.
        temperature_k: K for the weighted score; None = weight 1.
        include: (n,) bool, False for points not to score (collision guard); default all.
        floors: thresholds (:class:`FloorsV2`).
        confirm: optional check of each step/kink detection (:data:`CONFIRMABLE_KINDS`) before
            merging, e.g. a re-scan with the model at h/8; returns the detection (possibly
            relocated) or None to drop it. Without it the coarse grid decides alone.
        environment: the moving atoms keep other neighbours (a crystal's or ring's pair scan):
            f_r includes their restoring force, so the tail's trailing decline is not a bump
            (:func:`bsct.metrics.tail.tail_bumps`).
        n_atoms: atoms in the scanned structure. The roughness energy floor is raised to 3× the
            noise float32 summation of that many atoms' energies gives (:func:`float32_sum_noise_ev`):
            a scan cannot tell a float32 model from a float64 one, and float32 noise alone must
            never be an artifact (a 864-atom Cu cell: 2e-3 eV, above the 3e-4 eV floor).
        drop_kinds: detector kinds whose detections are discarded before merging (ablations,
            benchmarks/sensitivity_v2.py); default none.
    """
    r = np.asarray(r_angstrom, float)
    e = np.asarray(energy_ev, float)
    f = np.asarray(scan_force_ev_per_angstrom, float)
    if not (r.shape == e.shape == f.shape) or r.ndim != 1:
        raise ValueError(f"r, E and f_r must be 1-D of one length, got {r.shape}, {e.shape}, {f.shape}")
    h = grid_step_angstrom(r)
    inc = np.ones(len(r), bool) if include is None else np.asarray(include, bool)
    if inc.shape != r.shape:
        raise ValueError("include must be a bool mask of the scan's length")
    finite = np.isfinite(e) & np.isfinite(f)
    scored = inc & finite
    detections: list[Detection] = []
    noises: list[ScanNoise] = []
    rough_floors = floors
    if n_atoms is not None:
        rough_floors = dataclasses.replace(floors, roughness_energy_floor_ev=max(
            floors.roughness_energy_floor_ev, 3.0 * float32_sum_noise_ev(e[scored], n_atoms)))
    n_scored = int(scored.sum())

    # Non-finite points inside the included range: one artifact per run.
    if inc.any():
        lo, hi = np.flatnonzero(inc)[[0, -1]]
        bad = np.zeros(len(r), bool)
        bad[lo : hi + 1] = inc[lo : hi + 1] & ~finite[lo : hi + 1]
        n_inc = int(inc.sum())
        for start, stop in true_runs(bad):
            detections.append(Detection("nonfinite", float(r[start]), float(stop - start), "points",
                                        n_inc / 1000.0, f"r = {r[start]:.3f}-{r[stop - 1]:.3f} Å not finite"))

    if scored.any():
        eq = equilibrium_index(np.where(scored, r, np.nan), np.where(scored, e, np.nan), r_eq_hint)
        e_min = float(e[eq])
    else:
        eq, e_min = 0, float("nan")

    for start, stop in true_runs(scored):
        if stop - start < MIN_SEGMENT_POINTS:
            continue
        rs, es, fs = r[start:stop], e[start:stop], f[start:stop]
        noise = scan_noise(es, fs, window_points=floors.noise_window_points, support_points=2 * STEP_WINDOW_POINTS + 1)
        noises.append(noise)
        sig_e, sig_f = noise.energy_local_ev, noise.force_local_ev_per_angstrom
        detections += energy_steps(rs, es, sig_e, floors)
        f_steps = force_steps(rs, fs, sig_f, floors)
        detections += f_steps
        detections += curvature_steps(rs, fs, sig_f, f_steps, floors)
        detections += roughness(rs, es, fs, rough_floors)
        detections += force_inconsistency(rs, es, fs, sig_e, sig_f, floors)
        seg_eq = eq - start
        if 0 <= seg_eq < len(rs):
            detections += tail_bumps(rs, fs, seg_eq, sig_f, floors, environment=environment)
            # the noise at the place, like every other detector: inside a rough stretch the
            # scan-wide σ would make every noise dip a well and every noise swing a flip
            depth = np.maximum(2.0 * floors.k_sigma * sig_e, floors.energy_floor_ev)
            for k, prominence in spurious_minima(rs, es, seg_eq, float(depth.min())):
                if prominence >= depth[k]:
                    detections.append(Detection("spurious_minimum", float(rs[k]), prominence, "eV", float(depth[k]),
                                                f"well of depth {prominence:.3e} eV besides the minimum at {r[eq]:.3f} Å"))
            flip_tol = np.maximum(floors.k_sigma * sig_f, floors.force_floor_ev_per_angstrom)
            for s0, s1, worst, side in sign_flip_runs(fs, seg_eq, float(flip_tol.min())):
                if side == "compression" and abs(fs[worst]) > flip_tol[worst]:
                    detections.append(Detection("force_sign_flip", float(rs[worst]), float(abs(fs[worst])), "eV/Å",
                                                float(flip_tol[worst]),
                                                f"compression pulls in, r = {rs[s0]:.3f}-{rs[s1 - 1]:.3f} Å"))
        far = None if far_mask is None else np.asarray(far_mask, bool)[start:stop]
        detections += residual_force(rs, fs, sig_f, cutoff_angstrom, far, floors)

    detections = [d for d in detections if d.kind not in drop_kinds]  # before confirm: no re-scan for a dropped kind
    if confirm is not None:
        checked = (confirm(d) if d.kind in CONFIRMABLE_KINDS else d for d in detections)
        detections = [d for d in checked if d is not None]
    merged = merge_detections(detections, h, floors.merge_points, bond_label, bond_type)
    r_sc, e_sc = r[scored], e[scored]
    weighted = []
    for m in merged:
        de = energy_above_minimum_ev(r_sc, e_sc, m.r_angstrom, e_min) if n_scored else 0.0
        weighted.append(m.with_severity(de, boltzmann_weight(de, temperature_k)))
    score = float(sum(artifact_strength(m) for m in weighted))
    weighted_score = weighted_score_at(weighted, temperature_k)
    rng = (float(r[scored][0]), float(r[scored][-1])) if scored.any() else (float("nan"), float("nan"))
    return ScanAnalysisV2(weighted, score, weighted_score, temperature_k,
                          float(r[eq]) if scored.any() else float("nan"), e_min, rng, n_scored, noises, detections)
