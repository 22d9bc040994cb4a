"""The reference Transformer MLIP: attention over each atom's neighbourhood, E = sum of atomic energies.

Pipeline for a batch (flat atoms, see :class:`bsct.potentials.protocol.AtomsBatch`)::

    h_i^0 = Embed(Z_i)                                             (n_atoms, dim)
    edges = Neighborhood(batch)            hard k-NN / differentiable k-NN / radius graph
    for each block:
        a, |V|^2 = NeighborAttention(LN(h), edges, phi(d_ij))      phi: Gaussian radial basis
        h = h + W_o [a, |V|^2]
        h = h + MLP(LN(h))
    e_i = scale * MLP(LN(h_i)) + E_ref[Z_i]
    E_s = sum_{i in s} e_i;   F = -dE/dx (autograd);   sigma = (1/V) dE/d(strain)
    (force_head="direct": F_i read out from h and the edges instead; not conservative, no stress)

Rotation invariance: the layers carry no equivariance constraint, but every geometric input is a
rotation-invariant scalar — distances d_ij (radial basis, soft ranks, envelopes) and the
squared norms |V_i^c|^2 of attention-weighted sums of unit bond vectors — so E is exactly
invariant (to floating-point rounding), and forces rotate with the structure because they are
its gradient. Translation invariance: only differences r_j - r_i enter. Permutation invariance:
sums over neighbours and atoms. Periodic images: pairs come with their cell shifts, so the
choice of image for an atom's stored position does not matter.
"""

from __future__ import annotations

import torch
from torch import nn

from bsct.model.attention import NeighborAttention
from bsct.model.config import ModelConfig
from bsct.model.embedding import ElementEmbedding
from bsct.model.neighborhood import Neighborhood
from bsct.model.radial import GaussianRadialBasis
from bsct.model.readout import AtomicEnergyReadout, DirectForceReadout
from bsct.potentials.neighbors import NeighborPairs
from bsct.potentials.protocol import AtomsBatch, PotentialOutput, forces_and_stress_from_energy


