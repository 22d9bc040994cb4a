"""Which neighbours each atom attends to, and with what (log) weight.

Three graphs share one candidate set, all directed pairs (i -> j) closer than r_cut
(:func:`bsct.potentials.neighbors.neighbor_pairs`, periodic images included):

``knn`` (hard k-NN, the baseline)
    j is kept iff its integer distance rank around i is < k (rank 0 = nearest; ties broken
    by pair order). Log weight 0. The kept set changes abruptly when the k-th and (k+1)-th
    neighbours swap order or one crosses r_cut, so E jumps there.

``diffknn`` (differentiable k-NN, after EScAIP)
    soft rank        rho_ij = sum_{l != j} c(d_il) * sigmoid((d_ij - d_il) / s)
    soft maximum     m_ij   = tau * logsumexp(rho_ij / k, rho_ji / k, d_ij / r_cut) / tau)
    fade (log space) g_ij   = -x^3 / (1 - x),   x = max(0, (m_ij - m_on) / (1 - m_on))
    The edge exists while m_ij < 1; ``g`` is added to the attention logits, so the edge's
    attention weight carries a factor exp(g) that goes to zero (with all derivatives) as
    m_ij -> 1. Using rho_ji as well makes the relation mutual. c(d) = exp(g(d / r_cut)) is the
    same fade applied to distance, so a candidate l entering the r_cut sphere changes the soft
    ranks continuously (EScAIP counts every candidate with weight 1, which leaves a tiny step).
    Every ingredient is a smooth function of the distances, so E is continuous when two
    neighbours swap order or one enters or leaves.

``radius`` (radius graph with a smooth envelope)
    m_ij = d_ij / r_cut, same fade.

Numerics: edges are dropped once x >= ``X_DROP`` = 0.98, where exp(g) = exp(-47) ~ 4e-21 — far
below float64 resolution of any energy — so the gradient of g (which grows like (1 - x)^-2) never
overflows, even in float32 double backward.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from bsct.potentials.neighbors import NeighborPairs, neighbor_pairs
from bsct.potentials.protocol import AtomsBatch

X_DROP = 0.98


def log_fade(x: torch.Tensor) -> torch.Tensor:
    """g(x) = -x^3 / (1 - x) for x in [0, X_DROP], 0 below 0 (C2 at 0); shape kept.

    exp(g) is the fade factor: 1 for x <= 0, ~0.78 at x = 0.5, ~0.08 at 0.8, ~4e-21 at 0.98.
    """
    xc = x.clamp(0.0, X_DROP)
    return -(xc**3) / (1.0 - xc)


@dataclass
class Edges:
    """Directed edges i -> j that the attention runs over, sorted by ``center_idx``.

    Attributes:
        center_idx: (n_edges,) int64 atom i (the one attending).
        neighbor_idx: (n_edges,) int64 atom j.
        vectors_angstrom: (n_edges, 3) r_j - r_i with periodic image, differentiable.
        d_angstrom: (n_edges,) |r_j - r_i|.
        log_weight: (n_edges,) added to attention logits (0 for hard k-NN, g_ij otherwise).
    """

    center_idx: torch.Tensor
    neighbor_idx: torch.Tensor
    vectors_angstrom: torch.Tensor
    d_angstrom: torch.Tensor
    log_weight: torch.Tensor

    def subset(self, keep: torch.Tensor) -> "Edges":
        """The edges where the boolean ``keep`` is True (one nonzero, then five gathers)."""
        idx = keep.nonzero().squeeze(1)
        return Edges(
            self.center_idx[idx], self.neighbor_idx[idx], self.vectors_angstrom[idx],
            self.d_angstrom[idx], self.log_weight[idx],
        )


def hard_ranks(center_idx: torch.Tensor, d_angstrom: torch.Tensor, n_atoms: int) -> torch.Tensor:
    """(n_edges,) int64 rank of each edge's distance among its center's edges (0 = nearest).

    Edges must be sorted by center. One stable sort along the rows of a (n_atoms, width) table of
    distances (padding +inf, after every real edge), so ties keep pair order, as a global
    (center, distance) sort would. ``topk`` would not: its order among ties is unspecified.
    """
    counts = torch.bincount(center_idx, minlength=n_atoms)  # edges per center
    center, slot, width = _padded_slots(counts)
    table = torch.full((n_atoms, width), torch.inf, dtype=d_angstrom.dtype, device=d_angstrom.device)
    order = torch.argsort(table.index_put((center, slot), d_angstrom.detach()), dim=1, stable=True)
    position = torch.arange(width, device=order.device).expand(n_atoms, width)
    return torch.empty_like(order).scatter_(1, order, position)[center, slot]


PAIR_BLOCK = 1 << 22  # (padded) edge pairs per soft-rank block: ~100 MB of temporaries in float64


def _padded_slots(counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(center, slot, width) of edges sorted by center: edge e sits at row center[e], column slot[e]
    of a (n_centers, width) table, width = the largest count."""
    n_edges = int(counts.sum())
    starts = torch.cumsum(counts, 0) - counts
    center = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts, output_size=n_edges)
    slot = torch.arange(n_edges, device=counts.device) - starts[center]
    return center, slot, int(counts.max()) if len(counts) else 0


