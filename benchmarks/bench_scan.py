"""Scan throughput: BSCT harness vs the potential's raw batched forward+backward.

    python benchmarks/bench_scan.py [--repeats 3]

For each system: the raw rate (pre-built batches of the scan frames through the potential,
forces by autograd, chunked like the runner), the scan runner's rate (building frames and batches included) and the
whole BSCT rate (runner + detectors + jump refinement + score), in scan points per second.
Overhead = 1 - rate / raw rate. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk

from bsct import run_bsct
from bsct.potentials.evaluate import MAX_ATOMS_PER_CALL, Configurations
from bsct.potentials.pair import Morse
from bsct.scan.bonds import select_bonds
from bsct.scan.geometry import ScanRange, build_scan
from bsct.scan.runner import evaluate_scan


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--points", type=int, default=240)
    parser.add_argument("--max-atoms-per-call", type=int, default=MAX_ATOMS_PER_CALL)
    args = parser.parse_args()
    torch.set_num_threads(2)
    systems = {
        "Cu dimer (2 atoms)": Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]]),
        "Cu fcc, grown cell": bulk("Cu", "fcc", a=3.61),
    }
    potential = Morse()
    rows = []
    for name, atoms in systems.items():
        bond = select_bonds([atoms], max_per_type=1).bonds[0]
        geo = build_scan(atoms, bond, ScanRange(n_points=args.points), potential.cutoff_angstrom)
        # Same chunking as the runner (MAX_ATOMS_PER_CALL), batches built beforehand.
        per_call = max(1, args.max_atoms_per_call // len(geo.atoms))
        frames = Configurations(geo.atoms, geo.positions_angstrom())
        batches = [frames.batch(k, min(k + per_call, args.points)) for k in range(0, args.points, per_call)]
        n = args.points
        t_raw = best_of(lambda: [potential(b) for b in batches], args.repeats)
        t_runner = best_of(lambda: evaluate_scan(potential, geo, args.max_atoms_per_call), args.repeats)
        t_bsct = best_of(lambda: run_bsct(potential, [atoms], max_per_type=1, progress=False,
                                          scan_range=ScanRange(n_points=n), max_atoms_per_call=args.max_atoms_per_call), args.repeats)
        rows.append((name, len(geo.atoms), n / t_raw, n / t_runner, n / t_bsct, 1 - t_raw / t_runner, 1 - t_raw / t_bsct))
    print(f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; Morse pair potential (torch, float64), {args.points} points per scan, "
          f"best of {args.repeats}.\n")
    print("| system | atoms per frame | raw forward+backward (points/s) | scan runner (points/s) | full BSCT (points/s) "
          "| runner overhead | full BSCT overhead |")
    print("|---|---|---|---|---|---|---|")
    for name, n_atoms, raw, runner, full, o_runner, o_full in rows:
        print(f"| {name} | {n_atoms} | {raw:,.0f} | {runner:,.0f} | {full:,.0f} | {o_runner:.0%} | {o_full:.0%} |")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
