"""Local polynomial filters (metrics/localfit.py) against per-window numpy.polyfit fits."""

import numpy as np
import pytest

from bsct.metrics.localfit import local_derivative, one_sided_steps


def _polyfit_step(y, k, m, degree, deriv):
    """J_k from two numpy.polyfit fits, x in grid units, evaluated at the interval midpoint k + 1/2."""
    xl, xr = np.arange(k - m + 1, k + 1), np.arange(k + 1, k + 1 + m)
    pl = np.polyder(np.polyfit(xl - (k + 0.5), y[k - m + 1 : k + 1], degree), deriv)
    pr = np.polyder(np.polyfit(xr - (k + 0.5), y[k + 1 : k + 1 + m], degree), deriv)
    return np.polyval(pr, 0.0) - np.polyval(pl, 0.0)


@pytest.mark.parametrize("n, degree, window, min_points, deriv", [
    (60, 3, 8, 6, 0), (31, 5, 8, 6, 0), (40, 4, 8, 6, 1), (17, 2, 6, 3, 2), (13, 3, 8, None, 0)])
def test_one_sided_steps_equal_per_interval_polyfit(n, degree, window, min_points, deriv):
    rng = np.random.default_rng(1)
    y = np.cumsum(rng.normal(size=n)) + 0.01 * np.arange(n) ** 2
    steps, gain = one_sided_steps(y, degree, window, min_points, deriv)
    lo = degree + 1 if min_points is None else min_points
    for k in range(n - 1):
        m = min(window, k + 1, n - 1 - k)
        if m < lo:
            assert np.isnan(steps[k]) and np.isnan(gain[k])
        else:
            assert steps[k] == pytest.approx(_polyfit_step(y, k, m, degree, deriv), rel=1e-9, abs=1e-9)
    # columns are independent: a (n, 2) input gives the two 1-D results
    both, _ = one_sided_steps(np.stack([y, -2 * y], axis=1), degree, window, min_points, deriv)
    np.testing.assert_allclose(both[:, 1], -2 * steps, rtol=1e-12, equal_nan=True)


def test_one_sided_step_of_a_heaviside_is_its_height():
    y = np.where(np.arange(50) > 24, 0.3, 0.0) + np.linspace(0, 1, 50) ** 3
    steps, _ = one_sided_steps(y, 3, 8, 6)
    assert steps[24] == pytest.approx(0.3, abs=1e-12)


def test_local_derivative_equals_centred_and_shifted_polyfit():
    rng = np.random.default_rng(2)
    h = 0.05
    y = np.sin(np.arange(30) * h * 3) + 1e-3 * rng.normal(size=30)
    d, gain = local_derivative(y, h, 4, 4)
    for k in range(30):
        start = min(max(k - 4, 0), 30 - 9)
        x = np.arange(start, start + 9) - k
        coef = np.polyfit(x, y[start : start + 9], 4)
        assert d[k] == pytest.approx(np.polyval(np.polyder(coef), 0.0) / h, rel=1e-9, abs=1e-9)
    assert np.all(gain > 0)
