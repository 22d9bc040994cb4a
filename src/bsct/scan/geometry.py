"""Scan geometry: the frames of a 1-D bond-length scan, as pure functions of the structure.

Every scan is linear in its coordinate r (the bond length, Å):
    x(r) = x(r0) + (r - r0)·dx_dr
with dx_dr = -u/2 on the i side and +u/2 on the j side (u the unit bond vector), 0 elsewhere.
Two modes:
    pair      only atoms i and j move (crystals, and bonds inside rings);
    fragment  the bond is cut and the two rigid fragments move apart (molecules; the
              BSCT-SPICE convention), so no other bond is stretched.
Because the map is linear, the scan force is f_r = -dE/dr = Σ_atoms F·dx_dr exactly.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from bsct.scan.bonds import Bond, molecular_fragments
from bsct.scan.cells import (
    closest_static_atom_angstrom,
    is_image_safe,
    perpendicular_widths_angstrom,
    smallest_safe_repeats,
)
from bsct.scan.collisions import closest_third_atom_distance_angstrom, scored_mask

__all__ = ["CELL_RULES", "ScanGeometry", "ScanRange", "build_scan", "perpendicular_widths_angstrom"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanRange:
    """How far and how densely to scan, relative to the equilibrium bond length r0.

    r_min = max(r_min_scale·r0, r_min_floor_angstrom)
    r_max = max(r_max_scale·r0, cutoff + past_cutoff_angstrom)   (the cutoff term only when known)
    """

    n_points: int = 240
    r_min_scale: float = 0.6
    r_min_floor_angstrom: float = 0.5
    r_max_scale: float = 2.5
    past_cutoff_angstrom: float = 1.0

    def grid_angstrom(self, r0_angstrom: float, cutoff_angstrom: float | None) -> np.ndarray:
        if self.n_points < 8:
            raise ValueError("a scan needs at least 8 points to tell a step from a slope")
        r_min = max(self.r_min_scale * r0_angstrom, self.r_min_floor_angstrom)
        r_max = self.r_max_scale * r0_angstrom
        if cutoff_angstrom is not None:
            r_max = max(r_max, cutoff_angstrom + self.past_cutoff_angstrom)
        return np.linspace(r_min, r_max, self.n_points)


@dataclass(frozen=True)
class ScanGeometry:
    """One bond scan, ready to evaluate.

    Attributes:
        bond: the bond as found in the dataset.
        atoms: the structure scanned (a supercell of the original when a periodic cell had to grow).
        i, j: indices of the bonded pair in ``atoms``.
        r_angstrom: (n_points,) bond lengths, increasing.
        dx_dr: (n_atoms, 3) displacement of each atom per Å of bond length.
        mode: "pair" or "fragment".
        side: (n_atoms,) 0 with i, 1 with j, -1 fixed (fragment mode); None in pair mode.
        cell_rule: how a periodic cell was sized, "half-cell" or "image-safe" (:func:`build_scan`).
        ideal_closest_third_angstrom: (n_points,) under "image-safe", d₃ of the ideal crystal
            (:func:`bsct.scan.cells.closest_static_atom_angstrom`); None otherwise.
        shift_idx: (3,) j's periodic shift in ``atoms`` (the partner is j + shift·cell).
    """

    bond: Bond
    atoms: Atoms
    i: int
    j: int
    r_angstrom: np.ndarray
    dx_dr: np.ndarray
    mode: str
    side: np.ndarray | None = field(default=None)
    cell_rule: str = "half-cell"
    ideal_closest_third_angstrom: np.ndarray | None = None
    shift_idx: np.ndarray | None = None

    @property
    def r0_angstrom(self) -> float:
        return self.bond.r0_angstrom

    def positions_angstrom(self, r_angstrom: np.ndarray | None = None) -> np.ndarray:
        """(n_points, n_atoms, 3) positions along the scan."""
        r = self.r_angstrom if r_angstrom is None else np.asarray(r_angstrom)
        x0 = self.atoms.get_positions()
        return x0[None] + (r - self.r0_angstrom)[:, None, None] * self.dx_dr[None]

    def frames(self, r_angstrom: np.ndarray | None = None) -> list[Atoms]:
        """Scan frames as ASE structures (for plotting, export or ASE calculators)."""
        out = []
        for pos in self.positions_angstrom(r_angstrom):
            frame = self.atoms.copy()
            frame.calc = None
            frame.positions = pos
            out.append(frame)
        return out

    def min_cross_distance_angstrom(self) -> np.ndarray | None:
        """(n_points,) closest approach between the two moving fragments (fragment mode only).

        Beyond the cutoff the fragments cannot interact, so E(r) must be flat there.
        """
        if self.side is None:
            return None
        a = np.flatnonzero(self.side == 0)
        b = np.flatnonzero(self.side == 1)
        pos = self.positions_angstrom()
        diff = pos[:, a, None, :] - pos[:, None, b, :]
        return np.linalg.norm(diff, axis=-1).reshape(len(self.r_angstrom), -1).min(axis=1)


    def closest_third_atom_angstrom(self) -> np.ndarray | None:
        """(n_points,) closest approach of atom i or j to any other atom (pair mode only).

        In fragment mode the fragments move rigidly, so :meth:`min_cross_distance_angstrom` plays
        this role. See :mod:`bsct.scan.collisions`. In an image-safe cell, the ideal crystal's
        value (every atom but the pair still, images of i and j included), which on the scored
        range equals a larger cell's.
        """
        if self.mode != "pair":
            return None
        if self.ideal_closest_third_angstrom is not None:
            # the small cell's MIC would miss images of i and j, which are still atoms in the ideal crystal
            return self.ideal_closest_third_angstrom.copy()
        # In chunks of points: a skewed cell's minimum image tries 27+ shifts per vector, so
        # 240 points x 2000 atoms at once would take gigabytes.
        per_chunk = max(1, 100_000 // max(2 * len(self.atoms), 1))
        r = self.r_angstrom
        return np.concatenate([
            closest_third_atom_distance_angstrom(self.positions_angstrom(r[lo:lo + per_chunk]), self.i, self.j,
                                                 self.atoms.cell.array, self.atoms.pbc)
            for lo in range(0, len(r), per_chunk)])


def _half_cell_repeats(atoms: Atoms, r_max_angstrom: float) -> np.ndarray:
    """v1's rule: repeat each periodic axis until the scan cannot reach half the cell (width ≥ 2 r_max)."""
    widths = perpendicular_widths_angstrom(atoms.cell.array)
    reps = np.ones(3, int)
    for k in range(3):
        if atoms.pbc[k]:
            reps[k] = max(1, math.ceil(2.0 * r_max_angstrom / widths[k] + 1e-9))
    return reps


