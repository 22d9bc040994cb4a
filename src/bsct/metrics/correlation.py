"""Does the cheap test predict the expensive one? Correlation with bootstrap intervals.

Across potentials: x = BSCT score (lower = smoother), y = MD stable fraction (higher = more
stable), so a useful test shows a *negative* correlation; the paper reports |r| ≈ 0.88.

:func:`correlate` correlates two samples; :func:`correlation_summary` does it for the rows of a
study (one dict per potential) over the subsets of :func:`correlation_subsets`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
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


#: Scores correlated with MD, by key prefix: "" = the BSCT score, "fsd_" = the paper's FSD.
SCORES = (("", "bsct_score"), ("fsd_", "fsd_per_angstrom"))


def correlation_subsets(rows: Sequence[dict]) -> dict[str, list[dict]]:
    """The subsets of study rows that :func:`correlation_summary` correlates, by name.

    Only rows with a BSCT score and an MD result count. ``all`` of them; ``without_planted``
    when planted controls are present; ``same_protocol_without_planted`` when third-party models
    are (their MD protocol is shorter: fewer replicas, shorter time); and, with several systems,
    ``system_<name>`` per system: pooled rows mix systems whose scores and MD differ in scale,
    while a developer compares models of one system.
    """
    usable = [r for r in rows if r.get("bsct_score") is not None and r.get("md_stable_fraction") is not None]
    out = {"all": usable}
    if any(r["kind"] == "planted" for r in usable):
        out["without_planted"] = [r for r in usable if r["kind"] != "planted"]
    if any(r["kind"] == "third_party" for r in usable):
        out["same_protocol_without_planted"] = [r for r in usable if r["kind"] not in ("planted", "third_party")]
    systems = list(dict.fromkeys(r["system"] for r in usable))
    if len(systems) > 1:
        for system in systems:
            out[f"system_{system}"] = [r for r in usable if r["system"] == system]
    return out


def _subset_statistics(subset: Sequence[dict], n_bootstrap: int, seed: int) -> dict:
    """``n``, the potentials, and per (score, MD measure) a :class:`Correlation` as a dict (or its error)."""
    out: dict = {"n": len(subset), "potentials": [f"{r['system']}/{r['potential']}" for r in subset]}
    with_fsd = [r for r in subset if r.get("fsd_per_angstrom") is not None]
    for prefix, score_key in SCORES:
        rs = with_fsd if prefix else subset
        if prefix and len(rs) < 3:
            continue
        measures = {
            "stable_fraction": [r["md_stable_fraction"] for r in rs],
            "time_to_failure_fraction": [r["md_mean_time_to_failure_ps"] / r["md_duration_ps"] for r in rs],
        }
        for key, y in measures.items():
            try:
                c = correlate([r[score_key] for r in rs], y, n_bootstrap=n_bootstrap, seed=seed)
                out[prefix + key] = dataclasses.asdict(c)
            except ValueError as exc:
                out[prefix + key] = {"error": str(exc)}
    return out


def correlation_summary(rows: Sequence[dict], n_bootstrap: int = 2000, seed: int = 0) -> dict:
    """BSCT score vs MD stability across potentials (Pearson, Spearman, bootstrap 95 % CIs).

    ``rows``: one dict per potential with ``system``, ``potential``, ``kind``, ``bsct_score``,
    ``md_stable_fraction``, ``md_mean_time_to_failure_ps``, ``md_duration_ps`` and optionally
    ``fsd_per_angstrom``. Two MD measures: the stable fraction, and the
    mean time to failure as a fraction of the run, which still ranks potentials when every
    replica fails. Lower BSCT = smoother, so a working test gives negative correlations. The
    same statistics for the paper's FSD (lower = smoother; with at least 3 FSD values) sit under
    ``fsd_<measure>`` keys. One entry per subset of :func:`correlation_subsets`.
    """
    return {name: _subset_statistics(subset, n_bootstrap, seed) for name, subset in correlation_subsets(rows).items()}
