"""Bond discovery: which atom pairs are bonded, grouped by element pair, sampled by seed.

Molecules (no periodic direction): i-j is a bond when d_ij < covalent_scale·(R_i + R_j) with
ASE's covalent radii. Crystals (any periodic direction): the first neighbour shell, i-j is a
bond when d_ij < shell_factor·min(d_nn(i), d_nn(j)), d_nn the atom's nearest-neighbour
distance; distances use the minimum image through ASE's neighbour list.

Symmetry: bonds of a 3D-periodic structure that a space-group operation maps onto each other
(spglib, positions within ``symprec_angstrom``) give the same scan, so ``select_bonds(...,
distinct=True)`` samples among symmetry-distinct bonds, one representative each: a perfect fcc
cell has one Cu-Cu bond to scan, not three copies of it.
"""

from __future__ import annotations

import logging
import warnings
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols, covalent_radii
from ase.neighborlist import neighbor_list
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bond:
    """One bonded pair. The bond vector is x_j + shift_idx·cell - x_i (shift_idx picks j's image)."""

    structure_idx: int
    i: int
    j: int
    shift_idx: tuple[int, int, int]
    r0_angstrom: float
    bond_type: str  # element pair, alphabetical, e.g. "C-H", "Cu-Cu"

    @property
    def label(self) -> str:
        """Stable identifier used in file names and reports."""
        return f"{self.bond_type}_s{self.structure_idx}_{self.i}-{self.j}"


def bond_type_of(z_i: int, z_j: int) -> str:
    return "-".join(sorted((chemical_symbols[z_i], chemical_symbols[z_j])))


def _check_structure(atoms: Atoms, structure_idx: int) -> None:
    if len(atoms) == 0:
        raise ValueError(f"structure {structure_idx} has no atoms")
    bad = [int(z) for z in atoms.numbers if z <= 0 or z >= len(chemical_symbols)]
    if bad:
        raise ValueError(f"structure {structure_idx}: unknown element(s) with atomic number {sorted(set(bad))}")
    if atoms.pbc.any():
        periodic = atoms.cell.array[atoms.pbc]
        if np.linalg.matrix_rank(periodic) < int(atoms.pbc.sum()):
            raise ValueError(
                f"structure {structure_idx} ({atoms.get_chemical_formula()}) is periodic along "
                f"{atoms.pbc.tolist()} but has no valid cell; set atoms.cell or pbc=False"
            )


def find_bonds(
    atoms: Atoms,
    structure_idx: int = 0,
    covalent_scale: float = 1.2,
    shell_factor: float = 1.15,
) -> list[Bond]:
    """All bonds of one structure (each unordered pair once, i ≤ j), shortest image only."""
    _check_structure(atoms, structure_idx)
    if atoms.pbc.any():
        i, j, d, S = neighbor_list("ijdS", atoms, cutoff=_crystal_search_radius(atoms))
        d_nn = np.full(len(atoms), np.inf)
        np.minimum.at(d_nn, i, d)
        keep = d < shell_factor * np.minimum(d_nn[i], d_nn[j])
    else:
        radii = covalent_scale * covalent_radii[atoms.numbers]
        i, j, d, S = neighbor_list("ijdS", atoms, cutoff=radii)  # pair kept when d < r_i + r_j
        keep = np.ones(len(i), bool)
    # Each unordered pair once; an atom bonded to its own periodic image (tiny cells) counts
    # once too, and the scan later grows the cell so the two ends become different atoms.
    self_image = (i == j) & np.array([tuple(x) > (0, 0, 0) for x in S], dtype=bool).reshape(len(i))
    keep &= (i < j) | self_image
    best: dict[tuple[int, int], int] = {}
    for k in np.flatnonzero(keep):
        key = (int(i[k]), int(j[k]))
        if key not in best or d[k] < d[best[key]]:
            best[key] = k
    numbers = atoms.numbers
    return [
        Bond(structure_idx, a, b, tuple(int(s) for s in S[k]), float(d[k]), bond_type_of(numbers[a], numbers[b]))
        for (a, b), k in sorted(best.items())
    ]


def _crystal_search_radius(atoms: Atoms) -> float:
    """A radius that surely contains every atom's first shell: 1.5× the largest covalent bond."""
    return 1.5 * 2 * float(covalent_radii[atoms.numbers].max()) + 0.5


#: positions within this many Å count as symmetric (spglib's symprec): far below any scan step
SYMPREC_ANGSTROM = 1e-4


