"""Scan harness overhead: BSCT's scan path over the raw model, on the same frames, in one run.

    python benchmarks/bench_scan_overhead.py [--points 60] [--repeats 3]

Each system is a v2 crystal pair scan in its image-safe cell (``build_scan(cell_rule="image-safe")``,
bsct.scan.cells). Per system, interleaved in every repeat, one thread:

- raw: the model alone on the scan's frames. ASE models: one calculator kept for the whole scan,
  ``atoms.positions`` set per frame, energy and forces (what a hand-written loop does). Torch
  models: ``potential(batch)`` on batches built beforehand, chunked as the harness chunks them;
- harness: ``bsct.scan.runner.evaluate_scan(potential, geometry, record_collisions=True)`` (the
  potential as ``bsct scan`` loads it: adapter, chunking, batch building, NaN checks, collision
  distances, curve assembly).

Times are CPU seconds of this one-thread process (``time.process_time``: on the shared 2-core
machine other processes inflate wall time by 2-4x at random), best repeat; ratio = harness / raw. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import ase  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from ase.build import bulk  # noqa: E402
from ase.calculators.calculator import Calculator  # noqa: E402

from bench_calculator_reuse import raw_loop  # noqa: E402  (benchmarks/ is on the path when run as a script)
from bench_crystal_cells import transformer  # noqa: E402

from bsct.potentials.ase_adapters import CalculatorPotential  # noqa: E402
from bsct.potentials.evaluate import MAX_ATOMS_PER_CALL, Configurations  # noqa: E402
from bsct.registry import load_potential  # noqa: E402
from bsct.scan.bonds import find_bonds  # noqa: E402
from bsct.scan.geometry import ScanRange, build_scan  # noqa: E402
from bsct.scan.runner import evaluate_scan  # noqa: E402


def raw_runner(potential, geometry):
    """A zero-argument function running the model alone on the scan's frames."""
    positions = geometry.positions_angstrom()
    if isinstance(potential, CalculatorPotential):
        factory = potential._calculator

        make = (lambda: factory) if isinstance(factory, Calculator) else factory
        return lambda: raw_loop(make, geometry.atoms, positions)
    frames = Configurations(geometry.atoms, positions)
    per_call = max(1, MAX_ATOMS_PER_CALL // len(geometry.atoms))
    batches = [frames.batch(lo, min(lo + per_call, len(positions))) for lo in range(0, len(positions), per_call)]

    def run_torch():
        for batch in batches:
            potential(batch)

    return run_torch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cu = bulk("Cu", "fcc", a=3.61, cubic=True)
    si = bulk("Si", "diamond", a=5.431, cubic=True)
    systems = [("EMT, fresh per call (default)", load_potential("emt"), cu),
               ("EMT, `emt[reuse=True]`", load_potential("emt[reuse=True]"), cu),
               ("SW-Si (kept, bit-exact)", load_potential("sw-si"), si),
               ("LJ (torch pair, `lj`)", load_potential("lj"), cu),
               ("Transformer (final, float64)", transformer(), cu)]
    cases = []
    for name, potential, atoms in systems:
        bond = find_bonds(atoms)[0]
        geometry = build_scan(atoms, bond, ScanRange(n_points=args.points), potential.cutoff_angstrom,
                              cell_rule="image-safe",
                              image_range_angstrom=getattr(potential, "interaction_range_angstrom", None))
        runs = {"raw": raw_runner(potential, geometry),
                "harness": lambda p=potential, g=geometry: evaluate_scan(p, g, record_collisions=True)}
        for run in runs.values():  # warm-up: imports, first-call set-up
            run()
        cases.append((name, geometry, runs))
    best = {(i, v): np.inf for i in range(len(cases)) for v in ("raw", "harness")}
    for _ in range(args.repeats):
        for i, (_, _, runs) in enumerate(cases):
            for v, run in runs.items():
                start = time.process_time()
                run()
                best[i, v] = min(best[i, v], time.process_time() - start)
    print(f"{platform.processor() or platform.machine()}, one thread, ase {ase.__version__}, torch {torch.__version__}, "
          f"{args.points} points x {args.repeats} interleaved repeats (best CPU time)\n")
    print("| model | scanned cell (atoms) | raw CPU ms/point | harness CPU ms/point | harness / raw |")
    print("|---|---:|---:|---:|---:|")
    for i, (name, geometry, _) in enumerate(cases):
        raw, harness = best[i, "raw"] / args.points * 1e3, best[i, "harness"] / args.points * 1e3
        print(f"| {name} | {len(geometry.atoms)} | {raw:.2f} | {harness:.2f} | {harness / raw:.2f} |")


if __name__ == "__main__":
    main()
