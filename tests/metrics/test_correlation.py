import numpy as np
import pytest

from bsct.metrics.correlation import correlate, cost_ratio


def test_perfect_monotone_relation_and_its_interval():
    x = np.linspace(0, 2, 12)
    c = correlate(x, 1 - 0.4 * x**2)  # monotone but not linear
    assert c.spearman_rho == pytest.approx(-1.0)
    assert -1.0 <= c.pearson_r < -0.9
    assert c.spearman_ci95 == pytest.approx((-1.0, -1.0))
    assert c.pearson_ci95[0] <= c.pearson_r <= c.pearson_ci95[1]


def test_independent_samples_give_an_interval_around_zero():
    rng = np.random.default_rng(1)
    c = correlate(rng.normal(size=40), rng.normal(size=40), n_bootstrap=500)
    assert c.pearson_ci95[0] < 0 < c.pearson_ci95[1]
    assert c.spearman_ci95[0] < 0 < c.spearman_ci95[1]


def test_bad_inputs_and_cost_ratio():
    with pytest.raises(ValueError, match="at least 3"):
        correlate([1, 2, np.nan], [1, 2, 3])
    with pytest.raises(ValueError, match="equal length"):
        correlate([1, 2, 3], [1, 2])
    np.testing.assert_allclose(cost_ratio([1, 2], [10, 40]), [0.1, 0.05])


def test_too_few_pairs_give_no_interval_rather_than_a_degenerate_one():
    """With 3 or 4 potentials most resamples hold two distinct points (r = ±1 by construction)."""
    few = correlate([0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 0.0, 0.5])
    assert np.isfinite(few.pearson_r) and np.isfinite(few.spearman_rho)
    assert np.isnan(few.pearson_ci95).all() and np.isnan(few.spearman_ci95).all()
    five = correlate([0.0, 1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 0.0, 0.5, 0.0])
    assert five.pearson_ci95[0] < five.pearson_r < five.pearson_ci95[1]


def _rows(pairs, system="cu", planted_first=True):
    return [{"system": system, "potential": f"p{i}", "kind": "planted" if (i == 0 and planted_first) else "variant",
             "bsct_score": float(s), "md_stable_fraction": f, "md_mean_time_to_failure_ps": f, "md_duration_ps": 1.0}
            for i, (s, f) in enumerate(pairs)]


def test_correlation_summary_sign_and_planted_subset():
    from bsct.metrics.correlation import correlation_summary

    rows = _rows([(3.0, 0.0), (1.0, 0.25), (0.5, 0.5), (0.2, 0.75), (0.0, 1.0)])
    c = correlation_summary(rows, n_bootstrap=100)
    assert c["all"]["stable_fraction"]["spearman_rho"] == pytest.approx(-1.0)
    assert c["without_planted"]["n"] == 4
    assert not any(key.startswith("system_") for key in c)  # one system: nothing to split
    assert "fsd_stable_fraction" not in c["all"]  # no FSD values: no FSD statistics
    # a second system whose ranking is the reverse: pooled, the two cancel; within each, they do not
    si = [{**r, "system": "si", "kind": "variant", "bsct_score": 3.0 - r["bsct_score"]} for r in rows]
    c = correlation_summary(rows + si, n_bootstrap=100)
    assert list(c) == ["all", "without_planted", "system_cu", "system_si"]
    assert c["system_cu"]["n"] == c["system_si"]["n"] == 5
    assert c["system_cu"]["stable_fraction"]["spearman_rho"] == pytest.approx(-1.0)
    assert c["system_si"]["stable_fraction"]["spearman_rho"] == pytest.approx(1.0)
    assert abs(c["all"]["stable_fraction"]["spearman_rho"]) < 0.5


def test_correlation_subsets_leave_out_rows_without_md_and_split_protocols():
    from bsct.metrics.correlation import correlation_subsets, correlation_summary

    rows = _rows([(3.0, 0.0), (1.0, 0.25), (0.5, 0.5), (0.2, 0.75)])
    rows.append({**rows[1], "potential": "chgnet", "kind": "third_party"})
    rows.append({**rows[1], "potential": "xtb", "kind": "reference", "md_stable_fraction": None})  # scan only
    subsets = correlation_subsets(rows)
    assert list(subsets) == ["all", "without_planted", "same_protocol_without_planted"]
    assert [r["potential"] for r in subsets["all"]] == ["p0", "p1", "p2", "p3", "chgnet"]
    assert [r["potential"] for r in subsets["same_protocol_without_planted"]] == ["p1", "p2", "p3"]
    c = correlation_summary(rows, n_bootstrap=10)
    assert c["same_protocol_without_planted"]["potentials"] == ["cu/p1", "cu/p2", "cu/p3"]
    with_fsd = [{**r, "fsd_per_angstrom": float(i)} for i, r in enumerate(rows[:2])] + rows[2:]
    c = correlation_summary(with_fsd, n_bootstrap=10)
    assert "fsd_stable_fraction" not in c["all"]  # FSD on 2 rows only: too few to correlate
    assert c["all"]["time_to_failure_fraction"]["n"] == 5
