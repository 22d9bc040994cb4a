"""BSCT v2 force consistency: is the scan force f_r equal to −dE/dr, at the grid's resolution?

At every grid point the derivative of E is taken from a local least-squares polynomial over
the 9 points centred on it (shifted inwards at the ends, :func:`bsct.metrics.localfit.local_derivative`)
at two degrees, p = 4 (reported, error O(h⁴ E⁽⁵⁾)) and p = 2 (error O(h² E‴)):

    δ_k         = f_k + E′₄(r_k)                         (eV/Å; 0 for a conservative model)
    allowance_k = resolution_factor · max_{|j−k|≤4} |E′₄(r_j) − E′₂(r_j)|
    noise_k     = sqrt(σ_f,k² + (σ_E,k · g_k)²)         g_k = ‖w‖₂/h of the degree-4 derivative
    flagged     |δ_k| > max(k_σ · noise_k, force_floor) + allowance_k.

The allowance is the Richardson-style error estimate of the lower degree, so it exceeds the
error of the reported derivative wherever the grid resolves E; at the steepest first points of
a repulsive wall it grows with E⁽³⁾h², which is what v1's fixed tolerance lacked (autograd
models were flagged there). A non-conservative force f = −(1+ε)E′ gives |δ| = ε|E′| everywhere,
so it is found where ε|E′| clears the threshold (for ε = 1 % on a Morse bond: around the force
extremum, |E′| ~ 0.25 eV/Å, δ ~ 2.5 meV/Å against a 0.5 meV/Å floor).

One detection per contiguous run of flagged points, at its largest excess, size |δ| in eV/Å;
``detail`` gives the signed δ, δ/|f| and the run's extent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter1d

from bsct.metrics.detectors import grid_step_angstrom
from bsct.metrics.floors import Detection, FloorsV2, threshold
from bsct.metrics.localfit import local_derivative

HALF_WINDOW = 4
DEGREE = 4
CHECK_DEGREE = 2


@dataclass
class ConsistencyProfile:
    """Per-point mismatch (arrays of length n): δ = f + dE/dr, threshold, allowance, excess (eV/Å)."""

    r_angstrom: np.ndarray
    mismatch: np.ndarray
    threshold: np.ndarray
    allowance: np.ndarray
    excess: np.ndarray
    minus_dE_dr: np.ndarray


def consistency_profile_v2(r_angstrom, energy_ev, scan_force_ev_per_angstrom, noise_energy_ev,
                           noise_force_ev_per_angstrom, floors: FloorsV2 = FloorsV2()) -> ConsistencyProfile:
    """δ_k and its threshold at every point (module docstring). Noise arguments: scalars or (n,)."""
    r = np.asarray(r_angstrom, float)
    h = grid_step_angstrom(r)
    e = np.asarray(energy_ev, float)
    f = np.asarray(scan_force_ev_per_angstrom, float)
    d_hi, gain = local_derivative(e, h, DEGREE, HALF_WINDOW)
    d_lo, _ = local_derivative(e, h, CHECK_DEGREE, HALF_WINDOW)
    mismatch = f + d_hi
    sig_e = np.broadcast_to(np.asarray(noise_energy_ev, float), e.shape)
    sig_f = np.broadcast_to(np.asarray(noise_force_ev_per_angstrom, float), f.shape)
    noise = np.sqrt(sig_f**2 + (sig_e * gain) ** 2)
    thr = threshold(noise, 1.0, floors.force_floor_ev_per_angstrom, floors.k_sigma)
    # The two-degree difference can pass through zero inside a feature the grid does not
    # resolve; its running maximum over the derivative's own window cannot.
    allowance = floors.resolution_factor * maximum_filter1d(np.abs(d_hi - d_lo), 2 * HALF_WINDOW + 1, mode="nearest")
    excess = np.maximum(np.abs(mismatch) - thr - allowance, 0.0)
    return ConsistencyProfile(r, mismatch, thr, allowance, excess, -d_hi)


def true_runs(flag: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    edges = np.diff(np.concatenate([[0], flag.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def force_inconsistency(r_angstrom, energy_ev, scan_force_ev_per_angstrom, noise_energy_ev,
                        noise_force_ev_per_angstrom, floors: FloorsV2 = FloorsV2()) -> list[Detection]:
    """Places where f_r ≠ −dE/dr beyond noise, floor and resolution (kind ``force_inconsistency``, eV/Å)."""
    prof = consistency_profile_v2(r_angstrom, energy_ev, scan_force_ev_per_angstrom, noise_energy_ev,
                                  noise_force_ev_per_angstrom, floors)
    out = []
    f = np.asarray(scan_force_ev_per_angstrom, float)
    for start, stop in true_runs(prof.excess > 0):
        k = start + int(np.argmax(prof.excess[start:stop]))
        need = float(prof.threshold[k] + prof.allowance[k])
        rel = prof.mismatch[k] / abs(f[k]) if f[k] != 0 else float("inf")
        out.append(Detection("force_inconsistency", float(prof.r_angstrom[k]), float(abs(prof.mismatch[k])), "eV/Å",
                             need, f"f_r + dE/dr = {prof.mismatch[k]:+.3e} eV/Å ({rel:+.2%} of f_r); flagged over "
                             f"r = {prof.r_angstrom[start]:.3f}-{prof.r_angstrom[stop - 1]:.3f} Å",
                             span_angstrom=(float(prof.r_angstrom[start]), float(prof.r_angstrom[stop - 1]))))
    return out
