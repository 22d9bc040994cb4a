"""Multi-head attention of each atom over its neighbours, with a temperature and a self "sink".

For atom i with neighbours j (edges from :class:`bsct.model.neighborhood.Neighborhood`)::

    q_i = W_q h_i                     k_ij, v_ij = W_kv [h_j, phi(d_ij)]
    l_ij = q_i . k_ij / (sqrt(d_head) * T) + g_ij          (g_ij: log fade of the edge, 0 for hard k-NN)
    l_ii = q_i . k_ii / (sqrt(d_head) * T)                 (k_ii, v_ii = W_kv [h_i, phi(0)]: the atom itself)
    alpha = softmax over {i} U N(i) of l                   out_i = sum alpha v

The self term is a sink: when every neighbour fades out (g -> -inf) the weight goes to the atom
itself instead of being renormalised onto the fading neighbours, so an atom whose last
neighbour leaves keeps a smooth, neighbour-free output. The temperature T > 1 flattens the
softmax and damps attention spikes (a small change in a logit moves the weights by 1/T as much).

Angular channels: u_ij = W_u [h_j, phi(d_ij)] (n_vec,) and, per head h and channel c,
``V_i^c = sum_j alpha_ij^h u_ij^c r_ij / d_ij`` (a vector); the block returns |V_i^c|^2, which is
rotation invariant but depends on bond angles (|V|^2 = sum_jl a_j a_l cos theta_jl).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class NeighborAttention(nn.Module):
    """Shapes: h (n_atoms, dim), edge features (n_edges, n_rbf) -> (n_atoms, dim), (n_atoms, n_vec)."""

    def __init__(
        self,
        dim: int,
        n_heads: int,
        n_rbf: int,
        n_vector_channels: int = 0,
        temperature: float = 1.0,
        learn_temperature: bool = False,
    ):
        super().__init__()
        self.dim, self.n_heads, self.d_head = dim, n_heads, dim // n_heads
        self.n_vec = n_vector_channels
        self.q = nn.Linear(dim, dim)
        self.kvu = nn.Linear(dim + n_rbf, 2 * dim + n_vector_channels)
        log_t = torch.full((n_heads,), math.log(temperature))
        if learn_temperature:
            self.log_temperature = nn.Parameter(log_t)
        else:
            self.register_buffer("log_temperature", log_t)

    @property
    def temperature(self) -> torch.Tensor:
        """(n_heads,) attention temperature T, kept >= 0.1 when learned."""
        return torch.exp(self.log_temperature).clamp_min(0.1)

    def forward(
        self,
        h: torch.Tensor,  # (n_atoms, dim)
        center_idx: torch.Tensor,  # (n_edges,)
        neighbor_idx: torch.Tensor,  # (n_edges,)
        rbf: torch.Tensor,  # (n_edges, n_rbf)
        rbf_self: torch.Tensor,  # (n_rbf,) phi(0)
        unit_vectors: torch.Tensor,  # (n_edges, 3)
        log_weight: torch.Tensor,  # (n_edges,)
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n_atoms, H, dh = h.shape[0], self.n_heads, self.d_head
        q = self.q(h).view(n_atoms, H, dh)
        # W_kvu [h_j, phi] = W_h h_j + W_r phi: the h part once per atom, gathered per edge (the
        # same linear map as on the concatenation, n_edges / n_atoms times fewer multiplications)
        w_h, w_r = self.kvu.weight[:, : self.dim], self.kvu.weight[:, self.dim :]
        kvu_atom = nn.functional.linear(h, w_h)  # (n_atoms, 2 dim + n_vec)
        kvu_edge = kvu_atom[neighbor_idx] + nn.functional.linear(rbf, w_r, self.kvu.bias)  # (n_edges, ...)
        kvu_self = kvu_atom + nn.functional.linear(rbf_self, w_r, self.kvu.bias)  # (n_atoms, ...)
        sizes = (self.dim, self.dim, self.n_vec)
        k_e, v_e, u = torch.split(kvu_edge, sizes, dim=-1)
        k_s, v_s, _ = torch.split(kvu_self, sizes, dim=-1)
        k_e, v_e, k_s, v_s = (x.reshape(-1, H, dh) for x in (k_e, v_e, k_s, v_s))

        scale = 1.0 / (math.sqrt(dh) * self.temperature)  # (H,)
        logit_e = (q[center_idx] * k_e).sum(-1) * scale + log_weight[:, None]  # (n_edges, H)
        logit_s = (q * k_s).sum(-1) * scale  # (n_atoms, H)

        # softmax over {self} U neighbours, stabilised by the per-atom max (a constant shift)
        top = logit_s.detach().clone()
        top = top.scatter_reduce(0, center_idx[:, None].expand(-1, H), logit_e.detach(), "amax", include_self=True)
        w_e = torch.exp(logit_e - top[center_idx])  # (n_edges, H)
        w_s = torch.exp(logit_s - top)  # (n_atoms, H)
        z = w_s.index_add(0, center_idx, w_e)  # (n_atoms, H)
        alpha_e = w_e / z[center_idx]
        alpha_s = w_s / z

        out = (alpha_s[..., None] * v_s).index_add(0, center_idx, alpha_e[..., None] * v_e)  # (n_atoms, H, dh)
        out = out.reshape(n_atoms, self.dim)
        if self.n_vec == 0:
            return out, out.new_zeros((n_atoms, 0))
        u = u.reshape(-1, H, self.n_vec // H)  # (n_edges, H, c)
        contrib = (alpha_e[..., None] * u)[..., None] * unit_vectors[:, None, None, :]  # (n_edges, H, c, 3)
        vec = torch.zeros((n_atoms,) + contrib.shape[1:], dtype=h.dtype, device=h.device).index_add(0, center_idx, contrib)
        return out, (vec**2).sum(-1).reshape(n_atoms, self.n_vec)
