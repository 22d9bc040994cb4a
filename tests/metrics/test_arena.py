"""MLIP Arena's curve metrics: values checked by hand on curves whose answer is known."""

import numpy as np
import pytest
from ase import Atoms

from bsct import run_bsct
from bsct.metrics.arena import diatomic_metrics


def morse(r, d=1.0, a=1.5, r0=2.0):
    x = np.exp(-a * (r - r0))
    return d * ((1 - x) ** 2 - 1), -2 * d * a * x * (1 - x)  # E, F = -dE/dr


def test_smooth_morse_has_one_flip_no_jumps_and_perfect_monotonicity():
    r = np.linspace(1.2, 6.0, 400)
    e, f = morse(r)
    m = diatomic_metrics(r, e, f)
    assert m["force-flip-times"] == 1  # repulsive -> attractive, once
    assert m["energy-diff-flip-times"] == 1
    assert m["conservation-deviation"] < 5e-3  # np.gradient error only
    assert m["spearman-repulsion-energy"] == pytest.approx(-1.0)
    assert m["spearman-attraction-energy"] == pytest.approx(1.0)
    # tortuosity 1 for a single well: total variation = depth from both ends
    assert m["tortuosity"] == pytest.approx(1.0, abs=1e-6)


def test_a_spurious_bump_raises_flips_tortuosity_and_jump():
    r = np.linspace(1.2, 6.0, 400)
    e, f = morse(r)
    bump = 0.05 * np.exp(-(((r - 4.0) / 0.1) ** 2))
    e2, f2 = e - bump, f - bump * 2 * (r - 4.0) / 0.1**2
    smooth, bumpy = diatomic_metrics(r, e, f), diatomic_metrics(r, e2, f2)
    assert bumpy["force-flip-times"] > smooth["force-flip-times"]
    assert bumpy["tortuosity"] > smooth["tortuosity"]
    assert bumpy["energy-diff-flip-times"] >= smooth["energy-diff-flip-times"] + 2


def test_every_bsct_report_carries_the_arena_metrics():
    report = run_bsct("morse", [Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])], progress=False)
    peers = report.results[0].analysis.peer_metrics
    assert peers["force-flip-times"] == 1 and "tortuosity" in report.to_dict()["bonds"][0]["mlip_arena"]
