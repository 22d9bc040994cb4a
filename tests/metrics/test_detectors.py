"""Every detector fires on its planted artifact at the right place and stays quiet on smooth
references, at two resolutions; known answers from real potentials (EMT, ASE Lennard-Jones)."""

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones as AseLJ

from bsct import run_bsct
from bsct.metrics.detectors import Tolerances, jump_profile, pick_events, sign_flip_runs
from bsct.potentials import CalculatorPotential
from bsct.potentials.pair import Morse
from bsct.scan.geometry import ScanRange

DIMER = Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])


def scan(model, n_points=240, **kw):
    kw.setdefault("scan_range", ScanRange(n_points=n_points))
    return run_bsct(model, [DIMER], progress=False, **kw)


# ---------------------------------------------------------------- pure functions on sampled curves
@pytest.mark.parametrize("n", [100, 400])
@pytest.mark.parametrize("r_star", [1.7, 2.9, 4.1])
@pytest.mark.parametrize("jump", [0.004, 0.2])
def test_jump_profile_finds_a_step_where_it_is_with_its_size(n, r_star, jump):
    # Resolution limit (docs/metrics.md): a step is separable from curvature when it exceeds
    # tol + 1.5·h²·|y''|; here |y''| <= 1.2 and h <= 0.04, so the limit is at most 3.9 meV.
    r = np.linspace(1.0, 5.0, n)
    y = np.exp(-r) * np.sin(3 * r) + jump * (r >= r_star)
    assert 1e-3 + 1.5 * (r[1] - r[0]) ** 2 * 1.2 < jump
    prof = jump_profile(r, y, 1e-3, "eV")
    events = pick_events(prof.excess, 3)
    assert len(events) == 1
    k = events[0]
    assert abs(prof.r_angstrom[k] - r_star) <= (r[1] - r[0])
    assert prof.value[k] == pytest.approx(jump, rel=0.1)


@pytest.mark.parametrize("n", [25, 60, 1000])
def test_jump_profile_is_quiet_on_smooth_and_kinked_curves_at_any_resolution(n):
    r = np.linspace(0.8, 6.0, n)
    smooth = 5 * np.exp(-3 * (r - 0.8)) + np.sin(2 * r)
    kinked = np.abs(r - 3.3317) * 0.5 + np.cos(r)  # a kink is a C1, not a C0, defect
    for y in (smooth, kinked):
        assert jump_profile(r, y, 1e-3, "eV").excess.max() == 0


def test_sign_flip_runs_finds_wrong_sign_stretches_on_each_side_of_equilibrium():
    # equilibrium at index 3: before it the force must be >= 0 (push apart), after it <= 0 (pull back);
    # only |f| > tol counts: -0.05 (compression side) and 0.03, 0.05 (stretch side) are the wrong ones
    f = np.array([0.5, 0.2, -0.05, 0.0, -0.1, 0.03, 0.05, -0.2, -0.1])
    assert sign_flip_runs(f, eq_idx=3, tol=0.02) == [(2, 3, 2, "compression"), (5, 7, 6, "stretch")]
    assert sign_flip_runs(f, eq_idx=3, tol=0.06) == []
    assert sign_flip_runs(np.array([0.4, 0.1, 0.0, -0.2, -0.05, -0.01]), eq_idx=2, tol=0.0) == []  # physical


# ---------------------------------------------------------------- planted artifacts, end to end
PLANTED = {
    # kind: (detector, sizes, positions)
    "energy_step": ("energy_jump", (0.003, 0.05), (2.9, 3.6)),
    "force_step": ("force_jump", (0.03, 0.5), (2.9, 3.6)),
    "curvature_step": ("curvature_jump", (2.0, 10.0), (2.9, 3.6)),
    "spurious_well": ("spurious_minimum", (0.03, 0.1), (3.8, 4.3)),
    "nonconservative": ("force_inconsistency", (0.05, 0.5), (2.9, 3.6)),
    "noise": ("roughness", (0.002, 0.02), (2.9, 3.6)),
}
CASES = [(k, s, r) for k, (_, sizes, rs) in PLANTED.items() for s in sizes for r in rs]
# what each planted term leaves continuous, from its formula (pair.PlantedArtifact)
NOT_ALSO = {
    "energy_step": ("force_jump", "curvature_jump"),  # size·H(r - r*): autograd force has no step
    "force_step": ("energy_jump",),  # g(r*) = 0: E is continuous, only its slope jumps
    "curvature_step": ("energy_jump", "force_jump"),  # g and g' are 0 at r*: only g'' jumps
    "spurious_well": ("energy_jump", "force_jump", "curvature_jump"),  # a Gaussian: smooth
    "nonconservative": ("energy_jump", "force_jump", "curvature_jump"),  # a smooth extra force, no energy
    "noise": (),  # wiggles at the grid scale look like anything
}


