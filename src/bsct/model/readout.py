"""Per-atom energy readout and per-element reference energies."""

from __future__ import annotations

import torch
from torch import nn


class AtomicEnergyReadout(nn.Module):
    """e_i = scale * MLP(LayerNorm(h_i)) + E_ref[Z_i]  (eV).

    ``reference_energy_ev`` (n_elements,) and ``energy_scale_ev`` () are buffers set from the
    training data (least-squares per-element energies, force RMS), so the MLP works in units of
    order one and the bulk of the total energy comes from the reference energies.
    """

    def __init__(self, dim: int, n_elements: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, 1))
        self.register_buffer("reference_energy_ev", torch.zeros(n_elements))
        self.register_buffer("energy_scale_ev", torch.tensor(1.0))

    def forward(self, h: torch.Tensor, element_idx: torch.Tensor) -> torch.Tensor:
        """(n_atoms, dim), (n_atoms,) -> (n_atoms,) atomic energies in eV."""
        return self.energy_scale_ev * self.mlp(h).squeeze(-1) + self.reference_energy_ev[element_idx]
