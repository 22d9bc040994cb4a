"""The Transformer's FSD in float32 against float64: time and how far the metric moves, one run.

    OMP_NUM_THREADS=1 python benchmarks/bench_fsd_dtype.py --data /path/to/bsct_spice --systems 20 [--checkpoint M.pt]

``run_fsd(CHECKPOINT)`` (float64, the default) and ``run_fsd(CHECKPOINT + "[dtype=float32]")``
on the same systems (round-robin over the bond types), one process, alternating, parsed-system
cache warm for both. Without ``--checkpoint`` the untrained ``final`` Transformer of
``bench_fsd_workers.py``. Prints seconds and the largest relative difference of each official FSD
key over the systems.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_fsd_workers import untrained_transformer  # benchmarks/ is on the path when run as a script
from bench_native_batched import _machine, round_robin_systems

from bsct.fsd.metric import METRIC_KEYS
from bsct.fsd.run import run_fsd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--systems", type=int, default=20)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    paths = round_robin_systems(Path(args.data), args.systems)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("BSCT_CACHE_DIR", str(Path(tmp) / "cache"))
        checkpoint = args.checkpoint or untrained_transformer(Path(tmp))
        specs = {"float64": checkpoint, "float32": checkpoint + "[dtype=float32]"}
        run_fsd(checkpoint, args.data, None, progress=False, plots=False, system_paths=paths)  # fills the cache
        seconds, rows = dict.fromkeys(specs, 0.0), {}
        for rep in range(args.repeats):
            for name in (list(specs) if rep % 2 == 0 else list(reversed(specs))):
                start = time.perf_counter()
                rows[name] = run_fsd(specs[name], args.data, None, progress=False, plots=False,
                                     system_paths=paths)["systems"]
                seconds[name] += time.perf_counter() - start
    print(f"\n{_machine()}; {len(paths)} systems, {args.repeats} interleaved repeats, one process\n")
    print("| dtype | seconds | speed-up |")
    print("|---|---:|---:|")
    for name, s in seconds.items():
        print(f"| {name} | {s / args.repeats:.2f} | {seconds['float64'] / s:.2f}x |")
    print("\n| FSD key | largest relative difference, float32 vs float64 |")
    print("|---|---:|")
    for key in METRIC_KEYS:
        a = np.array([rows["float64"][k][key] for k in rows["float64"]])
        b = np.array([rows["float32"][k][key] for k in rows["float64"]])
        print(f"| {key} | {np.max(np.abs(b - a) / np.maximum(np.abs(a), 1e-300)):.1e} |")


if __name__ == "__main__":
    main()
