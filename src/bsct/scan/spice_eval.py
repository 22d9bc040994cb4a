"""FSD of a model on BSCT-SPICE style scans: batched evaluation, per-system rows, resumable."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from tqdm.auto import tqdm

from bsct.data.bsct_spice import SpiceScan, read_system, sample_root, system_dirs
from bsct.metrics.fsd import force_smoothness_deviation
from bsct.potentials.protocol import AtomsBatch, BatchedPotential
from bsct.potentials.registry import load_potential
from bsct.scan.runner import call_potential

log = logging.getLogger(__name__)


def evaluate_frames(potential: BatchedPotential, frames: list[Atoms], max_atoms_per_call: int = 20_000):
    """Energies (n,) and forces (n, n_atoms, 3) of same-size frames, many frames per model call."""
    n_atoms = len(frames[0])
    per_call = max(1, max_atoms_per_call // n_atoms)
    energies, forces = [], []
    for lo in range(0, len(frames), per_call):
        e, f = call_potential(potential, AtomsBatch.from_atoms(frames[lo : lo + per_call]))
        energies.append(e)
        forces.append(f.reshape(-1, n_atoms, 3))
    return np.concatenate(energies), np.concatenate(forces)


def fsd_row(potential: BatchedPotential, scan: SpiceScan) -> dict:
    """One system: FSD (full, compression, stretch), energy and force MAE, timing."""
    start = time.perf_counter()
    energy, forces = evaluate_frames(potential, scan.frames)
    seconds = time.perf_counter() - start
    finite = np.isfinite(energy) & np.isfinite(forces).all(axis=(1, 2))
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(f"{scan.label}: model gave non-finite output at frame(s) {bad.tolist()} "
                         f"(r = {', '.join(f'{x:.3f}' for x in scan.r_angstrom[bad])} Å)")
    res = force_smoothness_deviation(scan.r_angstrom, forces, scan.forces_ref_ev_per_angstrom, scan.energy_ref_ev, energy)
    return {"system": scan.label, "bond_type": scan.bond_type, "n_atoms": len(scan.frames[0]),
            "n_frames": len(scan.frames), **dataclasses.asdict(res), "eval_seconds": seconds}


MEAN_KEYS = ("fsd_per_angstrom", "fsd_compression_per_angstrom", "fsd_stretch_per_angstrom",
             "energy_mae_ev", "force_mae_ev_per_angstrom")


def summarise(rows: list[dict]) -> dict:
    """Means over systems, overall and per bond type (the paper's reporting)."""
    def means(rs):
        return {k: float(np.mean([r[k] for r in rs])) for k in MEAN_KEYS} | {"n_systems": len(rs)}

    by_type = {t: means([r for r in rows if r["bond_type"] == t]) for t in sorted({r["bond_type"] for r in rows})}
    return {"all": means(rows), "per_bond_type": by_type}


def run_fsd(
    model,
    root: str | Path | None = None,
    bond_types: list[str] | None = None,
    limit_per_type: int | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """FSD of ``model`` on the systems under ``root`` (default: the four shipped samples).

    Rows go to ``out_dir/fsd_rows.jsonl`` as each system finishes; ``resume`` skips those
    already there. A system whose evaluation fails is logged and recorded with its error.
    """
    potential = load_potential(model)
    dirs = system_dirs(root or sample_root(), bond_types, limit_per_type)
    rows_path = Path(out_dir) / "fsd_rows.jsonl" if out_dir is not None else None
    rows: list[dict] = []
    done: set[str] = set()
    if rows_path is not None:
        rows_path.parent.mkdir(parents=True, exist_ok=True)
        if resume and rows_path.exists():
            rows = [json.loads(line) for line in rows_path.read_text().splitlines() if line.strip()]
            done = {r["system"] for r in rows}
        elif rows_path.exists():
            rows_path.unlink()
    failures = []
    for path in tqdm(dirs, desc="FSD", unit="system", disable=not progress):
        label = f"{path.parent.name}/{path.name}"
        if label in done:
            continue
        try:
            row = fsd_row(potential, read_system(path))
        except Exception as exc:
            log.error("%s: %s", label, exc)
            failures.append({"system": label, "error": f"{type(exc).__name__}: {exc}"})
            continue
        rows.append(row)
        if rows_path is not None:
            with rows_path.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
    if not rows:
        raise ValueError("FSD: no system could be evaluated" + (f" (first error: {failures[0]['error']})" if failures else ""))
    result = {"schema": "bsct.fsd/1", "model": model if isinstance(model, str) else type(potential).__name__,
              "summary": summarise(rows), "rows": rows, "failures": failures}
    if out_dir is not None:
        (Path(out_dir) / "fsd.json").write_text(json.dumps(result, indent=2))
    return result
