"""Benchmark of the reference Transformer MLIP variants (and SchNet from schnetpack) on this CPU.

Measures, per variant, on the same Cu data:
  * inference throughput in atoms/s (energy + forces, float32, batches of 8 structures),
  * training step time (forward, forces with create_graph, backward, AdamW step; 4 structures),
  * optionally (--train-epochs N > 0) a short training run: val/test energy and force RMSE and the
    quick energy-curve roughness (bsct.train.callbacks.energy_curve_roughness) of the trained model.

Run:  .venv/bin/python benchmarks/bench_model.py [--size paper|small] [--train-epochs 30] [--threads 2] [--json out.json]

Speed against the model code of an earlier commit (issue #23), interleaved in one process, one thread:
      .venv/bin/python benchmarks/bench_model.py --speed-vs 0575bcd [--sizes 32,108,500] [--profile] \
          [--checkpoint runs/x/model.pt]
  loads src/bsct/model/ of that commit (``git show``) as a second package, builds both models with the
  same weights (named configs at paper size, or the given checkpoints), checks their outputs agree
  and prints CPU µs/atom (process time; energy + forces, fcc Cu cells, float64 and float32) and the ratio old / new;
  --profile prints the torch.profiler top ops of the new code at 108 atoms.

Float32 against float64 for trained checkpoints (issue #23; numbers in docs/model.md):
      .venv/bin/python benchmarks/bench_model.py --dtype-noise cu=runs/cu/model.pt si=... water=...
  energy/force differences on each system's ci test split, and BSCT scans (v1 and v2) of those
  frames in both dtypes: scores, artifacts, and the float32 noise along the curves.

Data: the committed ci Cu splits when present (bsct.data.ci_path), else EMT Cu made on the fly
(40/10/10 rattled, strained 32-atom cells). Timings measure, they assert nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time

import numpy as np
import torch

from bsct.model.config import ModelConfig, named_config
from bsct.model.transformer import build_model
from bsct.potentials.protocol import AtomsBatch, PotentialOutput, forces_and_stress_from_energy
from bsct.train.callbacks import energy_curve_roughness
from bsct.train.data import LabelledStructures, elements_of, fit_reference_energies, force_rms
from bsct.train.loop import TrainConfig, evaluate, train
from bsct.train.loss import energy_force_loss
from bsct.train.toydata import emt_copper

VARIANTS = ["baseline", "+diffknn", "+temperature", "final"]
# model sizes: "paper" = the named configs' defaults (dim 64, 2 layers, k 30, r_cut 6 Å);
# "small" = what trains in minutes on a 2-core CPU. SchNet gets the same width and cutoff.
SIZES = {
    "paper": {"model": {}, "schnet": {"n_atom_basis": 64, "cutoff_angstrom": 6.0}},
    "small": {"model": {"hidden_dim": 32, "k_neighbors": 16, "r_cut_angstrom": 5.0, "n_rbf": 16},
              "schnet": {"n_atom_basis": 32, "cutoff_angstrom": 5.0}},
}


def load_data():
    try:
        from bsct.data import ci_path
        from bsct.data.io import read_structures

        splits = {s: read_structures(ci_path("cu", s)) for s in ("train", "val", "test")}
        return splits, "ci cu (bsct.data.ci_path)"
    except (ImportError, FileNotFoundError, ValueError):
        return {"train": emt_copper(40, seed=0), "val": emt_copper(10, seed=1), "test": emt_copper(10, seed=2)}, \
            "EMT Cu, 32-atom cells, 40/10/10 (bsct.train.toydata.emt_copper)"


def import_schnetpack():
    """schnetpack 2.0.4 imports ``T_co`` from torch's dataloader, which torch 2.13 no longer defines;
    put the TypeVar back before importing (benchmark-only workaround; the library does not use it)."""
    import typing

    import torch.utils.data.dataloader as dataloader

    if not hasattr(dataloader, "T_co"):
        dataloader.T_co = typing.TypeVar("T_co", covariant=True)
    import schnetpack

    return schnetpack


class SchNetPotential(torch.nn.Module):
    """schnetpack's SchNet behind the batched protocol: E = scale * SchNet + sum_i E_ref[Z_i]."""

    conservative = True

    def __init__(self, elements, cutoff_angstrom=6.0, n_atom_basis=64, n_interactions=3, n_rbf=20):
        super().__init__()
        spk = import_schnetpack()

        self.cutoff_angstrom = cutoff_angstrom
        self.representation = spk.representation.SchNet(
            n_atom_basis=n_atom_basis, n_interactions=n_interactions,
            radial_basis=spk.nn.GaussianRBF(n_rbf=n_rbf, cutoff=cutoff_angstrom),
            cutoff_fn=spk.nn.CosineCutoff(cutoff_angstrom),
        )
        self.head = spk.atomistic.Atomwise(n_in=n_atom_basis, output_key="energy", aggregation_mode=None,
                                           per_atom_output_key="atomic_energy")
        index = torch.full((119,), -1, dtype=torch.int64)
        index[list(elements)] = torch.arange(len(elements))
        self.register_buffer("index_of_z", index)
        self.register_buffer("reference_energy_ev", torch.zeros(len(elements)))
        self.register_buffer("energy_scale_ev", torch.tensor(1.0))

    @property
    def dtype(self):
        return self.reference_energy_ev.dtype

    def energy(self, batch: AtomsBatch, pairs) -> torch.Tensor:
        P = import_schnetpack().properties

        shifts = torch.einsum("pk,pkd->pd", pairs.shift_idx.to(batch.cell_angstrom.dtype),
                              batch.cell_angstrom[batch.system_idx[pairs.i_idx]])
        r_ij = batch.positions_angstrom[pairs.j_idx] - batch.positions_angstrom[pairs.i_idx] + shifts
        inputs = {P.Z: batch.atomic_numbers, P.R: batch.positions_angstrom, P.idx_i: pairs.i_idx,
                  P.idx_j: pairs.j_idx, P.Rij: r_ij, P.idx_m: batch.system_idx,
                  P.n_atoms: batch.n_atoms_per_system}
        inputs = self.representation(inputs)
        e_atom = self.head(inputs)["atomic_energy"].squeeze(-1)
        e_atom = self.energy_scale_ev * e_atom + self.reference_energy_ev[self.index_of_z[batch.atomic_numbers]]
        return e_atom.new_zeros(batch.n_systems).index_add(0, batch.system_idx, e_atom)

    def forward(self, batch, compute_stress=False, create_graph=False, pairs=None) -> PotentialOutput:
        from bsct.potentials.neighbors import neighbor_pairs

        dev = self.reference_energy_ev.device
        batch = AtomsBatch(batch.positions_angstrom.to(dev, self.dtype), batch.atomic_numbers.to(dev),
                           batch.system_idx.to(dev), batch.cell_angstrom.to(dev, self.dtype), batch.pbc.to(dev))
        with torch.enable_grad():
            return forces_and_stress_from_energy(
                lambda b: self.energy(b, pairs if pairs is not None else neighbor_pairs(b, self.cutoff_angstrom)),
                batch, compute_stress, create_graph)


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_model(model, data: LabelledStructures, reps: int, device="cpu", n_infer: int = 8) -> dict:
    """Median inference atoms/s (``n_infer`` structures) and training step time (4 structures)."""
    b8, p8, _, _ = data.batch([k % len(data) for k in range(n_infer)], device=device)
    b4, p4, e4, f4 = data.batch(list(range(min(4, len(data)))), device=device)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    infer, step = [], []
    for rep in range(reps + 1):  # first rep is warm-up
        _sync(device)
        t = time.perf_counter()
        model(b8, pairs=p8)
        _sync(device)
        t_inf = time.perf_counter() - t
        t = time.perf_counter()
        out = model(b4, pairs=p4, create_graph=True)
        loss, _ = energy_force_loss(out.energy_ev, out.forces_ev_per_angstrom, e4, f4, b4.n_atoms_per_system)
        opt.zero_grad()
        loss.backward()
        opt.step()
        _sync(device)
        t_step = time.perf_counter() - t
        if rep:
            infer.append(b8.n_atoms / t_inf)
            step.append(t_step)
    return {"inference_atoms_per_s": statistics.median(infer), "train_step_s": statistics.median(step)}


