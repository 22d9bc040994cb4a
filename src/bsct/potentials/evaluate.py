"""Many frames through a batched potential: whole frames per call, a failed call retried frame by frame.

The one evaluation loop of scans, FSD, make-scans and MD. Frames come as

- :class:`Configurations`: many position sets of one structure (a bond scan),
- a list of ASE ``Atoms`` (sizes may differ),
- an :class:`~bsct.potentials.protocol.AtomsBatch` (its systems are the frames).

Consecutive frames go into one model call while their atoms fit ``max_atoms_per_call`` (at
least one frame per call). A call that raises is retried frame by frame, so the failing frames
are named and the others kept; non-finite outputs are marked failed too. The results are
float64 numpy with NaN at every failed frame, whatever dtype or device the model uses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from bsct.potentials.protocol import AtomsBatch, BatchedPotential

log = logging.getLogger(__name__)

# Atoms per model call when frames are evaluated in batches. Memory grows with the call: a `full`
# size +diffknn model on water peaks at 11.7 GiB at 20,000 atoms per call and 1.4 GiB at 2,000
# (benchmarks/bench_scan_memory.py, docs/benchmarks.md).
MAX_ATOMS_PER_CALL = 2_000

#: the failure message of a frame whose energy or forces came back NaN or inf
NON_FINITE = "non-finite energy or forces"


@dataclass(frozen=True)
class Configurations:
    """Frames of one structure that differ only in positions: ``positions_angstrom`` (n_frames, n_atoms, 3)."""

    atoms: Atoms
    positions_angstrom: np.ndarray

    def batch(self, lo: int, hi: int) -> AtomsBatch:
        """Frames ``lo:hi`` as one batch (numbers, cell and pbc of ``atoms``)."""
        positions = self.positions_angstrom[lo:hi]
        k, n_atoms, _ = positions.shape
        return AtomsBatch.from_arrays(
            positions.reshape(-1, 3),
            np.tile(self.atoms.numbers, k),
            np.repeat(np.arange(k), n_atoms),
            np.repeat(self.atoms.cell.array[None], k, axis=0),
            np.repeat(self.atoms.pbc[None], k, axis=0),
        )


Frames = Configurations | Sequence[Atoms] | AtomsBatch


@dataclass
class Evaluation:
    """What :func:`evaluate` returns.

    Attributes:
        energy_ev: (n_frames,) NaN at failed frames.
        forces_ev_per_angstrom: (n_atoms of all frames, 3), frame after frame; NaN at failed frames.
        atom_offsets: (n_frames + 1,) frame k's atoms are rows ``atom_offsets[k]:atom_offsets[k + 1]``.
        failures: {frame index: message}, sorted; ``"<ExceptionType>: <text>"`` for a call that
            raised, :data:`NON_FINITE` for non-finite output.
        n_model_calls: calls made, the frame-by-frame retries included.
    """

    energy_ev: np.ndarray
    forces_ev_per_angstrom: np.ndarray
    atom_offsets: np.ndarray
    failures: dict[int, str]
    n_model_calls: int

    def frame_forces(self, k: int) -> np.ndarray:
        """(n_atoms of frame k, 3)."""
        return self.forces_ev_per_angstrom[self.atom_offsets[k] : self.atom_offsets[k + 1]]

    def stacked_forces(self) -> np.ndarray:
        """(n_frames, n_atoms, 3) when every frame has the same number of atoms."""
        sizes = np.diff(self.atom_offsets)
        if len(sizes) and (sizes != sizes[0]).any():
            raise ValueError("frames differ in size; use frame_forces(k)")
        return self.forces_ev_per_angstrom.reshape(len(sizes), int(sizes[0]) if len(sizes) else 0, 3)


def call_potential(potential: BatchedPotential, batch: AtomsBatch) -> tuple[np.ndarray, np.ndarray]:
    """Energies (n_systems,) and forces (n_atoms, 3) as float64 numpy, shapes checked."""
    out = potential(batch)
    energy = out.energy_ev.detach().cpu().double().numpy()
    forces = out.forces_ev_per_angstrom.detach().cpu().double().numpy()
    if energy.shape != (batch.n_systems,) or forces.shape != (batch.n_atoms, 3):
        raise ValueError(
            f"potential returned energy {energy.shape} and forces {forces.shape}; "
            f"expected ({batch.n_systems},) and ({batch.n_atoms}, 3)"
        )
    return energy, forces


def _sizes_and_batcher(frames: Frames) -> tuple[np.ndarray, Callable[[int, int], AtomsBatch]]:
    """Atoms per frame and a function building the batch of frames ``lo:hi``."""
    if isinstance(frames, Configurations):
        n_frames, n_atoms = frames.positions_angstrom.shape[:2]
        return np.full(n_frames, n_atoms, dtype=np.int64), frames.batch
    if isinstance(frames, AtomsBatch):
        n = frames.n_systems

        def select(lo: int, hi: int) -> AtomsBatch:
            return frames if (lo, hi) == (0, n) else frames.select(list(range(lo, hi)))

        return frames.n_atoms_per_system.cpu().numpy().astype(np.int64), select
    frames = list(frames)
    return np.array([len(a) for a in frames], dtype=np.int64), lambda lo, hi: AtomsBatch.from_atoms(frames[lo:hi])


def chunks(sizes: np.ndarray, max_atoms_per_call: int | None) -> list[tuple[int, int]]:
    """(lo, hi) frame ranges: consecutive frames while their atoms fit, at least one frame each."""
    if max_atoms_per_call is None:
        return [(0, len(sizes))] if len(sizes) else []
    out, lo = [], 0
    while lo < len(sizes):
        hi, n_atoms = lo, 0
        while hi < len(sizes) and (hi == lo or n_atoms + sizes[hi] <= max_atoms_per_call):
            n_atoms += sizes[hi]
            hi += 1
        out.append((lo, hi))
        lo = hi
    return out


def _message(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def evaluate(
    potential: BatchedPotential,
    frames: Frames,
    max_atoms_per_call: int | None = MAX_ATOMS_PER_CALL,
    *,
    retry_frames: bool = True,
    mark_non_finite: bool = True,
    on_chunk: Callable[[int], None] | None = None,
) -> Evaluation:
    """Energy and forces of every frame, at most ``max_atoms_per_call`` atoms per call (None: one call).

    A call of several frames that raises is retried frame by frame (``retry_frames``), so only
    the failing frames are lost; without retry every frame of that call fails with its message.
    ``mark_non_finite`` lists frames with NaN/inf output as failed and sets them to NaN (off for
    callers that inspect the raw values themselves). ``on_chunk(n_frames_done)`` after each call
    drives a progress bar.
    """
    sizes, batch_of = _sizes_and_batcher(frames)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    energy = np.full(len(sizes), np.nan)
    forces = np.full((int(offsets[-1]), 3), np.nan)
    failures: dict[int, str] = {}
    n_calls = 0

    def run(lo: int, hi: int) -> None:
        nonlocal n_calls
        n_calls += 1
        e, f = call_potential(potential, batch_of(lo, hi))
        energy[lo:hi], forces[offsets[lo] : offsets[hi]] = e, f

    for lo, hi in chunks(sizes, max_atoms_per_call):
        try:
            run(lo, hi)
        except Exception as exc:  # noqa: BLE001 - any model failure: find the failing frames, keep the others
            if retry_frames and hi - lo > 1:
                log.debug("frames %d-%d failed (%s); retrying frame by frame", lo, hi, exc)
                for k in range(lo, hi):
                    try:
                        run(k, k + 1)
                    except Exception as frame_exc:  # noqa: BLE001 - a failed frame is NaN
                        failures[k] = _message(frame_exc)
            else:
                failures.update(dict.fromkeys(range(lo, hi), _message(exc)))
        if on_chunk is not None:
            on_chunk(hi - lo)
    if mark_non_finite:
        frame_of_atom = np.repeat(np.arange(len(sizes)), sizes)
        bad_atoms = np.bincount(frame_of_atom, weights=~np.isfinite(forces).all(axis=1), minlength=len(sizes))
        bad = ~np.isfinite(energy) | (bad_atoms > 0)
        for k in np.flatnonzero(bad):
            failures.setdefault(int(k), NON_FINITE)
        energy[bad] = np.nan
        forces[np.repeat(bad, sizes)] = np.nan
    return Evaluation(energy, forces, offsets, dict(sorted(failures.items())), n_calls)
