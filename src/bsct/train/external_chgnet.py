"""CHGNet trained from scratch on our data by chgnet's own ``Trainer`` (issue #20's zoo).

>>> paths = train_chgnet(ci_path("cu", "train"), "zoo/chgnet_s0", n_train=60, seed=0, epochs=20,
...                      checkpoints_at=(5, 20))
>>> load_potential(f"chgnet:{paths[-1]}")          # a point along training, as a SPEC

CHGNet is a different family from NequIP/Allegro: invariant message passing on an atom graph and
a bond graph of three-body angles, energy read out per atom. The weights start from scratch (not
the pretrained MPtrj model) at a small CPU size, with the elemental reference energies (chgnet's
``AtomRef``) fitted by least squares to the training set; energy + force loss, Adam with chgnet's
cosine schedule over ``epochs``. Training runs in stages up to each of ``checkpoints_at`` with one
``Trainer`` (optimiser and schedule carried on), so each kept checkpoint is a point of one run.
Training subsets as in :func:`bsct.train.external.training_subset`; cached by
:func:`bsct.runs.cached_step` (a killed run restarts from the beginning).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

from bsct.runs import cached_step, file_sha256, versions
from bsct.train.external import SUBSET_SEED, run_inputs, training_subset

log = logging.getLogger(__name__)

#: a CHGNet small enough to train in minutes on one core (chgnet's own defaults are 64 wide, 4 layers)
CHGNET_SMALL = {"atom_fea_dim": 16, "bond_fea_dim": 16, "angle_fea_dim": 16, "num_radial": 9, "num_angular": 9,
                "n_conv": 2, "atom_conv_hidden_dim": 16, "bond_conv_hidden_dim": 16, "mlp_hidden_dims": [16, 16],
                "bond_graph_cutoff": 3.0}


def train_chgnet(data_path: str | Path, out_dir: str | Path, *, model: str = "scratch", n_train: int | None = None,
                 seed: int = 0, epochs: int = 10, checkpoints_at: Sequence[int] | None = None, val_path: str | Path | None = None,
                 n_val: int | None = 20, cutoff_angstrom: float = 4.5, batch_size: int = 4, lr: float = 3e-3,
                 force_weight: float = 1.0, hyper: dict | None = None, threads: int = 1) -> list[Path]:
    """Train a CHGNet from scratch with ``chgnet.trainer.Trainer`` on an extxyz file of ours.

    Arguments as :func:`bsct.train.external.train_nequip`; ``cutoff_angstrom`` is CHGNet's atom-graph
    cutoff, ``hyper`` overrides :data:`CHGNET_SMALL`; ``model`` names what is trained, ``"scratch"`` (a
    CHGNet from random weights) the only one, as :func:`train_nequip` takes ``nequip``/``allegro``.
    Returns the checkpoints
    ``out_dir/checkpoints/epochNNNN.pth.tar`` in epoch order, each a SPEC as ``chgnet:PATH``.
    """
    if model != "scratch":
        raise ValueError(f"train_chgnet trains a CHGNet from scratch only (model='scratch'), not {model!r}")
    data_path, val_path, checkpoints_at = run_inputs(data_path, val_path, epochs, checkpoints_at)
    out_dir = Path(out_dir)
    settings = {"trainer": "chgnet.trainer.Trainer", "model": "chgnet", "n_train": n_train, "seed": int(seed),
                "epochs": int(epochs), "checkpoints_at": checkpoints_at, "n_val": n_val,
                "cutoff_angstrom": float(cutoff_angstrom), "batch_size": int(batch_size), "lr": float(lr),
                "force_weight": float(force_weight), "hyper": hyper or {}, "train_sha256": file_sha256(data_path),
                "val_sha256": file_sha256(val_path), "subset_seed": SUBSET_SEED,
                "versions": versions(("torch", "chgnet", "pymatgen"))}

    def compute() -> dict:
        from bsct.data.io import read_structures

        train = training_subset(read_structures(data_path), n_train)
        val = read_structures(val_path)[:n_val]
        paths = _run_trainer(train, val, out_dir, seed=seed, epochs=epochs, checkpoints_at=checkpoints_at,
                             cutoff_angstrom=cutoff_angstrom, batch_size=batch_size, lr=lr,
                             force_weight=force_weight, hyper=hyper, threads=threads)
        return {"checkpoints": [str(p.relative_to(out_dir)) for p in paths],
                "elements": sorted({s for a in train for s in a.get_chemical_symbols()}),
                "n_train_structures": len(train)}

    out_dir.mkdir(parents=True, exist_ok=True)
    record = cached_step(out_dir / "train.json", settings, compute)
    return [out_dir / p for p in record["checkpoints"]]


def _structure_data(frames):
    """chgnet's dataset of our labelled frames (energies per atom, as CHGNet predicts them)."""
    from chgnet.data.dataset import StructureData
    from pymatgen.io.ase import AseAtomsAdaptor

    structures = [AseAtomsAdaptor.get_structure(a) for a in frames]
    energies = [a.get_potential_energy() / len(a) for a in frames]
    forces = [a.get_forces() for a in frames]
    return structures, energies, StructureData(structures, energies, forces, shuffle=False)