class TransformerBlock(nn.Module):
    """Pre-LayerNorm attention block with a SiLU feed-forward; (n_atoms, dim) -> (n_atoms, dim)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.hidden_dim
        self.norm_attention = nn.LayerNorm(d)
        self.attention = NeighborAttention(
            d, cfg.n_heads, cfg.n_rbf, cfg.n_vector_channels, cfg.attention_temperature, cfg.learn_temperature
        )
        self.out = nn.Linear(d + cfg.n_vector_channels, d)
        self.norm_mlp = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, cfg.mlp_ratio * d), nn.SiLU(), nn.Linear(cfg.mlp_ratio * d, d))

    def forward(self, h, center_idx, neighbor_idx, rbf, rbf_self, unit_vectors, log_weight):
        a, v2 = self.attention(self.norm_attention(h), center_idx, neighbor_idx, rbf, rbf_self, unit_vectors, log_weight)
        h = h + self.out(torch.cat([a, v2], dim=-1))
        return h + self.mlp(self.norm_mlp(h))


class TransformerMLIP(nn.Module):
    """The model, and a batched potential (``model(batch, compute_stress) -> PotentialOutput``).

    Attributes:
        cutoff_angstrom: r_cut; no atom farther than this affects another's energy directly.
        conservative: True when forces are -dE/dx by autograd (``force_head="gradient"``).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.conservative = cfg.force_head == "gradient"
        self.cutoff_angstrom = cfg.r_cut_angstrom
        self.embedding = ElementEmbedding(cfg.elements, cfg.hidden_dim)
        self.radial = GaussianRadialBasis(cfg.r_cut_angstrom, cfg.n_rbf, cfg.rbf_width_multiplier)
        self.neighborhood = Neighborhood(
            cfg.graph, cfg.r_cut_angstrom, cfg.k_neighbors, cfg.soft_rank_scale_angstrom,
            cfg.softmax_temperature, cfg.envelope_onset,
        )
        # only built when on, so models without it keep their parameter set (and checkpoints)
        self.degree = nn.Linear(cfg.n_rbf, cfg.hidden_dim, bias=False) if cfg.degree_embedding else None
        self.blocks = nn.ModuleList([TransformerBlock(cfg) for _ in range(cfg.n_layers)])
        self.readout = AtomicEnergyReadout(cfg.hidden_dim, len(cfg.elements))
        self.force_readout = DirectForceReadout(cfg.hidden_dim, cfg.n_rbf) if cfg.force_head == "direct" else None
        self.to(getattr(torch, cfg.dtype))

    @property
    def dtype(self) -> torch.dtype:
        return self.readout.reference_energy_ev.dtype

    @property
    def supported_elements(self) -> tuple[int, ...]:
        """Atomic numbers the model was built for (its embedding rows), for input validation."""
        return self.config.elements

    def _cast(self, batch: AtomsBatch) -> AtomsBatch:
        """The batch in the model's dtype and on its device (a new batch; the input is not touched)."""
        device = self.readout.reference_energy_ev.device
        if batch.positions_angstrom.dtype == self.dtype and batch.positions_angstrom.device == device:
            return batch
        return AtomsBatch(
            batch.positions_angstrom.to(device, self.dtype), batch.atomic_numbers.to(device),
            batch.system_idx.to(device), batch.cell_angstrom.to(device, self.dtype), batch.pbc.to(device),
        )

    def atomic_energies(self, batch: AtomsBatch, pairs: NeighborPairs | None = None) -> torch.Tensor:
        """(n_atoms,) atomic energies e_i in eV (differentiable in positions and cell)."""
        return self._energies_and_forces(batch, pairs, direct_forces=False)[0]

    def _energies_and_forces(self, batch: AtomsBatch, pairs: NeighborPairs | None, direct_forces: bool):
        """Atomic energies (n_atoms,) and, with ``direct_forces``, the direct-force readout (n_atoms, 3)."""
        batch = self._cast(batch)
        element_idx = self.embedding.element_index(batch.atomic_numbers)
        h = self.embedding.table(element_idx)  # (n_atoms, dim)
        edges = self.neighborhood(batch, pairs)
        rbf = self.radial(edges.d_angstrom)  # (n_edges, n_rbf)
        rbf_self = self.radial(torch.zeros((), dtype=self.dtype, device=h.device))  # (n_rbf,)
        unit = edges.vectors_angstrom / edges.d_angstrom[:, None]  # (n_edges, 3)
        if self.degree is not None:  # what the neighbours add up to, which attention (an average) cannot see
            faded = torch.exp(edges.log_weight)[:, None] * rbf / self.config.k_neighbors  # (n_edges, n_rbf)
            h = h + self.degree(rbf.new_zeros(h.shape[0], rbf.shape[1]).index_add(0, edges.center_idx, faded))
        for block in self.blocks:
            h = block(h, edges.center_idx, edges.neighbor_idx, rbf, rbf_self, unit, edges.log_weight)
        forces = None
        if direct_forces:
            forces = self.force_readout(h, edges.center_idx, edges.neighbor_idx, rbf, unit, edges.log_weight,
                                        self.readout.energy_scale_ev)
        return self.readout(h, element_idx), forces

    def energy(self, batch: AtomsBatch, pairs: NeighborPairs | None = None) -> torch.Tensor:
        """(n_systems,) total energy in eV."""
        e_atom = self.atomic_energies(batch, pairs)
        return e_atom.new_zeros(batch.n_systems).index_add(0, batch.system_idx, e_atom)

    def forward(
        self,
        batch: AtomsBatch,
        compute_stress: bool = False,
        create_graph: bool = False,
        pairs: NeighborPairs | None = None,
    ) -> PotentialOutput:
        """Energy, forces = -dE/dx and (periodic cells, on request) stress.

        The model runs in its own dtype and on its own device; outputs come back in the batch's
        dtype and on its device (unless ``create_graph``, used in training, where they stay).
        """
        out_dtype, out_device = batch.positions_angstrom.dtype, batch.positions_angstrom.device
        if self.force_readout is not None:
            out = self._direct_forward(batch, pairs, create_graph)
        else:
            with torch.enable_grad():
                out = forces_and_stress_from_energy(
                    lambda b: self.energy(b, pairs), self._cast(batch), compute_stress, create_graph
                )
        if not create_graph and (out.energy_ev.dtype != out_dtype or out.energy_ev.device != out_device):
            stress = out.stress_ev_per_angstrom3
            out = PotentialOutput(
                out.energy_ev.to(out_device, out_dtype), out.forces_ev_per_angstrom.to(out_device, out_dtype),
                None if stress is None else stress.to(out_device, out_dtype),
            )
        return out

    def _direct_forward(self, batch: AtomsBatch, pairs: NeighborPairs | None, create_graph: bool) -> PotentialOutput:
        """Energy and the direct-force readout in one pass (no stress: there is no energy derivative)."""
        batch = self._cast(batch)
        with torch.set_grad_enabled(create_graph or torch.is_grad_enabled()):
            e_atom, forces = self._energies_and_forces(batch, pairs, direct_forces=True)
            energy = e_atom.new_zeros(batch.n_systems).index_add(0, batch.system_idx, e_atom)
        if not create_graph:
            energy, forces = energy.detach(), forces.detach()
        return PotentialOutput(energy, forces, None)

    def set_normalization(self, reference_energy_ev: torch.Tensor, energy_scale_ev: float) -> None:
        """Set per-element reference energies (n_elements,) in ``config.elements`` order and the scale."""
        ref = torch.as_tensor(reference_energy_ev, dtype=self.dtype, device=self.readout.reference_energy_ev.device)
        if ref.shape != self.readout.reference_energy_ev.shape:
            raise ValueError(f"need {len(self.config.elements)} reference energies, got {tuple(ref.shape)}")
        self.readout.reference_energy_ev.copy_(ref)
        self.readout.energy_scale_ev.fill_(float(energy_scale_ev))


def build_model(cfg: ModelConfig, seed: int | None = None) -> TransformerMLIP:
    """A freshly initialised model (deterministic when ``seed`` is given)."""
    if seed is not None:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return TransformerMLIP(cfg)
    return TransformerMLIP(cfg)
