"""Measured cost of the `full` study size on this machine, projected to its trainings.

Times optimiser steps (forward with the force graph, energy + force loss, backward, AdamW) of a
freshly built `final` model on batches of each full training set, one torch thread, after two
warm-up steps; prints the mean step time and the projected time of one epoch and of the size's
epochs (set-up such as neighbour lists and validation, a few % of an epoch, is not included).
The full sets are made on first use (`bsct data generate SYSTEM --size full`).

    OMP_NUM_THREADS=1 python benchmarks/full_study_cost.py si cu water molecules
    OMP_NUM_THREADS=1 python benchmarks/full_study_cost.py --epochs 100 si cu water molecules  # first definition
    OMP_NUM_THREADS=1 python benchmarks/full_study_cost.py --small-model si     # the `small` model instead
    OMP_NUM_THREADS=1 python benchmarks/full_study_cost.py --md 8 --md-ps 10.5 water cu si  # one MD step

``--md N`` times one MD force call (float64 energy + forces, as `bsct md` runs the models) of
``baseline`` and ``+diffknn`` on the study's first N MD start frames, batched as the harness
batches replicas, and projects it to ``--md-ps`` of MD at the harness's default timestep.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bsct.md.run import MDConfig
from bsct.md.starts import md_start_frames
from bsct.model.config import named_config
from bsct.model.transformer import build_model
from bsct.potentials.protocol import AtomsBatch
from bsct.study.config import SIZES
from bsct.study.steps import study_frames
from bsct.train.data import LabelledStructures, elements_of
from bsct.train.loss import energy_force_loss


def step_seconds(cfg, frames, batch_size: int, n_steps: int, seed: int = 0) -> float:
    """Mean wall time of one training step on random batches of ``frames``."""
    model = build_model(cfg, seed=seed)
    data = LabelledStructures(frames, cfg.r_cut_angstrom)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(seed)
    times = []
    for k in range(n_steps + 2):
        batch, pairs, energy, forces = data.batch(rng.choice(len(data), batch_size, replace=False).tolist())
        t0 = time.perf_counter()
        out = model(batch, create_graph=True, pairs=pairs)
        loss, _ = energy_force_loss(out.energy_ev, out.forces_ev_per_angstrom, energy, forces,
                                    torch.bincount(batch.system_idx))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if k >= 2:  # warm-up steps excluded
            times.append(time.perf_counter() - t0)
    return float(np.mean(times))


def md_step_seconds(system: str, n_replicas: int, config: str, n_calls: int = 2) -> tuple[int, float]:
    """(atoms in the batch, mean seconds of one float64 energy + forces call) of an untrained model."""
    frames = md_start_frames(study_frames(system, "test", "full"))[:n_replicas]
    model = build_model(named_config(config, elements=elements_of(frames), **SIZES["full"].model_overrides),
                        seed=0).double().eval()
    batch = AtomsBatch.from_atoms(frames)
    model(batch)  # warm-up
    t0 = time.perf_counter()
    for _ in range(n_calls):
        model(batch)
    return batch.n_atoms, (time.perf_counter() - t0) / n_calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("systems", nargs="+")
    parser.add_argument("--steps", type=int, default=10, help="timed optimiser steps per system")
    parser.add_argument("--small-model", action="store_true", help="the `small` size's model on the full data")
    parser.add_argument("--epochs", type=int, default=SIZES["full"].epochs, help="epochs the step time is projected to")
    parser.add_argument("--md", type=int, metavar="N", help="time one MD step of N replicas instead of training")
    parser.add_argument("--md-ps", type=float, default=10.5, help="MD length (ps) the MD step time is projected to")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.md:
        for system in args.systems:
            timestep_fs = MDConfig().resolved_timestep_fs(_md_frames(_frames(system, "test", "full"))[:args.md])
            n_steps = args.md_ps * 1000 / timestep_fs
            for config in ("baseline", "+diffknn"):
                n_atoms, step_s = md_step_seconds(system, args.md, config)
                print(f"{system} {config}: {args.md} replicas, {n_atoms} atoms, {step_s:.3f} s per MD step -> "
                      f"{step_s * n_steps / 3600:.2f} h for {args.md_ps} ps at {timestep_fs} fs", flush=True)
        return
    size = SIZES["full"]
    overrides = SIZES["small"].model_overrides if args.small_model else size.model_overrides
    for system in args.systems:
        train_frames = _frames(system, "train", "full")
        cfg = named_config("final", elements=elements_of(train_frames), **overrides)
        sample = [train_frames[k] for k in np.random.default_rng(0).choice(len(train_frames), 64, replace=False)]
        per_step = step_seconds(cfg, sample, size.batch_size, args.steps)
        epoch_s = per_step * len(train_frames) / size.batch_size
        print(f"{system}: {len(train_frames)} train frames, {per_step:.3f} s per step of {size.batch_size} -> "
              f"{epoch_s / 60:.1f} min per epoch, {epoch_s * args.epochs / 3600:.2f} h for {args.epochs} epochs", flush=True)


if __name__ == "__main__":
    main()
