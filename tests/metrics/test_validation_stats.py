"""Statistics of the validation study against answers worked out by hand or from the definitions."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from bsct.metrics.validation_stats import (auc, auc_ranks, c_index, c_index_pairs, confusion, family_bootstrap,
                                           family_resamples, midranks, permutation_p, spearman_within,
                                           youden_threshold)


def harrell_by_definition(pred, time, event):
    """Harrell's C over all ordered pairs, written from the definition (no time ties in its inputs)."""
    num = den = 0.0
    for i in range(len(pred)):
        for j in range(len(pred)):
            if event[i] and time[i] < time[j]:
                den += 1
                num += 1.0 if pred[i] > pred[j] else 0.5 if pred[i] == pred[j] else 0.0
    return num / den


def test_auc_known_answers_and_undefined_cases():
    label = [False, False, True, True]
    assert auc([0.1, 0.2, 0.8, 0.9], label) == 1.0
    assert auc([0.9, 0.8, 0.2, 0.1], label) == 0.0
    assert auc([0.5, 0.5, 0.5, 0.5], label) == 0.5
    assert auc([0.1, 0.3, 0.2, 0.4], label) == 0.75  # 3 of the 4 (failed, stable) pairs ordered
    assert math.isnan(auc([0.1, 0.2], [True, True]))  # one class only
    assert math.isnan(auc([np.nan] * 4, label))
    assert auc([np.nan, 0.2, 0.8, np.nan], label) == 1.0  # a missing predictor leaves its unit out


def test_auc_ranks_equals_sklearn_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(20):
        pred = rng.integers(0, 4, 30).astype(float)  # many ties
        label = rng.random(30) < 0.4
        assert auc_ranks(pred, label) == pytest.approx(roc_auc_score(label, pred), abs=1e-12)
    assert np.array_equal(midranks([3.0, 1.0, 3.0, 2.0]), stats.rankdata([3.0, 1.0, 3.0, 2.0]))


def test_c_index_perfect_reversed_and_tied():
    time = np.array([1.0, 2.0, 3.0, 4.0])
    event = np.array([True, True, True, False])
    assert c_index([4.0, 3.0, 2.0, 1.0], time, event) == 1.0  # higher predictor fails sooner
    assert c_index([1.0, 2.0, 3.0, 4.0], time, event) == 0.0
    assert c_index([1.0, 1.0, 1.0, 1.0], time, event) == 0.5
    assert math.isnan(c_index([1.0, 2.0], [5.0, 5.0], [False, False]))  # nothing failed


def test_c_index_hand_example_with_censoring():
    # Comparable pairs (the earlier time must be a failure): (0,1) (0,2) (0,3) from replica 0 and
    # (2,3) from replica 2; replica 1 is censored at t=2, so (1,2) and (1,3) do not count.
    time = [1.0, 2.0, 3.0, 4.0]
    event = [True, False, True, False]
    assert c_index([0.9, 0.1, 0.5, 0.7], time, event) == pytest.approx(3 / 4)  # (2,3) discordant
    assert c_index([0.9, 0.1, 0.5, 0.5], time, event) == pytest.approx(3.5 / 4)  # (2,3) tied: one half
    # ignoring the censoring would give 3/6: the censored replica would count as an early failure
    assert c_index([0.9, 0.1, 0.5, 0.7], time, [True] * 4) == pytest.approx(3 / 6)
    assert c_index_pairs([0.9, 0.1, 0.5, 0.5], time, event) == pytest.approx(3.5 / 4)
    # weights: replica 0 standing for two identical replicas adds 3 comparable pairs, all concordant
    assert c_index_pairs([0.9, 0.1, 0.5, 0.7], time, event, [2, 1, 1, 1]) == pytest.approx(6 / 7)


