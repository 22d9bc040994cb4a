"""The shared batched evaluator: batch equals single, failures named and contained, chunk sizes, progress."""

import numpy as np
import pytest
import torch
from ase import Atoms

from bsct.potentials import AtomsBatch, PotentialOutput
from bsct.potentials.evaluate import NON_FINITE, Configurations, chunks, evaluate
from bsct.potentials.pair import Morse

DIMER = Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])


class Picky(Morse):
    """Morse that counts calls and their sizes; raises on frames whose first atom has x == ``raise_x``,
    returns NaN energy where it is ``nan_x`` and an inf force where it is ``inf_x``."""

    def __init__(self, raise_x=(), nan_x=(), inf_x=()):
        super().__init__()
        self.raise_x, self.nan_x, self.inf_x = set(raise_x), set(nan_x), set(inf_x)
        self.atoms_per_call: list[int] = []

    def forward(self, batch, compute_stress=False):
        self.atoms_per_call.append(batch.n_atoms)
        first = batch.positions_angstrom[torch.searchsorted(batch.system_idx, torch.arange(batch.n_systems)), 0]
        first_x = [round(float(x), 6) for x in first]
        hit = sorted(set(first_x) & self.raise_x)
        if hit:
            raise RuntimeError(f"cannot do x={hit[0]}")
        out = super().forward(batch, compute_stress)
        energy, forces = out.energy_ev.clone(), out.forces_ev_per_angstrom.clone()
        for s, x in enumerate(first_x):
            if x in self.nan_x:
                energy[s] = float("nan")
            if x in self.inf_x:
                forces[torch.nonzero(batch.system_idx == s)[0, 0], 1] = float("inf")
        return PotentialOutput(energy, forces)


def scan(n=12) -> Configurations:
    """Dimer frames; frame k has its first atom at x = k/10 (which the Picky potential keys on)."""
    pos = np.zeros((n, 2, 3))
    pos[:, 0, 0] = np.arange(n) / 10
    pos[:, 1, 0] = pos[:, 0, 0] + np.linspace(2.0, 4.0, n)
    return Configurations(DIMER, pos)


def as_atoms(frames: Configurations) -> list[Atoms]:
    return [Atoms(frames.atoms.numbers, positions=p) for p in frames.positions_angstrom]


def test_a_batch_gives_what_each_frame_gives_alone():
    frames = scan()
    together = evaluate(Morse(), frames)
    assert together.n_model_calls == 1 and together.failures == {}
    for k in range(len(frames.positions_angstrom)):
        alone = evaluate(Morse(), as_atoms(frames)[k : k + 1])
        np.testing.assert_allclose(alone.energy_ev, together.energy_ev[k : k + 1], rtol=1e-12)
        np.testing.assert_allclose(alone.forces_ev_per_angstrom, together.frame_forces(k), rtol=1e-12, atol=1e-14)
    assert together.stacked_forces().shape == (12, 2, 3) and together.energy_ev.dtype == np.float64


def test_the_three_kinds_of_frames_give_the_same_numbers():
    frames = scan()
    ref = evaluate(Morse(), frames, max_atoms_per_call=6)
    from_atoms = evaluate(Morse(), as_atoms(frames), max_atoms_per_call=6)
    from_batch = evaluate(Morse(), AtomsBatch.from_atoms(as_atoms(frames)), max_atoms_per_call=6)
    for other in (from_atoms, from_batch):
        np.testing.assert_array_equal(other.energy_ev, ref.energy_ev)
        np.testing.assert_array_equal(other.forces_ev_per_angstrom, ref.forces_ev_per_angstrom)
        assert other.n_model_calls == ref.n_model_calls == 4


