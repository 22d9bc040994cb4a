"""The pre-registered analysis of the validation study (issue #20, benchmarks/validation/protocol.toml).

Every headline measure is on the held-out families: AUC of each predictor for each binary outcome,
Harrell's C on the replicas' censored times, Spearman within system x temperature, all with
family-bootstrap 95 % intervals, and a permutation p within system x temperature. Verdict
thresholds are tuned on the calibration families only and applied untouched to the held-out and
constructed-to-fail units. The primary contrast is AUC(any_failure) of ``bsct_v2_at_T`` minus
that of ``short_nve`` on the held-out half, paired (the same resampled families for both). The
constructed-to-fail units get the same measures in their own section, never pooled.

Point estimates use the pre-registered implementations (sklearn's roc_auc_score, lifelines'
concordance_index); the 2000 resamples use their tested-equal fast twins
(:func:`~bsct.metrics.validation_stats.auc_ranks`, :func:`~bsct.metrics.validation_stats.c_index_pairs`).
The tables are those of :mod:`bsct.metrics.validation_stats`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bsct.metrics.validation_stats import (
    UNIT_KEYS,
    Bootstrapped,
    Confusion,
    Threshold,
    auc,
    auc_ranks,
    c_index,
    c_index_pairs,
    confusion,
    family_bootstrap,
    permutation_p,
    spearman_within,
    youden_threshold,
)

OUTCOMES = {"any_failure": "", "conservation_failure": "conservation", "structural_failure": "structural"}
#: the outcome of the registered permutation test (protocol.toml [analysis] permutation.statistic)
PERMUTED_OUTCOME = "any_failure"
"""Binary outcome column -> the replica ``failure_class`` it counts ("" = any failure)."""

PRIMARY = ("bsct_v2_at_T", "short_nve")
"""The protocol's primary contrast: AUC(any_failure) of the first minus that of the second."""

_STRATUM_WORDS = {"system": "system", "temperature": "temperature_k", "temperature_k": "temperature_k"}


@dataclass(frozen=True)
class OutcomeMeasures:
    """One predictor against one binary outcome on one half.

    The C-index uses the replicas' censored times; for a failure class, failures of the other
    class count as censored at their time (cause-specific)."""

    auc: Bootstrapped
    c_index: Bootstrapped
    permutation_p: float | None
    """The registered permutation test's p (``AUC(any_failure)``); None for the other outcomes,
    which the protocol does not test (10,000 shuffles each would be spent on nothing)."""
    n_units: int
    n_positive: int


@dataclass(frozen=True)
class PredictorMeasures:
    """All measures of one predictor on one half; ``spearman`` is vs failure_fraction within system x T."""

    n_units: int
    outcomes: dict[str, OutcomeMeasures]
    spearman: Bootstrapped
    spearman_per_stratum: dict[str, float]
    spearman_n_strata: int


@dataclass(frozen=True)
class HalfMeasures:
    """The measures of every predictor on one half (``held_out`` or ``constructed``)."""

    split: str
    n_units: int
    n_potentials: int
    n_replicas: int
    families: list[str]
    n_positive: dict[str, int]
    predictors: dict[str, PredictorMeasures]


@dataclass(frozen=True)
class Contrast:
    """AUC(outcome) of ``a`` minus that of ``b`` on the units where both are finite, paired bootstrap."""

    a: str
    b: str
    outcome: str
    split: str
    n_units: int
    difference: Bootstrapped | None
    auc_a: Bootstrapped | None
    auc_b: Bootstrapped | None
    missing: str = ""


@dataclass(frozen=True)
class TunedThreshold:
    """A predictor's verdict threshold tuned on the calibration half (Youden's J on any_failure),
    and its confusion counts where it is applied untouched."""

    calibration: Threshold
    applied: dict[str, Confusion | None]


@dataclass(frozen=True)
class ValidationAnalysis:
    """The whole analysis of the validation study; :meth:`to_dict` gives it JSON-ready."""

    settings: dict
    held_out: HalfMeasures
    constructed: HalfMeasures | None
    thresholds: dict[str, TunedThreshold]
    primary: Contrast
    answer: dict[str, str]
    default_score: str | None

    def to_dict(self) -> dict:
        """Nested plain dicts/lists/floats; NaN and infinities become None."""
        return _json_ready(self)