def train_schnet(model, splits, epochs, seed=0, batch_size=4, lr=2e-3, device="cpu"):
    """Same loss, optimiser and LR schedule as bsct.train.loop (no EMA); returns val/test metrics."""
    from bsct.train.loop import warmup_cosine_factor

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train_data = LabelledStructures(splits["train"], model.cutoff_angstrom)
    model.reference_energy_ev.copy_(torch.as_tensor(fit_reference_energies(splits["train"], (29,)), dtype=model.dtype))
    model.energy_scale_ev.fill_(force_rms(splits["train"]))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    total = epochs * math.ceil(len(train_data) / batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine_factor(total, 0.05, 0.05))
    for _ in range(epochs):
        for batch, pairs, energy, forces in train_data.batches(batch_size, rng, device=device):
            out = model(batch, pairs=pairs, create_graph=True)
            loss, _ = energy_force_loss(out.energy_ev, out.forces_ev_per_angstrom, energy, forces, batch.n_atoms_per_system)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            sched.step()
    return {s: evaluate(model, LabelledStructures(splits[s], model.cutoff_angstrom)) for s in ("val", "test")}


def model_code_at(commit: str):
    """The ``bsct.model`` package of ``commit`` importable as ``bsct_model_<commit>`` (its own modules,
    the rest of bsct shared), so old and new model code run side by side in one process."""
    import importlib
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    name = f"bsct_model_{commit}"
    pkg = Path(tempfile.mkdtemp()) / name
    pkg.mkdir()
    files = subprocess.run(["git", "ls-tree", "--name-only", commit, "src/bsct/model/"], cwd=root, check=True,
                           capture_output=True, text=True).stdout.split()
    for path in files:
        text = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=root, check=True, capture_output=True,
                              text=True).stdout
        (pkg / Path(path).name).write_text(text.replace("bsct.model", name))
    sys.path.insert(0, str(pkg.parent))
    return importlib.import_module(f"{name}.transformer"), importlib.import_module(f"{name}.config")


