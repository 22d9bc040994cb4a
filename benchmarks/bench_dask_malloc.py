"""Cost of Dask's default ``MALLOC_TRIM_THRESHOLD_`` on a study worker (docs/benchmarks.md).

Runs the same short training (the `full` study's Cu ``+diffknn`` model, the first N Cu training
frames, E epochs) in a one-worker Dask ``LocalCluster`` twice: with Dask's default worker
environment and with :func:`bsct.study.executors.local_dask_cluster`. Prints wall time, the worker's user
and kernel CPU seconds and minor page faults, and checks that the trained weights are identical
(the allocator must not change a single number).

    OMP_NUM_THREADS=1 python benchmarks/bench_dask_malloc.py [--frames 40] [--epochs 2]
"""
from __future__ import annotations

import argparse
import hashlib
import resource
import time


def short_training(n_frames: int, epochs: int) -> dict:
    """Train in the calling (worker) process; return timings, page faults and a weight checksum."""
    import torch

    from bsct.study.config import SIZES, potential_zoo
    from bsct.study.steps import model_config, study_frames
    from bsct.train.loop import TrainConfig, train

    torch.set_num_threads(1)
    size = SIZES["full"]
    job = next(j for j in potential_zoo("cu", size) if j.name == "+diffknn")
    frames = study_frames("cu", "train", size.data_size)[:n_frames]
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    result = train(model_config(job, size), frames, frames[:4],
                   TrainConfig(epochs=epochs, batch_size=size.batch_size, lr=size.lr, seed=0, progress=False))
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    weights = torch.cat([p.detach().flatten() for p in result.model.parameters()]).numpy().tobytes()
    return {"wall_s": wall, "user_s": after.ru_utime - before.ru_utime, "kernel_s": after.ru_stime - before.ru_stime,
            "minor_faults": after.ru_minflt - before.ru_minflt, "weights_sha1": hashlib.sha1(weights).hexdigest()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=40, help="Cu training frames (default 40)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs (default 2)")
    args = parser.parse_args()

    from dask.distributed import Client, LocalCluster

    from bsct.study.executors import local_dask_cluster

    # bsct's cluster first: a Dask nanny copies its worker environment into this process's
    # os.environ for good, so every worker spawned after the default one would inherit it
    clusters = {"bsct local_dask_cluster": lambda: local_dask_cluster(1, processes=True),
                "Dask default env": lambda: LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0")}
    results = {}
    for name, make in clusters.items():
        with make() as cluster, Client(cluster) as client:
            results[name] = client.submit(short_training, args.frames, args.epochs, pure=False).result()
    print(f"{'worker':<24} {'wall s':>7} {'user s':>7} {'kernel s':>9} {'minor faults':>13}  weights")
    for name, r in results.items():
        print(f"{name:<24} {r['wall_s']:7.1f} {r['user_s']:7.1f} {r['kernel_s']:9.1f} {r['minor_faults']:13,d}  "
              f"{r['weights_sha1'][:12]}")
    same = len({r["weights_sha1"] for r in results.values()}) == 1
    print("identical weights:", same)
    if not same:
        raise SystemExit("the allocator setting changed the trained weights")


if __name__ == "__main__":
    main()
