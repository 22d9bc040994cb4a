"""Force Smoothness Deviation (FSD), the BSCT paper's headline metric (arXiv 2602.04861).

Per scan with reference labels:
    dF_model(r) = F_model(r) - F_ref(r_eq),   dF_ref(r) = F_ref(r) - F_ref(r_eq)
    L(r) = log( max(|dF_model|², ε²) / max(|dF_ref|², ε²) )
    FSD = max over consecutive frames |ΔL / Δr|                      (1/Å)
r_eq is the frame of lowest reference energy, |·|² sums over all atoms and components and
ε = 1 eV/Å. Reported over the full scan, its compression part (frames up to and including r_eq)
and its stretch part (from r_eq on). FSD = 0 when the model equals the reference, and an
energy offset cannot change it (only forces enter).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FSDResult:
    """FSD of one scan (1/Å) and the plain errors next to it."""

    fsd_per_angstrom: float
    fsd_compression_per_angstrom: float
    fsd_stretch_per_angstrom: float
    energy_mae_ev: float  # of E - E(r_eq), so a constant offset between methods does not count
    force_mae_ev_per_angstrom: float
    r_eq_angstrom: float


def _max_slope(r: np.ndarray, log_ratio: np.ndarray) -> float:
    if len(r) < 2:
        return 0.0
    return float(np.max(np.abs(np.diff(log_ratio) / np.diff(r))))


def force_smoothness_deviation(
    r_angstrom: np.ndarray,
    forces_model_ev_per_angstrom: np.ndarray,
    forces_ref_ev_per_angstrom: np.ndarray,
    energy_ref_ev: np.ndarray,
    energy_model_ev: np.ndarray | None = None,
    eps_ev_per_angstrom: float = 1.0,
) -> FSDResult:
    """FSD of one scan; arrays are (n_frames,) and (n_frames, n_atoms, 3), r increasing."""
    r = np.asarray(r_angstrom, float)
    f_model = np.asarray(forces_model_ev_per_angstrom, float)
    f_ref = np.asarray(forces_ref_ev_per_angstrom, float)
    e_ref = np.asarray(energy_ref_ev, float)
    if f_model.shape != f_ref.shape or f_ref.shape[0] != len(r) or len(e_ref) != len(r):
        raise ValueError(f"shape mismatch: r {r.shape}, model forces {f_model.shape}, reference forces {f_ref.shape}, "
                         f"reference energy {e_ref.shape}")
    if np.any(np.diff(r) <= 0):
        raise ValueError("bond lengths must increase along the scan")
    eq = int(np.argmin(e_ref))
    eps2 = eps_ev_per_angstrom**2
    d_model = np.sum((f_model - f_ref[eq]) ** 2, axis=(1, 2))
    d_ref = np.sum((f_ref - f_ref[eq]) ** 2, axis=(1, 2))
    log_ratio = np.log(np.maximum(d_model, eps2) / np.maximum(d_ref, eps2))
    energy_mae = float("nan")
    if energy_model_ev is not None:
        e_model = np.asarray(energy_model_ev, float)
        energy_mae = float(np.mean(np.abs((e_model - e_model[eq]) - (e_ref - e_ref[eq]))))
    return FSDResult(
        fsd_per_angstrom=_max_slope(r, log_ratio),
        fsd_compression_per_angstrom=_max_slope(r[: eq + 1], log_ratio[: eq + 1]),
        fsd_stretch_per_angstrom=_max_slope(r[eq:], log_ratio[eq:]),
        energy_mae_ev=energy_mae,
        force_mae_ev_per_angstrom=float(np.mean(np.abs(f_model - f_ref))),
        r_eq_angstrom=float(r[eq]),
    )