def _repeat(atoms: Atoms, bond: Bond, reps) -> tuple[Atoms, int, int, np.ndarray]:
    """``atoms.repeat(reps)`` with i, j and the bond's shift remapped to the supercell.

    ASE's ``repeat`` lays copy (m0, m1, m2) at offset n·(m0·M1·M2 + m1·M2 + m2), so j's image at
    shift S is copy S mod M of atom j.
    """
    reps = np.asarray(reps, int)
    shift = np.asarray(bond.shift_idx)
    if np.all(reps == 1):
        return atoms, bond.i, bond.j, shift
    copy = np.mod(shift, reps)
    offset = len(atoms) * int(copy[0] * reps[1] * reps[2] + copy[1] * reps[2] + copy[2])
    return atoms.repeat(tuple(int(r) for r in reps)), bond.i, bond.j + offset, (shift - copy) // reps


CELL_RULES = ("half-cell", "image-safe")
MANY_BODY_RANGE_FACTOR = 2.0
"""Interaction range per cutoff assumed when a potential declares none: two atoms farther apart
than 2·r_c share no neighbour, so an atom-centred many-body potential (EMT, Stillinger–Weber,
one message-passing layer) cannot couple them (:mod:`bsct.scan.cells`)."""


def _image_safe_repeats(atoms: Atoms, bond: Bond, r: np.ndarray, range_angstrom: float, collision_fraction: float,
                        grow_cell: bool) -> tuple[np.ndarray | None, np.ndarray]:
    """(repeats or None, d₃ of the ideal crystal): the smallest cell the image-safe rule allows on
    the collision guard's scored range (:mod:`bsct.scan.cells`); None when no scored point exists
    or no cell up to the half-cell one (and at least the rule's reach) satisfies it."""
    within = max(1.0, collision_fraction) * float(r[-1])
    d3 = closest_static_atom_angstrom(atoms, bond.i, bond.j, bond.shift_idx, r, within)
    scored = scored_mask(d3, r, collision_fraction)
    if not scored.any():
        return None, d3
    r_scored = r[scored]
    if not grow_cell:
        ok = is_image_safe(atoms, bond.i, bond.j, bond.shift_idx, r_scored, (1, 1, 1), range_angstrom)
        return (np.ones(3, int) if ok else None), d3
    span = float(np.abs(r_scored - bond.r0_angstrom).max())
    reach = range_angstrom + bond.r0_angstrom + span
    widths = perpendicular_widths_angstrom(atoms.cell.array)
    max_reps = np.maximum(_half_cell_repeats(atoms, float(r[-1])), np.ceil(reach / widths).astype(int) + 1)
    reps = smallest_safe_repeats(atoms, bond.i, bond.j, bond.shift_idx, r_scored, range_angstrom, max_reps)
    return (None if reps is None else np.asarray(reps)), d3


