"""Artifact detectors on one bond scan: pure functions of sampled curves.

All detectors take the scan grid ``r_angstrom`` (n,), uniform with step h, and the sampled
energy (n,) / forces (n, n_atoms, 3) / scan force f_r = -dE/dr (n,). Each returns, per
place on the grid, a measured value, a *resolution allowance* (what a smooth curve sampled
at this h could produce there) and the excess over tolerance + allowance. An artifact is
flagged where the excess is positive; the excess also feeds the BSCT score, so a detector
that is quiet contributes exactly zero. Formulas and their derivations: docs/metrics.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import median_filter
from scipy.signal import find_peaks


@dataclass(frozen=True)
class Tolerances:
    """What counts as an artifact. Every field carries its unit; defaults in docs/metrics.md."""

    energy_jump_ev: float = 1e-3
    force_jump_ev_per_angstrom: float = 1e-2
    curvature_jump_ev_per_angstrom2: float = 0.5
    roughness_ev_per_angstrom2: float = 0.5
    force_inconsistency_ev_per_angstrom: float = 1e-2
    well_depth_ev: float = 2e-3
    sign_flip_force_ev_per_angstrom: float = 2e-2
    residual_force_ev_per_angstrom: float = 1e-3
    roughness_window_points: int = 15
    event_separation_points: int = 3


@dataclass(frozen=True)
class Artifact:
    """One localised defect of a scan."""

    kind: str
    r_angstrom: float
    size: float
    unit: str
    excess: float  # size beyond tolerance + allowance, in ``unit``; >0 for a flagged artifact
    bond_label: str = ""
    bond_type: str = ""
    detail: str = ""


@dataclass
class Profile:
    """Per-place measurement of one detector (arrays share length with ``r_angstrom``)."""

    r_angstrom: np.ndarray
    value: np.ndarray
    allowance: np.ndarray
    excess: np.ndarray
    unit: str
    extra: dict = field(default_factory=dict)


def grid_step_angstrom(r_angstrom: np.ndarray) -> float:
    """h of a uniform, increasing grid (raises if the grid is not uniform)."""
    r = np.asarray(r_angstrom, float)
    if r.ndim != 1 or len(r) < 8:
        raise ValueError("a scan grid must be 1-D with at least 8 points")
    steps = np.diff(r)
    h = float(steps.mean())
    if h <= 0 or np.max(np.abs(steps - h)) > 1e-6 * max(1.0, abs(h)) + 1e-9:
        raise ValueError("detectors need a uniform, increasing grid of bond lengths")
    return h


def _as_items(values: np.ndarray) -> np.ndarray:
    """(n,) -> (n, 1, 1); (n, n_atoms, 3) unchanged: items are vectors whose norm we judge."""
    v = np.asarray(values, float)
    if v.ndim == 1:
        return v[:, None, None]
    if v.ndim == 3:
        return v
    raise ValueError(f"expected (n,) or (n, n_items, dim) values, got shape {v.shape}")


def jump_profile(r_angstrom: np.ndarray, values: np.ndarray, tol: float, unit: str) -> Profile:
    """Discontinuities of a sampled function y(r) between consecutive grid points.

    On interval k (between r_k and r_k+1) the increment Δy_k is compared with the cubic
    interpolation of its neighbours' increments,
        res_k = Δy_k - (-Δy_{k-2} + 4Δy_{k-1} + 4Δy_{k+1} - Δy_{k+2}) / 6,
    which is O(h^5) for a smooth y, equal to the jump J for a step in y, and at most
    h·|Δy'|/2 for a kink (a step in y'). The allowance 0.75·|Δy_{k+1} - Δy_{k-1}| (≈ 1.5 h²|y''|
    for smooth y, 0.75 h|Δy'| at a kink) absorbs kinks and a coarse grid; so only jumps that no
    smooth or kinked curve at this resolution can make survive. Vector items (atoms) are judged
    by their norm and the worst item is kept. The first and last two intervals are not tested.
    """
    y = _as_items(values)
    dy = np.diff(y, axis=0)  # (n-1, items, dim)
    n_int = dy.shape[0]
    res = np.zeros(n_int)
    allowance = np.full(n_int, np.inf)
    excess = np.zeros(n_int)
    if n_int >= 5:
        k = np.arange(2, n_int - 2)
        pred = (-dy[k - 2] + 4 * dy[k - 1] + 4 * dy[k + 1] - dy[k + 2]) / 6.0
        res_items = np.linalg.norm(dy[k] - pred, axis=-1)  # (m, items)
        allow_items = tol + 0.75 * np.linalg.norm(dy[k + 1] - dy[k - 1], axis=-1)
        exc_items = np.maximum(res_items - allow_items, 0.0)
        worst = np.where(exc_items.max(axis=1) > 0, exc_items.argmax(axis=1), res_items.argmax(axis=1))
        rows = np.arange(len(k))
        res[k] = res_items[rows, worst]
        allowance[k] = allow_items[rows, worst]
        excess[k] = exc_items[rows, worst]
    r = np.asarray(r_angstrom, float)
    r_mid = 0.5 * (r[1:] + r[:-1])
    return Profile(r_mid, res, allowance, excess, unit)


def curvature_from_forces(r_angstrom: np.ndarray, scan_force_ev_per_angstrom: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E''(r) on interval midpoints from the scan force: κ_k = -(f_{k+1} - f_k)/h (eV/Å²)."""
    h = grid_step_angstrom(r_angstrom)
    r = np.asarray(r_angstrom, float)
    return 0.5 * (r[1:] + r[:-1]), -np.diff(np.asarray(scan_force_ev_per_angstrom, float)) / h


def curvature_jump_profile(r_angstrom: np.ndarray, scan_force_ev_per_angstrom: np.ndarray, tol: float) -> Profile:
    """Jumps of the curvature E''(r) (kinks of the force), eV/Å².

    κ_k = -(f_{k+1} - f_k)/h lives on intervals; the interval that contains a force kink gets an
    intermediate κ, which would split one curvature jump into two half-jumps. So the jump test
    runs on the even and the odd κ separately (spacing 2h): one of them skips the intermediate
    value and sees the whole jump. Each place keeps the larger excess of the two.
    """
    r_mid, kappa = curvature_from_forces(r_angstrom, scan_force_ev_per_angstrom)
    parts = [jump_profile(r_mid[s::2], kappa[s::2], tol, "eV/Å²") for s in (0, 1) if len(kappa[s::2]) >= 8]
    if not parts:
        return Profile(r_mid[:1], np.zeros(1), np.full(1, np.inf), np.zeros(1), "eV/Å²")
    r = np.concatenate([p.r_angstrom for p in parts])
    order = np.argsort(r, kind="stable")
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])[order]  # noqa: E731
    return Profile(r[order], cat("value"), cat("allowance"), cat("excess"), "eV/Å²")


