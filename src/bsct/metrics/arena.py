"""MLIP Arena's homonuclear-diatomic curve metrics, by the same definitions, on any scan.

Users of MLIP Arena know these numbers, so every BSCT scan reports them next to ours. Arena
defines them on a dimer's E(r) and the force on the second atom along the bond, with the curve
ordered from far to near and E shifted to 0 at the far end; here the force is the scan force
f_r = -dE/dr (for a dimer the same thing). Thresholds are Arena's: forces below 10 meV/Å and
energy steps below 1 meV count as zero when counting sign flips.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def _flips(values: np.ndarray, zero_below: float) -> tuple[int, np.ndarray]:
    """Number of sign changes after dropping values within ±zero_below; also the kept values
    and a mask of the kept positions where the next kept value has the other sign."""
    kept = values[np.abs(values) >= zero_below]
    signs = np.sign(kept)
    flip = np.diff(signs) != 0
    return int(flip.sum()), kept, flip


def _jump(diffs: np.ndarray, zero_below: float) -> float:
    """Arena's 'jump': at every sign flip of successive differences, |before| + |after|."""
    _, kept, flip = _flips(diffs, zero_below)
    return float(np.abs(kept[:-1][flip]).sum() + np.abs(kept[1:][flip]).sum())


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)


def diatomic_metrics(
    r_angstrom: np.ndarray,
    energy_ev: np.ndarray,
    scan_force_ev_per_angstrom: np.ndarray,
    force_zero_ev_per_angstrom: float = 1e-2,
    energy_zero_ev: float = 1e-3,
) -> dict[str, float]:
    """Arena's named curve metrics (their names, units eV and Å); NaN points are dropped."""
    ok = np.isfinite(r_angstrom) & np.isfinite(energy_ev) & np.isfinite(scan_force_ev_per_angstrom)
    order = np.argsort(np.asarray(r_angstrom)[ok])[::-1]  # far -> near, as Arena
    r = np.asarray(r_angstrom, float)[ok][order]
    e = np.asarray(energy_ev, float)[ok][order]
    f = np.asarray(scan_force_ev_per_angstrom, float)[ok][order]
    if len(r) < 3:
        return {}
    e = e - e[0]
    de_dr = np.gradient(e, r)
    i_min_f, i_min_e = int(np.argmin(f)), int(np.argmin(e))
    e_diff = np.diff(e)
    e_tv = float(np.abs(e_diff).sum())
    span = abs(e[0] - e.min()) + (e[-1] - e.min())
    return {
        "force-flip-times": _flips(f, force_zero_ev_per_angstrom)[0],
        "force-total-variation": float(np.abs(np.diff(f)).sum()),
        "force-jump": _jump(np.diff(f), 0.0),
        "energy-diff-flip-times": _flips(e_diff, energy_zero_ev)[0],
        "energy-grad-norm-max": float(np.abs(de_dr).max()),
        "energy-jump": _jump(e_diff, energy_zero_ev),
        "energy-total-variation": e_tv,
        "tortuosity": e_tv / span if span > 0 else float("nan"),
        "conservation-deviation": float(np.mean(np.abs(f + de_dr))),
        "spearman-descending-force": _spearman(r[i_min_f:], f[i_min_f:]),
        "spearman-ascending-force": _spearman(r[:i_min_f], f[:i_min_f]),
        "spearman-repulsion-energy": _spearman(r[i_min_e:], e[i_min_e:]),
        "spearman-attraction-energy": _spearman(r[:i_min_e], e[:i_min_e]),
    }
