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
