"""`bsct fsd --workers 2` against the frame-at-a-time loop on the same BSCT-SPICE systems, whole runs.

    OMP_NUM_THREADS=1 python benchmarks/bench_fsd_workers.py --data /path/to/bsct_spice --systems 20 \
        --model chgnet:0.3.0 --model xtb:GFN2-xTB --model transformer-untrained [--repeats 1]

Issue #23's speed target, measured as ratios in one run. The loop is the one a user writes without
bsct (``bench_fsd.baseline_loop``: read each system, ``atoms.calc = <the package's own calculator>``
frame by frame, one thread, then the FSD); bsct is ``run_fsd(SPEC, workers=N)``, one thread per
worker, each worker loading the SPEC itself. Both sides read the data and compute the metric;
the FSD values must agree. Per repeat the sides (``--sides``) run in alternating order: the
loop, bsct with an empty parsed-system cache ("cold": it parses the extxyz files like the loop),
bsct again with the cache filled by the cold run ("warm": a second model on the same data), and
optionally bsct cold with one worker ("single"). Systems: ``--systems`` picked round-robin over the
nine bond types (``bench_native_batched.round_robin_systems``).

"ceiling" = loop time / (the loop's time inside the calculator / workers): the speed-up bsct would
reach if it removed every cost but the model's own and split that perfectly over the workers,
with the model no faster per frame than the package's calculator. A model-bound loop caps it
near the worker count (GFN2-xTB: the same tblite SCF on both sides); bsct can pass it only where
its path computes less per frame than the calculator (CHGNet's native adapter: no stress,
magnetic moments or double-backward graph).

``transformer-untrained`` is the ``final`` Transformer at the small study's size with elements
H C N O F P S Cl Br I, untrained (seed 0; its cost does not depend on its weights), float64 both sides,
``TorchCalculator`` in the loop. ``chgnet:*`` uses CHGNet's own calculator in the loop, the native
batched adapter in bsct; ``xtb:*`` tblite's calculator (fresh per system, with the system's charge).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from bench_fsd import baseline_loop  # benchmarks/ is on the path when this file runs as a script
from bench_native_batched import _machine, own_calculator, round_robin_systems

from bsct.fsd.run import run_fsd
from bsct.potentials.ase_adapters import TorchCalculator

UNTRAINED = "transformer-untrained"


def untrained_transformer(folder: Path) -> str:
    """Checkpoint path of the ``final`` Transformer at the small study's size, the SPICE elements, seed 0."""
    from bsct.model.checkpoint import save_checkpoint
    from bsct.model.config import named_config
    from bsct.model.transformer import build_model
    from bsct.study.config import SMALL_MODEL

    cfg = named_config("final", **dict(SMALL_MODEL), elements=(1, 6, 7, 8, 9, 15, 16, 17, 35, 53))
    return str(save_checkpoint(folder / "transformer-final-small-untrained.pt", build_model(cfg, seed=0)))


def loop_side(spec: str):
    """(make_calc(scan), prepare(atoms)) of the frame-at-a-time loop for SPEC."""
    if spec.startswith("xtb:"):
        from tblite.ase import TBLite

        method = spec.partition(":")[2] or "GFN2-xTB"
        return (lambda scan: TBLite(method=method, charge=scan.charge, verbosity=0)), Atoms.copy
    if spec.startswith(("chgnet:", "sevennet:")):
        calc, prepare = own_calculator(spec)
        return (lambda scan: calc), prepare
    from bsct.registry import load_potential

    potential = load_potential(spec)
    return (lambda scan: TorchCalculator(potential)), Atoms.copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="BSCT-SPICE root (the full release, unpacked)")
    parser.add_argument("--systems", type=int, default=20)
    parser.add_argument("--model", action="append", required=True,
                        help=f"SPEC (repeatable); {UNTRAINED!r} for the untrained final Transformer")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sides", default="loop,cold,warm", help="comma-separated: loop, cold, warm, single")
    args = parser.parse_args()
    paths = round_robin_systems(Path(args.data), args.systems)
    tmp = Path(tempfile.mkdtemp(prefix="bench_fsd_workers_"))
    cache = tmp / "cache"
    os.environ["BSCT_CACHE_DIR"] = str(cache)
    rows, n_frames = [], [0]
    for model in args.model:
        spec = untrained_transformer(tmp) if model == UNTRAINED else model
        make_calc, prepare = loop_side(spec)
        wanted = args.sides.split(",")
        seconds = dict.fromkeys(wanted, 0.0)
        model_seconds = [0.0]
        fsd: dict[str, list[float]] = {}

        def run_loop():
            return baseline_loop(make_calc, paths, prepare, model_seconds)[1]

        def run_bsct(cold: bool, workers: int):
            if cold:
                shutil.rmtree(cache, ignore_errors=True)
            res = run_fsd(spec, args.data, None, workers=workers, progress=False, plots=False,
                          system_paths=paths)
            assert not res["failures"], res["failures"]
            n_frames[0] = sum(row["n_frames"] for row in res["systems"].values())
            return [row["full_smoothness"] for row in res["systems"].values()]

        sides = {"loop": run_loop, "cold": lambda: run_bsct(True, args.workers),
                 "warm": lambda: run_bsct(False, args.workers), "single": lambda: run_bsct(True, 1)}
        for rep in range(args.repeats):
            order = wanted if rep % 2 == 0 else wanted[1:] + wanted[:1]
            for name in order:
                start = time.perf_counter()
                fsd[name] = sides[name]()
                seconds[name] += time.perf_counter() - start
                print(f"{model} repeat {rep}: {name} {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
        ref = np.asarray(fsd["loop"])
        worst = max(float(np.max(np.abs(np.asarray(v) - ref) / np.abs(ref))) for v in fsd.values())
        assert worst < 1e-4, f"{model}: FSD values disagree (worst relative difference {worst:.2e})"
        rows.append((model, seconds, model_seconds[0] / args.repeats, worst))
    print(f"\n{_machine()}; {len(paths)} systems ({len({p.parent.name for p in paths})} bond types), "
          f"{n_frames[0]} frames, {args.repeats} repeat(s), bsct with {args.workers} workers\n")
    print("| model | side | seconds | speed-up over the loop |")
    print("|---|---|---|---|")
    for model, s, in_model, worst in rows:
        loop = s["loop"]
        for side, value in s.items():
            label = {"loop": "frame-at-a-time loop", "cold": f"bsct, {args.workers} workers, cold cache",
                     "warm": f"bsct, {args.workers} workers, warm cache", "single": "bsct, 1 process, cold cache"}[side]
            print(f"| `{model}` | {label} | {value / args.repeats:.1f} | {loop / value:.2f}x |")
        print(f"| `{model}` | (loop: {in_model:.1f} s inside the calculator; ceiling {loop / args.repeats / (in_model / args.workers):.2f}x; "
              f"FSD agrees to {worst:.1e}) | | |")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
