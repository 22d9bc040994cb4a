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


# A hand-made curve, listed far -> near (r = 8 ... 1 Å), with one planted wiggle at r = 5 Å in E
# and in F. Every expected number below is worked out by hand in the comments.
R_FAR_TO_NEAR = np.arange(8.0, 0.0, -1.0)
E_FAR_TO_NEAR = np.array([0.0, -0.1, -0.3, -0.25, -0.5, -0.6, 0.2, 2.0])
F_FAR_TO_NEAR = np.array([-0.005, -0.05, -0.3, 0.02, -0.4, -0.2, 1.0, 3.0])


def test_planted_wiggle_gives_the_counts_worked_out_by_hand():
    order = np.argsort(R_FAR_TO_NEAR)  # feed near -> far: the function must sort like Arena
    m = diatomic_metrics(R_FAR_TO_NEAR[order], E_FAR_TO_NEAR[order] + 7.0, F_FAR_TO_NEAR[order])  # offset is shifted out
    # ΔE = -0.1 -0.2 +0.05 -0.25 -0.1 +0.8 +1.8: signs - - + - - + +  -> 3 flips
    assert m["energy-diff-flip-times"] == 3
    # jump = (0.2 + 0.05) + (0.05 + 0.25) + (0.1 + 0.8)
    assert m["energy-jump"] == pytest.approx(1.45)
    assert m["energy-total-variation"] == pytest.approx(3.3)
    # tortuosity = 3.3 / (|0 - (-0.6)| + (2.0 - (-0.6)))
    assert m["tortuosity"] == pytest.approx(3.3 / 3.2)
    # F with |F| < 0.01 dropped (-0.005): - - + - - + +  -> 3 flips
    assert m["force-flip-times"] == 3
    # ΔF = -0.045 -0.25 +0.32 -0.42 +0.2 +1.2 +2.0: flips at (-0.25,+0.32), (+0.32,-0.42), (-0.42,+0.2)
    assert m["force-jump"] == pytest.approx(0.57 + 0.74 + 0.62)
    assert m["force-total-variation"] == pytest.approx(4.435)
    # dE/dr by np.gradient on the descending grid (h = -1): 0.1 0.15 0.075 0.1 0.175 -0.35 -1.3 -1.8
    assert m["energy-grad-norm-max"] == pytest.approx(1.8)
    # |F + dE/dr| = 0.095 0.1 0.225 0.12 0.225 0.55 0.3 1.2 -> mean 2.815 / 8
    assert m["conservation-deviation"] == pytest.approx(2.815 / 8)
    # E minimum at r = 3: near side r 3,2,1 / E -0.6,0.2,2.0 -> -1; far side r 8..4 has rank
    # differences 0,0,1,-1,0 -> ρ = 1 - 6·2/(5·24) = 0.9
    assert m["spearman-repulsion-energy"] == pytest.approx(-1.0)
    assert m["spearman-attraction-energy"] == pytest.approx(0.9)
    # F minimum at r = 4: near side 4..1 rising -> -1; far side r 8,7,6,5 with F ranks 3,2,1,4
    # -> d = 1,1,1,-3, ρ = 1 - 6·12/(4·15) = -0.2
    assert m["spearman-descending-force"] == pytest.approx(-1.0)
    assert m["spearman-ascending-force"] == pytest.approx(-0.2)


def test_exact_zeros_beyond_a_cutoff_are_dropped_before_counting_force_jumps():
    # far -> near F = 0 0 0 -0.5 -1.0 2.0: ΔF = 0 0 -0.5 -0.5 +3.0; Arena drops the exact zeros,
    # leaving one flip (-0.5, +3.0): jump 3.5. Counting sign 0 as a sign would give 2 flips, 4.0.
    r = np.array([6.0, 5.0, 4.0, 3.0, 2.0, 1.0])
    f = np.array([0.0, 0.0, 0.0, -0.5, -1.0, 2.0])
    e = np.array([0.0, 0.0, 0.0, -0.3, -1.0, -0.5])
    assert diatomic_metrics(r, e, f)["force-jump"] == pytest.approx(3.5)


def test_noise_under_arenas_thresholds_is_not_a_flip():
    r = np.linspace(1.0, 6.0, 101)
    e, f = morse(r)
    wobble = np.where(np.arange(r.size) % 2, 1, -1)
    far = r > 4.5  # where |F| < 10 meV/Å and |ΔE| < 1 meV already
    m = diatomic_metrics(r, e + far * 4e-4 * wobble, f + far * 8e-3 * wobble)
    assert m["force-flip-times"] == 1 and m["energy-diff-flip-times"] == 1


def test_purely_repulsive_curve_has_no_flips_and_no_attraction_branch():
    r = np.linspace(0.5, 5.0, 200)
    e, f = 50 * np.exp(-3 * r), 150 * np.exp(-3 * r)
    m = diatomic_metrics(r, e, f)
    assert m["force-flip-times"] == 0 and m["energy-diff-flip-times"] == 0
    assert m["energy-jump"] == 0.0 and m["force-jump"] == 0.0
    assert m["tortuosity"] == pytest.approx(1.0)
    assert m["spearman-repulsion-energy"] == pytest.approx(-1.0)
    assert np.isnan(m["spearman-attraction-energy"])  # empty far branch, as scipy gives Arena


def test_morse_force_branches_are_monotonic():
    r = np.linspace(1.2, 6.0, 400)
    e, f = morse(r)
    m = diatomic_metrics(r, e, f)
    assert m["spearman-descending-force"] == pytest.approx(-1.0)
    assert m["spearman-ascending-force"] == pytest.approx(1.0)
    assert m["force-jump"] == pytest.approx(0.0, abs=1e-3)  # one gentle turn of ΔF at the inflection


def test_non_finite_points_are_dropped_and_too_short_curves_give_nothing():
    r = np.linspace(1.2, 6.0, 50)
    e, f = morse(r)
    e_bad = e.copy()
    e_bad[10] = np.nan
    keep = np.arange(r.size) != 10
    assert diatomic_metrics(r, e_bad, f) == diatomic_metrics(r[keep], e[keep], f[keep])
    assert diatomic_metrics(r[:2], e[:2], f[:2]) == {}
