"""Severity of an artifact at a temperature: how reachable its place is from the bond's minimum.

A bond vibrating at temperature T visits a place r of the scan with a relative probability of
about exp(−ΔE(r)/(k_B·T)), where ΔE(r) = E(r) − E_min is the energy along the scan above the
bond's minimum. v2 weights each artifact by that factor:

    w = exp(−max(0, E(r_artifact) − E_min) / (k_B · T)),     w = 1 when T is None,

with k_B = scipy.constants.k / scipy.constants.e = 8.617333e-5 eV/K, E_min the scan energy at
the physical minimum r_eq (:func:`bsct.metrics.detectors.equilibrium_index`, anchored on the
bond's starting length, so a collapsing model's deep short-range well does not make its
repulsive wall "reachable"), and E(r_artifact) the lower of the two grid energies around the
artifact (a step is reachable as soon as its low side is). Places below E_min (a spurious deeper
well) get w = 1.

Examples (k_B·300 K = 25.85 meV): ΔE = 10 meV → w = 0.68; 0.1 eV → 0.021; 0.5 eV → 4e-9;
a compression artifact 3 eV up the wall → w = e^−116 ≈ 4e-51: it still appears in the list of
artifacts and in the unweighted score, but it cannot dominate a 300 K verdict.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import constants

K_B_EV_PER_K = constants.k / constants.e
"""Boltzmann constant in eV/K (8.617333262e-5)."""


def energy_above_minimum_ev(r_angstrom, energy_ev, r_artifact_angstrom: float, e_min_ev: float) -> float:
    """max(0, E(r_artifact) − E_min), E taken as the lower of the two finite grid energies around r."""
    r = np.asarray(r_angstrom, float)
    e = np.asarray(energy_ev, float)
    ok = np.isfinite(e)
    r, e = r[ok], e[ok]
    if len(r) == 0:
        return 0.0
    k = int(np.clip(np.searchsorted(r, r_artifact_angstrom), 1, len(r) - 1)) if len(r) > 1 else 0
    e_here = float(min(e[k - 1], e[k])) if len(r) > 1 else float(e[0])
    return max(0.0, e_here - float(e_min_ev))


def boltzmann_weight(energy_above_min_ev: float, temperature_k: float | None) -> float:
    """w = exp(−ΔE/(k_B T)); 1 for T None; at T = 0 only ΔE = 0 keeps weight 1."""
    if temperature_k is None:
        return 1.0
    if temperature_k < 0:
        raise ValueError("temperature_k must be >= 0 (or None for the unweighted score)")
    de = max(0.0, float(energy_above_min_ev))
    if temperature_k == 0:
        return 1.0 if de == 0 else 0.0
    return math.exp(-de / (K_B_EV_PER_K * temperature_k))
