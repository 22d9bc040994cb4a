"""Reader for BSCT-SPICE, the paper's released bond scans with DFT labels (MIT licence).

Layout: ``<root>/<BOND>/<ID>/{unperturbed.xyz, atoms_0.xyz ... atoms_99.xyz, partition.npz}``;
frame k sits at bond length ``linspace(*perturb_range)[k]`` (Å). Frames whose reference
calculation failed carry a NaN energy and are masked here, as the official code does; so is
any frame with a non-finite force or coordinate (:func:`finite_frame_mask`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read

log = logging.getLogger(__name__)

PARSER_VERSION = "1"
"""Bump when :func:`read_system` returns anything different for the same files: the cache of
parsed systems (:mod:`bsct.data.spice_cache`) is keyed by it."""


@dataclass(frozen=True)
class SpiceScan:
    """One BSCT-SPICE system: a rigid-fragment scan of one bond with reference labels.

    Attributes:
        bond_type: e.g. "C-C"; system_id: the SPICE id; smiles: atom-mapped SMILES.
        r_angstrom: (n_frames,) bond length of each kept frame (increasing).
        frames: the scan geometries (no calculator attached; cell and pbc as read, so periodic
            two-atom scans work too).
        energy_ref_ev: (n_frames,) reference energy; forces_ref_ev_per_angstrom: (n_frames, n_atoms, 3).
        bond_index: the two bonded atoms; fragment_labels: (n_atoms,) 0/1 rigid fragments.
        charge: total charge from the SMILES formal charges.
        n_dropped: frames masked because their reference energy, forces or positions are not
            finite (:func:`finite_frame_mask`; a failed reference calculation has a NaN energy).
    """

    bond_type: str
    system_id: str
    smiles: str
    r_angstrom: np.ndarray
    frames: list[Atoms]
    energy_ref_ev: np.ndarray
    forces_ref_ev_per_angstrom: np.ndarray
    bond_index: tuple[int, int]
    fragment_labels: np.ndarray
    charge: int
    n_dropped: int = 0

    @property
    def label(self) -> str:
        return f"{self.bond_type}/{self.system_id}"

    @property
    def positions_angstrom(self) -> np.ndarray:
        """(n_frames, n_atoms, 3) positions of the kept frames."""
        return np.stack([a.positions for a in self.frames])


def sample_root() -> Path:
    """The BSCT-SPICE subset shipped with bsct, one system per bond type (assets/bsct_spice/README.md)."""
    return Path(str(resources.files("bsct") / "assets" / "bsct_spice"))


def smiles_charge(smiles: str) -> int:
    """Total charge from the formal charges written in (atom-mapped) SMILES brackets."""
    total = 0
    for bracket in re.findall(r"\[([^\]]+)\]", smiles):
        body = bracket.split(":")[0]
        for sign, count in re.findall(r"([+-])(\d*)", body):
            total += (1 if sign == "+" else -1) * (int(count) if count else 1)
    return total


class BadSystemError(ValueError):
    """A system folder that does not follow the BSCT-SPICE layout; the message names the file."""


class TooFewFramesError(BadSystemError):
    """A well-formed system with fewer than 3 frames left once non-finite reference frames are masked."""


def finite_frame_mask(energy_ev, forces_ev_per_angstrom, positions_angstrom) -> np.ndarray:
    """(n_frames,) True where the reference energy, every force and every position are finite.

    The official BSCT code drops frames whose reference calculation failed (NaN energy); a NaN
    anywhere in a frame's forces or coordinates breaks the metric the same way (one NaN
    coordinate turned an FSD of 68.5 into 1,188.9), so such frames are masked too.
    Shapes: energy (n_frames,), forces and positions (n_frames, n_atoms, 3).
    """
    energy = np.asarray(energy_ev, float)
    forces = np.asarray(forces_ev_per_angstrom, float)
    positions = np.asarray(positions_angstrom, float)
    return np.isfinite(energy) & np.isfinite(forces).all(axis=(1, 2)) & np.isfinite(positions).all(axis=(1, 2))


def _read_partition(path: Path) -> dict:
    part_file = path / "partition.npz"
    if not part_file.exists():
        raise BadSystemError(f"{path}: no partition.npz; not a BSCT-SPICE system folder")
    required = ("bond", "bond_index", "labels", "perturb_range")
    try:
        with np.load(part_file, allow_pickle=False) as part:
            missing = [k for k in required if k not in part.files]
            out = {k: part[k] for k in required if k in part.files}
    except Exception as exc:  # zipfile.BadZipFile, OSError, ValueError, ...
        raise BadSystemError(f"{part_file}: unreadable ({type(exc).__name__}: {exc})") from exc
    if missing:
        raise BadSystemError(f"{part_file}: missing key {missing[0]!r}; needs {', '.join(required)}")
    if np.shape(out["perturb_range"]) != (3,) or np.shape(out["bond_index"]) != (2,):
        raise BadSystemError(f"{part_file}: perturb_range must be [r_start, r_end, n] and bond_index two atoms, got "
                             f"{np.shape(out['perturb_range'])} and {np.shape(out['bond_index'])}")
    return out


def _read_frame(frame_file: Path) -> tuple[Atoms, float, np.ndarray]:
    try:
        atoms = read(frame_file, format="extxyz")
        results = atoms.calc.results if atoms.calc is not None else {}  # direct: get_property re-checks state
        if "energy" not in results or "forces" not in results:
            raise ValueError("no energy or no forces column")
        energy = float(results["energy"])
        forces = np.asarray(results["forces"], float)
    except Exception as exc:
        raise BadSystemError(f"{frame_file}: cannot read energy and forces ({type(exc).__name__}: {exc})") from exc
    return atoms, energy, forces


def read_system(path: str | Path) -> SpiceScan:
    """Read one ``<BOND>/<ID>`` folder; frames with a non-finite reference are masked (and counted).

    Raises :class:`BadSystemError` naming the file for: no or unreadable ``partition.npz``, a
    missing or unreadable frame, frames whose atoms differ from frame 0 (count or elements),
    fragment labels or bond indices that do not fit the molecule; :class:`TooFewFramesError` (a
    BadSystemError) for fewer than 3 finite frames.
    Frames may carry a cell and pbc (periodic two-atom scans); they are kept as read.
    """
    path = Path(path)
    part = _read_partition(path)
    r_start, r_end, n = (float(x) for x in part["perturb_range"])
    n = round(n)
    if n < 3:
        raise BadSystemError(f"{path / 'partition.npz'}: perturb_range asks for {n} frame(s); a scan needs at least 3")
    bond_index = tuple(int(x) for x in part["bond_index"])
    labels = np.asarray(part["labels"]).astype(int)
    grid = np.linspace(r_start, r_end, n)
    frames, energies, forces = [], [], []
    numbers0, smiles = None, ""
    for k in range(n):
        frame_file = path / f"atoms_{k}.xyz"
        if not frame_file.exists():
            raise BadSystemError(f"{frame_file}: missing scan frame {k} of {n}")
        atoms, energy, frame_forces = _read_frame(frame_file)
        if numbers0 is None:
            numbers0, smiles = atoms.numbers.copy(), str(atoms.info.get("smiles", ""))
        elif len(atoms) != len(numbers0) or not np.array_equal(atoms.numbers, numbers0):
            raise BadSystemError(f"{frame_file}: {len(atoms)} atoms ({atoms.get_chemical_formula()}) differ from "
                                 f"frame 0 ({len(numbers0)} atoms); every frame must hold the same molecule")
        if frame_forces.shape != (len(atoms), 3):
            raise BadSystemError(f"{frame_file}: forces of shape {frame_forces.shape} for {len(atoms)} atoms")
        atoms.calc = None
        frames.append(atoms)
        energies.append(energy)
        forces.append(frame_forces)
    keep = finite_frame_mask(energies, forces, [a.positions for a in frames])
    masked = np.flatnonzero(~keep)
    dropped = len(masked)
    frames = [a for a, ok in zip(frames, keep) if ok]
    energies = [e for e, ok in zip(energies, keep) if ok]
    forces = [f for f, ok in zip(forces, keep) if ok]
    r_kept = grid[keep]
    n_atoms = len(numbers0)
    if labels.shape != (n_atoms,) or not set(np.unique(labels)) <= {0, 1}:
        raise BadSystemError(f"{path / 'partition.npz'}: labels {labels.shape} must be one 0/1 per atom ({n_atoms} atoms)")
    if not all(0 <= i < n_atoms for i in bond_index) or bond_index[0] == bond_index[1]:
        raise BadSystemError(f"{path / 'partition.npz'}: bond_index {bond_index} is not a pair of atoms of {n_atoms}")
    if len(frames) < 3:
        raise TooFewFramesError(f"{path}: only {len(frames)} frame(s) with finite reference labels and positions "
                                f"({dropped} of {n} masked); FSD needs at least 3")
    if dropped:
        log.info("%s: masked %d frame(s) whose reference energy, forces or positions are not finite: %s",
                 path, dropped, masked.tolist())
    return SpiceScan(
        bond_type=str(part["bond"]), system_id=path.name, smiles=smiles, r_angstrom=np.asarray(r_kept), frames=frames,
        energy_ref_ev=np.asarray(energies), forces_ref_ev_per_angstrom=np.stack(forces), bond_index=bond_index,
        fragment_labels=labels, charge=smiles_charge(smiles), n_dropped=dropped,
    )


_BOND_DIR = re.compile(r"^[A-Z][a-z]?-[A-Z][a-z]?$")


def system_dirs(root: str | Path, bond_types: list[str] | None = None, limit: int | None = None) -> list[Path]:
    """System folders under ``root`` in sorted (bond, numeric id) order; ``limit`` per bond type.

    Every folder inside a bond folder (named like ``C-N``) counts as a system, so a broken one
    (say, without partition.npz) is reported by :func:`read_system` instead of vanishing.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a directory (unpack bsct_spice.tar.xz first)")
    if (root / "bsct_spice").is_dir():
        root = root / "bsct_spice"
    out = []
    for bond_dir in sorted(p for p in root.iterdir() if p.is_dir() and _BOND_DIR.match(p.name)):
        if bond_types and bond_dir.name not in bond_types:
            continue
        ids = sorted((p for p in bond_dir.iterdir() if p.is_dir()),
                     key=lambda p: (int(p.name) if p.name.isdigit() else float("inf"), p.name))
        out.extend(ids[:limit] if limit else ids)
    if not out:
        raise ValueError(f"{root}: no BSCT-SPICE systems found (expected <BOND>/<ID>/ folders)")
    return out


def system_label(path: str | Path) -> str:
    """``<BOND>/<ID>`` of a system folder."""
    path = Path(path)
    return f"{path.parent.name}/{path.name}"
