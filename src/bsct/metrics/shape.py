"""BSCT v2 curve shape: kinks of the force (curvature steps, C2) and roughness (local noise).

**Curvature step** (kind ``curvature_jump``, eV/Å²): a step of E″ = −f_r′, i.e. a kink of the
force. Across the interval (r_k, r_{k+1}), with the force steps already taken out of f_r
(:func:`bsct.metrics.steps.remove_steps`, so a C1 step is not read as a huge kink next to it):

    S_k         = [P′_right(c_k) − P′_left(c_k)]            slope step of f_r, eV/Å²,
                  P quartic least-squares fits of the 8 points on each side (error O(h⁵):
                  the mirror symmetry cancels the odd-order terms of a derivative step)
    allowance_k = resolution_factor·max(|S_k − S_k⁽²⁾|,       (quadratic fits, error O(h³))
                                        |S_k − S_k⁽⁶ᵖᵗ⁾|)    (quartic fits of 6 points a side)
                  + ½·h·|Δf″_k|                              (a jump of f″ off the midpoint)
                  A true kink gives the same S_k for every degree and window (each side is
                  smooth); a feature the grid does not resolve gives different ones, and two
                  comparisons rarely agree by accident where one alone sometimes does.
    flagged     |S_k| > max(k_σ·σ_f·g_k, curvature_floor) + allowance_k,
                g_k = ‖w‖₂/h of the slope-step filter.

Strongest first; each found kink is removed (f ← f − S·(r − c)·H(r − c)) before the next is
sought, as for steps. Size |S_k|; ``detail`` gives ΔE″ = −S_k.

**Roughness** (kind ``roughness``, eV or eV/Å): the curve is rough where its *local* noise
(:func:`bsct.metrics.noise.local_noise`, 41-point running median of normalised k-th
differences, minimum over k) exceeds the roughness floors, σ_E(r) > 3e-4 eV or
σ_f(r) > 3e-3 eV/Å (:class:`~bsct.metrics.floors.FloorsV2`). Noise below them is numerical and
only raises the other detectors' thresholds; noise above them is a defect of its own (the other
detectors, whose thresholds it has raised, cannot see it). One detection per rough stretch
(flagged runs closer than the running median's window joined: the estimate cannot resolve
two stretches closer than that, and a patch whose σ hovers about the floor would otherwise
break into several), at its largest σ/floor, its span widened by half the window on each side
(where the estimate places the edges only that well; the merge then claims what the noise
produced at the edges), size = that σ in the unit of the quantity (E or f_r) that
exceeds its floor more.
"""

from __future__ import annotations

import numpy as np

from bsct.metrics.detectors import grid_step_angstrom
from bsct.metrics.consistency import true_runs
from bsct.metrics.floors import Detection, FloorsV2, threshold
from bsct.metrics.localfit import one_sided_steps
from bsct.metrics.noise import local_noise
from bsct.metrics.steps import remove_steps

WINDOW_POINTS = 8
MIN_POINTS = 6
DEGREE = 4
CHECK_DEGREE = 2


def curvature_profile(r_angstrom, scan_force_ev_per_angstrom, noise_force_ev_per_angstrom,
                      floors: FloorsV2 = FloorsV2()):
    """(r_mid, S, threshold, allowance, excess) per interval for the kink test (module docstring)."""
    r = np.asarray(r_angstrom, float)
    h = grid_step_angstrom(r)
    f = np.asarray(scan_force_ev_per_angstrom, float)
    sig = np.broadcast_to(np.asarray(noise_force_ev_per_angstrom, float), f.shape)
    s4, gain = one_sided_steps(f, DEGREE, WINDOW_POINTS, MIN_POINTS, deriv=1)
    s2, _ = one_sided_steps(f, CHECK_DEGREE, WINDOW_POINTS, MIN_POINTS, deriv=1)
    s4_short, _ = one_sided_steps(f, DEGREE, MIN_POINTS, MIN_POINTS, deriv=1)
    d2, _ = one_sided_steps(f, DEGREE, WINDOW_POINTS, MIN_POINTS, deriv=2)
    s4, s2, s4_short, d2 = s4 / h, s2 / h, s4_short / h, d2 / h**2
    thr = threshold(np.maximum(sig[1:], sig[:-1]), np.nan_to_num(gain, nan=1.0) / h,
                    floors.curvature_floor_ev_per_angstrom2, floors.k_sigma)
    spread = np.maximum(np.abs(s4 - s2), np.abs(s4 - s4_short))
    allowance = floors.resolution_factor * spread + 0.5 * h * np.abs(d2)
    excess = np.abs(s4) - thr - allowance
    excess = np.where(np.isfinite(excess), np.maximum(excess, 0.0), 0.0)
    return 0.5 * (r[1:] + r[:-1]), s4, thr, allowance, excess


