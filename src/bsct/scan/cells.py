"""The smallest periodic cell for a crystal pair scan: the moving pair never meets its own images.

In a periodic cell every image of the scanned pair (i, j) moves with it. The scan is meant to
stretch ONE bond in an otherwise still crystal (the "ideal" scan); the periodic cell differs from
it only through the images of i and j. Write p_i, p_j for the pair's rest positions (j at the
bond's own periodic shift), δ_i(r) = −u·(r − r0)/2 and δ_j(r) = +u·(r − r0)/2 for their
displacements at bond length r (u the unit bond vector), and Λ for the lattice of the scanned
cell (its translations L ≠ 0). The **image-safe rule**: at every point r of the range that is
scored, for a, b ∈ {i, j} and every L ∈ Λ, L ≠ 0,

    d_moving = |p_b + δ_b(r) + L − p_a − δ_a(r)| ≥ R     (the image as computed: moving)
    d_rest   = |p_b + L − p_a − δ_a(r)|          ≥ R     (the atom it stands for: still)

with R the potential's **interaction range**: the distance beyond which two atoms never enter
one energy term.

- Pair potential with cutoff r_c (Morse, LJ): R = r_c. No moving atom is within r_c of an image
  of a moving atom nor of the still atom that image replaces, so every energy difference
  E(r) − E(r') along the scored range and every force on i and j equal the ideal scan's (and a
  larger cell's) to rounding.
- Atom-centred many-body potential with neighbour cutoff r_c (EMT: r_c = 5.88 Å, its neighbour
  list; Stillinger–Weber: 3.77 Å): R = 2 r_c, because an atom s within r_c of both a and an image
  of b couples them (EMT's density at s, SW's three-body term at s). With R = r_c instead, SW-Si
  in its 8-atom cell gives energy differences more than 1 meV off the large cell's (tests/scan/test_cells.py).
  2 r_c is the default for a potential that declares no range.
- Message passing with T layers: R = 2·T·r_c would be exact; the default 2 r_c keeps images out
  of every neighbourhood the pair shares, not out of the receptive field (nor did v1's half-cell
  rule). A potential states its own R as ``interaction_range_angstrom``.

Because |δ_a| + |δ_b| = |r − r0|, the rule holds whenever every image of the pair at rest is
farther than R + max|r − r0| from it; the code checks the two distances themselves, point by
point, which allows a smaller cell.

The scored range is the collision guard's (:func:`bsct.scan.collisions.scored_mask`), computed
from the ideal crystal (:func:`closest_static_atom_angstrom`: every atom other than the pair
still, images of i and j included), so it does not depend on the cell chosen. Points past it are
still evaluated in the small cell (drawn grey, never scored) and there images may come close.

Shapes: positions (n_atoms, 3) Å, ``r_angstrom`` (n_points,), ``reps`` (3,) ints (ASE ``repeat``).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from ase import Atoms


def perpendicular_widths_angstrom(cell: np.ndarray) -> np.ndarray:
    """(3,) distances between opposite faces of the cell: V / |a_l × a_m|."""
    volume = abs(np.linalg.det(cell))
    return np.array([volume / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3)])


def pair_rest_positions_angstrom(atoms: Atoms, i: int, j: int, shift_idx) -> np.ndarray:
    """(2, 3): p_i and p_j, j at the bond's periodic shift (``shift_idx`` in cell vectors)."""
    p_j = atoms.positions[j] + np.asarray(shift_idx, float) @ atoms.cell.array
    return np.stack([atoms.positions[i], p_j])


def pair_displacements_angstrom(rest_angstrom: np.ndarray, r_angstrom) -> np.ndarray:
    """(n_points, 2, 3): δ_i = −u(r − r0)/2 and δ_j = +u(r − r0)/2."""
    vec = rest_angstrom[1] - rest_angstrom[0]
    r0 = np.linalg.norm(vec)
    stretch = np.asarray(r_angstrom, float) - r0
    return np.stack([-0.5 * stretch[:, None] * vec / r0, 0.5 * stretch[:, None] * vec / r0], axis=1)


def lattice_translations_angstrom(cell: np.ndarray, pbc, reps, radius_angstrom: float) -> np.ndarray:
    """(n_L, 3) every non-zero translation (n∘reps)·cell of the repeated cell with |L| ≤ radius
    (periodic axes only)."""
    pbc = np.broadcast_to(np.asarray(pbc, bool), (3,))
    reps = np.asarray(reps, int)
    widths = perpendicular_widths_angstrom(cell) * reps
    ranges = [range(-math.ceil(radius_angstrom / widths[k]), math.ceil(radius_angstrom / widths[k]) + 1)
              if pbc[k] else range(1) for k in range(3)]
    n = np.array([v for v in itertools.product(*ranges) if any(v)], int).reshape(-1, 3)
    vectors = (n * reps) @ np.asarray(cell, float)
    return vectors[np.linalg.norm(vectors, axis=1) <= radius_angstrom]