def test_c_index_matches_the_definition_and_the_weighted_twin_matches_lifelines():
    rng = np.random.default_rng(0)
    pred, time, event = rng.normal(size=25), rng.permutation(25) + 1.0, rng.random(25) < 0.6
    assert c_index(pred, time, event) == pytest.approx(harrell_by_definition(pred, time, event))
    # tie-rich replicas: units share predictors, censored replicas share the run's end
    unit_pred = rng.integers(0, 5, 40).astype(float)
    pred = np.repeat(unit_pred, 8)
    event = rng.random(320) < 0.3
    time = np.where(event, rng.integers(1, 6, 320), 6.0)
    assert c_index_pairs(pred, time, event) == pytest.approx(c_index(pred, time, event), abs=1e-12)
    rows, weight = np.unique(np.stack([pred, time, event], 1), axis=0, return_counts=True)
    assert c_index_pairs(rows[:, 0], rows[:, 1], rows[:, 2].astype(bool), weight) == pytest.approx(
        c_index(pred, time, event), abs=1e-12)


def test_spearman_within_strata_skips_small_and_constant_ones():
    pred = [1, 2, 3, 4, 1, 2, 3, 5, 6, 1, 2, 3]
    value = [0.1, 0.2, 0.3, 0.4, 0.9, 0.5, 0.1, 1.0, 2.0, 0.5, 0.5, 0.5]
    strata = ["a"] * 4 + ["b"] * 3 + ["c"] * 2 + ["d"] * 3
    result = spearman_within(pred, value, strata)
    assert result.per_stratum["a"] == pytest.approx(1.0)
    assert result.per_stratum["b"] == pytest.approx(-1.0)
    assert math.isnan(result.per_stratum["c"]) and math.isnan(result.per_stratum["d"])  # 2 units; constant
    assert result.n_strata == 2 and result.mean == pytest.approx(0.0)
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 4, 15).astype(float), rng.normal(size=15)
    assert spearman_within(x, y, ["s"] * 15).mean == pytest.approx(stats.spearmanr(x, y).statistic)


def family_tables():
    """Four families of 1, 2, 3 and 4 units; each unit has 2 replicas."""
    units = pd.DataFrame([{"potential": f"f{f}p{k}", "family": f"f{f}", "system": "cu", "temperature_k": 300.0,
                           "x": float(f)} for f in range(1, 5) for k in range(f)])
    replicas = pd.DataFrame([{"potential": p, "system": "cu", "temperature_k": 300.0, "replica": i}
                             for p in units["potential"] for i in range(2)])
    return units, replicas


def test_family_bootstrap_keeps_families_whole():
    units, replicas = family_tables()
    size = units["family"].value_counts()
    for u, r in family_resamples(units, replicas, 60, seed=0):
        for copy, rows in u.groupby("bootstrap_copy"):
            (family,) = rows["family"].unique()  # one family per drawn copy ...
            assert len(rows) == size[family]  # ... with all of its units
            assert sorted(rows["potential"]) == sorted(units.loc[units["family"] == family, "potential"])
            reps = r[r["bootstrap_copy"] == copy]
            assert set(reps["family"]) == {family} and len(reps) == 2 * size[family]
        assert u["bootstrap_copy"].nunique() == 4  # as many draws as families


def test_family_bootstrap_constant_statistic_has_zero_width_and_says_it_is_coarse():
    units, replicas = family_tables()
    b = family_bootstrap(lambda u, r: 0.7, units, replicas, n=100, seed=0)
    assert (b.estimate, b.lo, b.hi) == (0.7, 0.7, 0.7)
    assert b.n_families == 4 and b.n_distinct_resamples == 35 and b.coarse  # C(7, 4)
    assert "coarse" in b.note and "35 distinct" in b.note


