"""Peak memory and wall time of one BSCT scan against atoms per model call.

Why: the `full` water study's +diffknn model ran a Dask worker out of memory in BSCT. Its soft
k-NN ranks enumerate every pair of edges around an atom (~8,000 per atom in liquid water at
r_cut 6 Å), so memory grows with the atoms in one model call. Memory here depends on geometry
and model size, not on the trained weights, so an untrained (seeded) model of the `full` size
stands in for the checkpoint. Each setting runs in its own process so peak RSS is its own.

    .venv/bin/python benchmarks/bench_scan_memory.py            # water, +diffknn, full size
    .venv/bin/python benchmarks/bench_scan_memory.py --atoms-per-call 20000 2000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys


def one_run(system: str, config: str, atoms_per_call: int, unblocked: bool) -> dict:
    import resource
    import time

    import torch

    from bsct.model import neighborhood
    from bsct.model.config import named_config
    from bsct.model.transformer import TransformerMLIP
    from bsct.scan.api import run_bsct
    from bsct.scan.geometry import ScanRange
    from bsct.study.config import SIZES
    from bsct.study.steps import bsct_frames, study_frames
    from bsct.train.data import elements_of

    if unblocked:  # the soft ranks as they were: all edge pairs of the call at once
        neighborhood.PAIR_BLOCK = 1 << 62
    torch.manual_seed(0)
    torch.set_num_threads(2)
    size = SIZES["full"]
    frames = bsct_frames(study_frames(system, "test", size.data_size))[:1]
    model = TransformerMLIP(named_config(config, **size.model_overrides, elements=elements_of(frames))).double().eval()
    start = time.perf_counter()
    report = run_bsct(model, frames, max_per_type=1, seed=0, progress=False, max_atoms_per_call=atoms_per_call,
                      scan_range=ScanRange(n_points=size.bsct_points, r_max_scale=size.bsct_r_max_scale,
                                           past_cutoff_angstrom=-1e6))
    return {"atoms_per_frame": len(frames[0]), "score": report.score, "wall_s": time.perf_counter() - start,
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", default="water")
    parser.add_argument("--config", default="+diffknn")
    parser.add_argument("--atoms-per-call", type=int, nargs="+", default=[20_000, 5_000, 2_000])
    parser.add_argument("--unblocked", action="store_true", help="also run 20,000 atoms with unblocked soft ranks")
    parser.add_argument("--one", nargs=2, metavar=("ATOMS", "UNBLOCKED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(args.system, args.config, int(args.one[0]), args.one[1] == "1")))
        return
    settings = [(n, False) for n in args.atoms_per_call]
    if args.unblocked:
        settings.insert(0, (max(args.atoms_per_call), True))
    print(f"{args.system}, {args.config}, `full` model size (untrained, seed 0), one 240-point BSCT scan, 2 threads\n")
    print("| atoms per call | soft ranks in blocks | peak RSS (GiB) | wall (s) | score |")
    print("|---|---|---|---|---|")
    for n, unblocked in settings:
        out = subprocess.run([sys.executable, __file__, "--system", args.system, "--config", args.config,
                              "--one", str(n), "1" if unblocked else "0"], capture_output=True, text=True, check=False)
        if out.returncode:
            print(f"| {n:,} | {'no' if unblocked else 'yes'} | failed: {out.stderr.strip().splitlines()[-1]} | | |")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {n:,} | {'no' if unblocked else 'yes'} | {r['peak_rss_gib']:.1f} | {r['wall_s']:.0f} | {r['score']:.4f} |",
              flush=True)


if __name__ == "__main__":
    main()
