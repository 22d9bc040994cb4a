"""Build FSD sets in the BSCT-SPICE layout, or relabel one, with any reference SPEC.

Layout (as read by :func:`bsct.data.bsct_spice.read_system`)::

    <root>/<BOND>/<ID>/unperturbed.xyz, atoms_0.xyz ... atoms_{n-1}.xyz, partition.npz

Molecules (no periodic direction): cut a bond that is in no ring, so the bond graph falls into
two pieces, and move the two pieces rigidly along the bond axis u, half the change each side:

    x_a(r) = x_a(r0) + (r - r0)/2 · s_a · u,   s_a = -1 on i's side, +1 on j's side

so |x_j - x_i| = r exactly and no distance inside a piece changes. r runs over
``linspace(0.5, 2.0, n) · (R_i + R_j)`` (ASE covalent radii), as in BSCT-SPICE. The molecule is
first turned by a uniformly random rotation about its centre of positions, recorded as
``'<ax>x,<ay>y,<az>z'`` (degrees, rotations about the fixed x, then y, then z axes; the angles
are rounded to 0.01° before use, so the text is exactly the rotation applied).

In a cluster (water) the other molecules are not cut; they ride with the larger of the two
pieces, so the smaller piece is pulled out of the cluster. ``labels`` is 0 on i's side, 1 on j's.

Crystals (any periodic direction): a crystal is one bonded network, so no cut splits it into
two rigid pieces; only the two bonded atoms move (the pair scan of :mod:`bsct.scan.geometry`),
i by -(r - r0)/2·u and j by +(r - r0)/2·u, in a cell repeated until the scan stays inside half
of it. ``labels`` is then 1 on the two moving atoms and 0 elsewhere (labels[i] == labels[j]
tells a pair scan from a fragment scan).

Positions are stored with 8 decimals (ASE's extxyz format) and labelled as stored.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.data import covalent_radii
from ase.io import read, write
from scipy.spatial.transform import Rotation

from bsct.data.reference import REFERENCES  # reference SPEC of each of our datasets (as labelled)
from bsct.potentials.evaluate import NON_FINITE, evaluate
from bsct.registry import ModelByCharge
from bsct.runs import versions, write_json
from bsct.scan.bonds import Bond, find_bonds, molecular_fragments
from bsct.scan.geometry import ScanRange, build_scan

log = logging.getLogger(__name__)



# ---------------------------------------------------------------------------------- geometry


def grid_range_angstrom(z_i: int, z_j: int, min_scale: float = 0.5, max_scale: float = 2.0) -> tuple[float, float]:
    """(r_start, r_end): ``min_scale`` and ``max_scale`` times the sum of the covalent radii."""
    r_sum = float(covalent_radii[z_i] + covalent_radii[z_j])
    return min_scale * r_sum, max_scale * r_sum


def rotation_matrix(text: str) -> np.ndarray:
    """(3, 3) matrix of ``'<ax>x,<ay>y,<az>z'``: about fixed x, then y, then z (R = Rz·Ry·Rx)."""
    match = re.fullmatch(r"\s*([-+0-9.eE]+)x\s*,\s*([-+0-9.eE]+)y\s*,\s*([-+0-9.eE]+)z\s*", text)
    if match is None:
        raise ValueError(f"rotation {text!r} must look like '-3.92x,-4.34y,84.15z'")
    return Rotation.from_euler("xyz", [float(a) for a in match.groups()], degrees=True).as_matrix()


def random_rotation(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A uniformly random rotation as (matrix, text); the matrix is built from the rounded text."""
    angles_deg = Rotation.random(random_state=rng).as_euler("xyz", degrees=True)
    text = ",".join(f"{a:.2f}{axis}" for a, axis in zip(angles_deg, "xyz"))
    return rotation_matrix(text), text


