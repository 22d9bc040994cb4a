"""Other architectures next to our Transformer on the same data: test errors and cost per atom.

Trains, each on one CPU thread, on the same split of a reference dataset:
  * NequIP and Allegro with ``nequip-train`` (bsct.train.external.train_nequip; the `zoo` extra),
  * CHGNet from scratch with chgnet's Trainer (bsct.train.external_chgnet.train_chgnet; `models` extra),
  * our Transformer (``final``) with ``bsct train``, at the small size of docs/model.md's short run,
then loads every model through its SPEC (``nequip:PATH``, ``chgnet:PATH``, ``model.pt``), evaluates the test split
(energy and force RMSE against the labels) and times energy + forces on the test split, all models
interleaved round by round (the machine is shared: read the ratio, not the absolute time).

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_zoo.py --out runs/bench_zoo [--system cu] [--epochs 40]
Every training step is cached in --out: a second run only re-measures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from bsct.data import ci_path
from bsct.data.io import read_structures
from bsct.potentials.protocol import AtomsBatch
from bsct.registry import load_potential
from bsct.train.external import train_nequip
from bsct.train.external_chgnet import train_chgnet
from bsct.train.loss import errors_by_group

TRANSFORMER_SMALL = ["--set", "hidden_dim=32", "--set", "k_neighbors=16", "--set", "r_cut_angstrom=5.0",
                     "--set", "n_rbf=16"]


def train_all(system: str, out: Path, epochs: int, transformer_epochs: int) -> dict[str, dict]:
    """{name: {"spec", "train_wall_s"}} for every model, trained (or read back) in ``out``."""
    models = {}
    for arch in ("nequip", "allegro"):
        t0 = time.perf_counter()
        paths = train_nequip(ci_path(system, "train"), out / arch, model=arch, seed=0, epochs=epochs,
                             checkpoints_at=(max(1, epochs // 4), epochs), n_val=None)
        record = json.loads((out / arch / "train.json").read_text())
        models[arch] = {"spec": f"nequip:{paths[-1]}", "train_wall_s": record["step_wall_seconds"],
                        "epochs": epochs, "measured_now_s": time.perf_counter() - t0}
    paths = train_chgnet(ci_path(system, "train"), out / "chgnet", seed=0, epochs=epochs,
                         checkpoints_at=(max(1, epochs // 4), epochs), n_val=None)
    record = json.loads((out / "chgnet" / "train.json").read_text())
    models["chgnet"] = {"spec": f"chgnet:{paths[-1]}", "train_wall_s": record["step_wall_seconds"], "epochs": epochs}
    tdir = out / "transformer"
    if not (tdir / "model.pt").is_file():
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bsct.cli", "train", "--config", "final", "--data", f"ci:{system}",
                        "--out", str(tdir), "--epochs", str(transformer_epochs), "--threads", "1", "--no-progress",
                        *TRANSFORMER_SMALL], check=True)
        (out / "transformer_wall.json").write_text(json.dumps({"train_wall_s": time.perf_counter() - t0}))
    models["transformer final"] = {"spec": str(tdir / "model.pt"), "epochs": transformer_epochs,
                                   **json.loads((out / "transformer_wall.json").read_text())}
    return models


def n_parameters(potential) -> int:
    """Weights of the torch module behind a potential (the Transformer is one; nequip's sits in
    ``.model``, CHGNet's in ``._net``)."""
    module = potential if isinstance(potential, torch.nn.Module) else getattr(potential, "model", None)
    if not isinstance(module, torch.nn.Module):
        module = potential._net
    return sum(p.numel() for p in module.parameters())


def time_interleaved(potentials: dict, frames, rounds: int) -> dict[str, float]:
    """Median µs per atom of one energy + forces call on all ``frames``, models alternating each round."""
    batch = AtomsBatch.from_atoms(frames)
    seconds = {name: [] for name in potentials}
    for name, pot in potentials.items():  # warm-up
        pot(batch)
    for _ in range(rounds):
        for name, pot in potentials.items():
            t0 = time.perf_counter()
            pot(batch)
            seconds[name].append(time.perf_counter() - t0)
    return {name: 1e6 * statistics.median(s) / batch.n_atoms for name, s in seconds.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--system", default="cu")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_zoo"))
    parser.add_argument("--epochs", type=int, default=40, help="NequIP, Allegro and CHGNet epochs")
    parser.add_argument("--transformer-epochs", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    models = train_all(args.system, args.out, args.epochs, args.transformer_epochs)
    test = read_structures(ci_path(args.system, "test"))
    potentials = {name: load_potential(m["spec"]) for name, m in models.items()}
    for name, pot in potentials.items():
        errors = errors_by_group(pot, test)[0]  # the training code's own error metrics
        models[name].update({k: errors[k] for k in ("energy_rmse_mev_per_atom", "force_rmse_mev_per_angstrom")},
                            n_parameters=n_parameters(pot))
    timing = time_interleaved(potentials, test, args.rounds)
    ref = timing["transformer final"]
    for name in models:
        models[name].update(us_per_atom=timing[name], cost_vs_transformer=timing[name] / ref)
    result = {"system": args.system, "n_test_structures": len(test), "n_test_atoms": sum(map(len, test)),
              "threads": 1, "models": models}
    (args.out / "bench_zoo.json").write_text(json.dumps(result, indent=1))
    print(f"{'model':20s} {'params':>7s} {'epochs':>6s} {'train s':>8s} {'E RMSE meV/at':>13s} {'F RMSE meV/Å':>12s} "
          f"{'µs/atom':>8s} {'x Transformer':>13s}")
    for name, m in models.items():
        print(f"{name:20s} {m['n_parameters']:7,d} {m['epochs']:6d} {m['train_wall_s']:8.0f} {m['energy_rmse_mev_per_atom']:13.2f} "
              f"{m['force_rmse_mev_per_angstrom']:12.1f} {m['us_per_atom']:8.0f} {m['cost_vs_transformer']:13.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