def _json_ready(obj):
    if hasattr(obj, "__dataclass_fields__"):
        out = {k: _json_ready(getattr(obj, k)) for k in obj.__dataclass_fields__}
        for extra in ("note", "sensitivity", "specificity"):
            if isinstance(getattr(type(obj), extra, None), property):
                out[extra] = _json_ready(getattr(obj, extra))
        return out
    if isinstance(obj, Mapping):
        return {str(k): _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    return obj


def predictor_names(units: pd.DataFrame) -> list[str]:
    """The predictors of ``units`` (columns ``pred:<name>``), names without the prefix, sorted."""
    return sorted(c.removeprefix("pred:") for c in units.columns if c.startswith("pred:"))


def stratum_labels(units: pd.DataFrame) -> list[str]:
    """One ``system@TK`` label per unit: the strata of the within-system Spearman."""
    return [f"{s}@{t:g}K" for s, t in zip(units["system"], units["temperature_k"].astype(float))]


def _replica_table(units: pd.DataFrame, replicas: pd.DataFrame) -> pd.DataFrame:
    """Replicas with their unit's family, split and predictors and one event column per outcome,
    identical replicas of a unit (same end time and class) merged into one row with a ``weight``."""
    cols = [*UNIT_KEYS, "family", "split", *(c for c in units.columns if c.startswith("pred:"))]
    table = replicas.drop(columns=[c for c in ("family", "split") if c in replicas]).merge(
        units[cols], on=list(UNIT_KEYS), how="inner", validate="many_to_one")
    table["failed"] = table["failed"].astype(bool)
    table["failure_class"] = table["failure_class"].fillna("").where(table["failed"], "")
    keys = [*cols, "time_ps", "failed", "failure_class"]
    table = table.groupby(keys, sort=True, dropna=False).size().rename("weight").reset_index()
    failed = table["failed"]
    for outcome, failure_class in OUTCOMES.items():
        table[f"event:{outcome}"] = failed & (table["failure_class"] == failure_class) if failure_class else failed
    return table


def _half_stats(u_all: pd.DataFrame, r_all: pd.DataFrame, preds: Sequence[str],
                fast: bool = True) -> Callable[[pd.DataFrame, pd.DataFrame], dict]:
    """The statistics of one half as one function of (units, replicas), for the family bootstrap.

    Resampled tables keep the row labels of ``u_all`` / ``r_all`` (0..n-1), so the columns are
    taken out as arrays once and indexed per resample."""
    auc_fn, c_fn = (auc_ranks, c_index_pairs) if fast else (auc, _c_index_weighted)
    u_cols = {c: u_all[c].to_numpy(float) for c in [*(f"pred:{p}" for p in preds), *OUTCOMES, "failure_fraction"]}
    strata = pd.factorize(np.asarray(stratum_labels(u_all), dtype=object))[0]
    r_cols = {c: r_all[c].to_numpy(float) for c in [*(f"pred:{p}" for p in preds), "time_ps", "weight"]}
    events = {o: r_all[f"event:{o}"].to_numpy(bool) for o in OUTCOMES}

    def stat(u: pd.DataFrame, r: pd.DataFrame) -> dict[str, float]:
        iu, ir = u.index.to_numpy(), r.index.to_numpy()
        out: dict[str, float] = {}
        for p in preds:
            pred_u, pred_r = u_cols[f"pred:{p}"][iu], r_cols[f"pred:{p}"][ir]
            for o in OUTCOMES:
                out[f"auc|{p}|{o}"] = auc_fn(pred_u, u_cols[o][iu])
                out[f"c|{p}|{o}"] = c_fn(pred_r, r_cols["time_ps"][ir], events[o][ir], r_cols["weight"][ir])
            out[f"rho|{p}"] = spearman_within(pred_u, u_cols["failure_fraction"][iu], strata[iu]).mean
        return out
    return stat


def _c_index_weighted(pred, time_ps, event, weight) -> float:
    """lifelines' C-index on the replicas that the weighted rows stand for."""
    counts = np.asarray(weight, int)
    return c_index(np.repeat(pred, counts), np.repeat(time_ps, counts), np.repeat(event, counts))


def half_measures(units: pd.DataFrame, replicas: pd.DataFrame, split: str, *, n_bootstrap: int,
                  bootstrap_seed: int, n_permutations: int, permutation_seed: int,
                  permutation_strata: Sequence[str]) -> HalfMeasures:
    """Every predictor x outcome measure on the units of one split, intervals over its families.

    ``replicas`` is the joined table of :func:`_replica_table` (event and predictor columns)."""
    u = units[units["split"] == split].reset_index(drop=True)
    r = replicas[replicas["split"] == split].reset_index(drop=True)
    preds = predictor_names(u) if len(u) else []
    boot = family_bootstrap(_half_stats(u, r, preds), u, r, n=n_bootstrap, seed=bootstrap_seed,
                            observed_fn=_half_stats(u, r, preds, fast=False)) if len(u) else {}
    measures = {}
    for p in preds:
        have = u[np.isfinite(u[f"pred:{p}"].to_numpy(float))]
        outcomes = {o: OutcomeMeasures(boot[f"auc|{p}|{o}"], boot[f"c|{p}|{o}"],
                                       permutation_p(u, f"pred:{p}", o, permutation_strata, n_permutations,
                                                     permutation_seed) if o == PERMUTED_OUTCOME else None,
                                       len(have), int(have[o].astype(bool).sum()))
                    for o in OUTCOMES}
        rho = spearman_within(u[f"pred:{p}"], u["failure_fraction"], stratum_labels(u))
        measures[p] = PredictorMeasures(len(have), outcomes, boot[f"rho|{p}"], rho.per_stratum, rho.n_strata)
    return HalfMeasures(split, len(u), int(u["potential"].nunique()), int(r["weight"].sum()),
                        sorted(u["family"].unique()), {o: int(u[o].astype(bool).sum()) for o in OUTCOMES}, measures)


def auc_contrast(units: pd.DataFrame, a: str, b: str, *, outcome: str = "any_failure", split: str = "held_out",
                 n_bootstrap: int = 2000, seed: int = 0) -> Contrast:
    """AUC of predictor ``a`` minus ``b`` on the units of ``split`` where both exist; the same
    resampled families for both (paired)."""
    missing = [p for p in (a, b) if f"pred:{p}" not in units]
    u = units[units["split"] == split]
    if missing:
        return Contrast(a, b, outcome, split, 0, None, None, None, f"no predictor column for {', '.join(missing)}")
    u = u[np.isfinite(u[f"pred:{a}"].to_numpy(float)) & np.isfinite(u[f"pred:{b}"].to_numpy(float))]
    if u.empty:
        return Contrast(a, b, outcome, split, 0, None, None, None, "no unit has both predictors")

    def stat_with(auc_fn):
        def stat(s: pd.DataFrame, _r) -> dict[str, float]:
            auc_a, auc_b = auc_fn(s[f"pred:{a}"], s[outcome]), auc_fn(s[f"pred:{b}"], s[outcome])
            return {"difference": auc_a - auc_b, "auc_a": auc_a, "auc_b": auc_b}
        return stat

    boot = family_bootstrap(stat_with(auc_ranks), u.reset_index(drop=True), None, n=n_bootstrap, seed=seed,
                            observed_fn=stat_with(auc))
    return Contrast(a, b, outcome, split, len(u), boot["difference"], boot["auc_a"], boot["auc_b"])


def tune_thresholds(units: pd.DataFrame, label: str = "any_failure",
                    apply_to: Sequence[str] = ("held_out", "constructed")) -> dict[str, TunedThreshold]:
    """Each predictor's Youden threshold from the calibration units only, applied to ``apply_to``."""
    cal = units[units["split"] == "calibration"]
    tuned = {}
    for p in predictor_names(units):
        t = youden_threshold(cal[f"pred:{p}"], cal[label])
        applied = {}
        for split in apply_to:
            s = units[units["split"] == split]
            applied[split] = confusion(s[f"pred:{p}"], s[label].astype(bool), t.value) if len(s) else None
        tuned[p] = TunedThreshold(t, applied)
    return tuned


def _word(b: Bootstrapped | None, null: float) -> str:
    """yes / no / undetermined: does the interval lie above ``null``, below or at it, or straddle it?"""
    if b is None or not (np.isfinite(b.lo) and np.isfinite(b.hi)):
        return "undetermined"
    return "yes" if b.lo > null else "no" if b.hi <= null else "undetermined"


def answer(primary: Contrast, held_out: HalfMeasures | None = None) -> dict[str, str]:
    """The question in words, from the intervals alone (no significance level was pre-registered).

    ``predicts``: is BSCT's held-out AUC interval above 0.5 ("no": at or below chance)? From the
    contrast's units, or from the held-out table when the contrast could not be computed.
    ``beats_short_nve``: is the primary contrast's interval above 0 ("no": at or below 0)?"""
    bsct_auc = primary.auc_a
    if bsct_auc is None and held_out is not None and primary.a in held_out.predictors:
        bsct_auc = held_out.predictors[primary.a].outcomes[primary.outcome].auc
    return {"predicts": _word(bsct_auc, 0.5), "beats_short_nve": _word(primary.difference, 0.0),
            "short_nve_predicts": _word(primary.auc_b, 0.5)}


def _settings(analysis: Mapping) -> dict:
    table = analysis.get("analysis", analysis)
    split = analysis.get("split", table.get("split", {}))
    boot, perm = table.get("bootstrap", {}), table.get("permutation", {})
    within = [_STRATUM_WORDS[w.strip()] for w in perm.get("within", "system x temperature").split(" x ")]
    return {"half": table.get("half", "held_out"), "n_bootstrap": int(boot.get("n", 2000)),
            "bootstrap_seed": int(boot.get("seed", 0)), "n_permutations": int(perm.get("n", 10000)),
            "permutation_seed": int(perm.get("seed", 0)), "permutation_within": within,
            "split": {k: list(split[k]) for k in ("calibration", "held_out") if k in split}}


def check_split(units: pd.DataFrame, split: Mapping[str, Sequence[str]]) -> None:
    """Raise if a unit's ``split`` contradicts the pre-registered family split (never reassigned)."""
    bad_value = set(units["split"]) - {"calibration", "held_out", "constructed"}
    if bad_value:
        raise ValueError(f"unknown split value(s) {sorted(bad_value)}")
    for half, families in split.items():
        wrong = units[units["family"].isin(families) & (units["split"] != half)]
        if len(wrong):
            raise ValueError(f"families {sorted(wrong['family'].unique())} are pre-registered as {half} "
                             f"but {len(wrong)} of their units say otherwise")


def analyse(units: pd.DataFrame, replicas: pd.DataFrame, analysis: Mapping, *,
            n_bootstrap: int | None = None, n_permutations: int | None = None) -> ValidationAnalysis:
    """The pre-registered analysis: measures on the held-out half, thresholds tuned on the
    calibration half, the primary contrast, and the constructed-to-fail units apart.

    ``analysis`` is the protocol's ``[analysis]`` table (with ``split`` inside it), or a mapping
    holding ``analysis`` and ``split`` (the whole protocol does). Bootstrap and permutation counts
    and seeds come from it; ``n_bootstrap`` / ``n_permutations`` override the counts (tests)."""
    settings = _settings(analysis)
    if n_bootstrap is not None:
        settings["n_bootstrap"] = n_bootstrap
    if n_permutations is not None:
        settings["n_permutations"] = n_permutations
    check_split(units, settings["split"])
    reps = _replica_table(units, replicas)
    kw = {"n_bootstrap": settings["n_bootstrap"], "bootstrap_seed": settings["bootstrap_seed"],
          "n_permutations": settings["n_permutations"], "permutation_seed": settings["permutation_seed"],
          "permutation_strata": settings["permutation_within"]}
    held_out = half_measures(units, reps, settings["half"], **kw)
    constructed = half_measures(units, reps, "constructed", **kw) if (units["split"] == "constructed").any() else None
    primary = auc_contrast(units, *PRIMARY, split=settings["half"], n_bootstrap=settings["n_bootstrap"],
                           seed=settings["bootstrap_seed"])
    v1 = held_out.predictors.get("bsct_v1")
    v2 = held_out.predictors.get("bsct_v2")
    default = None
    if v1 and v2 and all(np.isfinite(m.outcomes["any_failure"].auc.estimate) for m in (v1, v2)):
        default = "v2" if v2.outcomes["any_failure"].auc.estimate >= v1.outcomes["any_failure"].auc.estimate else "v1"
    return ValidationAnalysis(settings, held_out, constructed, tune_thresholds(units), primary, answer(primary, held_out),
                              default)