def fcc_cu(n_atoms: int, seed: int = 1):
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat({32: 2, 108: 3, 256: 4, 500: 5, 864: 6}[n_atoms])
    atoms.rattle(0.05, seed=seed)
    return atoms


def speed_vs(commit: str, sizes, repeats: int, checkpoints, profile: bool) -> list[dict]:
    """Old (``commit``) vs current model code: agreement and interleaved µs/atom per size and dtype."""
    from bsct.model.checkpoint import load_checkpoint

    old_transformer, old_config = model_code_at(commit)
    if checkpoints:
        payloads = {str(p): load_checkpoint(p) for p in checkpoints}
        configs = {k: v["model_config"] for k, v in payloads.items()}
    else:
        payloads = {}
        configs = {n: named_config(n).to_dict() for n in ("baseline", "final")}
    rows = []
    for label, cfg_dict in configs.items():
        for dtype in ("float64", "float32"):
            cfg = {**cfg_dict, "dtype": dtype}
            new = build_model(ModelConfig.from_dict(cfg), seed=0)
            old = old_transformer.TransformerMLIP(old_config.ModelConfig.from_dict(cfg))
            if label in payloads:
                new.load_state_dict(payloads[label]["model_state"])
            old.load_state_dict(new.state_dict())
            new.eval(), old.eval()
            for n in [*sizes, "train"]:
                # "train": a training step's model work on 4 x 32 atoms (forces with create_graph, backward)
                frames = [fcc_cu(32, seed=s) for s in range(4)] if n == "train" else [fcc_cu(n)]
                batch = AtomsBatch.from_atoms(frames, dtype=getattr(torch, dtype))
                a, b = new(batch), old(batch)
                times = {"old": [], "new": []}
                for _ in range(repeats):
                    for key, model in (("old", old), ("new", new)):
                        start = time.process_time()  # CPU time of this (one-thread) process: robust on a shared machine
                        if n == "train":
                            out = model(batch, create_graph=True)
                            ((out.forces_ev_per_angstrom**2).sum() + out.energy_ev.sum()).backward()
                        else:
                            model(batch)
                        times[key].append(1e6 * (time.process_time() - start) / batch.n_atoms)
                ratios = sorted(o / w for o, w in zip(times["old"], times["new"]))
                row = {"model": label, "dtype": dtype, "atoms": n,
                       "old_us_per_atom": statistics.median(times["old"]),
                       "new_us_per_atom": statistics.median(times["new"]),
                       "old_over_new": statistics.median(ratios), "ratio_min": ratios[0], "ratio_max": ratios[-1],
                       "max_abs_de_ev": float((a.energy_ev - b.energy_ev).abs().max()),
                       "max_abs_df_ev_per_angstrom": float((a.forces_ev_per_angstrom - b.forces_ev_per_angstrom).abs().max())}
                rows.append(row)
                print(json.dumps(row), flush=True)
                if profile and n == 108 and dtype == "float64":
                    from torch.profiler import ProfilerActivity
                    from torch.profiler import profile as torch_profile

                    with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
                        for _ in range(5):
                            new(batch)
                    print(prof.key_averages(group_by_input_shape=True).table(
                        sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=28, max_shapes_column_width=50))
    print("\n| model | dtype | atoms | before µs/atom | now µs/atom | before / now (min-max) | max abs dE (eV) | max abs dF (eV/Å) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['dtype']} | {r['atoms']} | {r['old_us_per_atom']:.0f} | {r['new_us_per_atom']:.0f} | "
              f"{r['old_over_new']:.2f} ({r['ratio_min']:.2f}-{r['ratio_max']:.2f}) | {r['max_abs_de_ev']:.1e} | "
              f"{r['max_abs_df_ev_per_angstrom']:.1e} |")
    return rows