def roughness_profile(
    r_angstrom: np.ndarray, scan_force_ev_per_angstrom: np.ndarray, tol: float, window_points: int = 15
) -> Profile:
    """High-frequency roughness of the curvature E''(r), as a local noise level in eV/Å².

    κ (curvature from the forces) is differenced twice and four times. For white noise of
    standard deviation σ in κ, Δ²κ and Δ⁴κ have standard deviations σ√6 and σ√70; for a smooth
    curve they are about h²κ⁽²⁾ and h⁴κ⁽⁴⁾, so Δ⁴ is far below Δ² wherever the grid resolves the
    curve. Running medians over ``window_points`` (robust to isolated jumps, which belong to
    the jump detectors) give σ₄ = 1.4826·med|Δ⁴κ|/√70 and σ₂ = 1.4826·med|Δ²κ|/√6. The curve is
    rough where σ₄ exceeds both the tolerance and σ₂/2: noise gives σ₄ ≈ σ₂, a steep but
    resolved wall gives σ₄ ≪ σ₂.
    """
    r_mid, kappa = curvature_from_forces(r_angstrom, scan_force_ev_per_angstrom)
    d4 = np.zeros_like(kappa)
    d2 = np.zeros_like(kappa)
    if len(kappa) >= 5:
        d4[2:-2] = np.abs(np.diff(kappa, n=4))
        d2[1:-1] = np.abs(np.diff(kappa, n=2))
    sigma4 = 1.4826 * median_filter(d4, size=window_points, mode="nearest") / np.sqrt(70.0)
    sigma2 = 1.4826 * median_filter(d2, size=window_points, mode="nearest") / np.sqrt(6.0)
    allowance = np.maximum(tol, 0.5 * sigma2)
    return Profile(r_mid, sigma4, allowance, np.maximum(sigma4 - allowance, 0.0), "eV/Å²")