def image_distance_angstrom(atoms: Atoms, i: int, j: int, shift_idx, r_angstrom, reps,
                            within_angstrom: float) -> np.ndarray:
    """(n_points,) min of d_moving and d_rest (module docstring) over a, b ∈ {i, j} and the
    translations of ``atoms.repeat(reps)``; exact where below ``within_angstrom``, otherwise
    only known to be at least that (+inf when no translation comes that close)."""
    rest = pair_rest_positions_angstrom(atoms, i, j, shift_idx)
    disp = pair_displacements_angstrom(rest, r_angstrom)  # (n, 2, 3)
    reach = within_angstrom + np.linalg.norm(rest[1] - rest[0]) + 2 * np.abs(disp).sum(axis=-1).max()
    lattice = lattice_translations_angstrom(atoms.cell.array, atoms.pbc, reps, reach)
    out = np.full(len(disp), np.inf)
    if len(lattice) == 0:
        return out
    for a, b in itertools.product(range(2), repeat=2):
        base = rest[b] - rest[a] + lattice  # (n_L, 3)
        moving = base[None] + (disp[:, b] - disp[:, a])[:, None]
        still = base[None] - disp[:, a][:, None]
        out = np.minimum(out, np.linalg.norm(moving, axis=-1).min(axis=1))
        out = np.minimum(out, np.linalg.norm(still, axis=-1).min(axis=1))
    return out


def closest_static_atom_angstrom(atoms: Atoms, i: int, j: int, shift_idx, r_angstrom,
                                 within_angstrom: float) -> np.ndarray:
    """(n_points,) the collision guard's d₃ in the ideal crystal: the closest approach of moving
    i or j to any other atom of the infinite periodic structure held still (images of i and j
    included, the partner excluded). Exact where below ``within_angstrom`` (+inf if none)."""
    rest = pair_rest_positions_angstrom(atoms, i, j, shift_idx)
    disp = pair_displacements_angstrom(rest, r_angstrom)
    reach = within_angstrom + np.abs(disp).sum(axis=-1).max() + 1e-9
    spread = np.linalg.norm(atoms.positions[:, None] - rest[None], axis=-1).max()
    lattice = np.concatenate([np.zeros((1, 3)),
                              lattice_translations_angstrom(atoms.cell.array, atoms.pbc, (1, 1, 1), reach + spread)])
    sites = (atoms.positions[None] + lattice[:, None]).reshape(-1, 3)  # (n_L·n_atoms, 3)
    out = np.full(len(disp), np.inf)
    for a in range(2):
        rel = sites - rest[a]
        dist = np.linalg.norm(rel, axis=1)
        keep = (dist <= reach) & (np.linalg.norm(sites - rest[0], axis=1) > 1e-8) \
            & (np.linalg.norm(sites - rest[1], axis=1) > 1e-8)
        if keep.any():
            moved = rel[keep][None] - disp[:, a][:, None]
            out = np.minimum(out, np.linalg.norm(moved, axis=-1).min(axis=1))
    return out


def is_image_safe(atoms: Atoms, i: int, j: int, shift_idx, r_angstrom, reps, range_angstrom: float) -> bool:
    """True when the image-safe rule holds at every point of ``r_angstrom`` in ``atoms.repeat(reps)``."""
    if len(r_angstrom) == 0:
        return True
    d = image_distance_angstrom(atoms, i, j, shift_idx, r_angstrom, reps, range_angstrom)
    return bool(np.all(d >= range_angstrom))


def smallest_safe_repeats(atoms: Atoms, i: int, j: int, shift_idx, r_angstrom, range_angstrom: float,
                          max_reps) -> tuple[int, int, int] | None:
    """The repeat counts with the fewest atoms (ties: the lexicographically smallest) for which
    the rule holds on ``r_angstrom``, searching up to ``max_reps`` per axis; None if none does.

    A larger repeat only removes translations, so the rule is monotone in each count: the
    fewest-atoms choice is also minimal per axis (one repeat fewer on any axis breaks it).
    """
    pbc = np.broadcast_to(np.asarray(atoms.pbc, bool), (3,))
    axes = [range(1, int(max_reps[k]) + 1) if pbc[k] else range(1, 2) for k in range(3)]
    for reps in sorted(itertools.product(*axes), key=lambda m: (m[0] * m[1] * m[2], m)):
        if is_image_safe(atoms, i, j, shift_idx, r_angstrom, reps, range_angstrom):
            return tuple(int(m) for m in reps)
    return None
