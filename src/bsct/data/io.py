"""Reading structures from files: extxyz (or anything ase.io reads) and ASE databases, with validation.

User data (SPICE, MPTrj or OpenKIM exports) usually arrives as extxyz or an ASE ``.db``.
Labels are taken from the frame's calculator results (how ASE stores ``energy=`` and a
``forces`` column) or, failing that, from common export keys (``REF_energy``, ``DFT_energy``,
``REF_forces``, ...). :func:`validate_frames` checks what a trainer or a BSCT scan would
otherwise trip over later, and raises :class:`DatasetError` naming the file and the frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

#: info / arrays keys tried, in order, when the calculator holds no label
ENERGY_KEYS = ("energy", "REF_energy", "ref_energy", "DFT_energy", "dft_energy", "energy_ev", "total_energy")
FORCES_KEYS = ("forces", "REF_forces", "ref_forces", "DFT_forces", "dft_forces", "force")
STRESS_KEYS = ("stress", "REF_stress", "ref_stress", "DFT_stress", "dft_stress")

#: default closest approach below which two atoms count as overlapping
MIN_DISTANCE_ANGSTROM = 0.5


class DatasetError(ValueError):
    """A structure file that cannot be used; the message names the file and the frame."""

    def __init__(self, source: str | Path, frame_index: int | None, problem: str):
        self.source = str(source)
        self.frame_index = frame_index
        self.problem = problem
        where = f"{source}" if frame_index is None else f"{source}, frame {frame_index}"
        super().__init__(f"{where}: {problem}")


def read_structures(
    path: str | Path,
    index: str = ":",
    *,
    validate: bool = False,
    require_labels: bool = False,
    min_distance_angstrom: float = MIN_DISTANCE_ANGSTROM,
) -> list[Atoms]:
    """All frames of an extxyz / ASE-readable file or an ASE ``.db``, in file order.

    Raises FileNotFoundError or ValueError naming the file when it is missing or holds nothing.
    With ``validate=True`` each frame is checked by :func:`validate_frames` (structure checks;
    labels too when ``require_labels=True``) and a :class:`DatasetError` names the bad frame.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix == ".db":
        from ase.db import connect

        try:
            with connect(str(path)) as db:
                frames = [row.toatoms(add_additional_information=True) for row in db.select(sort="id")]
        except Exception as exc:
            raise ValueError(f"{path}: cannot be read as an ASE database ({type(exc).__name__}: {exc})") from exc
        for atoms in frames:  # key_value_pairs land in info['key_value_pairs']; lift them for label lookup
            kvp = atoms.info.pop("key_value_pairs", None) or {}
            for key, value in kvp.items():
                atoms.info.setdefault(key, value)
            data = atoms.info.pop("data", None) or {}
            for key, value in data.items():
                value = np.asarray(value)
                if value.ndim >= 1 and len(value) == len(atoms):
                    atoms.arrays.setdefault(key, value)
                else:
                    atoms.info.setdefault(key, value)
    else:
        from ase.io import read

        try:
            frames = read(str(path), index=index)
        except StopIteration:
            frames = []
        except Exception as exc:  # ase raises many types for malformed files
            raise ValueError(f"{path}: cannot be read as a structure file ({type(exc).__name__}: {exc})") from exc
        if isinstance(frames, Atoms):
            frames = [frames]
    if len(frames) == 0:
        raise ValueError(f"{path}: holds no structures")
    frames = list(frames)
    if validate or require_labels:
        validate_frames(frames, path, require_labels=require_labels, min_distance_angstrom=min_distance_angstrom)
    return frames


def load_dataset(path: str | Path, *, min_distance_angstrom: float = MIN_DISTANCE_ANGSTROM) -> list[Atoms]:
    """Read a labelled dataset and validate everything (structure and energy/forces labels)."""
    return read_structures(path, validate=True, require_labels=True, min_distance_angstrom=min_distance_angstrom)


def _lookup(atoms: Atoms, keys: Sequence[str], per_atom: bool):
    calc = atoms.calc
    results = getattr(calc, "results", None) or {}
    for key in keys:
        if key in results and results[key] is not None:
            return key, results[key]
    store = atoms.arrays if per_atom else atoms.info
    for key in keys:
        if key in store:
            return key, store[key]
    if per_atom:  # a per-atom quantity stored in info (e.g. from a db) still counts
        for key in keys:
            if key in atoms.info:
                return key, atoms.info[key]
    return None, None


def get_energy(atoms: Atoms) -> float | None:
    """Reference energy in eV, or None when the frame carries none."""
    _, value = _lookup(atoms, ENERGY_KEYS, per_atom=False)
    if value is None:
        return None
    arr = np.asarray(value, dtype=float)
    return float(arr) if arr.shape == () else arr  # a wrong shape is reported by validate_frames


def get_forces(atoms: Atoms) -> np.ndarray | None:
    """Reference forces (n_atoms, 3) in eV/Å, or None."""
    _, value = _lookup(atoms, FORCES_KEYS, per_atom=True)
    return None if value is None else np.asarray(value, dtype=float)


def get_stress(atoms: Atoms) -> np.ndarray | None:
    """Reference stress as a (3, 3) tensor in eV/Å^3 (ASE sign), or None."""
    _, value = _lookup(atoms, STRESS_KEYS, per_atom=False)
    if value is None:
        return None
    arr = np.asarray(value, dtype=float).reshape(-1)
    if arr.size == 6:
        from ase.stress import voigt_6_to_full_3x3_stress

        return voigt_6_to_full_3x3_stress(arr)
    if arr.size == 9:
        return arr.reshape(3, 3)
    return arr  # wrong size: reported by validate_frames


