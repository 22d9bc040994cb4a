"""Force Smoothness Deviation (FSD), the BSCT paper's headline metric (arXiv 2602.04861).

Per scan of n frames with reference labels (definition: shared/bsct_spice/README.md):

    eq            = argmin_k E_ref(r_k)                      the reference minimum
    dF_model(r_k) = F_model(r_k) - F_ref(r_eq)               (n_atoms, 3), eV/Å
    dF_ref(r_k)   = F_ref(r_k)   - F_ref(r_eq)
    L(r_k)        = log( max(|dF_model|², ε²) / max(|dF_ref|², ε²) )      |·|² over atoms and xyz
    FSD           = max_k |L(r_{k+1}) - L(r_k)| / (r_{k+1} - r_k)         1/Å

with ε = 1 eV/Å. Compression: frames 0..eq; stretch: frames eq..n-1 (both include eq). FSD is
zero when model forces equal the reference and blind to energy offsets (only forces enter).

The model's energy profile is rebuilt from its forces along the path (trapezoid rule,
dE = -Σ ½(F_k + F_{k+1})·(x_{k+1} - x_k)), so a non-conservative model gets one too; energy
MAE compares it with E_ref - E_ref(r_eq), both zero at the reference minimum.
Key names follow the official BSCT release so results compare one to one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PARTS = ("full", "compress", "stretch")
METRIC_KEYS = tuple(f"{part}_{m}" for part in PARTS for m in ("smoothness", "energy_mae", "forces_mae"))


@dataclass(frozen=True)
class FSDResult:
    """FSD and errors of one scan; names are the official BSCT keys.

    Attributes:
        full_smoothness, compress_smoothness, stretch_smoothness: FSD in 1/Å.
        *_energy_mae: eV, force-integrated model profile vs reference profile (both 0 at r_eq).
        *_forces_mae: eV/Å, mean over frames, atoms and components.
        eq_idx: index of the lowest-energy reference frame; r_eq_angstrom: its bond length.
        energy_model_profile_ev, energy_ref_profile_ev: (n_frames,), zero at eq_idx.
        dforce_sq_model, dforce_sq_ref: (n_frames,) |dF|² in (eV/Å)²; log_ratio: (n_frames,) L.
    """

    full_smoothness: float
    full_energy_mae: float
    full_forces_mae: float
    compress_smoothness: float
    compress_energy_mae: float
    compress_forces_mae: float
    stretch_smoothness: float
    stretch_energy_mae: float
    stretch_forces_mae: float
    eq_idx: int
    r_eq_angstrom: float
    energy_model_profile_ev: np.ndarray
    energy_ref_profile_ev: np.ndarray
    dforce_sq_model: np.ndarray
    dforce_sq_ref: np.ndarray
    log_ratio: np.ndarray

    def metrics(self) -> dict[str, float]:
        """The nine official scalars."""
        return {k: float(getattr(self, k)) for k in METRIC_KEYS}


def energy_profile_from_forces(positions_angstrom: np.ndarray, forces_ev_per_angstrom: np.ndarray) -> np.ndarray:
    """(n_frames,) energy along a path from forces alone, 0 at frame 0 (eV).

    Trapezoid rule over the actual displacement of every atom between frames: exact for
    forces linear along the path, and defined for non-conservative models.
    Shapes: positions and forces (n_frames, n_atoms, 3).
    """
    x = np.asarray(positions_angstrom, float)
    f = np.asarray(forces_ev_per_angstrom, float)
    de = -np.sum(0.5 * (f[1:] + f[:-1]) * (x[1:] - x[:-1]), axis=(1, 2))
    return np.concatenate([[0.0], np.cumsum(de)])


def log_force_ratio(forces_model: np.ndarray, forces_ref: np.ndarray, eq_idx: int, eps_ev_per_angstrom: float = 1.0):
    """|dF_model|², |dF_ref|² and L = log of their eps-floored ratio, each (n_frames,)."""
    f_eq = forces_ref[eq_idx]
    d_model = np.sum((forces_model - f_eq) ** 2, axis=(1, 2))
    d_ref = np.sum((forces_ref - f_eq) ** 2, axis=(1, 2))
    eps2 = eps_ev_per_angstrom**2
    return d_model, d_ref, np.log(np.maximum(d_model, eps2)) - np.log(np.maximum(d_ref, eps2))


def part_slices(eq_idx: int) -> dict[str, slice]:
    """Frames of each part: compression 0..eq, stretch eq..n-1 (both include the minimum)."""
    return {"full": slice(None), "compress": slice(0, eq_idx + 1), "stretch": slice(eq_idx, None)}


def max_abs_slope(x: np.ndarray, y: np.ndarray) -> float:
    """max |Δy/Δx| over consecutive points; 0 for fewer than two points."""
    if len(x) < 2:
        return 0.0
    return float(np.max(np.abs(np.diff(y) / np.diff(x))))


def force_smoothness_deviation(
    r_angstrom: np.ndarray,
    forces_model_ev_per_angstrom: np.ndarray,
    forces_ref_ev_per_angstrom: np.ndarray,
    energy_ref_ev: np.ndarray,
    positions_angstrom: np.ndarray | None = None,
    eps_ev_per_angstrom: float = 1.0,
) -> FSDResult:
    """FSD of one scan; r (n_frames,) increasing, forces (n_frames, n_atoms, 3).

    ``positions_angstrom`` (n_frames, n_atoms, 3) are needed for the energy profile; without
    them the energy MAEs are NaN.
    """
    r = np.asarray(r_angstrom, float)
    f_model = np.asarray(forces_model_ev_per_angstrom, float)
    f_ref = np.asarray(forces_ref_ev_per_angstrom, float)
    e_ref = np.asarray(energy_ref_ev, float)
    if (f_model.shape != f_ref.shape or f_ref.ndim != 3 or f_ref.shape[0] != len(r) or e_ref.shape != r.shape
            or (positions_angstrom is not None and np.shape(positions_angstrom) != f_ref.shape)):
        raise ValueError(f"shape mismatch: r {r.shape}, model forces {f_model.shape}, reference forces {f_ref.shape}, "
                         f"reference energy {e_ref.shape}"
                         + (f", positions {np.shape(positions_angstrom)}" if positions_angstrom is not None else ""))
    if np.any(np.diff(r) <= 0):
        raise ValueError("bond lengths must increase along the scan")
    finite = np.isfinite(e_ref) & np.isfinite(f_ref).all(axis=(1, 2))
    if positions_angstrom is not None:
        finite &= np.isfinite(np.asarray(positions_angstrom, float)).all(axis=(1, 2))
    if not finite.all():  # one NaN frame turns the whole scan's FSD into noise; mask it first
        raise ValueError(f"reference energy, forces or positions not finite at frame(s) "
                         f"{np.flatnonzero(~finite).tolist()}; mask them (bsct_spice.finite_frame_mask)")
    eq = int(np.argmin(e_ref))
    d_model, d_ref, log_ratio = log_force_ratio(f_model, f_ref, eq, eps_ev_per_angstrom)
    e_ref_profile = e_ref - e_ref[eq]
    if positions_angstrom is None:
        e_model_profile = np.full_like(r, np.nan)
    else:
        e_model_profile = energy_profile_from_forces(positions_angstrom, f_model)
        e_model_profile = e_model_profile - e_model_profile[eq]
    abs_de = np.abs(e_model_profile - e_ref_profile)
    abs_df = np.abs(f_model - f_ref)
    parts = part_slices(eq)
    values = {}
    for name, sl in parts.items():
        values[f"{name}_smoothness"] = max_abs_slope(r[sl], log_ratio[sl])
        values[f"{name}_energy_mae"] = float(np.mean(abs_de[sl]))
        values[f"{name}_forces_mae"] = float(np.mean(abs_df[sl]))
    return FSDResult(**values, eq_idx=eq, r_eq_angstrom=float(r[eq]), energy_model_profile_ev=e_model_profile,
                     energy_ref_profile_ev=e_ref_profile, dforce_sq_model=d_model, dforce_sq_ref=d_ref,
                     log_ratio=log_ratio)


FLAT_KEYS = tuple(f"flat_{part}_smoothness" for part in PARTS)


def flat_model_smoothness(
    r_angstrom: np.ndarray,
    forces_ref_ev_per_angstrom: np.ndarray,
    energy_ref_ev: np.ndarray,
    eps_ev_per_angstrom: float = 1.0,
) -> dict[str, float]:
    """FSD floor set by the reference alone: the FSD of a model whose |dF_model|² stays below ε²
    along the scan (e.g. one that returns F_ref(r_eq) at every frame).

    Its L is log ε² − log max(|dF_ref|², ε²), so its FSD is the steepest step of the reference's
    own log |dF_ref|². A model that has not learnt the reference's repulsive wall scores about
    this much however smooth it is; read FSD next to it.
    """
    f_ref = np.asarray(forces_ref_ev_per_angstrom, float)
    eq = int(np.argmin(energy_ref_ev))
    d_ref = np.sum((f_ref - f_ref[eq]) ** 2, axis=(1, 2))
    return flat_floor_from_dforce(r_angstrom, d_ref, eq, eps_ev_per_angstrom)


def flat_floor_from_dforce(r_angstrom: np.ndarray, dforce_sq_ref: np.ndarray, eq_idx: int,
                           eps_ev_per_angstrom: float = 1.0) -> dict[str, float]:
    """:func:`flat_model_smoothness` from an FSD result's |dF_ref|² (no second pass over the forces)."""
    r = np.asarray(r_angstrom, float)
    log_ref = np.log(np.maximum(np.asarray(dforce_sq_ref, float), eps_ev_per_angstrom**2))
    return {f"flat_{part}_smoothness": max_abs_slope(r[sl], log_ref[sl]) for part, sl in part_slices(eq_idx).items()}
