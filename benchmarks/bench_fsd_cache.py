"""The cache of parsed BSCT-SPICE systems: a second `bsct fsd` (another model) with and without it.

    python benchmarks/bench_fsd_cache.py [--data ROOT] [--n-systems 20] [--repeats 3]

On the shipped subset (9 systems, one per bond type) and on ``--n-systems`` systems of ``--data``
(taken round-robin over its bond types, so all nine are covered), interleaved in every repeat,
one thread, model ``lj`` (a cheap torch pair potential, so reading the data is most of the cost):

- off:  ``run_fsd`` with ``BSCT_CACHE_DIR=off`` (main's path: every extxyz parsed);
- cold: the first run into an empty cache (parse + hash + write the entries);
- warm: a second run from that cache (hash the files, load the entries).

All three run ``lj`` so the ratios compare like with like; the entries do not depend on the model
(tests/data/test_spice_cache.py fills the cache with ``morse`` and reads it with ``lj``).

CPU time of this process (``time.process_time``; the machine is shared), best repeat. Speed-up =
off / warm; first-run cost = cold / off. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench_native_batched import round_robin_systems  # noqa: E402  (benchmarks/ is on the path as a script)

from bsct.data.bsct_spice import sample_root, system_dirs  # noqa: E402
from bsct.fsd.run import run_fsd  # noqa: E402


def timed(model: str, paths: list[Path], cache: str) -> tuple[float, dict]:
    os.environ["BSCT_CACHE_DIR"] = cache
    start = time.process_time()
    out = run_fsd(model, system_paths=paths, plots=False, progress=False)
    return time.process_time() - start, out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=None, help="an unpacked BSCT-SPICE root")
    parser.add_argument("--n-systems", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    logging.disable(logging.WARNING)
    sets = {"shipped subset": system_dirs(sample_root())}
    if args.data is not None:
        sets[f"{args.n_systems} systems of BSCT-SPICE"] = round_robin_systems(args.data, args.n_systems)
    best = {(name, v): np.inf for name in sets for v in ("off", "cold", "warm")}
    for name, paths in sets.items():  # warm-up: imports, model set-up, the OS page cache
        timed("lj", paths, "off")
    for _ in range(args.repeats):
        for name, paths in sets.items():
            with tempfile.TemporaryDirectory() as cache:
                t_off, off = timed("lj", paths, "off")
                t_cold, _ = timed("lj", paths, cache)
                t_warm, warm = timed("lj", paths, cache)
            assert warm["mean"] == off["mean"], "the cache changed a result"
            for v, t in (("off", t_off), ("cold", t_cold), ("warm", t_warm)):
                best[name, v] = min(best[name, v], t)
    print(f"one thread, model lj, {args.repeats} interleaved repeats (best CPU time)\n")
    print("| systems | frames | no cache, s | first run (fills cache), s | second run (from cache), s "
          "| speed-up (no cache / second) | first run / no cache |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, paths in sets.items():
        n_frames = sum(len(list(p.glob("atoms_*.xyz"))) for p in paths)
        off, cold, warm = (best[name, v] for v in ("off", "cold", "warm"))
        print(f"| {name} ({len(paths)}) | {n_frames} | {off:.2f} | {cold:.2f} | {warm:.2f} | {off / warm:.1f} | "
              f"{cold / off:.2f} |")


if __name__ == "__main__":
    main()
