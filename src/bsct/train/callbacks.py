"""BSCT in the loop: a smoothness score of the model every N epochs, recorded next to the loss.

Any ``score_fn(potential) -> float`` (lower = smoother) works. :func:`default_score_fn` uses the
BSCT engine (``bsct.scan.api.run_bsct``); :func:`energy_curve_roughness` is a quick stand-in for
tests and benchmarks.
"""

from __future__ import annotations

import copy
from typing import Callable, Sequence

import numpy as np
import torch
from ase import Atoms

from bsct.potentials.protocol import AtomsBatch


ScoreFn = Callable[[object], float]


def _nearest_pair(atoms: Atoms) -> tuple[int, int, np.ndarray]:
    """(i, j, r_ij vector) of the closest pair (minimum image for periodic cells)."""
    d = atoms.get_all_distances(mic=bool(atoms.pbc.any()))
    np.fill_diagonal(d, np.inf)
    i, j = np.unravel_index(np.argmin(d), d.shape)
    vec = atoms.get_distance(i, j, mic=bool(atoms.pbc.any()), vector=True)
    return int(i), int(j), np.asarray(vec)


def bond_scan_energies(
    potential,
    atoms: Atoms,
    n_points: int = 200,
    start_factor: float = 0.8,
    end_angstrom: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Move atom j of the nearest pair (i, j) along the bond axis; all points in one batched call.

    Returns (r_angstrom (n_points,), energy_ev (n_points,)). The scan ends at ``end_angstrom``,
    default the potential's cutoff + 1 Å (or 2.5 x the bond length when it has none).
    """
    i, j, vec = _nearest_pair(atoms)
    d0 = float(np.linalg.norm(vec))
    unit = vec / d0
    cutoff = getattr(potential, "cutoff_angstrom", None)
    end = end_angstrom or ((cutoff + 1.0) if cutoff else 2.5 * d0)
    r = np.linspace(start_factor * d0, end, n_points)
    frames = []
    for r_k in r:
        a = atoms.copy()
        a.calc = None
        pos = a.get_positions()
        pos[j] = pos[i] + unit * r_k
        a.set_positions(pos)
        frames.append(a)
    batch = AtomsBatch.from_atoms(frames, dtype=torch.float64)
    out = potential(batch)
    return r, out.energy_ev.detach().cpu().numpy().astype(np.float64)


def energy_curve_roughness(potential, structures: Sequence[Atoms], n_points: int = 200, max_structures: int = 3) -> float:
    """Mean over a few nearest-pair scans of sum_k |E_{k+1} - 2 E_k + E_{k-1}|  (eV).

    For a smooth curve this is ~ h * integral |E''| dr and shrinks with the step h; a step of
    size J in E adds ~2J and a kink adds its slope change times h, so jumps dominate. Lower =
    smoother; a quick stand-in for the BSCT score, not the score itself.
    """
    values = []
    for atoms in list(structures)[:max_structures]:
        _, energy = bond_scan_energies(potential, atoms, n_points)
        values.append(float(np.abs(np.diff(energy, 2)).sum()))
    return float(np.mean(values))


def default_score_fn(structures: Sequence[Atoms], **bsct_options) -> ScoreFn:
    """``potential -> float``: the BSCT score of ``bsct.scan.api.run_bsct`` on ``structures``.

    In the loop the scan is kept cheap by default (one bond per bond type, no progress bar);
    ``bsct_options`` are passed to ``run_bsct`` and override that.
    """
    from bsct.scan.api import run_bsct

    structures = list(structures)

    def score(potential) -> float:
        if isinstance(potential, torch.nn.Module) and getattr(potential, "dtype", None) == torch.float32:
            # score the same function in float64: float32 rounding noise would read as roughness
            potential = copy.deepcopy(potential).to(torch.float64)
        options = {"progress": False, "max_per_type": 1, **bsct_options}
        return float(run_bsct(potential, structures, **options).score)

    return score
