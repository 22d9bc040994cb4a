"""Torch pair potentials: smooth references and their deliberately broken twins.

E = 1/2 Σ_{i≠j} φ(r_ij) over all pairs within the cutoff (periodic images included);
forces and stress by autograd, so every potential here is conservative unless it says not.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bsct.potentials.neighbors import neighbor_pairs
from bsct.potentials.protocol import AtomsBatch, PotentialOutput, forces_and_stress_from_energy


def smoothstep_switch(r: torch.Tensor, r_on: float, r_off: float) -> torch.Tensor:
    """1 below ``r_on``, 0 above ``r_off``, quintic in between: value, slope and curvature continuous (C2).

    s(x) = 1 - (10x^3 - 15x^4 + 6x^5), x = (r - r_on)/(r_off - r_on) clipped to [0, 1].
    """
    x = ((r - r_on) / (r_off - r_on)).clamp(0.0, 1.0)
    return 1.0 - x**3 * (10.0 - 15.0 * x + 6.0 * x**2)


class PairPotential(nn.Module):
    """Base class: subclasses define ``pair_energy_ev(r_angstrom)``; the rest is shared.

    Args:
        cutoff_angstrom: pairs beyond it are ignored.
        switch_on_angstrom: if given, φ is multiplied by a C2 switch from here to the cutoff
            (smooth); if None, φ is shifted so it is 0 at the cutoff (continuous energy, but the
            force jumps there, as in ASE's LennardJones with smooth=False).
    """

    conservative = True
    #: one pair form for every species: any element is accepted (see bsct.data.validate)
    supported_elements = None

    def __init__(self, cutoff_angstrom: float, switch_on_angstrom: float | None = None):
        super().__init__()
        if switch_on_angstrom is not None and not 0 < switch_on_angstrom < cutoff_angstrom:
            raise ValueError("need 0 < switch_on_angstrom < cutoff_angstrom")
        self.cutoff_angstrom = float(cutoff_angstrom)
        self.switch_on_angstrom = switch_on_angstrom

    @property
    def interaction_range_angstrom(self) -> float:
        """Atoms farther apart never share an energy term: a pair form's range is its cutoff
        (sizes crystal scan cells, :mod:`bsct.scan.cells`)."""
        return self.cutoff_angstrom

    def pair_energy_ev(self, r_angstrom: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def cut_pair_energy_ev(self, r_angstrom: torch.Tensor) -> torch.Tensor:
        """φ with the cutoff treatment applied (zero at and beyond the cutoff)."""
        phi = self.pair_energy_ev(r_angstrom)
        if self.switch_on_angstrom is None:
            rc = torch.full_like(r_angstrom, self.cutoff_angstrom)
            phi = phi - self.pair_energy_ev(rc)
        else:
            phi = phi * smoothstep_switch(r_angstrom, self.switch_on_angstrom, self.cutoff_angstrom)
        return torch.where(r_angstrom < self.cutoff_angstrom, phi, torch.zeros_like(phi))

    def energy_ev(self, batch: AtomsBatch) -> torch.Tensor:
        """(n_systems,) total energy."""
        pairs = neighbor_pairs(batch, self.cutoff_angstrom)
        r = torch.linalg.norm(pairs.vectors_angstrom(batch), dim=1)
        phi = 0.5 * self.cut_pair_energy_ev(r)
        energy = torch.zeros(batch.n_systems, dtype=r.dtype, device=r.device)
        return energy.index_add(0, batch.system_idx[pairs.i_idx], phi)

    def forward(self, batch: AtomsBatch, compute_stress: bool = False) -> PotentialOutput:
        return forces_and_stress_from_energy(self.energy_ev, batch, compute_stress)


class Morse(PairPotential):
    """φ(r) = D [(1 - e^{-a (r - r0)})^2 - 1]; defaults roughly a Cu-Cu bond.

    With the default C2 switch (``switch_on_angstrom`` = cutoff - 1.5 Å) this is the smooth
    reference: every detector must stay quiet on it.
    """

    def __init__(
        self,
        depth_ev: float = 0.35,
        alpha_per_angstrom: float = 1.4,
        r0_angstrom: float = 2.5,
        cutoff_angstrom: float = 6.0,
        switch_on_angstrom: float | None = -1.0,
    ):
        if switch_on_angstrom is not None and switch_on_angstrom < 0:
            switch_on_angstrom = cutoff_angstrom - 1.5
        super().__init__(cutoff_angstrom, switch_on_angstrom)
        self.depth_ev = depth_ev
        self.alpha_per_angstrom = alpha_per_angstrom
        self.r0_angstrom = r0_angstrom

    def pair_energy_ev(self, r_angstrom):
        x = torch.exp(-self.alpha_per_angstrom * (r_angstrom - self.r0_angstrom))
        return self.depth_ev * ((1.0 - x) ** 2 - 1.0)


class LennardJones(PairPotential):
    """φ(r) = 4ε[(σ/r)^12 - (σ/r)^6]; by default shifted at the cutoff (force step there)."""

    def __init__(
        self,
        epsilon_ev: float = 0.0104,
        sigma_angstrom: float = 3.4,
        cutoff_angstrom: float = 8.5,
        switch_on_angstrom: float | None = None,
    ):
        super().__init__(cutoff_angstrom, switch_on_angstrom)
        self.epsilon_ev = epsilon_ev
        self.sigma_angstrom = sigma_angstrom

    def pair_energy_ev(self, r_angstrom):
        s6 = (self.sigma_angstrom / r_angstrom) ** 6
        return 4.0 * self.epsilon_ev * (s6 * s6 - s6)


def step(r: torch.Tensor, r_star: float) -> torch.Tensor:
    """Heaviside H(r - r*) as a float tensor (its autograd derivative is 0, which is the point)."""
    return (r >= r_star).to(r.dtype)


class PlantedArtifact(Morse):
    """Smooth Morse plus one artifact of a chosen kind, size and place, for testing detectors.

    Kinds (g(r) is added to φ(r); ``size`` has the unit given):
        energy_step       g = size·H(r - r*)                  size in eV: E jumps, F does not see it (C0)
        force_step        g = size·x·e^(-x/0.5 Å)·H(x)       size in eV/Å: E has a kink, F jumps (C1)
        curvature_step    g = size/2·x²·e^(-x/0.3 Å)·H(x)    size in eV/Å²: F has a kink, E'' jumps (C2)
        spurious_well     g = -size·exp(-((r - r*)/w)²)        size in eV: a well in the tail, w = width
        noise             g = size·Σ_k sin(2π r/λ_k + k)·window  size in eV: high-frequency wiggles near r*
        nonconservative   F_extra = size·exp(-((r - r*)/w)²)   size in eV/Å: a pair force with no energy
    with x = r - r*. The exponential tails keep each artifact local, so it does not also tilt the
    dissociation tail (which would add sign flips of its own).
    """

    KINDS = ("energy_step", "force_step", "curvature_step", "spurious_well", "noise", "nonconservative")

    def __init__(
        self,
        kind: str,
        size: float,
        r_star_angstrom: float,
        width_angstrom: float = 0.1,
        **morse_kwargs,
    ):
        if kind not in self.KINDS:
            raise ValueError(f"unknown artifact kind {kind!r}; choose from {self.KINDS}")
        super().__init__(**morse_kwargs)
        self.kind = kind
        self.size = float(size)
        self.r_star_angstrom = float(r_star_angstrom)
        self.width_angstrom = float(width_angstrom)
        self.conservative = kind != "nonconservative"

    def artifact_energy_ev(self, r_angstrom: torch.Tensor) -> torch.Tensor:
        """g(r), the planted term (see the class docstring)."""
        d = r_angstrom - self.r_star_angstrom
        if self.kind == "energy_step":
            return self.size * step(r_angstrom, self.r_star_angstrom)
        if self.kind == "force_step":
            return self.size * d * torch.exp(-d.clamp_min(0) / 0.5) * step(r_angstrom, self.r_star_angstrom)
        if self.kind == "curvature_step":
            return 0.5 * self.size * d**2 * torch.exp(-d.clamp_min(0) / 0.3) * step(r_angstrom, self.r_star_angstrom)
        if self.kind == "spurious_well":
            return -self.size * torch.exp(-((d / self.width_angstrom) ** 2))
        if self.kind == "noise":
            window = torch.exp(-((d / (5 * self.width_angstrom)) ** 2))
            wiggle = sum(torch.sin(2 * math.pi * r_angstrom / lam + k) for k, lam in enumerate((0.031, 0.047, 0.073)))
            return self.size * wiggle / 3.0 * window
        return torch.zeros_like(r_angstrom)

    def cut_pair_energy_ev(self, r_angstrom):
        # The artifact fades out with the same C2 switch as the Morse part, so the cutoff adds
        # no artifact of its own; place r* below the switch to see the artifact at full size.
        r_on = self.switch_on_angstrom or self.cutoff_angstrom - 1.5
        fade = smoothstep_switch(r_angstrom, r_on, self.cutoff_angstrom)
        return super().cut_pair_energy_ev(r_angstrom) + self.artifact_energy_ev(r_angstrom) * fade

    def forward(self, batch: AtomsBatch, compute_stress: bool = False) -> PotentialOutput:
        out = super().forward(batch, compute_stress)
        if self.kind != "nonconservative":
            return out
        pairs = neighbor_pairs(batch, self.cutoff_angstrom)
        vec = pairs.vectors_angstrom(batch).detach()
        r = torch.linalg.norm(vec, dim=1, keepdim=True)
        magnitude = self.size * torch.exp(-(((r - self.r_star_angstrom) / self.width_angstrom) ** 2))
        # Push i away from j (a repulsive bump); j gets the opposite push from the (j, i) pair.
        extra = torch.zeros_like(out.forces_ev_per_angstrom).index_add(0, pairs.i_idx, -magnitude * vec / r)
        return PotentialOutput(out.energy_ev, out.forces_ev_per_angstrom + extra, out.stress_ev_per_angstrom3)