def closest_pair(atoms: Atoms, within_angstrom: float):
    """(i, j, d) of the closest pair closer than ``within_angstrom`` (periodic images included), or None."""
    if len(atoms) < 2 and not atoms.pbc.any():
        return None
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list("ijd", atoms, within_angstrom, self_interaction=False)
    if len(d) == 0:
        return None
    k = int(np.argmin(d))
    return int(i[k]), int(j[k]), float(d[k])


def validate_frames(
    frames: Sequence[Atoms],
    source: str | Path = "<structures>",
    *,
    require_labels: bool = True,
    min_distance_angstrom: float = MIN_DISTANCE_ANGSTROM,
) -> None:
    """Raise :class:`DatasetError` at the first unusable frame; return None when all pass.

    Checks, in order, per frame: positions finite; a periodic direction has a non-zero cell
    vector and the periodic cell has a volume; no two atoms closer than
    ``min_distance_angstrom`` (minimum image); and, if ``require_labels``: energy present,
    scalar and finite, forces present, of shape (n_atoms, 3) and finite, stress (if present)
    of 6 or 9 finite components.
    """
    for index, atoms in enumerate(frames):
        problem = frame_problem(atoms, require_labels=require_labels, min_distance_angstrom=min_distance_angstrom)
        if problem is not None:
            raise DatasetError(source, index, problem)


def frame_problem(atoms: Atoms, *, require_labels: bool = True,
                  min_distance_angstrom: float = MIN_DISTANCE_ANGSTROM) -> str | None:
    """The first problem of one frame as a message (see :func:`validate_frames`), or None."""
    n_atoms = len(atoms)
    if n_atoms == 0:
        return "holds no atoms"
    pos = atoms.positions
    if not np.isfinite(pos).all():
        bad = int(np.argwhere(~np.isfinite(pos).all(axis=1))[0, 0])
        return f"positions are not finite (NaN or inf), first at atom {bad}"
    cell = atoms.cell.array
    if not np.isfinite(cell).all():
        return "cell is not finite (NaN or inf)"
    if atoms.pbc.any():
        lengths = np.linalg.norm(cell, axis=1)
        missing = [axis for axis in range(3) if atoms.pbc[axis] and lengths[axis] < 1e-8]
        if missing:
            return f"periodic frame without a cell: pbc={atoms.pbc.tolist()} but cell vector(s) {missing} are zero"
        if atoms.pbc.all() and abs(np.linalg.det(cell)) < 1e-6:
            return "periodic frame without a cell: the cell has zero volume"
    pair = closest_pair(atoms, min_distance_angstrom)
    if pair is not None:
        i, j, d = pair
        symbols = atoms.get_chemical_symbols()
        return (f"overlapping atoms: {i} ({symbols[i]}) and {j} ({symbols[j]}) are {d:.3f} Å apart "
                f"(< {min_distance_angstrom} Å)")
    if not require_labels:
        return None
    energy = get_energy(atoms)
    if energy is None:
        return f"missing energy (looked in calculator results and info keys {', '.join(ENERGY_KEYS)})"
    if np.ndim(energy) != 0:
        return f"shape mismatch: energy should be a scalar, got shape {np.shape(energy)}"
    if not np.isfinite(energy):
        return f"energy is not finite ({energy})"
    forces = get_forces(atoms)
    if forces is None:
        return f"missing forces (looked in calculator results and arrays {', '.join(FORCES_KEYS)})"
    if forces.shape != (n_atoms, 3):
        return f"shape mismatch: forces have shape {forces.shape}, expected ({n_atoms}, 3)"
    if not np.isfinite(forces).all():
        bad = int(np.argwhere(~np.isfinite(forces).all(axis=1))[0, 0])
        return f"forces are not finite (NaN or inf), first at atom {bad}"
    stress = get_stress(atoms)
    if stress is not None:
        if np.shape(stress) != (3, 3):
            return f"shape mismatch: stress has {np.size(stress)} components, expected 6 (Voigt) or 9"
        if not np.isfinite(stress).all():
            return "stress is not finite (NaN or inf)"
    return None


@dataclass(frozen=True)
class LabelledBatch:
    """Structures plus reference labels in the project's batched layout.

    Attributes:
        batch: the structures (:class:`bsct.potentials.protocol.AtomsBatch`).
        energy_ev: (n_systems,) reference energies in eV.
        forces_ev_per_angstrom: (n_atoms, 3) reference forces in eV/Å.
        stress_ev_per_angstrom3: (n_systems, 3, 3) in eV/Å^3; zeros where ``has_stress`` is False.
        has_stress: (n_systems,) bool.
    """

    batch: object
    energy_ev: object
    forces_ev_per_angstrom: object
    stress_ev_per_angstrom3: object
    has_stress: object


def to_labelled_batch(frames: Sequence[Atoms], source: str | Path = "<structures>", dtype=None,
                      device="cpu") -> LabelledBatch:
    """Validate ``frames`` (labels required) and stack them into a :class:`LabelledBatch`."""
    import torch

    from bsct.potentials.protocol import AtomsBatch

    dtype = torch.float64 if dtype is None else dtype
    validate_frames(frames, source, require_labels=True)
    batch = AtomsBatch.from_atoms(list(frames), dtype=dtype, device=device)
    energy = torch.tensor([get_energy(a) for a in frames], dtype=dtype, device=device)
    forces = torch.as_tensor(np.concatenate([get_forces(a) for a in frames]), dtype=dtype, device=device)
    stresses = [get_stress(a) for a in frames]
    has_stress = torch.tensor([s is not None for s in stresses], dtype=torch.bool, device=device)
    stress = torch.as_tensor(np.stack([s if s is not None else np.zeros((3, 3)) for s in stresses]),
                             dtype=dtype, device=device)
    return LabelledBatch(batch, energy, forces, stress, has_stress)
