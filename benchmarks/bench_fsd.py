"""FSD throughput: `bsct fsd` (run_fsd) vs a frame-at-a-time ASE loop over the same systems and model.

    OMP_NUM_THREADS=1 python benchmarks/bench_fsd.py [--data ROOT] [--limit N] [--repeats 2]
        [--torch-model runs/study-small/molecules/final/model.pt] [--workers 2] [--skip-xtb]

Baseline (written here, the way a user would without bsct): read each system, then for every
frame ``atoms.calc = calc; atoms.get_potential_energy(); atoms.get_forces()``, then the FSD of
the scan. Torch model: the calculator is ``TorchCalculator(potential)`` (one frame per call),
bsct batches many frames of many scans per call. GFN2-xTB: the calculator is tblite's TBLite
(fresh per system, with the SMILES charge); bsct fans systems out over ``--workers`` processes.
Both sides include reading the data and computing the metric; rates are frames per second,
best of ``--repeats``. Torch systems are limited to the model's elements. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from ase import Atoms

from bsct.data.bsct_spice import read_system, sample_root, system_dirs
from bsct.fsd.metric import force_smoothness_deviation
from bsct.fsd.run import run_fsd
from bsct.potentials.ase_adapters import TorchCalculator
from bsct.registry import load_potential


def baseline_loop(make_calc, paths: list[Path], prepare=Atoms.copy,
                  model_seconds: list[float] | None = None) -> tuple[int, list[float]]:
    """Frame-at-a-time ASE loop; returns (frames, full FSD per system). ``prepare(atoms)`` returns
    the copy the calculator sees (a vacuum box for CHGNet); ``model_seconds`` (a one-item list)
    gets the time spent inside the calculator added to it."""
    n_frames, fsd = 0, []
    for path in paths:
        scan = read_system(path)
        calc = make_calc(scan)
        forces = []
        for atoms in scan.frames:
            atoms = prepare(atoms)
            atoms.calc = calc
            start = time.perf_counter()
            atoms.get_potential_energy()
            forces.append(atoms.get_forces())
            if model_seconds is not None:
                model_seconds[0] += time.perf_counter() - start
        n_frames += len(forces)
        res = force_smoothness_deviation(scan.r_angstrom, np.stack(forces), scan.forces_ref_ev_per_angstrom,
                                         scan.energy_ref_ev, scan.positions_angstrom)
        fsd.append(res.full_smoothness)
    return n_frames, fsd


def best_rate(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def systems_with_elements(root, allowed: set[int], limit: int | None) -> list[Path]:
    out = []
    for path in system_dirs(root):
        numbers = set(read_system_numbers(path))
        if numbers <= allowed:
            out.append(path)
        if limit and len(out) >= limit:
            break
    return out


def read_system_numbers(path: Path) -> list[int]:
    from ase.io import read

    return read(path / "atoms_0.xyz").numbers.tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None, help="BSCT-SPICE root (default: the shipped subset)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many systems per model")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--torch-model", default="runs/study-small/molecules/final/model.pt",
                        help="checkpoint (H C N O) or SPEC of a torch potential; falls back to morse if missing")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-xtb", action="store_true")
    args = parser.parse_args()
    root = Path(args.data) if args.data else sample_root()
    rows = []

    spec = args.torch_model if Path(args.torch_model).exists() or not args.torch_model.endswith(".pt") else "morse"
    potential = load_potential(spec)
    elements = getattr(getattr(potential, "config", None), "elements", None)
    allowed = set(elements) if elements else set(range(1, 119))
    paths = systems_with_elements(root, allowed, args.limit)
    t_base, (n, fsd_base) = best_rate(lambda: baseline_loop(lambda s: TorchCalculator(potential), paths), args.repeats)
    t_bsct, res = best_rate(lambda: run_fsd(potential, root, None, bond_types=None, progress=False,
                                            system_paths=paths), args.repeats)
    fsd_bsct = [row["full_smoothness"] for row in res["systems"].values()]
    assert np.allclose(fsd_base, fsd_bsct, rtol=1e-6, atol=1e-6), "baseline and bsct disagree"
    rows.append((f"torch: {spec}", len(paths), n, n / t_base, n / t_bsct, 1))

    if not args.skip_xtb:
        from tblite.ase import TBLite

        xtb_paths = system_dirs(root)[: args.limit] if args.limit else system_dirs(root)
        t_base, (n, fsd_base) = best_rate(
            lambda: baseline_loop(lambda s: TBLite(method="GFN2-xTB", charge=s.charge, verbosity=0), xtb_paths),
            args.repeats)
        t_bsct, res = best_rate(lambda: run_fsd("xtb:GFN2-xTB", root, None, workers=args.workers, progress=False,
                                                system_paths=xtb_paths), args.repeats)
        fsd_bsct = [row["full_smoothness"] for row in res["systems"].values()]
        assert np.allclose(fsd_base, fsd_bsct, rtol=1e-5, atol=1e-5), "baseline and bsct disagree"
        rows.append(("GFN2-xTB (tblite)", len(xtb_paths), n, n / t_base, n / t_bsct, args.workers))

    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, data {root}\n")
    print("| model | systems | frames | ASE loop (frames/s) | bsct fsd (frames/s) | workers | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for name, n_sys, n, base, ours, workers in rows:
        print(f"| {name} | {n_sys} | {n} | {base:.0f} | {ours:.0f} | {workers} | {ours / base:.1f}x |")


if __name__ == "__main__":
    main()
