"""Our Transformer MLIP against a MACE model of similar force error, trained on the same Cu data.

Runs in the separate MACE venv (mace-torch pins e3nn 0.4.4; see benchmarks/mace_env.sh):

    bash benchmarks/mace_env.sh /work/venvs/mace
    OMP_NUM_THREADS=1 /work/venvs/mace/bin/python benchmarks/bench_vs_mace.py --out /tmp/vs_mace

Steps (each cached in --out; delete a file to redo that step):
  1. ``transformer/model.pt``: our ``final`` Transformer (paper size: dim 64, 2 layers, k 30,
     r_cut 6 Å) trained on ci:cu train (val for the best epoch) with bsct.train, --transformer-epochs
     (10), or --transformer PATH.
  2. ``mace/cu_mace.model``: a small MACE (``mace_run_train``: 32 channels, L = 0, 2 interactions,
     correlation 3, r_max 5 Å) trained on the same train/val frames, float64, --mace-epochs (6); its
     log (mace/logs/) has the validation force RMSE of every epoch, to read off equal force error.
  3. Force and energy RMSE of both on ci:cu test (the same frames, the same formula).
  4. Energy + forces of fcc Cu cells of 32, 108 and 500 atoms (rattled), one thread, float64 and
     float32, the two models interleaved in the same loop (repeat r: ours, MACE, ours, MACE...);
     median CPU µs/atom (process time) and the ratio MACE / ours (> 1: ours faster). Timed twice:
     from positions (neighbour list inside the call; ours: model(AtomsBatch), MACE:
     AtomicData.from_config + the model) and the model alone on a prebuilt graph.
Writes ``results.json`` and prints a markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from ase.build import bulk
from ase.io import write

from bsct.data import ci_path
from bsct.data.io import read_structures
from bsct.model.checkpoint import load_model
from bsct.model.config import named_config
from bsct.potentials.protocol import AtomsBatch

SIZES = {32: 2, 108: 3, 500: 5}  # atoms -> repeats of the 4-atom fcc cube
MACE_ARGS = ["--model", "MACE", "--num_channels", "32", "--max_L", "0", "--num_interactions", "2",
             "--correlation", "3", "--max_ell", "3", "--r_max", "5.0", "--num_radial_basis", "8",
             "--batch_size", "4", "--valid_batch_size", "8", "--lr", "0.01", "--E0s", "average",
             "--energy_weight", "1.0", "--forces_weight", "100.0", "--default_dtype", "float64",
             "--device", "cpu", "--seed", "0", "--eval_interval", "1", "--patience", "1000"]


def splits() -> dict[str, list]:
    return {s: read_structures(ci_path("cu", s)) for s in ("train", "val", "test")}


def write_mace_xyz(frames, path: Path) -> None:
    """extxyz with the labels under MACE's default keys (REF_energy, REF_forces)."""
    out = []
    for atoms in frames:
        a = atoms.copy()
        a.calc = None
        a.info = {"REF_energy": atoms.get_potential_energy(), "config_type": atoms.info.get("config_type", "")}
        a.arrays["REF_forces"] = atoms.get_forces()
        out.append(a)
    write(path, out, format="extxyz")


def train_mace(data: dict, out: Path, epochs: int) -> Path:
    model_path = out / "cu_mace.model"
    if model_path.exists():
        return model_path
    out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "val"):
        write_mace_xyz(data[split], out / f"{split}.xyz")
    cmd = ["mace_run_train", "--name", "cu_mace", "--train_file", "train.xyz", "--valid_file", "val.xyz",
           "--max_num_epochs", str(epochs), *MACE_ARGS]
    exe = Path(sys.executable).parent / "mace_run_train"
    cmd[0] = str(exe)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=out, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    cpu_s = resource.getrusage(resource.RUSAGE_CHILDREN)
    (out / "train_cost.json").write_text(json.dumps({"wall_s": time.perf_counter() - start,
                                                     "cpu_s": cpu_s.ru_utime + cpu_s.ru_stime, "command": cmd}))
    return model_path


def train_transformer(data: dict, out: Path, epochs: int) -> Path:
    path = out / "model.pt"
    if path.exists():
        return path
    from bsct.train.loop import TrainConfig, train

    cfg = named_config("final", elements=(29,))  # as `bsct train --config final` (trained in float32)
    start, cpu = time.perf_counter(), time.process_time()
    train(cfg, data["train"], data["val"], TrainConfig(epochs=epochs, progress=False, seed=0), out_dir=out)
    (out / "train_cost.json").write_text(json.dumps({"wall_s": time.perf_counter() - start,
                                                     "cpu_s": time.process_time() - cpu, "epochs": epochs}))
    return path


class MaceRunner:
    """Energy + forces of one structure with a trained MACE model (neighbour list included).

    ``prepared(atoms)`` returns a call that reuses the graph (model work only)."""

    def __init__(self, path: Path, dtype: torch.dtype):
        from mace.tools import torch_geometric, utils

        self._geo = torch_geometric
        self.model = torch.load(path, map_location="cpu", weights_only=False).to(dtype).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.dtype = dtype
        self.z_table = utils.AtomicNumberTable([int(z) for z in self.model.atomic_numbers])
        self.r_max = float(self.model.r_max)

    def _graph(self, atoms) -> dict:
        from mace import data as mdata

        before = torch.get_default_dtype()
        torch.set_default_dtype(self.dtype)  # MACE builds its graph tensors in the default dtype
        try:
            item = mdata.AtomicData.from_config(mdata.config_from_atoms(atoms), z_table=self.z_table, cutoff=self.r_max)
            return self._geo.batch.Batch.from_data_list([item]).to_dict()
        finally:
            torch.set_default_dtype(before)

    def _run(self, graph: dict):
        out = self.model(graph, compute_force=True, compute_stress=False, training=False)
        return out["energy"].detach(), out["forces"].detach()

    def __call__(self, atoms):
        return self._run(self._graph(atoms))

    def prepared(self, atoms):
        graph = self._graph(atoms)
        return lambda _atoms: self._run(graph)