def rotate_about_centre(positions_angstrom: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(n_atoms, 3) positions turned by ``matrix`` about their mean (the molecule stays in place)."""
    centre = positions_angstrom.mean(axis=0)
    return (positions_angstrom - centre) @ matrix.T + centre


def fragment_scan_positions(
    positions_angstrom: np.ndarray, bond_index: tuple[int, int], labels: np.ndarray, r_angstrom: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(n_points, n_atoms, 3) rigid-fragment frames and the unit bond vector u (from i to j).

    Side 0 (with i) moves by -(r - r0)/2·u, side 1 (with j) by +(r - r0)/2·u.
    """
    i, j = bond_index
    labels = np.asarray(labels)
    if labels[i] != 0 or labels[j] != 1 or not set(np.unique(labels)) <= {0, 1}:
        raise ValueError(f"labels must be 0/1 with atom {i} on side 0 and atom {j} on side 1")
    vec = positions_angstrom[j] - positions_angstrom[i]
    r0 = float(np.linalg.norm(vec))
    u = vec / r0
    dx_dr = 0.5 * np.where(labels == 1, 1.0, -1.0)[:, None] * u
    r = np.asarray(r_angstrom, float)
    return positions_angstrom[None] + (r - r0)[:, None, None] * dx_dr[None], u


def two_sides(side: np.ndarray) -> np.ndarray:
    """0/1 labels from :func:`bsct.scan.bonds.molecular_fragments` (0 with i, 1 with j, -1 neither).

    Atoms on neither side (other molecules of a cluster) join the larger side, ties side 0.
    """
    side = np.asarray(side)
    larger = 0 if np.sum(side == 0) >= np.sum(side == 1) else 1
    return np.where(side == -1, larger, side).astype(int)


def as_stored(positions_angstrom: np.ndarray) -> np.ndarray:
    """Positions as they read back from extxyz (``%16.8f``), so labels belong to the stored frames."""
    flat = [float(f"{x:.8f}") for x in np.asarray(positions_angstrom, float).ravel()]
    return np.array(flat).reshape(np.shape(positions_angstrom))


@dataclass(frozen=True)
class PlannedScan:
    """One system to build: a bond of structure ``structure_idx``; ``labels`` None means pair scan."""

    structure_idx: int
    bond: Bond
    labels: np.ndarray | None

    @property
    def system_id(self) -> str:
        return f"{self.structure_idx:04d}_{self.bond.i}-{self.bond.j}"

    @property
    def label(self) -> str:
        return f"{self.bond.bond_type}/{self.system_id}"


@dataclass(frozen=True)
class ScanSystem:
    """One scan ready to label.

    Attributes:
        plan: which bond of which structure.
        unperturbed: the structure the scan starts from (rotated molecule, or the possibly repeated cell).
        positions_angstrom: (n_points, n_atoms, 3) the scan frames, compressed to stretched.
        partition: the ``partition.npz`` arrays (bond, bond_index, labels, perturb_range, unit_vec, rotation).
    """

    plan: PlannedScan
    unperturbed: Atoms
    positions_angstrom: np.ndarray
    partition: dict


def plan_scans(
    structures: list[Atoms],
    bond_types: list[str] | None = None,
    per_type: int | None = 5,
    seed: int = 0,
    elements: list[str] | None = None,
    ring_scale: float = 1.35,
) -> list[PlannedScan]:
    """Pick up to ``per_type`` scannable bonds of each type, distinct structures first, by seed.

    Molecular bonds inside a ring are not scannable (a rigid-fragment cut needs two pieces).
    Rings are traced with d < ``ring_scale``·(R_i + R_j), looser than bond discovery (1.2), so a
    rattled ring with one bond stretched past 1.2x still counts as a ring.
    Raises ValueError naming the types found when a requested bond type has no scannable bond.
    """
    if not structures:
        raise ValueError("no structures to scan")
    by_type: dict[str, list[PlannedScan]] = {}
    found: set[str] = set()
    for s, atoms in enumerate(structures):
        if elements is not None and not set(atoms.get_chemical_symbols()) <= set(elements):
            continue
        for bond in find_bonds(atoms, s):
            found.add(bond.bond_type)
            side = None if atoms.pbc.any() else molecular_fragments(atoms, bond, ring_scale)
            if not atoms.pbc.any() and side is None:
                continue  # ring bond
            labels = None if side is None else two_sides(side)
            by_type.setdefault(bond.bond_type, []).append(PlannedScan(s, bond, labels))
    if bond_types is not None:
        missing = [t for t in bond_types if t not in by_type]
        if missing:
            ring_only = [t for t in missing if t in found]
            raise ValueError(
                f"bond type(s) {', '.join(missing)} not scannable in these {len(structures)} structure(s)"
                + (f" ({', '.join(ring_only)} only inside rings)" if ring_only else "")
                + f"; scannable types: {', '.join(sorted(by_type)) or 'none'}")
        by_type = {t: by_type[t] for t in bond_types}
    if not by_type:
        raise ValueError(f"no scannable bond in {len(structures)} structure(s)")
    chosen = []
    for bond_type in sorted(by_type):
        candidates = by_type[bond_type]
        rng = np.random.default_rng([seed, *bond_type.encode()])
        order = rng.permutation(len(candidates))
        first, rest, used = [], [], set()
        for k in order:  # one bond per structure before any structure gets a second
            (rest if candidates[k].structure_idx in used else first).append(k)
            used.add(candidates[k].structure_idx)
        picks = (first + rest)[: per_type if per_type is not None else len(candidates)]
        chosen.extend(sorted((candidates[k] for k in picks), key=lambda p: (p.structure_idx, p.bond.i, p.bond.j)))
    return chosen


def build_scan_system(
    atoms: Atoms, plan: PlannedScan, n_points: int = 100, seed: int = 0,
    min_scale: float = 0.5, max_scale: float = 2.0,
) -> ScanSystem:
    """The frames of one planned scan (fragment scan for molecules, pair scan for crystals).

    The rotation's generator comes from (seed, structure, i, j), so a system does not depend on
    which others are built with it.
    """
    if n_points < 3:
        raise ValueError(f"a scan needs at least 3 points, got {n_points}")
    bond = plan.bond
    r_start, r_end = grid_range_angstrom(atoms.numbers[bond.i], atoms.numbers[bond.j], min_scale, max_scale)
    grid = np.linspace(r_start, r_end, n_points)
    if plan.labels is None:
        # pair scan: the engine's geometry, cell grown so r_end stays inside half the cell
        scan_range = ScanRange(n_points=8, r_min_scale=r_start / bond.r0_angstrom, r_min_floor_angstrom=0.0,
                               r_max_scale=r_end / bond.r0_angstrom)
        geometry = build_scan(atoms, bond, scan_range, mode="pair")
        unperturbed = geometry.atoms
        positions = geometry.positions_angstrom(grid)
        labels = np.zeros(len(unperturbed), int)
        labels[[geometry.i, geometry.j]] = 1
        bond_index = (geometry.i, geometry.j)
        unit_vec = 2.0 * geometry.dx_dr[geometry.j]
        rotation = "0.00x,0.00y,0.00z"
    else:
        matrix, rotation = random_rotation(np.random.default_rng([seed, plan.structure_idx, bond.i, bond.j]))
        unperturbed = atoms.copy()
        unperturbed.positions = rotate_about_centre(atoms.positions, matrix)
        labels = np.asarray(plan.labels, int)
        bond_index = (bond.i, bond.j)
        positions, unit_vec = fragment_scan_positions(unperturbed.positions, bond_index, labels, grid)
    unperturbed.calc = None
    partition = {
        "bond": np.array(bond.bond_type), "bond_index": np.array(bond_index, dtype=np.int64),
        "labels": labels.astype(np.int32), "perturb_range": np.array([r_start, r_end, float(n_points)]),
        "unit_vec": np.asarray(unit_vec, float), "rotation": np.array(rotation),
    }
    return ScanSystem(plan, unperturbed, positions, partition)


# ---------------------------------------------------------------------------------- labelling


def label_frames(potential, frames: list[Atoms]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Energy (n,), forces (n, n_atoms, 3) and error messages; a failed frame is NaN, as in BSCT-SPICE.

    All frames go to the potential in batched calls (:func:`bsct.potentials.evaluate.evaluate`);
    a call that raises is retried one frame at a time so only the failing frames are lost.
    Messages: ``frame k: <error>`` for each frame that raised, then ``frame k: non-finite label``.
    """
    ev = evaluate(potential, frames)
    raised = [f"frame {k}: {msg}" for k, msg in ev.failures.items() if msg != NON_FINITE]
    non_finite = [f"frame {k}: non-finite label" for k, msg in ev.failures.items() if msg == NON_FINITE]
    return ev.energy_ev, ev.stacked_forces(), raised + non_finite


# ---------------------------------------------------------------------------------- writing


def _labelled(atoms: Atoms, energy_ev: float, forces_ev_per_angstrom: np.ndarray, info: dict) -> Atoms:
    out = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    out.info.update(info)
    out.calc = SinglePointCalculator(out, energy=float(energy_ev), forces=np.asarray(forces_ev_per_angstrom))
    return out


def system_complete(path: Path) -> bool:
    """True when ``path`` holds partition.npz and every frame it announces."""
    part = path / "partition.npz"
    if not part.exists():
        return False
    try:
        with np.load(part, allow_pickle=False) as data:
            n = int(data["perturb_range"][2])
    except Exception:  # noqa: BLE001 - an unreadable partition means: build the system again
        return False
    return (path / "unperturbed.xyz").exists() and all((path / f"atoms_{k}.xyz").exists() for k in range(n))


def write_system(path: Path, unperturbed: Atoms, frames: list[Atoms], partition: dict | Path) -> None:
    """Write ``<root>/<BOND>/<ID>`` atomically: built in ``<root>/.partial/`` and renamed when complete.

    ``frames`` and ``unperturbed`` carry their labels (SinglePointCalculator) and info;
    ``partition`` is a dict of arrays or an existing ``partition.npz`` to copy.
    """
    path = Path(path)
    partial = path.parent.parent / ".partial" / path.parent.name / path.name
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    write(partial / "unperturbed.xyz", unperturbed, format="extxyz")
    for k, frame in enumerate(frames):
        write(partial / f"atoms_{k}.xyz", frame, format="extxyz")
    if isinstance(partition, (str, Path)):
        shutil.copyfile(partition, partial / "partition.npz")
    else:
        np.savez(partial / "partition.npz", **partition)
    if path.exists():
        shutil.rmtree(path)
    os.replace(partial, path)
    for empty in (partial.parent, partial.parent.parent):
        try:
            empty.rmdir()
        except OSError:  # not empty: another system is being written
            break


_MANIFEST_VERSIONS = ("bsct", "ase", "tblite", "matscipy")  # what decides a label


def _write_manifest(root: Path, meta: dict, rows: dict) -> None:
    path = root / "make_scans.json"
    old = json.loads(path.read_text()).get("systems", {}) if path.exists() else {}
    write_json(path, {"schema": "bsct.make_scans/1", **meta, "versions": versions(_MANIFEST_VERSIONS),
                      "systems": dict(sorted({**old, **rows}.items()))}, indent=2)  # a stop mid-write keeps the old one


# ---------------------------------------------------------------------------------- sets


def generate_scans(
    structures: list[Atoms],
    reference,
    out_root: str | Path,
    bond_types: list[str] | None = None,
    per_type: int | None = 5,
    n_points: int = 100,
    seed: int = 0,
    elements: list[str] | None = None,
    dataset: str = "bsct",
    progress: bool = True,
) -> list[Path]:
    """Build, label with ``reference`` (SPEC or potential) and write scans; skips finished systems.

    Returns the system folders in the order planned. Charge per structure: ``info['charge']``,
    else the SMILES' formal charges, else 0.
    """
    from tqdm.auto import tqdm

    from bsct.data.bsct_spice import smiles_charge
    from bsct.data.validate import validate_structures

    # before any reference call: non-finite or overlapping input is named (file-free: the dataset name)
    validate_structures(structures, source=dataset, need_a_pair=True, what="a bond scan")
    out_root = Path(out_root)
    plans = plan_scans(structures, bond_types, per_type, seed, elements)
    potentials = ModelByCharge(reference)
    paths, rows = [], {}
    for plan in tqdm(plans, desc="make-scans", unit="system", disable=not progress):
        path = out_root / plan.bond.bond_type / plan.system_id
        paths.append(path)
        if system_complete(path):
            continue
        start = time.perf_counter()
        atoms = structures[plan.structure_idx]
        system = build_scan_system(atoms, plan, n_points, seed)
        smiles = str(atoms.info.get("smiles", atoms.get_chemical_formula()))
        charge = int(atoms.info.get("charge", smiles_charge(smiles) if "smiles" in atoms.info else 0))
        info = {"id": plan.system_id, "bond": plan.bond.bond_type, "smiles": smiles, "dataset": dataset}
        geometries = [system.unperturbed.copy()]
        for pos in system.positions_angstrom:
            frame = system.unperturbed.copy()
            frame.positions = pos
            geometries.append(frame)
        for frame in geometries:
            frame.positions = as_stored(frame.positions)
        energy, forces, errors = label_frames(potentials.get(charge), geometries)
        if errors:
            log.warning("%s: %d of %d frame(s) not labelled, first: %s", plan.label, len(errors), len(geometries), errors[0])
        labelled = [_labelled(g, e, f, info) for g, e, f in zip(geometries, energy, forces)]
        write_system(path, labelled[0], labelled[1:], system.partition)
        rows[plan.label] = {"structure_idx": plan.structure_idx, "n_atoms": len(atoms), "charge": charge,
                            "mode": "pair" if plan.labels is None else "fragment",
                            "n_failed_frames": len(errors), "seconds": round(time.perf_counter() - start, 3)}
    _write_manifest(out_root, {"reference": str(reference), "source": dataset, "n_points": n_points, "seed": seed},
                    rows)
    return paths


def choose_systems(
    root: str | Path, bond_types: list[str] | None = None, per_type: int | None = None, seed: int = 0,
    elements: list[str] | None = None,
) -> list[Path]:
    """System folders of an existing set: all, or ``per_type`` per bond type chosen by seed among
    those whose elements are all in ``elements``."""
    from bsct.data.bsct_spice import system_dirs

    dirs = system_dirs(root, bond_types)
    if elements is not None:
        allowed = set(elements)
        dirs = [d for d in dirs if set(read(d / "unperturbed.xyz", format="extxyz").get_chemical_symbols()) <= allowed]
    chosen = []
    for bond_type in sorted({d.parent.name for d in dirs}):
        of_type = [d for d in dirs if d.parent.name == bond_type]
        if per_type is not None and per_type < len(of_type):
            rng = np.random.default_rng([seed, *bond_type.encode()])
            of_type = [of_type[k] for k in sorted(rng.choice(len(of_type), size=per_type, replace=False))]
        chosen.extend(of_type)
    if not chosen:
        raise ValueError(f"{root}: no system matches bond types {bond_types} and elements {elements}")
    return chosen


def relabel_set(
    root_in: str | Path,
    reference,
    out_root: str | Path,
    bond_types: list[str] | None = None,
    per_type: int | None = None,
    seed: int = 0,
    elements: list[str] | None = None,
    progress: bool = True,
) -> list[Path]:
    """Copy systems of an existing set with new labels from ``reference``; geometry and partition kept.

    Every frame is relabelled, also those whose original label was NaN; the charge comes from
    the SMILES. Skips systems already complete under ``out_root``.
    """
    from tqdm.auto import tqdm

    from bsct.data.bsct_spice import smiles_charge

    out_root = Path(out_root)
    potentials = ModelByCharge(reference)
    paths, rows = [], {}
    for src in tqdm(choose_systems(root_in, bond_types, per_type, seed, elements), desc="relabel", unit="system",
                    disable=not progress):
        dst = out_root / src.parent.name / src.name
        paths.append(dst)
        if system_complete(dst):
            continue
        start = time.perf_counter()
        with np.load(src / "partition.npz", allow_pickle=False) as part:
            n = int(part["perturb_range"][2])
        originals = [read(src / "unperturbed.xyz", format="extxyz")]
        originals += [read(src / f"atoms_{k}.xyz", format="extxyz") for k in range(n)]
        charge = smiles_charge(str(originals[0].info.get("smiles", "")))
        energy, forces, errors = label_frames(potentials.get(charge), originals)
        if errors:
            log.warning("%s/%s: %d of %d frame(s) not labelled, first: %s", src.parent.name, src.name, len(errors),
                        len(originals), errors[0])
        labelled = [_labelled(a, e, f, dict(a.info)) for a, e, f in zip(originals, energy, forces)]
        write_system(dst, labelled[0], labelled[1:], src / "partition.npz")
        rows[f"{src.parent.name}/{src.name}"] = {"n_atoms": len(originals[0]), "charge": charge,
                                                  "n_failed_frames": len(errors),
                                                  "seconds": round(time.perf_counter() - start, 3)}
    _write_manifest(out_root, {"reference": str(reference), "source": str(root_in), "relabel": True, "seed": seed},
                    rows)
    return paths


def make_fsd_set(
    system: str, out_dir: str | Path, per_type: int = 1, points: int = 50, seed: int = 0, split: str = "test",
    reference: str | None = None, progress: bool = False,
) -> Path:
    """An FSD set from one of our ci datasets, labelled by the method that labelled it.

    cu → EMT, si → Stillinger–Weber, water and molecules → GFN2-xTB (``REFERENCES``), so a
    model trained on that data is scored against its own level of theory. Returns the set's root.
    """
    from bsct.data import ci_path, load_dataset
    from bsct.data.systems import canonical_system

    name = canonical_system(system)
    structures = load_dataset(ci_path(name, split))
    generate_scans(structures, reference or REFERENCES[name], out_dir, per_type=per_type, n_points=points,
                   seed=seed, dataset=f"bsct ci {name}/{split}", progress=progress)
    return Path(out_dir)
