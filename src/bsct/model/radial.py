"""Radial basis: Gaussian smearing of a distance, with the width as a multiplier (a buffer)."""

from __future__ import annotations

import torch
from torch import nn


class GaussianRadialBasis(nn.Module):
    """phi_k(d) = exp(-(d - mu_k)^2 / (2 sigma^2)),  mu_k = k * r_cut / (n - 1),  sigma = w * r_cut / (n - 1).

    ``w`` (``width_multiplier``) is the "radial smearing": w = 1 puts neighbouring Gaussians one
    standard deviation apart; broadened smearing (w = 2) overlaps them more, so the features
    (and the energy built on them) vary more slowly with distance. Centres and width are
    buffers; ``trainable=True`` makes them parameters instead.

    Shapes: (...,) distances in Å -> (..., n).
    """

    def __init__(self, r_cut_angstrom: float, n: int, width_multiplier: float = 1.0, trainable: bool = False):
        super().__init__()
        if n < 2:
            raise ValueError("need at least two radial basis functions")
        spacing_angstrom = r_cut_angstrom / (n - 1)
        centers = torch.linspace(0.0, r_cut_angstrom, n)
        width = torch.tensor(float(width_multiplier))
        spacing = torch.tensor(float(spacing_angstrom))
        if trainable:
            self.centers_angstrom = nn.Parameter(centers)
            self.width_multiplier = nn.Parameter(width)
        else:
            self.register_buffer("centers_angstrom", centers)
            self.register_buffer("width_multiplier", width)
        self.register_buffer("spacing_angstrom", spacing)

    @property
    def sigma_angstrom(self) -> torch.Tensor:
        return self.width_multiplier * self.spacing_angstrom

    def forward(self, d_angstrom: torch.Tensor) -> torch.Tensor:
        diff = d_angstrom[..., None] - self.centers_angstrom  # (..., n)
        return torch.exp(-0.5 * (diff / self.sigma_angstrom) ** 2)
