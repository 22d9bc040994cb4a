"""Benchmark of the MD stability harness: batched replicas vs one replica at a time.

For a torch potential, runs the same seeded replicas (Langevin equilibration + NVE, all failure
criteria on) three ways:
  * ``torch batched``   all replicas in one flat batch, one model call per step (the default),
  * ``torch 1-by-1``    the same torch integrator, one replica per batch (``max_batch_replicas=1``),
  * ``ase 1-by-1``      ASE's Langevin + VelocityVerlet with the model behind ``TorchCalculator``,
and, as the cost of an ASE-native reference, EMT through ASE (``--emt``).
Throughput is replica-steps (force calls) per second of wall clock, harness overhead included.

Run:  .venv/bin/python benchmarks/bench_md.py [--model morse] [--replicas 1 4 16] [--steps 200]
      [--atoms 32] [--threads 1] [--emt] [--json out.json]

Timings measure, they assert nothing. Prints a Markdown table for docs/benchmarks_md.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
from ase.build import bulk

from bsct.md.run import MDConfig, run_md_stability
from bsct.registry import load_potential


def cu_cell(n_atoms: int):
    base = bulk("Cu", "fcc", a=3.61, cubic=True)  # 4 atoms
    reps = {4: (1, 1, 1), 8: (2, 1, 1), 16: (2, 2, 1), 32: (2, 2, 2), 64: (4, 2, 2), 108: (3, 3, 3)}
    if n_atoms not in reps:
        raise SystemExit(f"--atoms must be one of {sorted(reps)}")
    return base.repeat(reps[n_atoms])


def measure(potential, structure, replicas: int, steps: int, engine: str, batch: int | None, repeats: int):
    cfg = MDConfig(time_ps=steps * 2.0 * 0.8 / 1000.0, equilibration_ps=steps * 2.0 * 0.2 / 1000.0,
                   timestep_fs=2.0, replicas=replicas, engine=engine, max_batch_replicas=batch, seed=0)
    best = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = run_md_stability(potential, [structure], cfg)
        wall = time.perf_counter() - t0
        if best is None or wall < best[0]:
            best = (wall, result)
    wall, result = best
    calls = result.summary["n_force_calls"]
    return {"wall_s": wall, "force_calls": calls, "replica_steps_per_s": calls / wall,
            "model_calls": result.summary["n_model_calls_this_session"],
            "stable_fraction": result.stable_fraction}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="morse",
                        help="model SPEC, or transformer:VARIANT for an untrained reference Transformer (throughput only)")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--atoms", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--emt", action="store_true", help="also time EMT (ASE calculator) through ASE MD")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    structure = cu_cell(args.atoms)
    if args.model.startswith("transformer:"):
        from bsct.model.config import named_config
        from bsct.model.transformer import build_model

        potential = build_model(named_config(args.model.split(":", 1)[1]), seed=0).double()
    else:
        potential = load_potential(args.model)
    rows = []
    for n in args.replicas:
        runs = {
            "torch batched": measure(potential, structure, n, args.steps, "torch", None, args.repeats),
            "torch 1-by-1": measure(potential, structure, n, args.steps, "torch", 1, args.repeats),
            "ase 1-by-1": measure(potential, structure, n, args.steps, "ase", None, args.repeats),
        }
        if args.emt:
            runs["EMT via ase"] = measure(load_potential("emt"), structure, n, args.steps, "ase", None, args.repeats)
        rows.append((n, runs))
    print(f"model {args.model}, Cu fcc {len(structure)} atoms, {args.steps} steps of 2 fs per replica "
          f"(20 % Langevin, 80 % NVE), torch threads {args.threads}, {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}\n")
    print("| replicas | engine | wall (s) | model calls | replica-steps/s | vs torch 1-by-1 |")
    print("|---:|---|---:|---:|---:|---:|")
    for n, runs in rows:
        ref = runs["torch 1-by-1"]["replica_steps_per_s"]
        for name, r in runs.items():
            print(f"| {n} | {name} | {r['wall_s']:.2f} | {r['model_calls']} | {r['replica_steps_per_s']:.0f} | "
                  f"{r['replica_steps_per_s'] / ref:.2f}x |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": [{"replicas": n, **{k: v for k, v in runs.items()}} for n, runs in rows]},
                      fh, indent=2)


if __name__ == "__main__":
    main()