def _run_trainer(train, val, out_dir: Path, *, seed, epochs, checkpoints_at, cutoff_angstrom, batch_size, lr,
                 force_weight, hyper, threads) -> list[Path]:
    """:func:`_stages` on ``threads`` torch threads, chgnet's printing sent to ``out_dir/train.log``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with open(out_dir / "train.log", "w") as logfile, contextlib.redirect_stdout(logfile):  # chgnet prints
            return _stages(train, val, out_dir, seed=seed, epochs=epochs, checkpoints_at=checkpoints_at,
                           cutoff_angstrom=cutoff_angstrom, batch_size=batch_size, lr=lr,
                           force_weight=force_weight, hyper=hyper)
    finally:
        torch.set_num_threads(before)


def _stages(train, val, out_dir: Path, *, seed, epochs, checkpoints_at, cutoff_angstrom, batch_size, lr,
            force_weight, hyper) -> list[Path]:
    import torch
    from chgnet.data.dataset import collate_graphs
    from chgnet.model import CHGNet
    from chgnet.model.composition_model import AtomRef
    from chgnet.trainer import Trainer
    from torch.utils.data import DataLoader

    torch.manual_seed(seed)
    structures, energies, train_data = _structure_data(train)
    _, _, val_data = _structure_data(val)
    atom_ref = AtomRef(is_intensive=True)
    atom_ref.fit(structures, energies)
    model = CHGNet(**{**CHGNET_SMALL, **(hyper or {})}, composition_model=atom_ref,
                   atom_graph_cutoff=float(cutoff_angstrom))
    shuffle = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(train_data, batch_size=batch_size, shuffle=True, collate_fn=collate_graphs,
                              generator=shuffle)
    val_loader = DataLoader(val_data, batch_size=16, shuffle=False, collate_fn=collate_graphs)
    trainer = Trainer(model, targets="ef", energy_loss_ratio=1.0, force_loss_ratio=force_weight,
                      optimizer="Adam", scheduler="CosLR", criterion="MSE", epochs=epochs, learning_rate=lr,
                      torch_seed=seed, data_seed=seed, use_device="cpu", print_freq=10**9)
    run_dir, ckpt_dir = out_dir / "run", out_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for stop in checkpoints_at:  # one run, paused at each checkpoint
        trainer.epochs = stop
        trainer.train(train_loader, val_loader, save_dir=str(run_dir))
        trainer.starting_epoch = stop
        paths.append(ckpt_dir / f"epoch{stop:04d}.pth.tar")
        trainer.save(filename=str(paths[-1]))
    return paths
