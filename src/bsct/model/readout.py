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


class DirectForceReadout(nn.Module):
    """F_i = scale * sum_j s(h_i, h_j, phi(d_ij)) w_ij r_ij / d_ij  (eV/Å), a learned force per atom.

    s is a scalar MLP per edge and w_ij = exp(g_ij) the edge's fade weight, so forces rotate with
    the structure and fade with the graph, but they are not the gradient of the model's energy
    (no energy exists whose -gradient they are): energy is not conserved in MD, and BSCT's
    consistency detector sees f != -dE/dr along a scan.
    """

    def __init__(self, dim: int, n_rbf: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2 * dim + n_rbf, dim), nn.SiLU(), nn.Linear(dim, 1))

    def forward(self, h, center_idx, neighbor_idx, rbf, unit_vectors, log_weight, scale_ev) -> torch.Tensor:
        """(n_atoms, dim), edges (n_edges,), (n_edges, n_rbf), (n_edges, 3), (n_edges,) -> (n_atoms, 3)."""
        s = self.mlp(torch.cat([h[center_idx], h[neighbor_idx], rbf], dim=-1)).squeeze(-1) * torch.exp(log_weight)
        return scale_ev * h.new_zeros((h.shape[0], 3)).index_add(0, center_idx, s[:, None] * unit_vectors)