EXP_SAFE = {torch.float64: 300.0, torch.float32: 40.0}  # |exponent| whose exp and its sums stay finite


def _pair_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """S_el = sigmoid(x_e - x_l) for each row of x (n_centers, width) -> (n_centers, width, width).

    As a / (a_e + a_l) with a = exp(x - c), c the middle of the row's range: one exp per edge instead
    of one per pair (the same number to rounding). Rows whose range would overflow exp use sigmoid.
    """
    lo, hi = x.detach().amin(dim=1, keepdim=True), x.detach().amax(dim=1, keepdim=True)
    if float((hi - lo).max()) > 2.0 * EXP_SAFE.get(x.dtype, 5.0):
        return torch.sigmoid(x[:, :, None] - x[:, None, :])
    a = torch.exp(x - 0.5 * (lo + hi))
    return a[:, :, None] / (a[:, :, None] + a[:, None, :])


class _DenseSoftRank(torch.autograd.Function):
    """rho = S w - w / 2 with S_el = sigmoid(x_e - x_l), per row of (n_centers, width) tables x, w.

    The backward pass is written out (with s' = S (1 - S), symmetric, and S^T = 1 - S):
        d rho_e / d x_e = sum_l s'_el w_l,   d rho_e / d x_l = -s'_el w_l,   d rho_e / d w_l = S_el - [e = l] / 2,
    a few matrix-vector products over s' and S instead of autograd's chain of full-size
    (width x width) temporaries. Under ``create_graph`` (the force loss of training) the same
    formulas are evaluated from the inputs with autograd on, so second derivatives are exact.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s = _pair_sigmoid(x)  # (n_centers, width, width)
        ctx.save_for_backward(x, w, s)
        return (s * w[:, None, :]).sum(-1) - 0.5 * w

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, w, s = ctx.saved_tensors
        if torch.is_grad_enabled():  # double backward: recompute S as a function of x
            s = _pair_sigmoid(x)
        slope = torch.addcmul(s, s, s, value=-1.0)  # s (1 - s), symmetric
        slope_w, slope_g = torch.bmm(slope, torch.stack([w, grad], dim=-1)).unbind(-1)
        grad_x = grad * slope_w - w * slope_g
        grad_w = (s * grad[:, :, None]).sum(1) - 0.5 * grad
        return grad_x, grad_w


def _soft_ranks_block(d_angstrom: torch.Tensor, count_weight: torch.Tensor, counts: torch.Tensor,
                      scale_angstrom: float) -> torch.Tensor:
    """Soft ranks of a contiguous run of whole centers; ``counts`` are their edge counts.

    Dense per center: each center's edges fill one row of a zero-padded (n_centers, width) table,
    S = sigmoid((d_e - d_l) / s) is one (n_centers, width, width) tensor and rho = S @ w - w / 2
    (the l = e term is sigmoid(0) w_e = w_e / 2; padding has w = 0), see :class:`_DenseSoftRank`.
    Batched dense ops instead of gathering and scattering every (e, l) pair: the same sums,
    several times faster.
    """
    center, slot, width = _padded_slots(counts)
    table = d_angstrom.new_zeros((len(counts), width))
    x = table.index_put((center, slot), d_angstrom / scale_angstrom)  # (n_centers, width)
    w = table.index_put((center, slot), count_weight)
    return _DenseSoftRank.apply(x, w)[center, slot]


def soft_ranks(
    center_idx: torch.Tensor,
    d_angstrom: torch.Tensor,
    count_weight: torch.Tensor,
    n_atoms: int,
    scale_angstrom: float,
    pair_block: int | None = None,
) -> torch.Tensor:
    """rho_e = sum over the other edges l of the same center of w_l * sigmoid((d_e - d_l) / s).

    All (e, l) pairs of edges that share a center are formed, padded per center to the largest
    count: ~n_i^2 pairs per atom, ~8,000 in liquid water at r_cut 6 Å, so a 20,000-atom scan call
    would hold ~10 GB. Above ``pair_block`` padded pairs (default :data:`PAIR_BLOCK`) the centers are
    taken in blocks, each recomputed in the backward pass (activation checkpointing), so memory
    stays at one block whatever the batch size; the values and derivatives are those of one block.
    Shapes: (n_edges,) each -> (n_edges,). Edges must be sorted by center.
    """
    pair_block = PAIR_BLOCK if pair_block is None else pair_block
    counts = torch.bincount(center_idx, minlength=n_atoms)  # edges per center
    if n_atoms * int(counts.max()) ** 2 <= pair_block:
        return _soft_ranks_block(d_angstrom, count_weight, counts, scale_angstrom)
    # contiguous runs of centers with <= pair_block padded pairs each (a lone larger center is its own run)
    count_list = counts.tolist()
    needs_grad = torch.is_grad_enabled() and (d_angstrom.requires_grad or count_weight.requires_grad)
    blocks, c_lo, e_lo = [], 0, 0
    while c_lo < n_atoms:
        c_hi, width, e_hi = c_lo + 1, count_list[c_lo], e_lo + count_list[c_lo]
        while c_hi < n_atoms and (c_hi + 1 - c_lo) * max(width, count_list[c_hi]) ** 2 <= pair_block:
            width = max(width, count_list[c_hi])
            e_hi += count_list[c_hi]
            c_hi += 1
        args = (d_angstrom[e_lo:e_hi], count_weight[e_lo:e_hi], counts[c_lo:c_hi], scale_angstrom)
        if needs_grad:
            blocks.append(checkpoint(_soft_ranks_block, *args, use_reentrant=False))
        else:
            blocks.append(_soft_ranks_block(*args))
        c_lo, e_lo = c_hi, e_hi
    return torch.cat(blocks)


def reverse_edge_index(pairs_i: torch.Tensor, pairs_j: torch.Tensor, shift_idx: torch.Tensor, n_atoms: int) -> torch.Tensor:
    """(n_edges,) index of the edge j -> i (shift -S) for each edge i -> j (shift S)."""
    span = int(shift_idx.abs().max()) if len(shift_idx) else 0
    base = 2 * span + 1

    def key(i, j, s):
        s_code = ((s[:, 0] + span) * base + (s[:, 1] + span)) * base + (s[:, 2] + span)
        return (i * n_atoms + j) * base**3 + s_code

    forward_key = key(pairs_i, pairs_j, shift_idx)
    order = torch.argsort(forward_key)
    sorted_key = forward_key[order]
    rev_key = key(pairs_j, pairs_i, -shift_idx)
    pos = torch.searchsorted(sorted_key, rev_key).clamp_max(len(sorted_key) - 1)
    if len(sorted_key) and not bool((sorted_key[pos] == rev_key).all()):
        raise RuntimeError("neighbour list is not symmetric: some pair lacks its reverse")
    return order[pos]


class Neighborhood(nn.Module):
    """Builds :class:`Edges` for a batch from the candidate pairs within r_cut.

    No learnable parameters; the settings are those of :class:`bsct.model.config.ModelConfig`.
    """

    def __init__(
        self,
        graph: str,
        r_cut_angstrom: float,
        k_neighbors: int,
        soft_rank_scale_angstrom: float = 0.2,
        softmax_temperature: float = 0.1,
        envelope_onset: float = 0.75,
    ):
        super().__init__()
        self.graph = graph
        self.r_cut_angstrom = float(r_cut_angstrom)
        self.k_neighbors = int(k_neighbors)
        self.soft_rank_scale_angstrom = float(soft_rank_scale_angstrom)
        self.softmax_temperature = float(softmax_temperature)
        self.envelope_onset = float(envelope_onset)

    def _x(self, m: torch.Tensor) -> torch.Tensor:
        return (m - self.envelope_onset) / (1.0 - self.envelope_onset)

    def forward(self, batch: AtomsBatch, pairs: NeighborPairs | None = None) -> Edges:
        if pairs is None:
            pairs = neighbor_pairs(batch, self.r_cut_angstrom)
        n_atoms = batch.n_atoms
        order = torch.argsort(pairs.i_idx, stable=True)
        i_idx, j_idx, shift_idx = pairs.i_idx[order], pairs.j_idx[order], pairs.shift_idx[order]
        sorted_pairs = NeighborPairs(i_idx, j_idx, shift_idx)
        vec = sorted_pairs.vectors_angstrom(batch)  # (n_edges, 3)
        d = torch.linalg.vector_norm(vec, dim=-1)  # (n_edges,)
        edges = Edges(i_idx, j_idx, vec, d, torch.zeros_like(d))
        if len(d) == 0:
            return edges
        if self.graph == "knn":
            keep = hard_ranks(i_idx, d, n_atoms) < self.k_neighbors
            return edges.subset(keep)
        if self.graph == "radius":
            x = self._x(d / self.r_cut_angstrom)
        elif self.graph == "diffknn":
            x_count = self._x(d / self.r_cut_angstrom)
            count_weight = torch.exp(log_fade(x_count)) * (x_count < X_DROP)
            rho = soft_ranks(i_idx, d, count_weight, n_atoms, self.soft_rank_scale_angstrom)
            rho_rev = rho[reverse_edge_index(i_idx, j_idx, shift_idx, n_atoms)]
            parts = torch.stack([rho / self.k_neighbors, rho_rev / self.k_neighbors, d / self.r_cut_angstrom], dim=-1)
            tau = self.softmax_temperature
            m = tau * torch.logsumexp(parts / tau, dim=-1)  # (n_edges,) soft max, >= each part
            x = self._x(m)
        else:
            raise ValueError(f"unknown graph {self.graph!r}")
        keep = x < X_DROP
        edges.log_weight = log_fade(x)
        return edges.subset(keep)
