"""Detection thresholds of BSCT v2: the scan's own noise, or a small physical floor, whichever is larger.

Every v2 detector measures a quantity q at each place of the scan (a step, a force mismatch, a
dip of the tail force), knows the noise gain g of its measurement (q's standard deviation per
unit white noise of the input, :mod:`bsct.metrics.localfit`) and the input's noise σ
(:mod:`bsct.metrics.noise`), and, where it applies, a resolution allowance a (what a smooth curve
sampled at this grid could produce, from the difference of two fits of different degree). It
reports the place when

    |q| > T + a,        T = max(k_σ · σ · g,  floor).

Choices (defaults of :class:`FloorsV2`):

``k_sigma = 6``
    Gaussian noise exceeds 6σ with probability 2·Φ(−6) = 2.0e-9 per test. A scan has ~240 places
    and ~5 tests per place (E step, F step, consistency, tail, far field): about 2,400 tests,
    so ~5e-6 false alarms per scan; even if σ were underestimated by 20 % (effective 5σ:
    5.7e-7 per test) the rate stays below 2e-3 per scan, i.e. a 500-scan study sees at most one
    noise-born artifact. k_σ = 4 would give 0.15 per scan, unusable.
``energy_floor_ev = 5e-5`` (0.05 meV)
    * half of the smallest energy step the issue asks to find (0.1 meV in float64), so such a
      step clears the floor by a factor 2 even with a resolution allowance of the same size;
    * k_B·T at 0.6 K (k_B = 8.617e-5 eV/K): a step this small cannot matter to any simulation
      run at a temperature of interest (k_B·300 K = 26 meV is 500 times larger);
    * 6.6 float32 ulps of a 100 eV total energy (ulp(100 eV) = 2^-17 eV = 7.6e-6 eV, rounding
      σ = ulp/√12 = 2.2e-6 eV): rounding alone cannot reach it even where the scan's noise
      estimate is fooled (a flat float32 staircase whose median difference is 0).
``force_floor_ev_per_angstrom = 5e-4`` (0.5 meV/Å)
    * half of the smallest force step the issue asks to find (1 meV/Å);
    * the energy floor spread over 0.1 Å, a typical thermal vibration amplitude of a bond at
      300 K: a force error below it moves the energy by less than the energy floor over a
      vibration; it is also ~1/20 of the textbook LJ truncation step that drives NVE drift;
    * ~500 float32 ulps of a 1 eV/Å force (ulp = 1.2e-7 eV/Å), and at the level of the per-atom
      force noise of float32 models (1e-5–1e-4 eV/Å) only after summing over hundreds of
      neighbours — where the noise term k_σ·σ·g takes over anyway.
``curvature_floor_ev_per_angstrom2 = 0.5``
    v1's tolerance, kept: ASE's own "smooth" LennardJones (a C1 switch in r²) has genuine kinks of
    f_r of 0.24 eV/Å² (σ = 1 Å, ε = 1 eV) at its switch-on radius, and widely used potentials
    are accepted with such; 0.5 eV/Å² is a third of a Cu–Cu bond's own curvature 2Da² ≈ 1.4 eV/Å².
``roughness_energy_floor_ev = 3e-4``, ``roughness_force_floor_ev_per_angstrom = 3e-3``
    a curve whose *local* noise exceeds these is rough in itself (an artifact, whatever its
    cause): 3× the largest numerical noise of float32 models (1e-4 eV, 1e-3 eV/Å), so float32
    rounding and summation noise is never roughness, while noise of 1 meV (k_B·12 K) is. For a
    large cell the energy floor is raised further, to 3× what float32 summation of its atoms'
    energies gives (:func:`bsct.metrics.noise.float32_sum_noise_ev`, ``analyse_arrays_v2(n_atoms=)``).
``resolution_factor = 1.5``
    the two-degree error estimate |q_p − q_p'| is multiplied by this before use as allowance,
    a margin for the pre-asymptotic regime (steep wall at the first points) where the estimate
    is only approximately the error of the reported value.

Float64 analytic potentials (σ ~ 1e-16–1e-13) are therefore judged by the floors; float32
models (σ ~ 1e-6–1e-4 eV, gains 2–5) by their own noise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class FloorsV2:
    """Thresholds and shared settings of the v2 detectors (units in the names)."""

    k_sigma: float = 6.0
    energy_floor_ev: float = 5e-5
    force_floor_ev_per_angstrom: float = 5e-4
    resolution_factor: float = 1.5
    merge_points: int = 4
    """detections within this many grid steps of each other are one artifact (merge.py): the
    consistency derivative spans ±4 points, so its echo of a step lies within 4 steps."""
    noise_window_points: int = 41
    """running-median window of the local noise estimate (noise.py)."""
    curvature_floor_ev_per_angstrom2: float = 0.5
    """smallest kink of f_r (step of E'') reported (shape.py)."""
    roughness_energy_floor_ev: float = 3e-4
    """local σ of E above which the curve itself is rough (shape.py)."""
    roughness_force_floor_ev_per_angstrom: float = 3e-3
    """local σ of f_r above which the curve itself is rough (shape.py)."""

    def scaled(self, factor: float) -> "FloorsV2":
        """The same settings with every physical floor multiplied by ``factor`` (sensitivity studies)."""
        return replace(self, energy_floor_ev=self.energy_floor_ev * factor,
                       force_floor_ev_per_angstrom=self.force_floor_ev_per_angstrom * factor,
                       curvature_floor_ev_per_angstrom2=self.curvature_floor_ev_per_angstrom2 * factor,
                       roughness_energy_floor_ev=self.roughness_energy_floor_ev * factor,
                       roughness_force_floor_ev_per_angstrom=self.roughness_force_floor_ev_per_angstrom * factor)


def threshold(noise_sigma, gain, floor: float, k_sigma: float) -> np.ndarray:
    """T = max(k_σ·σ·g, floor), elementwise; σ in the input's unit, g dimensionless or 1/Å."""
    return np.maximum(k_sigma * np.asarray(noise_sigma, float) * np.asarray(gain, float), floor)


