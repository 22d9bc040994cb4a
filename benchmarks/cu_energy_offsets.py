"""Which graph puts whole Cu structure types at the wrong energy? A small, seeded experiment.

The full-size Cu ``final`` model fits forces well (16 meV/Å on ``test``) but shifts whole
structure types: bulk +7, fcc(111) slab −19, vacancy cells −17 meV/atom, with a spread of only
~0.1 meV/atom inside a type, and its E(V) minimum lies at 3.69 Å instead of EMT's 3.59 Å. This
script trains the ``small`` study model on the committed ci Cu data with three graphs (hard
k-NN, differentiable k-NN, smooth radius graph), and the differentiable k-NN again with the degree
embedding (``ModelConfig.degree_embedding``: the fade-weighted sum of each atom's edge features
added to its input, which lets the model count neighbours), at two energy loss weights; it prints each
model's validation errors and the mean energy error of every structure type of the training
set (training frames, because the small ci test split has no slab or vacancy frames).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cu_energy_offsets.py   # ~5 min on one core

Results and their reading: docs/results.md, "Energies by structure type".
"""

from __future__ import annotations

import time

import torch

from bsct.data import ci_path, read_structures
from bsct.model.config import named_config
from bsct.study.config import SIZES
from bsct.train.loop import TrainConfig, train
from bsct.train.loss import config_type_of, errors_by_group

MODELS = (("baseline", {}), ("+diffknn", {}), ("+diffknn", {"graph": "radius"}),
          ("+diffknn", {"degree_embedding": True}))
ENERGY_WEIGHTS = (1.0, 100.0)  # the study's default, and energy-dominated


def mean_energy_error_by_type(model, frames) -> dict[str, float]:
    """Signed mean of (predicted − reference) energy per atom, meV/atom, per config_type family."""
    _, groups = errors_by_group(model, frames, group_of=lambda a: config_type_of(a).split("_")[0])  # md32_300K -> md32
    return {name: g["energy_mean_error_mev_per_atom"] for name, g in groups.items()}


def main() -> None:
    torch.set_num_threads(1)
    size = SIZES["small"]
    train_frames, val_frames = read_structures(ci_path("cu", "train")), read_structures(ci_path("cu", "val"))
    rows = []
    for config_name, overrides in MODELS:
        model_config = named_config(config_name, **{**size.model_overrides, **overrides})
        for energy_weight in ENERGY_WEIGHTS:
            t0 = time.perf_counter()
            tc = TrainConfig(epochs=size.epochs, lr=size.lr, energy_weight=energy_weight, progress=False, seed=0)
            result = train(model_config, train_frames, val_frames, tc)
            val = result.metrics["val"]
            label = f"{config_name} ({model_config.graph}{', degree' if model_config.degree_embedding else ''})"
            rows.append((label, energy_weight, val["energy_rmse_mev_per_atom"],
                         val["force_rmse_mev_per_angstrom"], mean_energy_error_by_type(result.model, train_frames),
                         time.perf_counter() - t0))
            print(f"{rows[-1][0]}, energy weight {energy_weight:g}: {rows[-1][5]:.0f} s", flush=True)
    families = list(rows[0][4])
    print("\n| model (graph) | energy weight | val E RMSE (meV/atom) | val F RMSE (meV/Å) | "
          + " | ".join(f"{f} mean E err" for f in families) + " |")
    print("|---" * (4 + len(families)) + "|")
    for name, weight, e_rmse, f_rmse, by_type, _ in rows:
        print(f"| {name} | {weight:g} | {e_rmse:.1f} | {f_rmse:.1f} | "
              + " | ".join(f"{by_type[f]:+.1f}" for f in families) + " |")


if __name__ == "__main__":
    main()