@pytest.mark.parametrize("n_points", [240, 480])
@pytest.mark.parametrize("kind, size, r_star", CASES)
def test_each_detector_fires_on_its_artifact_at_the_right_r(kind, size, r_star, n_points):
    report = scan(f"planted[kind={kind},size={size},r_star_angstrom={r_star}]", n_points)
    detector = PLANTED[kind][0]
    h = report.results[0].curve.r_angstrom[1] - report.results[0].curve.r_angstrom[0]
    hits = [a for a in report.artifacts if a.kind == detector]
    assert hits, f"{detector} missed; found {[(a.kind, a.r_angstrom) for a in report.artifacts]}"
    if kind == "noise":  # a stretch, not a point: the reported stretch must contain r*
        lo, hi = (float(x) for x in hits[0].detail.split("=")[1].replace("Å", "").split("-"))
        assert lo <= r_star <= hi
    elif kind == "spurious_well":  # the well's bottom moves a little with the Morse slope
        assert min(abs(a.r_angstrom - r_star) for a in hits) <= 0.1
    else:
        assert min(abs(a.r_angstrom - r_star) for a in hits) <= 2 * h
    assert report.score > 0.1
    # and only there: a defect of one order is not also reported as a lower-order one
    assert not any(a.kind in NOT_ALSO[kind] for a in report.artifacts), [(a.kind, a.r_angstrom) for a in report.artifacts]


def test_a_well_in_the_tail_pushes_the_pair_apart_there_and_is_reported_as_a_sign_flip():
    """Beyond equilibrium a physical pair force pulls back; a planted well's outer wall pushes out.
    Expected size: the largest outward force of Morse + well, computed from their formulas."""
    size, r_star, w = 0.1, 3.8, 0.1  # r* below the Morse switch (4.5 Å): no fade
    report = scan(f"planted[kind=spurious_well,size={size},r_star_angstrom={r_star}]", 240)
    flips = [a for a in report.artifacts if a.kind == "force_sign_flip"]
    assert len(flips) == 1 and flips[0].detail.startswith("stretch")
    r = np.linspace(3.0, 4.5, 150_001)
    morse = Morse()
    x = np.exp(-morse.alpha_per_angstrom * (r - morse.r0_angstrom))
    dphi = 2 * morse.depth_ev * morse.alpha_per_angstrom * x * (1 - x)  # d/dr of D[(1 - x)^2 - 1]
    dg = 2 * size * (r - r_star) / w**2 * np.exp(-(((r - r_star) / w) ** 2))  # d/dr of -size exp(-((r - r*)/w)^2)
    outward = -(dphi + dg)
    h = report.results[0].curve.r_angstrom[1] - report.results[0].curve.r_angstrom[0]
    assert flips[0].size == pytest.approx(outward.max(), rel=0.02)
    assert flips[0].r_angstrom == pytest.approx(r[np.argmax(outward)], abs=h)
    assert not any(a.kind == "force_sign_flip" for a in scan("morse", 240).artifacts)  # the same Morse without it


def test_a_potential_that_acts_beyond_its_declared_cutoff_has_a_residual_force():
    """Fragments farther apart than the declared cutoff cannot interact. ASE's LJ with rc = 8 Å
    declared as 4.5 Å still pulls at 4.5 Å with |phi'(4.5)| = 4 eps (6 s^6 - 12 s^12) / r, s = sigma/r."""
    eps, sigma, rc = 0.3, 2.3, 8.0
    lying = scan(CalculatorPotential(AseLJ(sigma=sigma, epsilon=eps, rc=rc), cutoff_angstrom=4.5))
    hits = [a for a in lying.artifacts if a.kind == "residual_force"]
    s6 = (sigma / 4.5) ** 6
    assert len(hits) == 1 and hits[0].r_angstrom == pytest.approx(4.5, abs=0.02)
    assert hits[0].size == pytest.approx(4 * eps * (6 * s6 - 12 * s6**2) / 4.5, rel=0.02)
    honest = scan(CalculatorPotential(AseLJ(sigma=sigma, epsilon=eps, rc=rc), cutoff_angstrom=rc))
    assert not any(a.kind == "residual_force" for a in honest.artifacts)


def test_measured_sizes_match_the_planted_ones():
    e = scan("planted[kind=energy_step,size=0.02,r_star_angstrom=3.2]")
    assert next(a for a in e.artifacts if a.kind == "energy_jump").size == pytest.approx(0.02, rel=0.02)
    f = scan("planted[kind=force_step,size=0.2,r_star_angstrom=3.2]")
    assert next(a for a in f.artifacts if a.kind == "force_jump").size == pytest.approx(0.2, rel=0.05)
    nc = scan("planted[kind=nonconservative,size=0.3,r_star_angstrom=3.2]")
    assert next(a for a in nc.artifacts if a.kind == "force_inconsistency").size == pytest.approx(0.3, rel=0.05)