def test_family_bootstrap_percentiles_and_undefined_resamples():
    units, _ = family_tables()
    two = units[units["family"].isin(["f1", "f2"])]  # x = 1 (1 unit) and x = 2 (2 units)
    # mean x of the two drawn families: 1, 1.5 or 2 with probabilities 1/4, 1/2, 1/4
    b = family_bootstrap(lambda u, r: u.groupby("bootstrap_copy")["x"].first().mean(), two, n=400, seed=1)
    assert (b.estimate, b.lo, b.hi) == (1.5, 1.0, 2.0)
    assert b.n_distinct_resamples == 3 and b.coarse
    # undefined when both draws are the same family: probability 1/2
    b = family_bootstrap(lambda u, r: math.nan if u["family"].nunique() == 1 else 1.0, two, n=400, seed=2)
    assert 160 <= b.n_degenerate <= 240 and b.lo == b.hi == 1.0  # expected 200, sd 10


def test_family_bootstrap_of_several_statistics_uses_the_same_resamples():
    units, _ = family_tables()
    both = family_bootstrap(lambda u, r: {"n": len(u), "minus_n": -len(u)}, units, n=300, seed=0)
    assert both["n"].lo == -both["minus_n"].hi and both["n"].hi == -both["minus_n"].lo


def strata_units(n_strata, rng, pred_fn):
    rows = []
    for s in range(n_strata):
        for k in range(4):
            failed = k >= 2
            rows.append({"system": f"s{s}", "temperature_k": 300.0, "failed": failed,
                         "pred": pred_fn(failed, s, rng)})
    return pd.DataFrame(rows)


def test_permutation_p_of_a_perfect_predictor_is_the_smallest_possible():
    units = strata_units(10, np.random.default_rng(0), lambda failed, s, rng: float(failed) + rng.random() / 2)
    # a shuffle within 10 strata of 2+2 units reaches AUC 1 with probability (1/6)^10
    assert permutation_p(units, "pred", "failed", ["system", "temperature_k"], n=999, seed=0) == pytest.approx(
        1 / 1000)


def test_permutation_p_of_random_predictors_is_not_small():
    ps = [permutation_p(strata_units(10, np.random.default_rng(seed), lambda f, s, rng: rng.normal()),
                        "pred", "failed", ["system"], n=499, seed=seed) for seed in range(20)]
    assert sum(p < 0.05 for p in ps) <= 3 and np.median(ps) > 0.2  # p is about uniform under the null


def test_permutation_within_strata_ignores_what_the_stratum_explains():
    # stratum s0 all fail, s1 none: a predictor that only knows the stratum has a pooled AUC of 1,
    # but shuffling inside the strata cannot change it, so it is no evidence at all (p = 1)
    units = pd.DataFrame({"system": ["s0"] * 4 + ["s1"] * 4, "failed": [True] * 4 + [False] * 4,
                          "pred": [1.0, 1.1, 1.2, 1.3, 0.0, 0.1, 0.2, 0.3]})
    assert auc(units["pred"], units["failed"]) == 1.0
    assert permutation_p(units, "pred", "failed", ["system"], n=200, seed=0) == 1.0
    assert permutation_p(units, "pred", "failed", [], n=200, seed=0) < 0.05  # pooled shuffle: it looks good


def test_youden_threshold_hand_example_and_confusion():
    pred = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    label = [False, False, True, False, True, True]
    # J at >= 0.5: 2/3 - 0 and at >= 0.3: 1 - 1/3; equal, the higher threshold is kept
    t = youden_threshold(pred, label)
    assert t.value == 0.5 and t.youden_j == pytest.approx(2 / 3)
    assert t.sensitivity == pytest.approx(2 / 3) and t.specificity == 1.0
    assert math.isnan(youden_threshold(pred, [True] * 6).value)
    assert math.isnan(youden_threshold([0.9, 0.1], [False, True]).value)  # reversed: no threshold beats chance
    c = confusion([0.2, 0.5, 0.7, np.nan, 0.6], np.array([False, True, False, True, True]), 0.5)
    assert (c.tp, c.fp, c.tn, c.fn, c.n_missing) == (2, 1, 1, 0, 1)
    assert c.sensitivity == 1.0 and c.specificity == 0.5
    assert confusion([0.1], [True], math.nan) is None
