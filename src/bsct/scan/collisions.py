"""Collision guard of a bond scan: does the scan still probe the bond, or the atoms it runs into?

In pair mode both atoms of the bond move apart along it; in a crystal they run into the next
atoms of their rows (fcc Cu along ⟨110⟩: the atom one bond further on is r0 − (r − r0)/2 away
from the moving atom, 0 at r = 3 r0). Past some point the scan measures that collision, not the
bond. Two pure functions:

``closest_third_atom_distance_angstrom(positions, i, j, cell, pbc)``
    per scan point, d₃(r) = min over the two moving atoms a ∈ {i, j} and every atom b ∉ {i, j}
    of |x_b − x_a| under the minimum-image convention (``ase.geometry.find_mic``; exact for
    any cell shape). Shapes: positions (n_points, n_atoms, 3) in Å -> (n_points,) in Å
    (+inf when there is no third atom).
``scored_mask(closest, partner_r, fraction=0.5)``
    the points to score: from the first point where d₃ ≥ fraction · r (r the partner distance,
    i.e. the bond length) up to, not including, the first later point where d₃ < fraction · r;
    everything after it is excluded as well (the scored range *ends* there).

Why fraction = 0.5 by default (a judgement, to be settled by the validation issue): at
equilibrium in a close-packed crystal d₃ = r0 (the other nearest neighbours), so any fraction ≤ 1
keeps the equilibrium. For fcc ⟨110⟩ rows d₃ = r0 − (r − r0)/2, so fraction f ends the range at
r = 1.5 r0/(f + 1/2) with the third atom at d₃ = f·r:

    f = 0.5   ends at 1.50 r0 (3.83 Å for Cu), third atom 0.75 r0 away (25 % compressed)
    f = 2/3   ends at 1.29 r0 (3.28 Å),         third atom 0.86 r0 away
    f = 0.75  ends at 1.20 r0 (3.06 Å),         third atom 0.90 r0 away

The attractive tail starts at the force extremum, about 1.2 r0 for a Cu-like Morse bond
(r0 + ln 2/a), so f ≥ 0.75 leaves no tail to judge and f = 2/3 about ten points of it on the
default grid; f = 0.5 keeps the tail's first 0.3 r0 and still ends far before the 2.35 r0 where
CHGNet "found" a −495 eV/Å sign flip. Choose a larger fraction to keep the third atom further
from contact; the price is a shorter tail.
"""

from __future__ import annotations

import numpy as np
from ase.geometry import find_mic


def closest_third_atom_distance_angstrom(positions_angstrom, i: int, j: int, cell, pbc) -> np.ndarray:
    """(n_points,) closest minimum-image distance of atom i or j to any atom other than i and j.

    Args:
        positions_angstrom: (n_points, n_atoms, 3) Cartesian positions along the scan, Å.
        i, j: indices of the bonded (moving) pair.
        cell: (3, 3) cell vectors (rows), Å; ignored along non-periodic directions.
        pbc: (3,) bool periodicity, or a single bool.
    """
    pos = np.asarray(positions_angstrom, float)
    if pos.ndim != 3 or pos.shape[2] != 3:
        raise ValueError(f"positions must be (n_points, n_atoms, 3), got {pos.shape}")
    n_points, n_atoms, _ = pos.shape
    if not (0 <= i < n_atoms and 0 <= j < n_atoms) or i == j:
        raise ValueError(f"i, j must be two different atoms of {n_atoms}, got {i}, {j}")
    others = np.setdiff1d(np.arange(n_atoms), [i, j])
    if len(others) == 0:
        return np.full(n_points, np.inf)
    pbc_arr = np.broadcast_to(np.asarray(pbc, bool), (3,))
    cell_arr = np.asarray(cell, float).reshape(3, 3)
    vec = pos[:, others, None, :] - pos[:, None, [i, j], :]  # (n_points, n_others, 2, 3)
    flat = vec.reshape(-1, 3)
    if pbc_arr.any():
        _, lengths = find_mic(flat, cell_arr, pbc_arr)
    else:
        lengths = np.linalg.norm(flat, axis=1)
    return lengths.reshape(n_points, -1).min(axis=1)


def scored_mask(closest_angstrom, partner_r_angstrom, fraction: float = 0.5) -> np.ndarray:
    """(n_points,) bool: True on the scored range (module docstring).

    closest_angstrom: (n,) d₃ from :func:`closest_third_atom_distance_angstrom`.
    partner_r_angstrom: (n,) distance between the moving pair (the scan's bond length r), Å.
    fraction: the range ends where d₃ < fraction · r.
    """
    d3 = np.asarray(closest_angstrom, float)
    r = np.asarray(partner_r_angstrom, float)
    if d3.shape != r.shape or d3.ndim != 1:
        raise ValueError("closest and partner distances must be 1-D of one length")
    if not 0 < fraction:
        raise ValueError("fraction must be positive")
    ok = d3 >= fraction * r
    mask = np.zeros(len(r), bool)
    good = np.flatnonzero(ok)
    if len(good) == 0:
        return mask
    start = good[0]
    bad_after = np.flatnonzero(~ok[start:])
    stop = start + bad_after[0] if len(bad_after) else len(r)
    mask[start:stop] = True
    return mask


def guard_mask(mode: str, r_angstrom, closest_third_angstrom, min_cross_angstrom, fraction: float) -> np.ndarray:
    """(n_points,) bool, the collision guard from geometry alone (known before any model call, so
    the points it excludes need not be evaluated): pair scans by the closest third atom, fragment
    scans by the closest cross-fragment approach; all True when that distance is not known."""
    closest = closest_third_angstrom if mode == "pair" else min_cross_angstrom
    if closest is None:
        return np.ones(len(r_angstrom), bool)
    return scored_mask(closest, r_angstrom, fraction)
