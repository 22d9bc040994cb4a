"""Does the cheap test predict the expensive one? Correlation with bootstrap intervals.

Across potentials: x = BSCT score (lower = smoother), y = MD stable fraction (higher = more
stable), so a useful test shows a *negative* correlation; the paper reports |r| ≈ 0.88.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

MIN_PAIRS_FOR_INTERVAL = 5
"""Below this many potentials no bootstrap interval is given: with 3 (4) pairs, 67 % (33 %) of
resamples hold only two distinct points, whose correlation is ±1 by construction, so the
percentile interval would be an artefact (with 5 pairs: under 10 %)."""


@dataclass(frozen=True)
class Correlation:
    """Pearson r and Spearman ρ with percentile-bootstrap 95 % intervals (resampling potentials)."""

    n: int
    pearson_r: float
    pearson_ci95: tuple[float, float]
    spearman_rho: float
    spearman_ci95: tuple[float, float]
    n_bootstrap: int


def _spearman(x, y):
    return stats.spearmanr(x, y).statistic


def _pearson(x, y):
    return stats.pearsonr(x, y).statistic


def correlate(x, y, n_bootstrap: int = 2000, seed: int = 0) -> Correlation:
    """Pearson and Spearman of paired samples with percentile bootstrap CIs over pairs.

    Resamples whose values are all tied (correlation undefined) are dropped from the interval;
    with fewer than :data:`MIN_PAIRS_FOR_INTERVAL` pairs the intervals are (nan, nan).
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of equal length, got {x.shape} and {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3:
        raise ValueError(f"need at least 3 finite pairs to correlate, got {len(x)}")
    rng = np.random.default_rng(seed)
    boot_p, boot_s = [], []
    n_draws = n_bootstrap if len(x) >= MIN_PAIRS_FOR_INTERVAL else 0  # too few pairs: no interval
    for _ in range(n_draws):
        idx = rng.integers(0, len(x), len(x))
        bx, by = x[idx], y[idx]
        if np.ptp(bx) == 0 or np.ptp(by) == 0:
            continue
        boot_p.append(_pearson(bx, by))
        boot_s.append(_spearman(bx, by))

    def ci(values):
        values = np.asarray(values)
        values = values[np.isfinite(values)]
        return (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))) if len(values) else (np.nan, np.nan)

    return Correlation(len(x), float(_pearson(x, y)), ci(boot_p), float(_spearman(x, y)), ci(boot_s), n_bootstrap)


def cost_ratio(bsct_seconds, md_seconds) -> np.ndarray:
    """BSCT wall time over MD wall time, per potential (the paper reports about 0.1)."""
    return np.asarray(bsct_seconds, float) / np.asarray(md_seconds, float)