class OursRunner:
    def __init__(self, path: Path, dtype: torch.dtype):
        self.model = load_model(path, dtype=dtype)
        self.dtype = dtype

    def __call__(self, atoms):
        out = self.model(AtomsBatch.from_atoms([atoms], dtype=self.dtype))
        return out.energy_ev, out.forces_ev_per_angstrom

    def prepared(self, atoms):
        from bsct.potentials.neighbors import neighbor_pairs

        batch = AtomsBatch.from_atoms([atoms], dtype=self.dtype)
        pairs = neighbor_pairs(batch, self.model.cutoff_angstrom)
        return lambda _atoms: self.model(batch, pairs=pairs)


def errors(runner, frames) -> dict[str, float]:
    """Energy RMSE (meV/atom) and force RMSE (meV/Å, over all components) on ``frames``."""
    de, df = [], []
    for atoms in frames:
        e, f = runner(atoms)
        de.append((float(e.reshape(-1)[0]) - atoms.get_potential_energy()) / len(atoms))
        df.append((f.double().numpy() - atoms.get_forces()).ravel())
    return {"energy_rmse_mev_per_atom": 1e3 * float(np.sqrt(np.mean(np.square(de)))),
            "force_rmse_mev_per_angstrom": 1e3 * float(np.sqrt(np.mean(np.square(np.concatenate(df)))))}


def timings(runners: dict, n_atoms: int, repeats: int, prepared: bool = False) -> dict[str, list[float]]:
    """CPU µs/atom per call, the runners interleaved in every repeat (after one warm-up call each);
    ``prepared``: the neighbour list / graph built once outside the timed call (model work only)."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(SIZES[n_atoms])
    atoms.rattle(0.05, seed=1)
    if prepared:
        runners = {name: run.prepared(atoms) for name, run in runners.items()}
    for run in runners.values():
        run(atoms)
    times = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            start = time.process_time()  # CPU time of this one-thread process: robust on a shared machine
            run(atoms)
            times[name].append(1e6 * (time.process_time() - start) / n_atoms)
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/vs_mace"))
    ap.add_argument("--transformer", type=Path, help="our checkpoint (default: train one into OUT/transformer)")
    ap.add_argument("--transformer-epochs", type=int, default=10)
    ap.add_argument("--mace-epochs", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sizes", default="32,108,500")
    ap.add_argument("--stage", choices=["train", "all"], default="all")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    data = splits()
    ours_path = args.transformer or train_transformer(data, args.out / "transformer", args.transformer_epochs)
    mace_path = train_mace(data, args.out / "mace", args.mace_epochs)
    if args.stage == "train":
        return 0
    results = {"transformer": str(ours_path), "mace": str(mace_path), "errors": {}, "timing_us_per_atom": {}}
    for dtype in (torch.float64,):
        ours, mace = OursRunner(ours_path, dtype), MaceRunner(mace_path, dtype)
        results["errors"] = {"ours": errors(ours, data["test"]), "mace": errors(mace, data["test"])}
    for dtype in (torch.float64, torch.float32):
        runners = {"ours": OursRunner(ours_path, dtype), "mace": MaceRunner(mace_path, dtype)}
        for n in [int(s) for s in args.sizes.split(",")]:
            for prepared in (False, True):
                t = timings(runners, n, args.repeats, prepared)
                results["timing_us_per_atom"][f"{str(dtype)[6:]}/{n}/{'model' if prepared else 'all'}"] = t
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(table(results))
    return 0


def table(results: dict) -> str:
    e = results["errors"]
    lines = [
        f"test force RMSE: ours {e['ours']['force_rmse_mev_per_angstrom']:.1f} meV/Å, "
        f"MACE {e['mace']['force_rmse_mev_per_angstrom']:.1f} meV/Å; energy RMSE ours "
        f"{e['ours']['energy_rmse_mev_per_atom']:.2f}, MACE {e['mace']['energy_rmse_mev_per_atom']:.2f} meV/atom",
        "",
        "| dtype | atoms | timed | ours µs/atom | MACE µs/atom | MACE / ours (min-max) |",
        "|---|---|---|---|---|---|",
    ]
    for key, t in results["timing_us_per_atom"].items():
        dtype, n, what = key.split("/")
        what = "model (graph prebuilt)" if what == "model" else "positions -> E, F"
        ours, mace = statistics.median(t["ours"]), statistics.median(t["mace"])
        ratios = [m / o for o, m in zip(t["ours"], t["mace"])]
        lines.append(f"| {dtype} | {n} | {what} | {ours:.0f} | {mace:.0f} | {statistics.median(ratios):.2f} "
                     f"({min(ratios):.2f}-{max(ratios):.2f}) |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
