"""Statistics of the validation study (issue #20): does a predictor rank potentials by MD failure?

Pure functions over two tables (pandas DataFrames), whose columns are the study's data contract:

- ``units``, one row per (potential, system, temperature_k): ``potential``, ``family``, ``split``
  (``calibration`` | ``held_out`` | ``constructed``), ``system``, ``temperature_k``, predictors
  ``pred:<name>`` (float; higher = predicted less stable; NaN = not available), outcomes
  ``any_failure``, ``conservation_failure``, ``structural_failure`` (bool), ``failure_fraction``,
  ``n_replicas``;
- ``replicas``, one row per MD replica: ``potential``, ``system``, ``temperature_k``, ``replica``,
  ``time_ps`` (failure or end of run), ``failed`` (bool), ``reason``, ``failure_class``
  (``conservation`` | ``structural`` | ``""``).

A statistic that is undefined (one class absent, no finite predictor, no comparable pair) is NaN,
never an exception: the study reports it as missing. Intervals come from a bootstrap over
architecture *families* (the unit of the calibration/held-out split), so a family's potentials,
units and replicas always travel together; with the protocol's four held-out families such an
interval can take few distinct values, and :class:`Bootstrapped` says so. The pre-registered
analysis of the study (benchmarks/validation/protocol.toml) is :func:`analyse`, in
:mod:`bsct.metrics.validation_analysis`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

UNIT_KEYS = ("potential", "system", "temperature_k")
"""Columns naming one unit of analysis; a replica joins its unit on them."""

COARSE_BELOW_FAMILIES = 8
"""Below this many families a family bootstrap is called coarse: k families give only
C(2k-1, k) distinct resamples (4: 35, 6: 462, 8: 6435), and the 2.5 % and 97.5 % percentiles
are then set by a handful of them, whatever the number of draws."""


def _finite_pairs(pred, label) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, float)
    label = np.asarray(label, float)
    ok = np.isfinite(pred) & np.isfinite(label)
    return pred[ok], label[ok].astype(bool)


def midranks(x) -> np.ndarray:
    """Ranks 1..n of ``x``, tied values sharing their mean rank (scipy.stats.rankdata's "average",
    without its per-call overhead, which dominates the bootstrap's 10^5 calls)."""
    values, inverse, counts = np.unique(np.asarray(x, float), return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    return (upper - (counts - 1) / 2.0)[inverse]


def auc(pred, label) -> float:
    """ROC AUC of ``pred`` (higher = predicted to fail) for the boolean ``label`` (True = failed).

    Rows with a NaN predictor (or label) are left out; NaN when either class is then absent.
    1 = every failed unit scores above every stable one, 0.5 = chance (or all tied), 0 = reversed.
    """
    from sklearn.metrics import roc_auc_score

    pred, label = _finite_pairs(pred, label)
    if label.all() or not label.any():
        return math.nan
    return float(roc_auc_score(label, pred))


def c_index(pred, time_ps, event) -> float:
    """Harrell's C of ``pred`` (higher = fails sooner) on censored times to failure.

    One row per replica (its unit's predictor repeated). A pair is comparable when the shorter
    time ends in an observed failure; C is the fraction of comparable pairs in which the replica
    that failed first has the higher predictor, tied predictors counting one half
    (lifelines.utils.concordance_index with ``-pred`` as the predicted survival time). NaN when
    no pair is comparable or no predictor is finite.
    """
    from lifelines.utils import concordance_index

    pred = np.asarray(pred, float)
    time_ps = np.asarray(time_ps, float)
    event = np.asarray(event, bool)
    ok = np.isfinite(pred) & np.isfinite(time_ps)
    if ok.sum() < 2 or not event[ok].any():
        return math.nan
    try:
        return float(concordance_index(time_ps[ok], -pred[ok], event[ok]))
    except ZeroDivisionError:  # lifelines: "No admissable pairs in the dataset."
        return math.nan


@dataclass(frozen=True)
class SpearmanWithin:
    """Spearman ρ of predictor vs value inside each stratum, and their unweighted mean.

    ``per_stratum`` holds every stratum; a stratum with fewer than three finite units, or a
    constant predictor or value, has NaN there and is left out of ``mean`` (``n_strata`` counts
    the ones used)."""

    mean: float
    n_strata: int
    per_stratum: dict[Hashable, float] = field(default_factory=dict)


def spearman_within(pred, value, strata, min_units: int = 3) -> SpearmanWithin:
    """Spearman ρ per stratum (e.g. system x temperature), mean over the strata where it is defined.

    A positive ρ of a predictor against ``failure_fraction`` means it ranks the failing units
    higher. ``strata`` holds one hashable label per row. ρ is the Pearson correlation of the
    mid-ranks, which is what scipy.stats.spearmanr computes (tested equal), without its per-call
    overhead (the bootstrap calls this some 10^5 times)."""
    pred = np.asarray(pred, float)
    value = np.asarray(value, float)
    codes, labels = pd.factorize(np.asarray(strata, dtype=object), sort=True)
    per_stratum: dict[Hashable, float] = {}
    for c, s in enumerate(labels):
        rows = codes == c
        x, y = pred[rows], value[rows]
        ok = np.isfinite(x) & np.isfinite(y)
        x, y = x[ok], y[ok]
        defined = len(x) >= min_units and np.ptp(x) > 0 and np.ptp(y) > 0
        per_stratum[s] = _pearson(midranks(x), midranks(y)) if defined else math.nan
    used = [v for v in per_stratum.values() if np.isfinite(v)]
    return SpearmanWithin(float(np.mean(used)) if used else math.nan, len(used), per_stratum)


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    dx, dy = x - x.mean(), y - y.mean()
    return float((dx @ dy) / np.sqrt((dx @ dx) * (dy @ dy)))


def auc_ranks(pred, label) -> float:
    """:func:`auc` by the Mann-Whitney identity, AUC = (R+ - n+(n+ + 1)/2) / (n+ n-) on mid-ranks.

    Equal to sklearn's roc_auc_score (ties count one half; tested), some 100 times faster: the
    family bootstrap uses it for its resamples, the point estimate stays sklearn's."""
    pred, label = _finite_pairs(pred, label)
    n_pos = int(label.sum())
    n_neg = len(label) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    return float(auc_from_rank_sum(midranks(pred)[label].sum(), n_pos, n_neg))


def auc_from_rank_sum(rank_sum_pos, n_pos: int, n_neg: int):
    """The Mann-Whitney identity: AUC from the positives' rank sum (scalar or array of them)."""
    return (rank_sum_pos - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def c_index_pairs(pred, time_ps, event, weight=None) -> float:
    """:func:`c_index` counted on a (predictor value x time) grid, each row standing for ``weight`` replicas.

    Comparable pair (i, j): i failed and t_j > t_i, or t_j = t_i with j censored; concordant if
    pred_i > pred_j, one half if equal (lifelines' rules; tested equal). With ``later[k, τ]`` the
    weight of rows of predictor value k that outlast time τ in that sense, a failure at (k, τ)
    has ``later[:k, τ].sum()`` concordant and ``later[k, τ]`` tied partners. Replicas of one unit
    share its predictor and MD checks failures on a fixed step grid, so the grid is some 100 x 500
    however many replicas there are; the family bootstrap uses this for its resamples."""
    pred = np.asarray(pred, float)
    time_ps = np.asarray(time_ps, float)
    event = np.asarray(event, bool)
    weight = np.ones(len(pred)) if weight is None else np.asarray(weight, float)
    ok = np.isfinite(pred) & np.isfinite(time_ps)
    p, t, e, w = pred[ok], time_ps[ok], event[ok], weight[ok]
    if not e.any():
        return math.nan
    values, k = np.unique(p, return_inverse=True)
    times, tau = np.unique(t, return_inverse=True)
    at = np.zeros((len(values), len(times)))
    np.add.at(at, (k, tau), w)
    censored_at = np.zeros_like(at)
    np.add.at(censored_at, (k[~e], tau[~e]), w[~e])
    later = np.cumsum(at[:, ::-1], axis=1)[:, ::-1] - at + censored_at  # t_j > τ, or t_j = τ censored
    below = np.cumsum(later, axis=0) - later  # predictor values strictly below k
    ki, ti, wi = k[e], tau[e], w[e]
    total = float(wi @ later.sum(axis=0)[ti])
    if total == 0:
        return math.nan
    return float((wi @ below[ki, ti] + 0.5 * (wi @ later[ki, ti])) / total)


@dataclass(frozen=True)
class Bootstrapped:
    """A statistic with its family-bootstrap percentile 95 % interval.

    ``n_degenerate`` resamples gave NaN (e.g. all drawn families stable) and are left out of the
    interval, which is then conditional on a defined statistic. ``n_distinct_resamples`` is the
    number of different multisets of families a resample can be; ``coarse`` is True below
    :data:`COARSE_BELOW_FAMILIES` families."""

    estimate: float
    lo: float
    hi: float
    n_resamples: int
    n_degenerate: int
    n_families: int
    n_distinct_resamples: int
    coarse: bool

    @property
    def note(self) -> str:
        """What the interval can and cannot say, in words."""
        text = (f"{self.n_families} families, {self.n_resamples} resamples "
                f"({self.n_degenerate} undefined, left out)")
        if self.coarse:
            text += (f"; coarse: only {self.n_distinct_resamples} distinct resamples of "
                     f"{self.n_families} families exist, so the interval is a rough guide, not a 95 % guarantee")
        return text


def n_distinct_resamples(n_families: int) -> int:
    """Number of multisets of size k drawn from k families: C(2k-1, k)."""
    return math.comb(2 * n_families - 1, n_families) if n_families > 0 else 0


def _family_rows(families: pd.Series) -> dict[str, np.ndarray]:
    return {f: np.flatnonzero((families == f).to_numpy()) for f in sorted(families.unique(), key=str)}


def _with_family(units: pd.DataFrame, replicas: pd.DataFrame | None) -> pd.DataFrame | None:
    if replicas is None or "family" in replicas:
        return replicas
    family_of = units.drop_duplicates("potential").set_index("potential")["family"]
    return replicas.assign(family=replicas["potential"].map(family_of))


def _as_drawn_once(units: pd.DataFrame, replicas: pd.DataFrame | None):
    """The original tables as a resample that drew each family once (``bootstrap_copy`` = its rank)."""
    replicas = _with_family(units, replicas)
    names = sorted(units["family"].unique(), key=str)
    copy = {f: i for i, f in enumerate(names)}
    units = units.assign(bootstrap_copy=units["family"].map(copy).to_numpy())
    if replicas is not None:
        replicas = replicas.assign(bootstrap_copy=replicas["family"].map(copy).to_numpy())
    return units, replicas


def family_resamples(units: pd.DataFrame, replicas: pd.DataFrame | None, n: int, seed: int):
    """Yield ``n`` resampled (units, replicas) pairs: families drawn with replacement, each whole.

    Replicas find their family through ``replicas["family"]`` if present, else through their
    potential's family in ``units``. Each drawn copy of a family gets its own ``bootstrap_copy``
    number (in both tables), so a statistic that joins units to replicas can keep copies apart
    (the point estimate sees the original tables with each family as one copy).
    The same ``seed`` draws the same families for every statistic (paired comparisons)."""
    replicas = _with_family(units, replicas)
    unit_rows = _family_rows(units["family"])
    replica_rows = _family_rows(replicas["family"]) if replicas is not None else {}
    names = list(unit_rows)
    rng = np.random.default_rng(seed)
    empty = np.empty(0, int)
    for _ in range(n):
        drawn = [names[i] for i in rng.integers(0, len(names), len(names))]
        u_idx = [unit_rows[f] for f in drawn]
        u = units.iloc[np.concatenate(u_idx)].assign(
            bootstrap_copy=np.repeat(np.arange(len(drawn)), [len(i) for i in u_idx]))
        r = None
        if replicas is not None:
            r_idx = [replica_rows.get(f, empty) for f in drawn]
            r = replicas.iloc[np.concatenate(r_idx)].assign(
                bootstrap_copy=np.repeat(np.arange(len(drawn)), [len(i) for i in r_idx]))
        yield u, r


def _interval(estimate: float, draws: Sequence[float], n_families: int) -> Bootstrapped:
    draws = np.asarray(draws, float)
    finite = draws[np.isfinite(draws)]
    lo, hi = (np.percentile(finite, [2.5, 97.5]) if len(finite) else (math.nan, math.nan))
    # 12 decimals: the reference and its fast twin differ in the last bit (0.425 vs 0.42500000000000004),
    # which would print an estimate outside an interval that holds it
    estimate, lo, hi = (float(np.round(v, 12)) for v in (estimate, lo, hi))
    return Bootstrapped(estimate, lo, hi, len(draws), int(len(draws) - len(finite)),
                        n_families, n_distinct_resamples(n_families), n_families < COARSE_BELOW_FAMILIES)


def family_bootstrap(stat_fn: Callable[[pd.DataFrame, pd.DataFrame | None], float | Mapping[str, float]],
                     units: pd.DataFrame, replicas: pd.DataFrame | None = None, n: int = 2000, seed: int = 0, *,
                     observed_fn: Callable | None = None) -> Bootstrapped | dict[str, Bootstrapped]:
    """Percentile 95 % interval of ``stat_fn(units, replicas)`` over resampled families.

    ``stat_fn`` may return one float, or a mapping name -> float to bootstrap several statistics
    on the same resamples at once (then a dict of :class:`Bootstrapped` comes back). A difference
    of two statistics computed inside one ``stat_fn`` call is a paired contrast. ``observed_fn``
    (same signature and keys) gives the point estimate instead of ``stat_fn`` when ``stat_fn`` is
    a fast equal twin of a reference implementation (:func:`auc_ranks` for :func:`auc`)."""
    observed = (observed_fn or stat_fn)(*_as_drawn_once(units, replicas))
    n_families = int(units["family"].nunique())
    if isinstance(observed, Mapping):
        draws: dict[str, list[float]] = {k: [] for k in observed}
        for u, r in family_resamples(units, replicas, n, seed):
            values = stat_fn(u, r)
            for k in draws:
                draws[k].append(values[k])
        return {k: _interval(observed[k], draws[k], n_families) for k in observed}
    return _interval(observed, [stat_fn(u, r) for u, r in family_resamples(units, replicas, n, seed)], n_families)


def _strata_codes(units: pd.DataFrame, strata_cols: Sequence[str]) -> np.ndarray:
    if not strata_cols:
        return np.zeros(len(units), int)
    return units.groupby(list(strata_cols), sort=True).ngroup().to_numpy()


def permutation_p(units: pd.DataFrame, pred_col: str, label_col: str, strata_cols: Sequence[str] = (),
                  n: int = 10000, seed: int = 0) -> float:
    """One-sided permutation p of AUC(``label_col``) of ``pred_col`` being this high by chance.

    The predictor is shuffled within each stratum (e.g. system x temperature), which keeps what
    each stratum's base rate of failure explains out of the null. p = (1 + #{AUC_perm >= AUC_obs})
    / (n + 1). Rows with a NaN predictor are left out first; NaN when the AUC is undefined.
    Each AUC uses the Mann-Whitney identity on the (fixed) mid-ranks of the predictor, equal to
    :func:`auc` (ties count one half), so 10,000 permutations cost one array operation.
    """
    data = units[[pred_col, label_col, *strata_cols]].copy()
    data = data[np.isfinite(data[pred_col].to_numpy(float)) & data[label_col].notna()]
    label = data[label_col].to_numpy(bool)
    n_pos, n_neg = int(label.sum()), int((~label).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = midranks(data[pred_col].to_numpy(float))
    observed = auc_from_rank_sum(ranks[label].sum(), n_pos, n_neg)
    codes = _strata_codes(data, strata_cols)
    rng = np.random.default_rng(seed)
    permuted = np.empty((n, len(ranks)))
    for c in np.unique(codes):
        rows = np.flatnonzero(codes == c)
        permuted[:, rows] = rng.permuted(np.tile(ranks[rows], (n, 1)), axis=1)
    null = auc_from_rank_sum(permuted[:, label].sum(axis=1), n_pos, n_neg)
    return float((1 + np.sum(null >= observed - 1e-12)) / (n + 1))


@dataclass(frozen=True)
class Threshold:
    """A verdict threshold (predicted to fail iff predictor >= ``value``) chosen by Youden's J.

    ``value`` is NaN when no threshold does better than chance (max J <= 0) or a class is absent."""

    value: float
    youden_j: float
    sensitivity: float
    specificity: float
    n_units: int


def youden_threshold(pred, label) -> Threshold:
    """The threshold maximising J = sensitivity + specificity - 1 on (pred, label).

    Among thresholds with equal J the highest (most conservative) is taken. Thresholds are the
    observed predictor values, so "pred >= value" reproduces the reported sensitivity/specificity."""
    from sklearn.metrics import roc_curve

    pred, label = _finite_pairs(pred, label)
    if label.all() or not label.any():
        return Threshold(math.nan, math.nan, math.nan, math.nan, len(pred))
    fpr, tpr, thresholds = roc_curve(label, pred, drop_intermediate=False)
    j = tpr - fpr
    best = int(np.flatnonzero(j >= j.max() - 1e-12)[0])  # thresholds decrease: first = highest of equal J
    if j[best] <= 0 or not np.isfinite(thresholds[best]):
        return Threshold(math.nan, float(max(j[best], 0.0)), math.nan, math.nan, len(pred))
    return Threshold(float(thresholds[best]), float(j[best]), float(tpr[best]), float(1 - fpr[best]), len(pred))


@dataclass(frozen=True)
class Confusion:
    """Counts of a verdict threshold applied to other units (predicted fail iff pred >= threshold)."""

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int
    n_missing: int

    @property
    def sensitivity(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else math.nan

    @property
    def specificity(self) -> float:
        return self.tn / (self.tn + self.fp) if self.tn + self.fp else math.nan


def confusion(pred, label, threshold: float) -> Confusion | None:
    """Confusion counts of ``pred >= threshold`` against ``label``; None when the threshold is NaN."""
    if not np.isfinite(threshold):
        return None
    pred = np.asarray(pred, float)
    label = np.asarray(label, bool)
    ok = np.isfinite(pred)
    verdict, truth = pred[ok] >= threshold, label[ok]
    return Confusion(float(threshold), int(np.sum(verdict & truth)), int(np.sum(verdict & ~truth)),
                     int(np.sum(~verdict & ~truth)), int(np.sum(~verdict & truth)), int(np.sum(~ok)))
