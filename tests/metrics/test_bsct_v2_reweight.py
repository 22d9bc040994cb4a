"""Re-weighting a v2 analysis at another temperature equals analysing again at that temperature."""

from __future__ import annotations

import numpy as np
import pytest

from bsct.metrics.bsct_v2 import analyse_arrays_v2, weighted_score_at


@pytest.mark.parametrize("temperature_k", [None, 300.0, 3000.0])
def test_reweighting_equals_a_second_analysis(temperature_k):
    r = np.linspace(1.6, 5.0, 240)
    d, a = 1.0, 1.5
    e = d * (1 - np.exp(-a * (r - 2.5))) ** 2 - d
    f = -2 * d * a * np.exp(-a * (r - 2.5)) * (1 - np.exp(-a * (r - 2.5)))
    for r_step, size in ((2.2, 0.05), (3.4, 0.02)):  # energy steps above and near the minimum
        e = e + np.where(r > r_step, size, 0.0)
    base = analyse_arrays_v2(r, e, f)
    again = analyse_arrays_v2(r, e, f, temperature_k=temperature_k)
    assert len(base.artifacts) >= 2
    assert weighted_score_at(base.artifacts, temperature_k) == pytest.approx(again.weighted_score, rel=1e-12, abs=0)
