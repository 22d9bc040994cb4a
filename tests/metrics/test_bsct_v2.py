"""BSCT v2 end to end on arrays: smooth references score exactly 0 (float64, float32, autograd
through the steepest first points), planted defects are found once with their size, the LJ
cutoff's force step is the known answer, the collision guard and non-finite points are honoured."""

import numpy as np
import pytest
from v2_curves import (
    as_float32,
    default_grid,
    emt_cu_dimer,
    lj_dimer,
    lj_force_at_cutoff,
    morse,
    morse_float32_total,
    planted_energy_step,
    planted_force_step,
    torch_morse,
)

from bsct.metrics.bsct_v2 import analyse_arrays_v2
from bsct.scan.geometry import ScanRange


def smooth_references():
    r = default_grid()
    e, f = morse(r)
    yield "morse float64", r, e, f, 2.5, None
    yield "morse float32", r, *as_float32(e, f), 2.5, None
    yield "morse - 100 eV in float32", r, *morse_float32_total(r), 2.5, None
    yield "switched Morse autograd float64", r, *torch_morse(r, "float64"), 2.5, 6.0
    yield "switched Morse autograd float32", r, *torch_morse(r, "float32"), 2.5, 6.0
    steep = ScanRange(r_min_scale=0.4).grid_angstrom(2.5, 6.0)  # E = 9.5 eV, f_r = 26 eV/Å at the first point
    yield "switched Morse autograd float64 from 0.4 r0", steep, *torch_morse(steep, "float64"), 2.5, 6.0
    for sigma, eps in ((1.0, 1.0), (2.0, 0.5)):
        yield f"ASE LJ smooth σ={sigma}", *lj_dimer(sigma, eps, smooth=True), 2 ** (1 / 6) * sigma, 3 * sigma
    for seed in range(10):
        rng = np.random.default_rng(100 + seed)
        for sigma_ev in (1e-5, 1e-4):
            yield f"seeded float32-level noise {sigma_ev} #{seed}", r, e + rng.normal(0, sigma_ev, len(r)), \
                f + rng.normal(0, 10 * sigma_ev, len(r)), 2.5, None


def test_smooth_references_have_no_artifact_and_score_exactly_0():
    for name, r, e, f, r0, cutoff in smooth_references():
        res = analyse_arrays_v2(r, e, f, r_eq_hint=r0, cutoff_angstrom=cutoff)
        assert res.artifacts == [] and res.detections == [], (name, [d.kind for d in res.detections])
        assert res.score == 0.0 and res.weighted_score == 0.0


def test_emt_cu_dimer_only_artifact_is_its_real_tail_bump():
    r, e, f = emt_cu_dimer()
    res = analyse_arrays_v2(r, e, f, r_eq_hint=2.3)
    assert [a.kind for a in res.artifacts] == ["tail_bump"]  # no step, no inconsistency
    assert res.artifacts[0].energy_above_min_ev > 2.0  # 3.8 eV up the dissociation curve ...
    assert analyse_arrays_v2(r, e, f, r_eq_hint=2.3, temperature_k=300).weighted_score < 1e-30  # ... so ~0 at 300 K


@pytest.mark.parametrize("sigma, epsilon", [(1.0, 1.0), (2.0, 0.5), (1.5, 0.3)])
def test_known_answer_ase_lennard_jones_force_step_at_rc(sigma, epsilon):
    r, e, f = lj_dimer(sigma, epsilon, smooth=False)
    res = analyse_arrays_v2(r, e, f, r_eq_hint=2 ** (1 / 6) * sigma, cutoff_angstrom=3 * sigma)
    expected = abs(lj_force_at_cutoff(sigma, epsilon))  # 10.9, 2.7, 2.2 meV/Å
    assert len(res.artifacts) == 1
    art = res.artifacts[0]
    assert art.kind == "force_jump" and art.artifact.unit == "eV/Å"
    assert abs(art.r_angstrom - 3 * sigma) <= r[1] - r[0]
    assert art.primary.size == pytest.approx(expected, rel=0.03)


def test_planted_floor_sized_steps_on_float64_morse_are_one_artifact_each():
    r = default_grid()
    res = analyse_arrays_v2(r, *planted_energy_step(r, 1e-4, 3.7), r_eq_hint=2.5)
    assert [(a.kind, round(a.primary.size, 5)) for a in res.artifacts] == [("energy_jump", 1e-4)]
    res = analyse_arrays_v2(r, *planted_force_step(r, 1e-3, 3.7), r_eq_hint=2.5)
    assert [a.kind for a in res.artifacts] == ["force_jump"]
    assert res.artifacts[0].primary.size == pytest.approx(1e-3, rel=0.06)


@pytest.mark.parametrize("source", ["analytic", "torch"])
def test_one_percent_non_conservative_force_is_found_and_autograd_is_not(source):
    r = default_grid()
    e, f = morse(r) if source == "analytic" else torch_morse(r, "float64")
    assert analyse_arrays_v2(r, e, f, r_eq_hint=2.5).artifacts == []
    res = analyse_arrays_v2(r, e, 1.01 * f, r_eq_hint=2.5)
    kinds = [a.kind for a in res.artifacts]
    assert kinds and set(kinds) == {"force_inconsistency"}
    worst = max(res.artifacts, key=lambda a: a.primary.ratio)
    k = int(np.argmin(abs(r - worst.r_angstrom)))
    assert worst.primary.size == pytest.approx(0.01 * abs(f[k]), rel=0.05)  # δ = 1 % of f_r there


def test_points_excluded_by_the_collision_guard_are_not_scored():
    r = default_grid()
    e, f = planted_energy_step(r, 1e-2, 5.5)
    assert [a.kind for a in analyse_arrays_v2(r, e, f, r_eq_hint=2.5).artifacts] == ["energy_jump"]
    include = r < 5.0
    res = analyse_arrays_v2(r, e, f, r_eq_hint=2.5, include=include)
    assert res.artifacts == [] and res.score == 0.0
    assert res.n_scored == int(include.sum())
    assert res.scored_range_angstrom == (r[0], r[include][-1])


def test_nonfinite_points_are_one_artifact_and_the_rest_is_still_judged():
    r = default_grid()
    e, f = morse(r)
    e[120:123] = np.nan
    res = analyse_arrays_v2(r, e, f, r_eq_hint=2.5)
    assert [(a.kind, a.primary.size) for a in res.artifacts] == [("nonfinite", 3.0)]
    assert res.artifacts[0].r_angstrom == r[120]
    assert len(res.noise) == 2  # both finite stretches were analysed
    assert res.score == pytest.approx(np.log10(3.0 / (240 / 1000.0)))  # X = 1000·3/240 - 1


def test_inputs_are_validated():
    r = default_grid()
    e, f = morse(r)
    with pytest.raises(ValueError):
        analyse_arrays_v2(r, e[:-1], f)
    with pytest.raises(ValueError):
        analyse_arrays_v2(r, e, f, include=np.ones(5, bool))
    with pytest.raises(ValueError):
        analyse_arrays_v2(r**2, e, f)  # not a uniform grid
