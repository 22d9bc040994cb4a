"""Reader for BSCT-SPICE, the paper's released bond scans with DFT labels (MIT licence).

Layout: ``<root>/<BOND>/<ID>/{unperturbed.xyz, atoms_0.xyz ... atoms_99.xyz, partition.npz}``;
frame k sits at bond length ``linspace(*perturb_range)[k]`` (Å). Frames whose reference
calculation failed carry a NaN energy and are dropped here.
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


@dataclass(frozen=True)
class SpiceScan:
    """One BSCT-SPICE system: a rigid-fragment scan of one bond with reference labels.

    Attributes:
        bond_type: e.g. "C-C"; system_id: the SPICE id; smiles: atom-mapped SMILES.
        r_angstrom: (n_frames,) bond length of each kept frame (increasing).
        frames: the scan geometries (no calculator attached).
        energy_ref_ev: (n_frames,) reference energy; forces_ref_ev_per_angstrom: (n_frames, n_atoms, 3).
        bond_index: the two bonded atoms; fragment_labels: (n_atoms,) 0/1 rigid fragments.
        charge: total charge from the SMILES formal charges.
        n_dropped: frames dropped because the reference failed (NaN energy).
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


def sample_root() -> Path:
    """The four BSCT-SPICE systems shipped with bsct (see assets/bsct_spice/README.md)."""
    return Path(str(resources.files("bsct") / "assets" / "bsct_spice"))


def smiles_charge(smiles: str) -> int:
    """Total charge from the formal charges written in (atom-mapped) SMILES brackets."""
    total = 0
    for bracket in re.findall(r"\[([^\]]+)\]", smiles):
        body = bracket.split(":")[0]
        for sign, count in re.findall(r"([+-])(\d*)", body):
            total += (1 if sign == "+" else -1) * (int(count) if count else 1)
    return total


def read_system(path: str | Path) -> SpiceScan:
    """Read one ``<BOND>/<ID>`` folder; errors name the folder and the frame."""
    path = Path(path)
    part_file = path / "partition.npz"
    if not part_file.exists():
        raise FileNotFoundError(f"{path}: no partition.npz; not a BSCT-SPICE system folder")
    with np.load(part_file, allow_pickle=False) as part:
        r_start, r_end, n = part["perturb_range"]
        bond_index = tuple(int(x) for x in part["bond_index"])
        labels = np.asarray(part["labels"], int)
        bond_type = str(part["bond"])
    n = int(n)
    grid = np.linspace(r_start, r_end, n)
    frames, energies, forces, r_kept, dropped = [], [], [], [], 0
    for k in range(n):
        frame_file = path / f"atoms_{k}.xyz"
        if not frame_file.exists():
            raise FileNotFoundError(f"{frame_file}: missing scan frame {k} of {n}")
        try:
            atoms = read(frame_file, format="extxyz")
            energy = float(atoms.get_potential_energy())
            frame_forces = atoms.get_forces()
        except Exception as exc:
            raise ValueError(f"{frame_file}: cannot read energy and forces ({type(exc).__name__}: {exc})") from exc
        if not np.isfinite(energy) or not np.isfinite(frame_forces).all():
            dropped += 1
            continue
        smiles = str(atoms.info.get("smiles", ""))
        atoms.calc = None
        frames.append(atoms)
        energies.append(energy)
        forces.append(frame_forces)
        r_kept.append(grid[k])
    if len(frames) < 3:
        raise ValueError(f"{path}: only {len(frames)} frame(s) with finite reference labels")
    if dropped:
        log.info("%s: dropped %d frame(s) whose reference energy is NaN", path, dropped)
    return SpiceScan(
        bond_type=bond_type, system_id=path.name, smiles=smiles, r_angstrom=np.asarray(r_kept), frames=frames,
        energy_ref_ev=np.asarray(energies), forces_ref_ev_per_angstrom=np.stack(forces), bond_index=bond_index,
        fragment_labels=labels, charge=smiles_charge(smiles), n_dropped=dropped,
    )


def system_dirs(root: str | Path, bond_types: list[str] | None = None, limit: int | None = None) -> list[Path]:
    """System folders under ``root`` in sorted (bond, numeric id) order; ``limit`` per bond type."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a directory (unpack bsct_spice.tar.xz first)")
    if (root / "bsct_spice").is_dir():
        root = root / "bsct_spice"
    out = []
    for bond_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if bond_types and bond_dir.name not in bond_types:
            continue
        ids = sorted((p for p in bond_dir.iterdir() if (p / "partition.npz").exists()),
                     key=lambda p: (int(p.name) if p.name.isdigit() else 0, p.name))
        out.extend(ids[:limit] if limit else ids)
    if not out:
        raise ValueError(f"{root}: no BSCT-SPICE systems found")
    return out