def consistency_profile(
    r_angstrom: np.ndarray, energy_ev: np.ndarray, scan_force_ev_per_angstrom: np.ndarray, tol: float
) -> Profile:
    """Does the force along the scan equal -dE/dr? Mean mismatch per interval, eV/Å.

    Euler-Maclaurin: ΔE_k = -[h(f_k + f_{k+1})/2 - h²(f'_{k+1} - f'_k)/12] + O(h⁵), f' by
    second-order differences. δ_k = (ΔE_k + h(f_k + f_{k+1})/2 - h²(f'_{k+1} - f'_k)/12) / h is
    then the interval mean of f_model - (-dE/dr): O(h⁴) for a conservative model, the extra
    force itself for a non-conservative one. Allowance: |Δ⁴f|/30 around the interval, a
    generous bound on the h⁴f⁽⁴⁾/72 error that the estimated f' leaves. The end intervals are
    not judged.
    """
    h = grid_step_angstrom(r_angstrom)
    e = np.asarray(energy_ev, float)
    f = np.asarray(scan_force_ev_per_angstrom, float)
    fp = np.gradient(f, h, edge_order=2)
    correction = h * h * np.diff(fp) / 12.0
    delta = (np.diff(e) + h * (f[1:] + f[:-1]) / 2.0 - correction) / h
    d4_point = np.zeros(len(f))
    if len(f) >= 5:
        d4_point[2:-2] = np.abs(np.diff(f, n=4))
        d4_point[:2], d4_point[-2:] = d4_point[2], d4_point[-3]
    allowance = tol + np.maximum(d4_point[1:], d4_point[:-1]) / 30.0
    allowance[[0, -1]] = np.inf  # one-sided f' at the ends is too rough to judge by
    r = np.asarray(r_angstrom, float)
    return Profile(0.5 * (r[1:] + r[:-1]), delta, allowance, np.maximum(np.abs(delta) - allowance, 0.0), "eV/Å")


def equilibrium_index(r_angstrom: np.ndarray, energy_ev: np.ndarray, r0_angstrom: float | None) -> int:
    """Index of the physical minimum: lowest energy within [0.8 r0, 1.3 r0], else the global one.

    Anchoring on r0 keeps a model that collapses at short range from moving the 'physical'
    minimum to the edge of the scan.
    """
    r = np.asarray(r_angstrom, float)
    e = np.asarray(energy_ev, float)
    finite = np.isfinite(e)
    if r0_angstrom is not None:
        window = finite & (r >= 0.8 * r0_angstrom) & (r <= 1.3 * r0_angstrom)
        if window.any():
            idx = np.flatnonzero(window)
            best = idx[np.argmin(e[idx])]
            if best not in (idx[0], idx[-1]):
                return int(best)
    return int(np.nanargmin(np.where(finite, e, np.nan)))


def spurious_minima(
    r_angstrom: np.ndarray, energy_ev: np.ndarray, eq_idx: int, depth_tol_ev: float
) -> list[tuple[int, float]]:
    """Local minima of E(r) other than the physical one, with their depth (prominence, eV).

    Depth is how far E must rise to escape the well on its lower side, so numerical noise
    (shallow wiggles) stays under ``depth_tol_ev``.
    """
    e = np.asarray(energy_ev, float)
    idx, props = find_peaks(-e, prominence=depth_tol_ev)
    return [(int(i), float(p)) for i, p in zip(idx, props["prominences"]) if abs(int(i) - eq_idx) > 1]


def sign_flip_runs(
    scan_force_ev_per_angstrom: np.ndarray, eq_idx: int, tol: float
) -> list[tuple[int, int, int, str]]:
    """Runs of points whose scan force has the unphysical sign.

    Beyond the equilibrium the pair must be pulled back (f_r ≤ 0); under compression pushed
    apart (f_r ≥ 0). Returns (start, stop, worst index, side) for each run exceeding ``tol``.
    """
    f = np.asarray(scan_force_ev_per_angstrom, float)
    n = len(f)
    wrong = np.zeros(n, bool)
    wrong[eq_idx + 1 :] = f[eq_idx + 1 :] > tol
    wrong[:eq_idx] = f[:eq_idx] < -tol
    runs = []
    k = 0
    while k < n:
        if wrong[k]:
            start = k
            while k < n and wrong[k]:
                k += 1
            worst = start + int(np.argmax(np.abs(f[start:k])))
            runs.append((start, k, worst, "stretch" if start > eq_idx else "compression"))
        else:
            k += 1
    return runs


def pick_events(excess: np.ndarray, separation_points: int) -> list[int]:
    """Indices of flagged places, one per cluster: non-maximum suppression within ``separation_points``."""
    order = np.argsort(-excess)
    chosen: list[int] = []
    for k in order:
        if excess[k] <= 0:
            break
        if all(abs(int(k) - c) > separation_points for c in chosen):
            chosen.append(int(k))
    return sorted(chosen)
