"""BSCT v2 discontinuity detectors: energy steps (C0) and force steps (C1, a C0 step of f_r).

A step across the interval (r_k, r_{k+1}) is the difference of two one-sided extrapolations
to the interval midpoint c_k = r_k + h/2 (:func:`bsct.metrics.localfit.one_sided_steps`):

    J_k = P_right(c_k) − P_left(c_k),

P_left a least-squares cubic on the m = 8 points r_{k−7}..r_k, P_right on r_{k+1}..r_{k+8}
(fewer, but at least 6, near the ends of the scan; the first and last 5 intervals are not
tested). A true step of size S gives J_k = S; a kink (step of the slope) gives 0 at its interval;
a smooth curve gives the truncation error, O(h⁵ y⁽⁵⁾) for the cubic (the mirror-symmetric
windows cancel the h⁴ term). Its estimate is the difference to the same filter with quintic
fits, J_k⁽⁵⁾ (error O(h⁷)), so

    allowance_k = resolution_factor · |J_k − J_k⁽⁵⁾|

grows on a steep wall that the grid barely resolves and vanishes where the curve is resolved,
while for a true step both degrees return S and the allowance stays ≈ 0. (The code adds
½·|h·Δy′_k|, the slope step from quartic fits: a kink off the midpoint reads as a step of at
most that.) The estimate can pass through 0 between its neighbours on a barely resolved wall, so
a candidate must also clear the largest allowance within ±4 intervals of the curve with the
candidate removed (:func:`resolution_after_removal`). A place is flagged when

    |J_k| > max(k_σ · σ_k · g_k, floor) + allowance_k

with σ_k the larger local noise of the two end points (:mod:`bsct.metrics.noise`) and g_k the
noise gain ‖w‖₂ of the cubic filter (≈ 2.2 in the interior). One detection per cluster of
flagged intervals (non-maximum suppression over ``merge_points``), placed at c_k, size |J_k|.

Energy step: y = E (eV), floor ``energy_floor_ev``. Force step: y = f_r (eV/Å), floor
``force_floor_ev_per_angstrom``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bsct.metrics.detectors import grid_step_angstrom
from bsct.metrics.floors import Detection, FloorsV2, threshold
from bsct.metrics.localfit import one_sided_steps

STEP_DEGREE = 3
CHECK_DEGREE = 5
SLOPE_DEGREE = 4
WINDOW_POINTS = 8


@dataclass
class StepProfile:
    """Per-interval measurement (arrays of length n − 1; NaN/0 where untested).

    r_angstrom: interval midpoints; step: signed J_k; threshold: max(k_σ σ g, floor);
    allowance: resolution allowance; excess: max(|J| − threshold − allowance, 0).
    """

    r_angstrom: np.ndarray
    step: np.ndarray
    threshold: np.ndarray
    allowance: np.ndarray
    excess: np.ndarray
    unit: str


def step_profile(r_angstrom, values, noise_local, floor: float, unit: str, floors: FloorsV2 = FloorsV2()) -> StepProfile:
    """J_k, its threshold, allowance and excess for y(r) (see module docstring).

    Args:
        r_angstrom: (n,) uniform increasing grid.
        values: (n,) E (eV) or f_r (eV/Å).
        noise_local: scalar or (n,) noise σ of ``values`` (same unit).
        floor: physical floor in ``unit``.
    """
    r = np.asarray(r_angstrom, float)
    grid_step_angstrom(r)
    y = np.asarray(values, float)
    sig = np.broadcast_to(np.asarray(noise_local, float), y.shape)
    lo = CHECK_DEGREE + 1
    j3, gain = one_sided_steps(y, STEP_DEGREE, WINDOW_POINTS, min_points=lo)
    j5, _ = one_sided_steps(y, CHECK_DEGREE, WINDOW_POINTS, min_points=lo)
    slope_step, _ = one_sided_steps(y, SLOPE_DEGREE, WINDOW_POINTS, min_points=lo, deriv=1)  # h·Δy'
    sig_int = np.maximum(sig[1:], sig[:-1])
    thr = threshold(sig_int, np.nan_to_num(gain, nan=1.0), floor, floors.k_sigma)
    allowance = floors.resolution_factor * np.abs(j3 - j5) + 0.5 * np.abs(slope_step)
    tested = np.isfinite(j3) & np.isfinite(j5) & np.isfinite(slope_step)
    excess = np.where(tested, np.abs(j3) - thr - allowance, 0.0)
    excess = np.maximum(np.nan_to_num(excess, nan=0.0), 0.0)
    return StepProfile(0.5 * (r[1:] + r[:-1]), j3, thr, allowance, excess, unit)


def find_steps(kind: str, r_angstrom, values, noise_local, floor: float, unit: str,
               floors: FloorsV2 = FloorsV2(), max_events: int = 20) -> list[Detection]:
    """Steps of y(r), strongest first, each removed before looking for the next (deflation).

    A step at interval k also disturbs the fits of the intervals whose windows contain it (up to
    ``WINDOW_POINTS`` − 1 on each side), which would otherwise read as echoes. So the strongest
    flagged step J_k is recorded, y ← y − J_k·H(r − c_k) removes it, and the profile is
    recomputed, until nothing exceeds its threshold (at most ``max_events`` steps).
    Places within ``merge_points`` of an earlier step are not reported again.
    """
    r = np.asarray(r_angstrom, float)
    y = np.array(values, float)
    out: list[Detection] = []
    taken: list[int] = []
    rejected: list[int] = []
    prof = step_profile(r, y, noise_local, floor, unit, floors)  # recomputed only when y changes
    while len(out) < max_events and len(rejected) <= max_events:
        excess = prof.excess.copy()
        for k0 in taken:
            excess[max(0, k0 - floors.merge_points): k0 + floors.merge_points + 1] = 0.0
        excess[rejected] = 0.0
        if excess.max() <= 0:
            break
        k = int(np.argmax(excess))
        removed, after = resolution_after_removal(r, y, k, prof, noise_local, floor, unit, floors)
        allowance = max(float(prof.allowance[k]), removed)
        need = float(prof.threshold[k] + allowance)
        if abs(prof.step[k]) <= need:
            rejected.append(k)
            continue
        out.append(Detection(kind, float(prof.r_angstrom[k]), float(abs(prof.step[k])), unit, need,
                             f"signed step {prof.step[k]:+.3e} {unit} (right minus left); threshold "
                             f"{prof.threshold[k]:.2e} + resolution allowance {allowance:.2e}",
                             float(prof.step[k])))
        taken.append(k)
        y[k + 1:] -= prof.step[k]
        prof = after  # the profile of y with this step removed, computed for the allowance above
    return sorted(out, key=lambda d: d.r_angstrom)


def resolution_after_removal(r, y, k: int, prof: StepProfile, noise_local, floor: float, unit: str,
                             floors: FloorsV2 = FloorsV2()) -> tuple[float, StepProfile]:
    """The largest resolution allowance within ±``WINDOW_POINTS``/2 intervals of k once the
    candidate step J_k is taken out of y, and the step profile of y without it (which
    :func:`find_steps` goes on with when the step stands).

    The two-degree difference J⁽³⁾ − J⁽⁵⁾ is a smooth function of the place on a smooth curve and
    can pass through 0 on a steep wall the grid barely resolves (SevenNet-0's O–H wall at
    0.8 Å, f_r ≈ 20 eV/Å: 0.09 eV/Å at one interval between 0.25 and 0.89 at its neighbours), so
    the truncation error of J_k is not bounded by its own allowance there. Its neighbours bound
    it, but a true step inflates theirs (their windows straddle it): so they are read on y with
    the candidate removed, which is smooth around k for a true step (allowance ≈ 0, the step
    stands) and unchanged for a resolution effect (the step falls).
    """
    half = WINDOW_POINTS // 2
    z = np.array(y, float)
    z[k + 1:] -= prof.step[k]
    after = step_profile(r, z, noise_local, floor, unit, floors)
    around = after.allowance[max(0, k - half): k + half + 1]
    return (float(np.nanmax(around)) if np.isfinite(around).any() else 0.0), after


def remove_steps(r_angstrom, values, steps: list[Detection]) -> np.ndarray:
    """y with every found step taken out: y_i − Σ_{steps left of r_i} value (the deflation of find_steps)."""
    r = np.asarray(r_angstrom, float)
    y = np.array(values, float)
    for d in steps:
        y[r > d.r_angstrom] -= d.value
    return y


def energy_steps(r_angstrom, energy_ev, noise_energy_ev, floors: FloorsV2 = FloorsV2()) -> list[Detection]:
    """C0 steps of E(r) (kind ``energy_jump``, size in eV)."""
    return find_steps("energy_jump", r_angstrom, energy_ev, noise_energy_ev, floors.energy_floor_ev, "eV", floors)


def force_steps(r_angstrom, scan_force_ev_per_angstrom, noise_force_ev_per_angstrom,
                floors: FloorsV2 = FloorsV2()) -> list[Detection]:
    """C1 steps of E(r), measured as C0 steps of the scan force f_r (kind ``force_jump``, eV/Å)."""
    return find_steps("force_jump", r_angstrom, scan_force_ev_per_angstrom, noise_force_ev_per_angstrom,
                      floors.force_floor_ev_per_angstrom, "eV/Å", floors)
