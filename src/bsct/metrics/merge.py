"""One defect, one artifact: merge v2 detections at the same place (BSCT v2).

One defect usually trips several detectors: an energy step makes f_r ≠ −dE/dr next to it (the
consistency test) and, in the tail, a spurious minimum; a force step of the wrong sign in the
tail is also a tail bump; a hard cutoff's force step sits on top of a consistency mismatch.
v1 counted each. v2 clusters detections by place and reports each cluster once:

1. sort detections by :data:`PRIORITY` of their kind (then by strength X = excess/threshold);
2. the first unclaimed detection becomes the *primary* of a new artifact; every unclaimed
   detection within ``merge_points`` grid steps of the artifact's extent joins it as
   *evidence*. Distances are between extents: a point detection is its r, a stretch (a tail
   bump from crest to bottom, a run of force inconsistency, a rough stretch) its [r_lo, r_hi],
   so a bump whose crest sits on a force step, or a consistency run that contains an energy
   step, is the same defect. The artifact's extent is the union of its members', grown until
   nothing more joins: an energy step at the edge of a rough stretch is the primary of the
   stretch and of every noise-born detection inside it (one noise patch, one artifact);
3. repeat until every detection is claimed.

Priority (most specific / highest order of discontinuity first):
    nonfinite > energy_jump > force_jump > force_inconsistency > curvature_jump > roughness
    > spurious_minimum > force_sign_flip > tail_bump > residual_force

The artifact carries the primary's kind, place, size and unit (a v1 :class:`Artifact`, so the
report code can show it unchanged) with the evidence listed in ``detail`` and kept as
:class:`~bsct.metrics.floors.Detection` objects in :attr:`MergedArtifact.evidence`. The score
counts the artifact once, with the primary's strength.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bsct.metrics.detectors import Artifact
from bsct.metrics.floors import Detection

PRIORITY = (
    "nonfinite",
    "energy_jump",
    "force_jump",
    "force_inconsistency",
    "curvature_jump",
    "roughness",
    "spurious_minimum",
    "force_sign_flip",
    "tail_bump",
    "residual_force",
)
"""Kinds, most specific first: the primary of a merged artifact is the earliest kind present."""


def _rank(kind: str) -> int:
    return PRIORITY.index(kind) if kind in PRIORITY else len(PRIORITY)


@dataclass(frozen=True)
class MergedArtifact:
    """One defect of a scan.

    Attributes:
        artifact: the primary detection as a v1 :class:`Artifact` (``excess`` = size − threshold,
            ``detail`` = the primary's detail plus the evidence).
        primary: the detection that names the artifact.
        evidence: the other detections at the same place, highest priority first.
        energy_above_min_ev: E at the artifact minus the bond's minimum along the scan (eV),
            None until :mod:`bsct.metrics.severity` has set it.
        weight: Boltzmann weight at the analysis temperature (1 without a temperature).
    """

    artifact: Artifact
    primary: Detection
    evidence: tuple[Detection, ...] = field(default_factory=tuple)
    energy_above_min_ev: float | None = None
    weight: float = 1.0

    @property
    def kind(self) -> str:
        return self.primary.kind

    @property
    def r_angstrom(self) -> float:
        return self.primary.r_angstrom

    @property
    def kinds(self) -> tuple[str, ...]:
        """Primary kind first, then the evidence kinds."""
        return (self.primary.kind,) + tuple(d.kind for d in self.evidence)

    def with_severity(self, energy_above_min_ev: float, weight: float) -> "MergedArtifact":
        return replace(self, energy_above_min_ev=energy_above_min_ev, weight=weight)


def _gap_angstrom(a: Detection, b: Detection) -> float:
    """Distance between the extents of two detections (0 when they overlap)."""
    a_lo, a_hi = a.extent_angstrom
    b_lo, b_hi = b.extent_angstrom
    return max(0.0, b_lo - a_hi, a_lo - b_hi)


def merge_detections(detections: list[Detection], h_angstrom: float, merge_points: int = 4,
                     bond_label: str = "", bond_type: str = "") -> list[MergedArtifact]:
    """Cluster detections by place (module docstring); returns artifacts sorted by r."""
    radius = merge_points * h_angstrom * (1 + 1e-9)
    order = sorted(detections, key=lambda d: (_rank(d.kind), -d.ratio))
    claimed = [False] * len(order)
    out = []
    for a, primary in enumerate(order):
        if claimed[a]:
            continue
        claimed[a] = True
        evidence = []
        lo, hi = primary.extent_angstrom
        grown = True
        while grown:  # a joining stretch widens the artifact: what lies in it is the same defect
            grown = False
            for b in range(a + 1, len(order)):
                b_lo, b_hi = order[b].extent_angstrom
                if not claimed[b] and max(0.0, b_lo - hi, lo - b_hi) <= radius:
                    claimed[b] = True
                    evidence.append(order[b])
                    if b_lo < lo or b_hi > hi:
                        lo, hi, grown = min(lo, b_lo), max(hi, b_hi), True
        detail = primary.detail
        if evidence:
            detail += "; also " + ", ".join(f"{d.kind} {d.size:.3g} {d.unit} at {d.r_angstrom:.3f} Å" for d in evidence)
        art = Artifact(primary.kind, primary.r_angstrom, primary.size, primary.unit, primary.excess,
                       bond_label, bond_type, detail)
        out.append(MergedArtifact(art, primary, tuple(evidence)))
    return sorted(out, key=lambda m: (m.r_angstrom, _rank(m.kind)))