SMOOTH = ["morse", "morse[switch_on_angstrom=4.0,cutoff_angstrom=5.5]", "emt",
          "lj[sigma_angstrom=2.3,epsilon_ev=0.3,cutoff_angstrom=6.0,switch_on_angstrom=4.5]"]


@pytest.mark.parametrize("n_points", [60, 240, 960])
@pytest.mark.parametrize("model", SMOOTH)
def test_smooth_references_stay_quiet_at_coarse_and_fine_resolution(model, n_points):
    report = scan(model, n_points)
    assert report.artifacts == [] and report.score == 0.0


@pytest.mark.slow
def test_smooth_references_in_crystals_stay_quiet():
    from ase.build import bulk

    for model, atoms in [("emt", bulk("Cu", "fcc", a=3.61)), ("sw-si", bulk("Si", "diamond", a=5.431))]:
        report = run_bsct(model, [atoms], progress=False, max_per_type=1, scan_range=ScanRange(n_points=120))
        assert report.artifacts == [], (model, report.artifacts)


def test_refinement_is_what_clears_a_steep_smooth_feature_on_a_coarse_grid():
    # EMT's cutoff is a steep Fermi function; at 60 points the grid cannot tell it from a step.
    coarse = scan("emt", 60, refine_jumps=False)
    assert any(a.kind == "force_jump" for a in coarse.artifacts)
    assert scan("emt", 60).artifacts == []


def test_score_orders_smooth_below_artifacts_and_grows_with_size():
    smooth = scan("morse").score
    small = scan("planted[kind=energy_step,size=0.003,r_star_angstrom=3.2]").score
    large = scan("planted[kind=energy_step,size=0.05,r_star_angstrom=3.2]").score
    assert smooth == 0.0 < small < large


# ---------------------------------------------------------------- known answers from real potentials
def test_emt_drops_a_quarter_meV_per_angstrom_of_force_at_its_cutoff():
    # ASE's EMT drops every pair beyond its neighbour-list radius rc_list (5.88 Å for Cu): the force
    # it still had just inside, ~0.26 meV/Å, vanishes there. Both numbers straight from ASE:
    dimer = Atoms("Cu2", positions=[[0, 0, 0], [3.0, 0, 0]])
    dimer.calc = EMT()
    dimer.get_potential_energy()
    rc_list = dimer.calc.rc_list
    dimer.positions[1, 0] = rc_list - 1e-6
    last_force = float(np.linalg.norm(dimer.get_forces()[1]))
    tight = Tolerances(force_jump_ev_per_angstrom=1e-4)
    report = scan("emt", 400, tolerances=tight, scan_range=ScanRange(n_points=400, r_max_scale=2.7))
    hit = [a for a in report.artifacts if a.kind == "force_jump"]
    assert len(hit) == 1
    assert hit[0].r_angstrom == pytest.approx(rc_list, abs=0.02)
    assert hit[0].size == pytest.approx(last_force, rel=0.1) and 2e-4 < last_force < 3e-4
    assert scan("emt", 400, scan_range=ScanRange(n_points=400, r_max_scale=2.7)).artifacts == []  # below default


def test_ase_lennard_jones_steps():
    eps, sigma, rc, ro = 0.3, 2.3, 5.0, 4.0
    # Shifted cutoff: the force jumps by |phi'(rc)|.
    shifted = scan(CalculatorPotential(AseLJ(sigma=sigma, epsilon=eps, rc=rc), cutoff_angstrom=rc))
    dphi = 4 * eps * (-12 * sigma**12 / rc**13 + 6 * sigma**6 / rc**7)
    jump = next(a for a in shifted.artifacts if a.kind == "force_jump")
    assert jump.r_angstrom == pytest.approx(rc, abs=0.03) and jump.size == pytest.approx(abs(dphi), rel=0.05)
    # smooth=True: force continuous but curvature jumps at rc by phi(rc)·S''(rc), S'' = 24 rc²/(rc² - ro²)².
    smooth = CalculatorPotential(AseLJ(sigma=sigma, epsilon=eps, rc=rc, ro=ro, smooth=True), cutoff_angstrom=rc)
    report = scan(smooth, 480, tolerances=Tolerances(curvature_jump_ev_per_angstrom2=0.02))
    phi_rc = 4 * eps * ((sigma / rc) ** 12 - (sigma / rc) ** 6)
    expected = abs(phi_rc * 24 * rc**2 / (rc**2 - ro**2) ** 2)
    kinks = [a for a in report.artifacts if a.kind == "curvature_jump" and abs(a.r_angstrom - rc) < 0.05]
    assert kinks and kinks[0].size == pytest.approx(expected, rel=0.3)
    assert not any(a.kind in ("energy_jump", "force_jump") for a in report.artifacts)
