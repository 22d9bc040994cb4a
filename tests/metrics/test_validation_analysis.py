"""The pre-registered analysis on a synthetic zoo whose answers are planted (tests/validation_zoo.py)."""

import json

import numpy as np
import pytest
from validation_zoo import HELD_OUT, protocol_analysis, synthetic_zoo

from bsct.metrics.validation_analysis import analyse, auc_contrast, tune_thresholds
from bsct.metrics.validation_stats import auc

FAST = {"n_bootstrap": 20, "n_permutations": 200}


@pytest.fixture(scope="module")
def zoo():
    return synthetic_zoo(seed=0)


@pytest.fixture(scope="module")
def result(zoo):
    return analyse(*zoo, protocol_analysis(), **FAST)


def test_the_planted_predictor_separates_on_held_out_and_the_random_one_does_not(result, zoo):
    units, _ = zoo
    held = units[units["split"] == "held_out"]
    good = result.held_out.predictors["good"].outcomes["any_failure"]
    rand = result.held_out.predictors["random"].outcomes["any_failure"]
    assert good.auc.estimate == pytest.approx(auc(held["pred:good"], held["any_failure"]))
    assert good.auc.estimate > 0.95 and good.auc.lo > 0.9
    assert rand.auc.lo < 0.5 < rand.auc.hi
    assert good.permutation_p == pytest.approx(1 / 201) and rand.permutation_p > 0.1
    other = result.held_out.predictors["good"].outcomes["conservation_failure"]
    assert other.permutation_p is None  # the protocol tests AUC(any_failure) only
    assert good.c_index.estimate > 0.75 and 0.3 < result.held_out.predictors["random"].outcomes[
        "any_failure"].c_index.estimate < 0.7
    assert result.held_out.predictors["good"].spearman.estimate > 0.7
    # held-out numbers use held-out units only: 4 families x 3 potentials x 2 systems x 2 T
    assert result.held_out.n_units == 48 and result.held_out.families == sorted(HELD_OUT)
    assert good.auc.n_families == 4 and good.auc.coarse


def test_primary_contrast_is_paired_and_answers_the_question(result, zoo):
    p = result.primary
    assert (p.a, p.b, p.split, p.n_units) == ("bsct_v2_at_T", "short_nve", "held_out", 48)
    units, _ = zoo
    held = units[units["split"] == "held_out"]
    both = held[np.isfinite(held["pred:bsct_v2_at_T"]) & np.isfinite(held["pred:short_nve"])]
    expected = auc(both["pred:bsct_v2_at_T"], both["any_failure"]) - auc(both["pred:short_nve"], both["any_failure"])
    assert p.difference.estimate == pytest.approx(expected)
    assert p.difference.lo > 0
    assert result.answer == {"predicts": "yes", "beats_short_nve": "yes", "short_nve_predicts": "no"}


def test_undetermined_when_the_contrast_straddles_zero(zoo):
    units, replicas = zoo
    units = units.assign(**{"pred:short_nve": units["pred:bsct_v2_at_T"] + 0.01})  # as good as bsct
    c = auc_contrast(units, "bsct_v2_at_T", "short_nve", n_bootstrap=40, seed=0)
    assert c.difference.lo <= 0 <= c.difference.hi
    missing = auc_contrast(units.drop(columns="pred:short_nve"), "bsct_v2_at_T", "short_nve")
    assert missing.difference is None and "short_nve" in missing.missing


def test_thresholds_come_from_the_calibration_half_only(zoo):
    units, _ = zoo
    before = tune_thresholds(units)
    held = units["split"] == "held_out"
    flipped = units.assign(any_failure=np.where(held, ~units["any_failure"], units["any_failure"]))
    after = tune_thresholds(flipped)
    for p in before:
        assert after[p].calibration == before[p].calibration  # held-out labels cannot move the threshold
    g_before, g_after = before["good"].applied["held_out"], after["good"].applied["held_out"]
    assert (g_after.tp, g_after.fn) == (g_before.fp, g_before.tn)  # but they do change the held-out counts
    cal = units["split"] == "calibration"
    moved = tune_thresholds(units.assign(**{"pred:good": np.where(cal, units["pred:good"] + 1, units["pred:good"])}))
    assert moved["good"].calibration.value == pytest.approx(before["good"].calibration.value + 1)


def test_constructed_units_are_analysed_apart(result, zoo):
    units, _ = zoo
    n_constructed = int((units["split"] == "constructed").sum())
    assert result.constructed.n_units == n_constructed == 24
    assert result.constructed.families == ["constructed/planted", "constructed/weakened"]
    assert result.thresholds["good"].applied["constructed"] is not None


def test_to_dict_is_strict_json(result):
    d = result.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert '"coarse": true' in text
    assert d["held_out"]["predictors"]["good"]["outcomes"]["any_failure"]["auc"]["note"].startswith("4 families")
    assert d["settings"]["n_bootstrap"] == 20 and d["settings"]["permutation_within"] == ["system", "temperature_k"]


def test_a_family_in_the_wrong_half_is_refused(zoo):
    units, replicas = zoo
    moved = units.assign(split=np.where(units["family"] == "sevennet", "calibration", units["split"]))
    with pytest.raises(ValueError, match="sevennet"):
        analyse(moved, replicas, protocol_analysis(), n_bootstrap=2, n_permutations=2)


def test_without_the_short_nve_column_bsct_is_still_judged_and_the_contrast_is_undetermined(zoo):
    units, replicas = zoo
    r = analyse(units.drop(columns="pred:short_nve"), replicas, protocol_analysis(), n_bootstrap=5, n_permutations=20)
    assert r.primary.difference is None and r.answer["beats_short_nve"] == "undetermined"
    assert r.answer["predicts"] == "yes"  # from the held-out table
    empty = analyse(units[units["split"] != "constructed"], replicas, protocol_analysis(), n_bootstrap=5,
                    n_permutations=20)
    assert empty.constructed is None


def test_default_score_rule_follows_the_held_out_auc_of_v1_and_v2(zoo):
    units, replicas = zoo
    good_v2 = units.assign(**{"pred:bsct_v1": units["pred:random"], "pred:bsct_v2": units["pred:good"]})
    assert analyse(good_v2, replicas, protocol_analysis(), n_bootstrap=3, n_permutations=10).default_score == "v2"
    good_v1 = units.assign(**{"pred:bsct_v1": units["pred:good"], "pred:bsct_v2": units["pred:random"]})
    assert analyse(good_v1, replicas, protocol_analysis(), n_bootstrap=3, n_permutations=10).default_score == "v1"


def test_a_failure_without_a_class_still_counts_as_a_failure(zoo):
    from bsct.metrics.validation_analysis import _replica_table

    units, replicas = zoo
    unclassed = replicas.assign(failure_class=np.where(replicas["failed"], "", replicas["failure_class"]))
    table = _replica_table(units, unclassed)
    assert table.loc[table["event:any_failure"], "weight"].sum() == replicas["failed"].sum()
    assert not table["event:conservation_failure"].any() and table["weight"].sum() == len(replicas)
