"""Other architectures trained on our data by their own packages' trainers (issue #20's zoo).

>>> paths = train_nequip(ci_path("cu", "train"), "zoo/nequip_s0", model="nequip", n_train=60,
...                      seed=0, epochs=20, checkpoints_at=(5, 20))
>>> load_potential(f"nequip:{paths[-1]}")          # a checkpoint along training, as a SPEC

``nequip-train`` (NequIP or Allegro, ``nequip`` 0.19 + ``nequip-allegro``) runs as its own
process from a config we write, so the model, its data pipeline, loss and optimiser are the
package's, not a re-implementation. What we choose: the training subset (the first ``n_train``
frames of one fixed seeded shuffle, so a smaller set is nested in a larger one and the training
seed varies only the weights and the batch order), a small model for CPU, an energy + force loss,
Adam at a constant learning rate, and the epochs at which a checkpoint is kept.

Cached like the study's steps (:func:`bsct.runs.cached_step`): the same settings and data read
back the checkpoints already written; a run killed part-way continues from nequip's ``last.ckpt``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bsct.runs import cached_step, file_sha256, versions

log = logging.getLogger(__name__)

#: architectures of the nequip framework and their small CPU-sized defaults (override with ``hyper``)
NEQUIP_MODELS = {
    "nequip": {"_target_": "nequip.model.NequIPGNNModel", "num_layers": 2, "l_max": 1, "parity": True,
               "num_features": 16, "radial_mlp_depth": 1, "radial_mlp_width": 32, "num_bessels": 8,
               "polynomial_cutoff_p": 6},
    "allegro": {"_target_": "allegro.model.AllegroModel", "num_layers": 1, "l_max": 1, "parity": True,
                "num_scalar_features": 32, "num_tensor_features": 8,
                "radial_chemical_embed": {"_target_": "allegro.nn.TwoBodyBesselScalarEmbed", "num_bessels": 8,
                                          "bessel_trainable": False, "polynomial_cutoff_p": 6},
                "radial_chemical_embed_dim": 32, "scalar_embed_mlp_hidden_layers_depth": 1,
                "scalar_embed_mlp_hidden_layers_width": 32, "allegro_mlp_hidden_layers_depth": 1,
                "allegro_mlp_hidden_layers_width": 32, "readout_mlp_hidden_layers_depth": 1,
                "readout_mlp_hidden_layers_width": 16},
}
#: the fixed shuffle the training subsets are cut from (nested subsets; see the module docstring)
SUBSET_SEED = 0


def training_subset(structures: Sequence, n_train: int | None) -> list:
    """The first ``n_train`` structures of a fixed seeded shuffle (all of them, shuffled, for None)."""
    order = np.random.default_rng(SUBSET_SEED).permutation(len(structures))
    if n_train is not None and not 0 < n_train <= len(structures):
        raise ValueError(f"n_train must be in 1..{len(structures)}, got {n_train}")
    return [structures[i] for i in order[:n_train]]


def run_inputs(data_path, val_path, epochs: int, checkpoints_at) -> tuple[Path, Path, list[int]]:
    """The checked training inputs every trainer here shares: (data file, validation file — by
    default ``val.extxyz`` beside the data —, sorted checkpoint epochs — by default the last)."""
    data_path = Path(data_path)
    val_path = Path(val_path) if val_path is not None else data_path.with_name("val.extxyz")
    checkpoints = sorted({int(e) for e in (checkpoints_at or (epochs,))})
    if not checkpoints[0] >= 1 or checkpoints[-1] > epochs:
        raise ValueError(f"checkpoints_at must lie in 1..{epochs} (epochs), got {checkpoints}")
    for path in (data_path, val_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such data file")
    return data_path, val_path, checkpoints


def nequip_config(train_file: Path, val_file: Path, run_dir: Path, *, model: str, symbols: Sequence[str],
                  seed: int, epochs: int, checkpoints_at: Sequence[int], cutoff_angstrom: float,
                  model_dtype: str, batch_size: int, lr: float, energy_weight: float,
                  hyper: dict | None = None) -> dict:
    """The ``nequip-train`` config (a plain dict; hydra reads it as YAML)."""
    if model not in NEQUIP_MODELS:
        raise ValueError(f"unknown nequip-framework model {model!r}; choose one of {', '.join(NEQUIP_MODELS)}")
    symbols = list(symbols)
    identity = {s: s for s in symbols}
    arch = {**NEQUIP_MODELS[model], **(hyper or {})}
    loader = {"_target_": "torch.utils.data.DataLoader", "batch_size": int(batch_size), "num_workers": 0}
    return {
        "run": ["train"],
        "data": {
            "_target_": "nequip.data.datamodule.ASEDataModule",
            "seed": int(seed),
            "train_file_path": str(train_file),
            "val_file_path": str(val_file),
            "exclude_keys": ["stress"],  # trained on energies and forces only
            "transforms": [
                {"_target_": "nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper",
                 "model_type_names": symbols, "chemical_species_to_atom_type_map": identity},
                {"_target_": "nequip.data.transforms.NeighborListTransform", "r_max": float(cutoff_angstrom)},
            ],
            "train_dataloader": {**loader, "shuffle": True},
            "val_dataloader": loader,
            "stats_manager": {"_target_": "nequip.data.CommonDataStatisticsManager", "type_names": symbols,
                              "dataloader_kwargs": {"batch_size": 16}},
        },
        "trainer": {
            "_target_": "lightning.Trainer", "accelerator": "cpu", "devices": 1, "max_epochs": int(epochs),
            "deterministic": True, "logger": False, "enable_progress_bar": False,
            "enable_model_summary": False, "check_val_every_n_epoch": 1, "log_every_n_steps": 1,
            "callbacks": [
                # last.ckpt after every epoch, for resuming an interrupted run
                {"_target_": "lightning.pytorch.callbacks.ModelCheckpoint", "dirpath": str(run_dir),
                 "save_last": True, "every_n_epochs": 1},
                {"_target_": "bsct.train.nequip_callbacks.SaveAtEpochs", "dirpath": str(run_dir / "checkpoints"),
                 "epochs": sorted({int(e) for e in checkpoints_at})},
            ],
        },
        "training_module": {
            "_target_": "nequip.train.NequIPLightningModule",
            "loss": {"_target_": "nequip.train.EnergyForceLoss", "per_atom_energy": True,
                     "coeffs": {"total_energy": float(energy_weight), "forces": 1.0}},
            "val_metrics": {"_target_": "nequip.train.EnergyForceMetrics",
                            "coeffs": {"per_atom_energy_rmse": 1.0, "forces_rmse": 1.0}},
            "optimizer": {"_target_": "torch.optim.Adam", "lr": float(lr)},
            "model": {
                **arch, "seed": int(seed), "model_dtype": model_dtype, "type_names": symbols,
                "r_max": float(cutoff_angstrom),
                "avg_num_neighbors": "${training_data_stats:num_neighbors_mean}",
                "per_type_energy_scales": "${training_data_stats:per_type_forces_rms}",
                "per_type_energy_shifts": "${training_data_stats:per_atom_energy_mean}",
            },
        },
        "global_options": {"seed": int(seed), "allow_tf32": False},
    }


def train_nequip(data_path: str | Path, out_dir: str | Path, *, model: str = "nequip", n_train: int | None = None,
                 seed: int = 0, epochs: int = 10, checkpoints_at: Sequence[int] | None = None,
                 val_path: str | Path | None = None, n_val: int | None = 20, cutoff_angstrom: float = 4.5,
                 model_dtype: str = "float64", batch_size: int = 4, lr: float = 0.005,
                 energy_weight: float = 1.0, hyper: dict | None = None, threads: int = 1) -> list[Path]:
    """Train a NequIP or Allegro model with ``nequip-train`` on an extxyz file of ours.

    Args:
        data_path: labelled training structures (extxyz; e.g. ``bsct.data.ci_path("cu", "train")``).
        out_dir: where the run lives; the kept checkpoints are ``out_dir/checkpoints/epochNNNN.ckpt``.
        model: ``"nequip"`` or ``"allegro"`` (small defaults in :data:`NEQUIP_MODELS`; ``hyper``
            overrides their keyword arguments).
        n_train: training-set size (see :func:`training_subset`); None for the whole file.
        seed: model initialisation, data order and Lightning's global seed.
        epochs: epochs in all; ``checkpoints_at``: finished-epoch counts to keep (default: the last).
        val_path: validation structures (default: ``val.extxyz`` beside ``data_path``); ``n_val``
            of them (None: all) are used, for nequip's per-epoch metrics only.
        model_dtype: ``"float64"`` (default: BSCT reads float32 rounding noise as roughness) or ``"float32"``.

    Returns:
        The checkpoint paths, in epoch order; each is a model SPEC as ``nequip:PATH``.
    """
    from bsct.data.io import read_structures

    data_path, val_path, checkpoints_at = run_inputs(data_path, val_path, epochs, checkpoints_at)
    out_dir = Path(out_dir)
    settings = {"trainer": "nequip-train", "model": model, "n_train": n_train, "seed": int(seed),
                "epochs": int(epochs), "checkpoints_at": checkpoints_at, "n_val": n_val,
                "cutoff_angstrom": float(cutoff_angstrom), "model_dtype": model_dtype, "batch_size": int(batch_size),
                "lr": float(lr), "energy_weight": float(energy_weight), "hyper": hyper or {},
                "train_sha256": file_sha256(data_path), "val_sha256": file_sha256(val_path),
                "subset_seed": SUBSET_SEED, "versions": versions(("torch", "e3nn", "nequip", "nequip-allegro"))}
    run_dir = out_dir / "run"

    def compute() -> dict:
        from ase.io import write

        train = training_subset(read_structures(data_path), n_train)
        val = read_structures(val_path)[:n_val]
        symbols = sorted({s for atoms in train for s in atoms.get_chemical_symbols()})
        run_dir.mkdir(parents=True, exist_ok=True)
        write(run_dir / "train.extxyz", train, format="extxyz")
        write(run_dir / "val.extxyz", val, format="extxyz")
        config = nequip_config(run_dir / "train.extxyz", run_dir / "val.extxyz", run_dir, model=model,
                               symbols=symbols, seed=seed, epochs=epochs, checkpoints_at=checkpoints_at,
                               cutoff_angstrom=cutoff_angstrom, model_dtype=model_dtype, batch_size=batch_size,
                               lr=lr, energy_weight=energy_weight, hyper=hyper)
        (run_dir / "config.yaml").write_text(json.dumps(config, indent=1))  # JSON is YAML
        run_nequip_train(run_dir, threads=threads, resume=_resumable(run_dir, settings))
        missing = [e for e in checkpoints_at if not _checkpoint_path(run_dir, e).is_file()]
        if missing:
            raise RuntimeError(f"nequip-train finished without the checkpoints of epochs {missing} in {run_dir}")
        return {"checkpoints": [str(_checkpoint_path(run_dir, e).relative_to(out_dir)) for e in checkpoints_at],
                "elements": symbols, "n_train_structures": len(train)}

    record = cached_step(out_dir / "train.json", settings, compute)
    return [out_dir / p for p in record["checkpoints"]]


def _checkpoint_path(run_dir: Path, epoch: int) -> Path:
    return run_dir / "checkpoints" / f"epoch{epoch:04d}.ckpt"


def _resumable(run_dir: Path, settings: dict) -> Path | None:
    """nequip's ``last.ckpt`` of an interrupted run of the same settings, else None (start afresh)."""
    last = run_dir / "last.ckpt"
    started = run_dir / "started.json"
    if last.is_file() and started.is_file() and json.loads(started.read_text()) == json.loads(json.dumps(settings)):
        return last
    for stale in [last, *sorted((run_dir / "checkpoints").glob("*.ckpt"))]:
        stale.unlink(missing_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    started.write_text(json.dumps(settings, sort_keys=True))
    return None


def run_nequip_train(run_dir: Path, *, threads: int = 1, resume: Path | None = None) -> None:
    """``nequip-train -cp RUN_DIR -cn config.yaml`` with ``threads`` CPU threads; its log in ``train.log``."""
    exe = Path(sys.executable).with_name("nequip-train")
    cmd = [str(exe) if exe.is_file() else "nequip-train", "-cp", str(run_dir.resolve()), "-cn", "config.yaml",
           f"hydra.run.dir={run_dir.resolve()}", "hydra.output_subdir=null", "hydra/job_logging=disabled",
           "hydra/hydra_logging=disabled"]
    if resume is not None:
        cmd.append(f"++ckpt_path={resume.resolve()}")
    env = {**os.environ, **{k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
           "PYTHONHASHSEED": "0"}
    log.info("running %s", " ".join(cmd))
    with open(run_dir / "train.log", "w") as logfile:
        done = subprocess.run(cmd, cwd=run_dir, env=env, stdout=logfile, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = (run_dir / "train.log").read_text()[-3000:]
        raise RuntimeError(f"nequip-train failed (exit {done.returncode}); end of {run_dir / 'train.log'}:\n{tail}")