def build_scan(
    atoms: Atoms,
    bond: Bond,
    scan_range: ScanRange = ScanRange(),
    cutoff_angstrom: float | None = None,
    mode: str = "auto",
    grow_cell: bool = True,
    cell_rule: str = "half-cell",
    collision_fraction: float = 0.5,
    image_range_angstrom: float | None = None,
) -> ScanGeometry:
    """Frames for scanning ``bond`` of ``atoms``.

    mode: "auto" (fragment for molecules when the bond is not in a ring, else pair), "pair",
    or "fragment" (error if impossible). Periodic cells, ``cell_rule``:

    - "half-cell" (BSCT v1): the whole scan must stay inside half the cell (perpendicular width
      ≥ 2·r_max); ``grow_cell=True`` repeats the cell as needed (logged), otherwise a ValueError.
    - "image-safe" (BSCT v2): the smallest ``repeat`` for which, over the collision guard's
      scored range at ``collision_fraction``, no moving atom comes within the interaction range
      of an image of the moving pair (:mod:`bsct.scan.cells`). The range is
      ``image_range_angstrom``, else 2·``cutoff_angstrom`` (exact for atom-centred many-body
      potentials); with neither known (or no scored point) it falls back to "half-cell". The
      geometry then records d₃ of the ideal crystal (:meth:`ScanGeometry.closest_third_atom_angstrom`).
    """
    if mode not in ("auto", "pair", "fragment"):
        raise ValueError(f"scan mode must be auto, pair or fragment, not {mode!r}")
    if cell_rule not in CELL_RULES:
        raise ValueError(f"cell rule must be one of {', '.join(CELL_RULES)}, not {cell_rule!r}")
    r = scan_range.grid_angstrom(bond.r0_angstrom, cutoff_angstrom)
    rule_cutoff = image_range_angstrom
    if rule_cutoff is None and cutoff_angstrom is not None:
        rule_cutoff = MANY_BODY_RANGE_FACTOR * cutoff_angstrom
    reps, ideal_d3, used_rule = None, None, "half-cell"
    if cell_rule == "image-safe" and atoms.pbc.any() and rule_cutoff is not None:
        reps, ideal_d3 = _image_safe_repeats(atoms, bond, r, rule_cutoff, collision_fraction, grow_cell)
        if reps is None and not grow_cell:
            raise ValueError(f"bond {bond.label}: an image of the scanned pair comes within the {rule_cutoff:.2f} Å "
                             "interaction range on the scored range. Use a supercell (atoms.repeat) or grow_cell=True.")
        if reps is not None:
            used_rule = "image-safe"
        else:
            log.info("bond %s: no image-safe cell found; the cell grows to half the scan", bond.label)
    if reps is None and atoms.pbc.any() and grow_cell:
        reps = _half_cell_repeats(atoms, float(r[-1]))
    if reps is None:
        reps = np.ones(3, int)
    base, i, j, shift = _repeat(atoms, bond, reps)
    grown = len(base) != len(atoms)
    if i == j:
        raise ValueError(
            f"bond {bond.label} joins an atom to its own periodic image and the cell was not grown; "
            "use grow_cell=True or a supercell"
        )
    if atoms.pbc.any() and not grow_cell and used_rule == "half-cell":
        half = 0.5 * perpendicular_widths_angstrom(atoms.cell.array)[atoms.pbc].min()
        if r[-1] > half:
            raise ValueError(
                f"bond {bond.label}: the scan reaches {r[-1]:.2f} Å but half the cell is {half:.2f} Å; "
                "the pair would meet its own periodic images. Use a supercell (atoms.repeat) or grow_cell=True."
            )
    if grown:
        log.info("bond %s: cell repeated %s to %d atoms (%s rule, scan to %.2f Å)", bond.label,
                 "x".join(str(int(m)) for m in reps), len(base), used_rule, r[-1])
    base = base.copy()
    base.calc = None
    vec = base.positions[j] - base.positions[i] + shift.astype(float) @ base.cell.array
    u = vec / np.linalg.norm(vec)
    side = molecular_fragments(atoms, bond) if mode in ("auto", "fragment") else None
    if mode == "fragment" and side is None:
        raise ValueError(f"bond {bond.label} cannot be scanned by fragments: it is in a ring or the structure is periodic")
    dx_dr = np.zeros((len(base), 3))
    if side is not None:
        dx_dr[side == 0] = -0.5 * u
        dx_dr[side == 1] = 0.5 * u
        used_mode = "fragment"
    else:
        dx_dr[i] = -0.5 * u
        dx_dr[j] = 0.5 * u
        used_mode = "pair"
    return ScanGeometry(bond, base, i, j, r, dx_dr, used_mode, side, used_rule,
                        ideal_d3 if used_rule == "image-safe" else None, np.asarray(shift))