def test_a_raising_call_loses_only_the_failing_frames():
    pot = Picky(raise_x={0.3, 0.7})
    res = evaluate(pot, scan(), max_atoms_per_call=8)  # 4 frames per call: 0-3, 4-7, 8-11
    good = evaluate(Morse(), scan())
    assert res.failures == {3: "RuntimeError: cannot do x=0.3", 7: "RuntimeError: cannot do x=0.7"}
    assert np.isnan(res.energy_ev[[3, 7]]).all() and np.isnan(res.frame_forces(3)).all()
    keep = [k for k in range(12) if k not in (3, 7)]
    np.testing.assert_array_equal(res.energy_ev[keep], good.energy_ev[keep])
    np.testing.assert_array_equal(res.stacked_forces()[keep], good.stacked_forces()[keep])
    assert res.n_model_calls == 3 + 4 + 4  # two failed calls retried frame by frame
    assert pot.atoms_per_call == [8] + [2] * 4 + [8] + [2] * 4 + [8]


def test_without_retry_every_frame_of_a_failed_call_fails_with_its_message():
    pot = Picky(raise_x={0.3})
    res = evaluate(pot, scan(), max_atoms_per_call=8, retry_frames=False)
    assert res.failures == dict.fromkeys(range(4), "RuntimeError: cannot do x=0.3")
    assert res.n_model_calls == 3 and np.isfinite(res.energy_ev[4:]).all()


def test_a_single_frame_call_is_not_retried():
    pot = Picky(raise_x={0.1})
    res = evaluate(pot, scan(3), max_atoms_per_call=2)
    assert res.failures == {1: "RuntimeError: cannot do x=0.1"} and res.n_model_calls == 3


def test_non_finite_output_is_marked_failed_and_set_to_nan():
    pot = Picky(nan_x={0.2}, inf_x={0.5})
    res = evaluate(pot, scan())
    assert res.failures == {2: NON_FINITE, 5: NON_FINITE}
    assert np.isnan(res.energy_ev[[2, 5]]).all() and np.isnan(res.frame_forces(5)).all()
    assert np.isfinite(res.energy_ev[[0, 1, 3, 4, 6]]).all()
    raw = evaluate(pot, scan(), mark_non_finite=False)
    assert raw.failures == {} and np.isnan(raw.energy_ev[2]) and np.isfinite(raw.energy_ev[5])
    assert np.isinf(raw.frame_forces(5)).any() and np.isfinite(raw.frame_forces(2)).all()


def test_a_raised_failure_keeps_its_message_over_non_finite():
    res = evaluate(Picky(raise_x={0.2}, nan_x={0.4}), scan(), max_atoms_per_call=None)
    assert res.failures == {2: "RuntimeError: cannot do x=0.2", 4: NON_FINITE}


@pytest.mark.parametrize("max_atoms", [None, 2, 5, 8, 100])
def test_calls_respect_the_atom_limit_and_progress_sums_to_the_frames(max_atoms):
    pot = Picky()
    done: list[int] = []
    res = evaluate(pot, scan(), max_atoms_per_call=max_atoms, on_chunk=done.append)
    per_call = 12 if max_atoms is None else max(1, max_atoms // 2)
    assert pot.atoms_per_call == [2 * len(range(lo, min(lo + per_call, 12))) for lo in range(0, 12, per_call)]
    assert res.n_model_calls == len(pot.atoms_per_call) and sum(done) == 12


def test_frames_of_different_sizes_are_chunked_whole():
    assert chunks(np.array([3, 3, 2, 5, 1]), 6) == [(0, 2), (2, 3), (3, 5)]
    assert chunks(np.array([7, 2]), 6) == [(0, 1), (1, 2)]  # a frame larger than the limit goes alone
    assert chunks(np.array([1, 1]), None) == [(0, 2)] and chunks(np.array([], dtype=int), 4) == []
    mixed = [Atoms("Cu2", positions=[[0, 0, 0], [2.4, 0, 0]]), Atoms("Cu3", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0]])]
    res = evaluate(Morse(), mixed)
    assert list(res.atom_offsets) == [0, 2, 5] and res.frame_forces(1).shape == (3, 3)
    with pytest.raises(ValueError, match="differ in size"):
        res.stacked_forces()
