"""Element embedding: atomic number -> learned feature vector."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class ElementEmbedding(nn.Module):
    """Look up a learned vector per element.

    A buffer ``index_of_z`` (119,) maps atomic numbers to rows (-1 = unknown element), so the
    model refuses elements it was not built for instead of silently reusing a row.
    """

    def __init__(self, elements: Sequence[int], dim: int):
        super().__init__()
        self.elements = tuple(int(z) for z in elements)
        index = torch.full((119,), -1, dtype=torch.int64)
        index[list(self.elements)] = torch.arange(len(self.elements))
        self.register_buffer("index_of_z", index)
        self.table = nn.Embedding(len(self.elements), dim)

    def element_index(self, atomic_numbers: torch.Tensor) -> torch.Tensor:
        """(n_atoms,) row index of each atom's element; raises on unknown elements."""
        idx = self.index_of_z[atomic_numbers]
        if bool((idx < 0).any()):
            unknown = sorted(set(atomic_numbers[idx < 0].tolist()))
            raise ValueError(f"elements {unknown} are not in the model's element list {list(self.elements)}")
        return idx

    def forward(self, atomic_numbers: torch.Tensor) -> torch.Tensor:
        """(n_atoms,) int64 -> (n_atoms, dim)."""
        return self.table(self.element_index(atomic_numbers))
