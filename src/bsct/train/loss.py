"""Energy + force loss and the regression metrics (meV/atom, meV/Å)."""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from ase import Atoms


def energy_force_loss(
    energy_pred_ev: torch.Tensor,  # (n_systems,)
    forces_pred_ev_per_angstrom: torch.Tensor,  # (n_atoms, 3)
    energy_ev: torch.Tensor,  # (n_systems,)
    forces_ev_per_angstrom: torch.Tensor,  # (n_atoms, 3)
    n_atoms_per_system: torch.Tensor,  # (n_systems,)
    energy_weight: float = 1.0,
    force_weight: float = 10.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """L = w_E mean_s ((E_s - E_s^ref) / N_s)^2 + w_F mean_{i,a} (F_ia - F_ia^ref)^2   [eV^2 units].

    Returns the loss (a graph when the predictions have one) and its parts as floats.
    """
    e_err = (energy_pred_ev - energy_ev) / n_atoms_per_system.to(energy_ev.dtype)
    f_err = forces_pred_ev_per_angstrom - forces_ev_per_angstrom
    e_mse = (e_err**2).mean()
    f_mse = (f_err**2).mean()
    loss = energy_weight * e_mse + force_weight * f_mse
    return loss, {"energy_mse": float(e_mse.detach()), "force_mse": float(f_mse.detach())}


class ErrorAccumulator:
    """Running sums for energy (per atom) and force errors over many batches.

    Besides RMSE and MAE it keeps the signed mean energy error (prediction − reference): an
    offset shared by a group of structures (a surface, a strained cell) shows there and not in
    the forces, and it is what shifts formation energies and equations of state.
    """

    def __init__(self):
        self.e_sum = self.e_sq = self.e_abs = self.f_sq = self.f_abs = 0.0
        self.n_systems = self.n_components = 0

    def add(self, energy_pred_ev, forces_pred, energy_ev, forces, n_atoms_per_system) -> None:
        e_err = ((energy_pred_ev - energy_ev) / n_atoms_per_system.to(energy_ev.dtype)).detach().double()
        f_err = (forces_pred - forces).detach().double()
        self.e_sum += float(e_err.sum())
        self.e_sq += float((e_err**2).sum())
        self.e_abs += float(e_err.abs().sum())
        self.f_sq += float((f_err**2).sum())
        self.f_abs += float(f_err.abs().sum())
        self.n_systems += e_err.numel()
        self.n_components += f_err.numel()

    def metrics(self) -> dict[str, float]:
        ns, nc = max(self.n_systems, 1), max(self.n_components, 1)
        return {
            "energy_rmse_mev_per_atom": 1000.0 * (self.e_sq / ns) ** 0.5,
            "energy_mae_mev_per_atom": 1000.0 * self.e_abs / ns,
            "energy_mean_error_mev_per_atom": 1000.0 * self.e_sum / ns,
            "force_rmse_mev_per_angstrom": 1000.0 * (self.f_sq / nc) ** 0.5,
            "force_mae_mev_per_angstrom": 1000.0 * self.f_abs / nc,
        }


def config_type_of(atoms: Atoms) -> str:
    """The ``config_type`` an extxyz frame carries (``"(none)"`` without one)."""
    return str(atoms.info.get("config_type", "(none)"))


def errors_by_group(potential, frames: Sequence[Atoms],
                    group_of: Callable[[Atoms], str] = config_type_of) -> tuple[dict, dict[str, dict]]:
    """Errors of ``potential`` (a batched potential) on labelled ``frames``: the metrics of
    :class:`ErrorAccumulator` over all frames, and per group (sorted by name, each with
    ``n_frames``). One model call per frame, so frames of any size and cell mix freely.
    """
    from bsct.potentials.protocol import AtomsBatch
    from bsct.train.data import labels_of

    total, groups = ErrorAccumulator(), {}
    for atoms in frames:
        energy_ev, forces = labels_of(atoms)
        pred = potential(AtomsBatch.from_atoms([atoms]))
        args = (pred.energy_ev.detach().double(), pred.forces_ev_per_angstrom.detach().double(),
                torch.tensor([energy_ev], dtype=torch.float64), torch.as_tensor(forces, dtype=torch.float64),
                torch.tensor([len(atoms)]))
        total.add(*args)
        groups.setdefault(group_of(atoms), ErrorAccumulator()).add(*args)
    return total.metrics(), {name: {**g.metrics(), "n_frames": g.n_systems} for name, g in sorted(groups.items())}
