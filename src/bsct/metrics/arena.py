"""MLIP Arena's diatomic curve metrics, by the same names and definitions, on any E(r), F(r).

Checked line by line against MLIP Arena's own analysis (``mlip_arena/flows/diatomics.py``,
``analyze``, and ``mlip_arena/tasks/diatomics/analysis.py``):

* the curve is sorted by r **descending** (far -> near) and E is shifted so E[0] (the farthest
  point) is 0;
* F is the force on the second atom projected on the unit vector from the first to the second
  (positive = repulsive, ideally -dE/dr);
* dE/dr is ``np.gradient(E, r)`` on that descending grid (central differences inside,
  one-sided at the ends);
* a sign change is counted between consecutive *kept* values, after dropping the values Arena
  rounds to zero: |F| < 10 meV/Å for force flips, |ΔE| < 1 meV for energy-difference flips,
  and exact zeros of ΔF for the force jump (Arena rounds nothing there but still drops sign 0).

Formulas with units: docs/metrics.md, section "MLIP Arena's diatomic metrics". Deliberate
differences: non-finite points are dropped first (Arena would propagate NaN) and fewer than
3 finite points give ``{}``.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

METRIC_NAMES = (
    "force-flip-times",
    "force-total-variation",
    "force-jump",
    "energy-diff-flip-times",
    "energy-grad-norm-max",
    "energy-jump",
    "energy-total-variation",
    "tortuosity",
    "conservation-deviation",
    "spearman-descending-force",
    "spearman-ascending-force",
    "spearman-repulsion-energy",
    "spearman-attraction-energy",
)
"""Arena's column names, in Arena's order."""


def _kept_nonzero(values: np.ndarray, zero_below: float) -> np.ndarray:
    """Values Arena does not round to zero: |v| >= zero_below and v != 0 (NaN-free input)."""
    keep = (np.abs(values) >= zero_below) & (values != 0)
    return values[keep]


def sign_flips(values: np.ndarray, zero_below: float = 0.0) -> np.ndarray:
    """(n_kept - 1,) bool: does the next kept value have the other sign?

    Values with |v| < zero_below (and exact zeros) are dropped first, so noise around zero and
    flat stretches neither create nor hide a flip.
    """
    kept = _kept_nonzero(np.asarray(values, float), zero_below)
    return np.diff(np.sign(kept)) != 0


def flip_jump(diffs: np.ndarray, zero_below: float = 0.0) -> float:
    """Arena's 'jump': Σ over sign flips of the kept differences of |Δ before| + |Δ after|.

    A smooth single well has one flip of ΔE (at the minimum) whose two neighbours are tiny;
    every wiggle adds two flips and its full up-and-down to the sum.
    """
    kept = _kept_nonzero(np.asarray(diffs, float), zero_below)
    flip = np.diff(np.sign(kept)) != 0
    return float(np.abs(kept[:-1][flip]).sum() + np.abs(kept[1:][flip]).sum())


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """scipy's Spearman ρ; NaN for fewer than 2 points or a constant input (as scipy gives)."""
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)


def far_to_near(
    r_angstrom: np.ndarray, energy_ev: np.ndarray, force_ev_per_angstrom: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Finite points sorted by r descending, E shifted to 0 at the farthest point (Arena's frame)."""
    r = np.asarray(r_angstrom, float)
    e = np.asarray(energy_ev, float)
    f = np.asarray(force_ev_per_angstrom, float)
    ok = np.isfinite(r) & np.isfinite(e) & np.isfinite(f)
    order = np.argsort(r[ok])[::-1]
    r, e, f = r[ok][order], e[ok][order], f[ok][order]
    return r, e - e[0] if len(e) else e, f


def diatomic_metrics(
    r_angstrom: np.ndarray,
    energy_ev: np.ndarray,
    force_ev_per_angstrom: np.ndarray,
    force_zero_ev_per_angstrom: float = 1e-2,
    energy_diff_zero_ev: float = 1e-3,
) -> dict[str, float]:
    """MLIP Arena's 13 diatomic metrics of one curve, any order of points.

    Args:
        r_angstrom: (n,) interatomic distance.
        energy_ev: (n,) total energy (any offset; shifted to 0 at the largest r).
        force_ev_per_angstrom: (n,) force on the second atom along the bond axis (first ->
            second), i.e. -dE/dr for a conservative model.
        force_zero_ev_per_angstrom: |F| below this counts as zero for force-flip-times (Arena: 10 meV/Å).
        energy_diff_zero_ev: |ΔE| below this counts as zero for energy flips and jump (Arena: 1 meV).

    Returns:
        {Arena name: value} (names in :data:`METRIC_NAMES`); ``{}`` under 3 finite points.
        Energies in eV, forces in eV/Å, counts as int, Spearman ρ in [-1, 1] (NaN on an
        empty branch, e.g. attraction of a purely repulsive curve).
    """
    r, e, f = far_to_near(r_angstrom, energy_ev, force_ev_per_angstrom)
    if len(r) < 3:
        return {}
    de_dr = np.gradient(e, r)
    e_diff, f_diff = np.diff(e), np.diff(f)
    i_min_f, i_min_e = int(np.argmin(f)), int(np.argmin(e))
    e_tv = float(np.abs(e_diff).sum())
    e_span = abs(e[0] - e.min()) + (e[-1] - e.min())
    return {
        "force-flip-times": int(sign_flips(f, force_zero_ev_per_angstrom).sum()),
        "force-total-variation": float(np.abs(f_diff).sum()),
        "force-jump": flip_jump(f_diff, 0.0),
        "energy-diff-flip-times": int(sign_flips(e_diff, energy_diff_zero_ev).sum()),
        "energy-grad-norm-max": float(np.abs(de_dr).max()),
        "energy-jump": flip_jump(e_diff, energy_diff_zero_ev),
        "energy-total-variation": e_tv,
        "tortuosity": e_tv / e_span if e_span > 0 else float("nan"),
        "conservation-deviation": float(np.mean(np.abs(f + de_dr))),
        "spearman-descending-force": _spearman(r[i_min_f:], f[i_min_f:]),
        "spearman-ascending-force": _spearman(r[:i_min_f], f[:i_min_f]),
        "spearman-repulsion-energy": _spearman(r[i_min_e:], e[i_min_e:]),
        "spearman-attraction-energy": _spearman(r[:i_min_e], e[:i_min_e]),
    }
