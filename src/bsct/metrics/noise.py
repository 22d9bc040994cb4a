"""Numerical noise of one bond scan, estimated from the scan itself (BSCT v2).

A smooth curve y(r) sampled on a uniform grid (step h) has k-th differences
    Δᵏy_i = Σ_{t=0..k} (−1)^{k−t} C(k,t) y_{i+t} ≈ hᵏ y⁽ᵏ⁾,
which fall quickly with k wherever the grid resolves the curve (h·|y⁽ᵏ⁺¹⁾/y⁽ᵏ⁾| < 1). White
noise of standard deviation σ instead gives Var(Δᵏε) = σ²·Σ_t C(k,t)² = σ²·C(2k,k), the same σ
for every k once normalised. So

    σ̂_k = 1.4826 · median_i |Δᵏy_i| / √C(2k,k)        (MAD → σ for a Gaussian)
    σ̂   = min_{k ∈ orders} σ̂_k                          (default orders 2..10)

is the noise where the noise dominates the k-th differences and an upper bound otherwise
(curvature leaks in at low k; the min picks the order where it no longer does). The median
makes it robust to a few genuine steps: a step touches only k+1 of the differences.

*Local* estimate: the same with a running median over ``window_points`` differences, so a scan
whose noise grows on the steep repulsive wall (float32 rounding of a large |E|) gets a larger σ
there. The effective noise used by the detectors is max(local, global): a quiet window cannot
pull the threshold below the scan-wide level; :func:`scan_noise` also spreads it over the
detectors' filter support (the largest within ±8 points in BSCT v2), so the edge of a noisy
stretch is judged by its noise, not by the clean side's.

Units: σ has the unit of y (eV for E, eV/Å for forces). Shapes: ``values`` (n,) -> scalars and
(n,) local profiles; per-atom forces (n, n_atoms, 3) -> one σ per atom and component,
``(n_atoms, 3)``.

Typical values (tests/metrics/test_noise.py): float64 analytic potentials 1e-17–1e-15 eV
(Morse 4.6e-17, ASE LJ 1e-16, EMT Cu dimer 1.5e-15 on the default 240-point grid); float32
models 1e-6–1e-4 eV (rounding of a total energy of 10–1000 eV: 100 eV in float32 gives
ulp/√12 = 2.2e-6 eV).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import maximum_filter1d

MAD_TO_SIGMA = 1.4826
"""1/Φ⁻¹(3/4): the median absolute value of a zero-mean Gaussian times this is its σ."""

DEFAULT_ORDERS = (2, 3, 4, 5, 6, 7, 8, 9, 10)


def _kth_differences(y: np.ndarray, k: int) -> np.ndarray:
    return np.diff(y, n=k, axis=0) / np.sqrt(comb(2 * k, k))


def global_noise(values: np.ndarray, orders=DEFAULT_ORDERS) -> float | np.ndarray:
    """Scan-wide noise σ̂ = min_k 1.4826·median|Δᵏy|/√C(2k,k) (module docstring).

    values: (n,) -> float; (n, ...) -> array of the trailing shape (one σ per column).
    Non-finite samples are ignored (differences touching them are dropped).
    """
    y = np.asarray(values, float)
    best = None
    for k in orders:
        if y.shape[0] <= k + 2:
            continue
        d = np.abs(_kth_differences(y, k))
        est = MAD_TO_SIGMA * np.nanmedian(np.where(np.isfinite(d), d, np.nan), axis=0)
        best = est if best is None else np.fmin(best, est)
    if best is None:
        raise ValueError("too few points to estimate the noise")
    return float(best) if np.ndim(best) == 0 else best


def _running_median(d: np.ndarray, window_points: int) -> np.ndarray:
    """Median over a full window around each index, the window shifted inwards at the ends
    (no padding: a padded edge would repeat one value and give a median of one sample)."""
    w = min(window_points, len(d))
    med = np.median(sliding_window_view(d, w), axis=1)  # windows starting at 0..len-w
    start = np.clip(np.arange(len(d)) - w // 2, 0, len(d) - w)
    return med[start]


def local_noise(values: np.ndarray, window_points: int = 41, orders=DEFAULT_ORDERS) -> np.ndarray:
    """Noise σ̂(r_i) at each grid point from running medians of |Δᵏy| over ``window_points``.

    values: (n,) samples. Returns (n,). The k-th difference Δᵏy_i is attributed to the centre
    of its stencil, r_{i+k/2}; the ends take the nearest computed value.
    """
    y = np.asarray(values, float)
    n = len(y)
    best = np.full(n, np.inf)
    for k in orders:
        if n <= k + 2:
            continue
        d = np.abs(_kth_differences(y, k))
        d = np.where(np.isfinite(d), d, np.inf)
        med = MAD_TO_SIGMA * _running_median(d, window_points)
        full = np.empty(n)
        shift = k // 2
        full[shift : shift + len(med)] = med
        full[:shift] = med[0]
        full[shift + len(med) :] = med[-1]
        best = np.minimum(best, full)
    if not np.isfinite(best).any():
        raise ValueError("too few finite points to estimate the noise")
    return best


def float32_sum_noise_ev(energy_ev, n_atoms: int) -> float:
    """σ that float32 rounding gives a total energy summed over ``n_atoms`` atoms:
    ulp32(max|E|)·sqrt(n_atoms/12) (each partial sum rounded by up to ulp/2, uniformly).

    An 864-atom Cu cell (E ≈ −2144 eV, ulp32 = 2.4e-4 eV) gives 2.1e-3 eV; its measured scan
    noise is 0.9-1.5e-3 eV. A 2-atom dimer near −1 eV gives 5e-8 eV.
    """
    e = np.asarray(energy_ev, float)
    e = e[np.isfinite(e)]
    if len(e) == 0 or n_atoms < 1:
        return 0.0
    return float(np.spacing(np.float32(np.max(np.abs(e))))) * float(np.sqrt(n_atoms / 12.0))


@dataclass(frozen=True)
class ScanNoise:
    """Noise of one scan, separately for the energy and the scan force.

    Attributes:
        energy_ev: scan-wide σ of E(r), eV.
        force_ev_per_angstrom: scan-wide σ of f_r(r), eV/Å.
        energy_local_ev: (n,) max(local, scan-wide) σ of E at each point, eV.
        force_local_ev_per_angstrom: (n,) the same for f_r, eV/Å.
        atom_forces_ev_per_angstrom: (n_atoms, 3) scan-wide σ of every force component, or None.
    """

    energy_ev: float
    force_ev_per_angstrom: float
    energy_local_ev: np.ndarray
    force_local_ev_per_angstrom: np.ndarray
    atom_forces_ev_per_angstrom: np.ndarray | None = None


def scan_noise(
    energy_ev: np.ndarray,
    scan_force_ev_per_angstrom: np.ndarray,
    forces_ev_per_angstrom: np.ndarray | None = None,
    window_points: int = 41,
    orders=DEFAULT_ORDERS,
    support_points: int = 1,
) -> ScanNoise:
    """Noise of E(r) (n,), f_r(r) (n,) and optionally every atom's force (n, n_atoms, 3).

    support_points: the local profiles are the largest local σ within this many points centred
    on each point (1: none). A detector's measurement at a point is a filter of the values
    within its support, so its noise is that of the noisiest of them: next to a noisy stretch
    a clean point's own σ would let the stretch's edge through as a step or a dip.
    """
    e = np.asarray(energy_ev, float)
    f = np.asarray(scan_force_ev_per_angstrom, float)
    sig_e = global_noise(e, orders)
    sig_f = global_noise(f, orders)
    loc_e = maximum_filter1d(np.maximum(local_noise(e, window_points, orders), sig_e), support_points, mode="nearest")
    loc_f = maximum_filter1d(np.maximum(local_noise(f, window_points, orders), sig_f), support_points, mode="nearest")
    atoms = None if forces_ev_per_angstrom is None else global_noise(np.asarray(forces_ev_per_angstrom, float), orders)
    return ScanNoise(sig_e, sig_f, loc_e, loc_f, atoms)