def _curve_noise(diff: np.ndarray) -> float:
    """Noise sigma of a difference along a scan: std of its second differences / sqrt(6), NaNs dropped."""
    diff = diff.reshape(len(diff), -1)
    d2 = np.diff(diff, 2, axis=0)
    d2 = d2[np.isfinite(d2).all(axis=1)]
    return float(np.max(np.std(d2, axis=0)) / np.sqrt(6.0)) if len(d2) else float("nan")


def dtype_noise(checkpoints: dict[str, str], max_per_type: int) -> list[dict]:
    """float32 vs float64 of the same checkpoint: label-set differences and BSCT scan noise per system."""
    from bsct.data import ci_path
    from bsct.data.io import read_structures
    from bsct.model.checkpoint import load_model
    from bsct.scan.api import run_bsct

    rows = []
    for label, path in checkpoints.items():
        system = label.split(":")[0]  # SYSTEM or SYSTEM:NAME
        frames = read_structures(ci_path(system, "test"))
        models = {d: load_model(path, dtype=getattr(torch, d)) for d in ("float64", "float32")}
        de, df = [], []
        for atoms in frames:
            batch = AtomsBatch.from_atoms([atoms])
            a, b = models["float64"](batch), models["float32"](batch)
            de.append(abs(float(b.energy_ev[0] - a.energy_ev[0])))
            df.append((b.forces_ev_per_angstrom - a.forces_ev_per_angstrom).abs().numpy().ravel())
        df = np.concatenate(df)
        row = {"system": label, "checkpoint": path, "frames": len(frames),
               "max_abs_de_ev": max(de), "max_abs_df_ev_per_angstrom": float(df.max()),
               "rms_df_ev_per_angstrom": float(np.sqrt(np.mean(df**2)))}
        for version in ("v1", "v2"):
            reports = {d: run_bsct(m, frames, max_per_type=max_per_type, score_version=version, progress=False)
                       for d, m in models.items()}
            r64, r32 = reports["float64"], reports["float32"]
            de_curve = [r.curve.energy_ev - q.curve.energy_ev for q, r in zip(r64.results, r32.results)]
            df_curve = [r.curve.forces_ev_per_angstrom - q.curve.forces_ev_per_angstrom
                        for q, r in zip(r64.results, r32.results)]
            row[version] = {
                "scans": len(r64.results),
                "score_f64": r64.score, "score_f32": r32.score,
                "artifacts_f64": sorted(f"{a.kind}@{a.r_angstrom:.2f}" for a in r64.artifacts),
                "artifacts_f32": sorted(f"{a.kind}@{a.r_angstrom:.2f}" for a in r32.artifacts),
                "curve_max_abs_de_ev": float(max(np.nanmax(np.abs(x)) for x in de_curve)),
                "curve_max_abs_df_ev_per_angstrom": float(max(np.nanmax(np.abs(x)) for x in df_curve)),
                "curve_noise_e_ev": max(_curve_noise(x) for x in de_curve),
                "curve_noise_f_ev_per_angstrom": max(_curve_noise(x) for x in df_curve),
            }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed-vs", metavar="COMMIT", help="compare speed with the model code of COMMIT instead")
    parser.add_argument("--sizes", default="32,108,500", help="atoms per fcc Cu cell for --speed-vs")
    parser.add_argument("--checkpoint", action="append", help="with --speed-vs: use this trained checkpoint")
    parser.add_argument("--profile", action="store_true", help="with --speed-vs: torch.profiler top ops")
    parser.add_argument("--dtype-noise", nargs="+", metavar="SYSTEM[:NAME]=CHECKPOINT",
                        help="float32 vs float64 of these checkpoints on the ci test split of SYSTEM")
    parser.add_argument("--max-per-type", type=int, default=1, help="with --dtype-noise: scans per bond type")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--train-epochs", type=int, default=0, help="also train each model this many epochs")
    parser.add_argument("--no-schnet", action="store_true")
    parser.add_argument("--size", choices=sorted(SIZES), default="paper", help="model size (default: paper)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    parser.add_argument("--infer-structures", type=int, default=8, help="structures per inference call (default 8)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    if args.dtype_noise:
        torch.set_num_threads(1)
        rows = dtype_noise(dict(x.split("=", 1) for x in args.dtype_noise), args.max_per_type)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"dtype_noise": rows}, fh, indent=1)
        return
    if args.speed_vs:
        torch.set_num_threads(1)
        rows = speed_vs(args.speed_vs, [int(x) for x in args.sizes.split(",")], args.reps, args.checkpoint, args.profile)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"speed_vs": args.speed_vs, "rows": rows}, fh, indent=1)
        return
    torch.set_num_threads(args.threads)
    splits, source = load_data()
    elements = elements_of(splits["train"])
    where = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or platform.machine()
    print(f"# data: {source}; torch {torch.__version__}, {args.threads} threads, {where}, size {args.size}, "
          f"{args.infer_structures} structures per inference call")
    rows = []
    size = SIZES[args.size]

    def config(name):
        return named_config(name, elements=elements, **size["model"])

    models = {name: (lambda name=name: build_model(config(name), seed=0)) for name in VARIANTS}
    if not args.no_schnet:
        try:
            import_schnetpack()
            models["SchNet (schnetpack)"] = lambda: SchNetPotential(elements, **size["schnet"])
        except Exception as exc:  # ImportError, or an incompatibility inside schnetpack
            print(f"# schnetpack not usable ({type(exc).__name__}: {exc}): SchNet skipped")
    for name, make in models.items():
        model = make().to(args.device)
        cutoff = model.cutoff_angstrom
        data = LabelledStructures(splits["train"][:8], cutoff)
        row = {"model": name, "n_params": sum(p.numel() for p in model.parameters()),
               **time_model(model, data, args.reps, args.device, args.infer_structures)}
        if args.train_epochs:
            t = time.perf_counter()
            if name in VARIANTS:
                tc = TrainConfig(epochs=args.train_epochs, batch_size=4, patience_epochs=args.train_epochs, progress=False,
                                 device=args.device)
                result = train(config(name), splits["train"], splits["val"], tc,
                               test_structures=splits["test"])
                trained, metrics = result.model, result.metrics
            else:
                metrics = train_schnet(model, splits, args.train_epochs, device=args.device)
                trained = model
            row["train_time_s"] = time.perf_counter() - t
            for split in ("val", "test"):
                row[f"{split}_energy_rmse_mev_per_atom"] = metrics[split]["energy_rmse_mev_per_atom"]
                row[f"{split}_force_rmse_mev_per_angstrom"] = metrics[split]["force_rmse_mev_per_angstrom"]
            trained64 = trained.to(torch.float64)
            row["roughness_ev"] = energy_curve_roughness(trained64, splits["test"][:3])
        rows.append(row)
        print(json.dumps(row), flush=True)
    keys = list(rows[0])
    print("\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()) + " |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"data": source, "threads": args.threads, "size": args.size, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