def curvature_steps(r_angstrom, scan_force_ev_per_angstrom, noise_force_ev_per_angstrom,
                    force_steps: list[Detection] = (), floors: FloorsV2 = FloorsV2(),
                    max_events: int = 20) -> list[Detection]:
    """Kinks of f_r (kind ``curvature_jump``), after removing ``force_steps`` (module docstring)."""
    r = np.asarray(r_angstrom, float)
    g = remove_steps(r, scan_force_ev_per_angstrom, list(force_steps))
    out: list[Detection] = []
    taken: list[int] = []
    for _ in range(max_events):
        r_mid, s, thr, allowance, excess = curvature_profile(r, g, noise_force_ev_per_angstrom, floors)
        for k0 in taken:
            excess[max(0, k0 - floors.merge_points): k0 + floors.merge_points + 1] = 0.0
        if excess.max() <= 0:
            break
        k = int(np.argmax(excess))
        out.append(Detection("curvature_jump", float(r_mid[k]), float(abs(s[k])), "eV/Å²", float(thr[k] + allowance[k]),
                             f"E'' steps by {-s[k]:+.3e} eV/Å² (f_r' by {s[k]:+.3e}); threshold {thr[k]:.2e} + "
                             f"resolution allowance {allowance[k]:.2e}", float(-s[k])))
        taken.append(k)
        g = g - s[k] * np.clip(r - r_mid[k], 0.0, None)
    return sorted(out, key=lambda d: d.r_angstrom)


def joined_runs(flag, gap_points: int) -> list[tuple[int, int]]:
    """[start, stop) of each run of True, runs separated by fewer than ``gap_points`` False joined."""
    runs: list[list[int]] = []
    for start, stop in true_runs(np.asarray(flag, bool)):
        if runs and start - runs[-1][1] < gap_points:
            runs[-1][1] = int(stop)
        else:
            runs.append([int(start), int(stop)])
    return [(a, b) for a, b in runs]


def roughness(r_angstrom, energy_ev, scan_force_ev_per_angstrom, floors: FloorsV2 = FloorsV2()) -> list[Detection]:
    """Stretches whose local noise exceeds the roughness floors (module docstring)."""
    r = np.asarray(r_angstrom, float)
    sig_e = local_noise(energy_ev, floors.noise_window_points)
    sig_f = local_noise(scan_force_ev_per_angstrom, floors.noise_window_points)
    ratio_e = sig_e / floors.roughness_energy_floor_ev
    ratio_f = sig_f / floors.roughness_force_floor_ev_per_angstrom
    ratio = np.maximum(ratio_e, ratio_f)
    flagged = ratio > 1.0
    pad = floors.noise_window_points // 2  # the running median places a stretch's edges only this well
    out = []
    for start, stop in joined_runs(flagged, floors.noise_window_points):
        k = start + int(np.argmax(ratio[start:stop]))
        if ratio_e[k] >= ratio_f[k]:
            size, unit, floor = sig_e[k], "eV", floors.roughness_energy_floor_ev
        else:
            size, unit, floor = sig_f[k], "eV/Å", floors.roughness_force_floor_ev_per_angstrom
        out.append(Detection("roughness", float(r[k]), float(size), unit, float(floor),
                             f"local noise σ_E = {sig_e[k]:.2e} eV, σ_f = {sig_f[k]:.2e} eV/Å over "
                             f"r = {r[start]:.3f}-{r[stop - 1]:.3f} Å",
                             span_angstrom=(float(r[max(start - pad, 0)]), float(r[min(stop - 1 + pad, len(r) - 1)]))))
    return out