def symmetry_classes(atoms: Atoms, bonds: list[Bond], symprec_angstrom: float = SYMPREC_ANGSTROM) -> list[int]:
    """Class label per bond (the index of its class's first bond): two bonds share a class when a
    space-group operation of ``atoms`` maps one onto the other (the kept periodic image included).
    Not 3D-periodic, or no symmetry found: every bond its own class."""
    labels = list(range(len(bonds)))
    if not atoms.pbc.all() or len(bonds) < 2:
        return labels
    import spglib

    cell = atoms.cell.array
    frac = atoms.get_scaled_positions(wrap=False)
    with warnings.catch_warnings():  # spglib 2.x announces its error-handling change on every call
        warnings.simplefilter("ignore", DeprecationWarning)
        sym = spglib.get_symmetry((cell, frac, atoms.numbers), symprec=symprec_angstrom)
    if sym is None or len(sym["rotations"]) < 2:
        return labels
    index = {(b.i, b.j, b.shift_idx): k for k, b in enumerate(bonds)}
    ends = np.array([(b.i, b.j) for b in bonds])
    shift_idx = np.array([b.shift_idx for b in bonds])

    def root(k: int) -> int:
        while labels[k] != k:
            labels[k] = labels[labels[k]]
            k = labels[k]
        return k

    for rot, trans in _generators(sym["rotations"], sym["translations"]):
        moved = frac @ rot.T + trans  # where the operation puts each atom, fractional
        diff = moved[:, None, :] - frac[None, :, :]
        dist = np.linalg.norm((diff - np.round(diff)) @ cell, axis=-1)
        perm = dist.argmin(axis=1)
        if not (np.take_along_axis(dist, perm[:, None], 1) < 10 * symprec_angstrom).all() \
                or (atoms.numbers[perm] != atoms.numbers).any():
            continue  # not an operation of these positions at our tolerance: merge nothing by it
        offset = np.round(moved - frac[perm]).astype(int)  # lattice vector the atom lands in
        shifts = offset[ends[:, 1]] + shift_idx @ rot.T - offset[ends[:, 0]]
        for k, (b, shift) in enumerate(zip(bonds, shifts.tolist())):
            i2, j2 = int(perm[b.i]), int(perm[b.j])
            key = (i2, j2, tuple(shift))
            if key not in index:  # the same bond seen from j: (j, i, -shift)
                key = (j2, i2, tuple(int(-x) for x in shift))
            if key in index and abs(bonds[index[key]].r0_angstrom - b.r0_angstrom) < 10 * symprec_angstrom:
                a, c = root(k), root(index[key])
                labels[max(a, c)] = min(a, c)
    return [root(k) for k in range(len(bonds))]


def _generators(rotations, translations):
    """Operations that generate the space group: one per distinct rotation and every pure
    translation (any (R, t) is a pure translation times the kept (R, t_R)). Classes are orbits, so
    generators merge the same bonds as the whole group, at a fraction of the operations (a perfect
    108-atom fcc cell: 156 of 5,184)."""
    seen: set[bytes] = set()
    for rot, trans in zip(rotations, translations):
        pure = not (rot - np.eye(3, dtype=rot.dtype)).any()
        if pure or rot.tobytes() not in seen:
            seen.add(rot.tobytes())
            yield rot, trans


@dataclass(frozen=True)
class BondSelection:
    """Chosen bonds plus how many of each type existed (for the report): all bonds found, and the
    symmetry-distinct ones the choice was made from (equal to found when ``distinct`` is off)."""

    bonds: list[Bond]
    counts_found: dict[str, int]
    counts_chosen: dict[str, int]
    counts_distinct: dict[str, int] | None = None


def select_bonds(
    structures: list[Atoms],
    max_per_type: int = 3,
    seed: int = 0,
    bond_types: list[str] | None = None,
    distinct: bool = False,
    **find_kwargs,
) -> BondSelection:
    """Find bonds in every structure, group by type, pick up to ``max_per_type`` of each by seed;
    with ``distinct``, among one representative per symmetry class (:func:`symmetry_classes`).

    Deterministic: types are visited in sorted order and each type's choice uses its own
    generator derived from ``seed`` and the type name, so adding a type does not reshuffle others.
    """
    if len(structures) == 0:
        raise ValueError("the dataset is empty: no structures to scan")
    by_type: dict[str, list[Bond]] = defaultdict(list)
    found: dict[str, int] = defaultdict(int)
    for s, atoms in enumerate(structures):
        bonds = find_bonds(atoms, s, **find_kwargs)
        classes = symmetry_classes(atoms, bonds) if distinct else range(len(bonds))
        for k, (bond, label) in enumerate(zip(bonds, classes)):
            found[bond.bond_type] += 1
            if label == k:  # the first bond of its class stands for it
                by_type[bond.bond_type].append(bond)
    if bond_types is not None:
        missing = sorted(set(bond_types) - set(by_type))
        if missing:
            log.warning("requested bond types not found in the data: %s", ", ".join(missing))
        by_type = {t: b for t, b in by_type.items() if t in bond_types}
    if not by_type:
        formulas = ", ".join(a.get_chemical_formula() for a in structures[:5])
        raise ValueError(f"no bonds found in {len(structures)} structure(s) ({formulas}{', ...' if len(structures) > 5 else ''})")
    chosen: list[Bond] = []
    for bond_type in sorted(by_type):
        candidates = by_type[bond_type]
        rng = np.random.default_rng([seed, *bond_type.encode()])
        n = min(max_per_type, len(candidates))
        picks = sorted(rng.choice(len(candidates), size=n, replace=False).tolist())
        chosen.extend(candidates[p] for p in picks)
    return BondSelection(
        chosen,
        {t: found[t] for t in sorted(by_type)},
        {t: min(max_per_type, len(b)) for t, b in sorted(by_type.items())},
        {t: len(b) for t, b in sorted(by_type.items())} if distinct else None,
    )


def molecular_fragments(atoms: Atoms, bond: Bond, covalent_scale: float = 1.2) -> np.ndarray | None:
    """Side of each atom (0 with i, 1 with j) after cutting ``bond``, or None if it is in a ring.

    Only for non-periodic structures: the bond graph without this edge must fall apart into
    exactly two pieces for a rigid-fragment scan (as in the BSCT-SPICE data).
    """
    if atoms.pbc.any():
        return None
    edges = [(b.i, b.j) for b in find_bonds(atoms, bond.structure_idx, covalent_scale) if (b.i, b.j) != (bond.i, bond.j)]
    n = len(atoms)
    if edges:
        rows, cols = np.array(edges).T
        graph = coo_matrix((np.ones(len(edges)), (rows, cols)), shape=(n, n))
    else:
        graph = coo_matrix((n, n))
    _, labels = connected_components(graph, directed=False)
    if labels[bond.i] == labels[bond.j]:
        return None
    side = np.full(n, -1)
    side[labels == labels[bond.i]] = 0
    side[labels == labels[bond.j]] = 1
    # Atoms in neither piece (other molecules of a cluster) stay put: mark them -1.
    return side