@dataclass(frozen=True)
class Detection:
    """One place where one v2 detector fired.

    Attributes:
        kind: detector name (``energy_jump``, ``force_jump``, ``force_inconsistency``,
            ``tail_bump``, ``residual_force``, ``spurious_minimum``).
        r_angstrom: where (interval midpoint for steps).
        size: the measured magnitude, in ``unit`` (≥ 0; sign, if any, in ``detail``).
        unit: ``eV`` or ``eV/Å``.
        threshold: what ``size`` had to exceed (T + resolution allowance), same unit.
        detail: free text (signed value, noise, allowance).
        value: the signed measurement where it has a sign (a step: right minus left), else NaN.
        span_angstrom: (r_lo, r_hi) for detections that cover a stretch (a tail bump from its
            crest to its bottom, a run of force inconsistency, a rough stretch), else None.
    """

    kind: str
    r_angstrom: float
    size: float
    unit: str
    threshold: float
    detail: str = ""
    value: float = float("nan")
    span_angstrom: tuple[float, float] | None = None

    @property
    def extent_angstrom(self) -> tuple[float, float]:
        """(r_lo, r_hi): the span, or (r, r) for a point detection."""
        if self.span_angstrom is None:
            return (self.r_angstrom, self.r_angstrom)
        lo, hi = self.span_angstrom
        return (min(lo, hi, self.r_angstrom), max(lo, hi, self.r_angstrom))

    @property
    def excess(self) -> float:
        """size − threshold (> 0 for a detection), in ``unit``."""
        return self.size - self.threshold

    @property
    def ratio(self) -> float:
        """X = excess / threshold: dimensionless strength used by the score."""
        return self.excess / self.threshold if self.threshold > 0 else float("inf")
