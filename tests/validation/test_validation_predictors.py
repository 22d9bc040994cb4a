"""The cost-matched short NVE run: its atom-evaluation budget, its value, and the counting wrapper."""

from __future__ import annotations

import numpy as np
import torch

from bsct.potentials.protocol import AtomsBatch
from bsct.validation.predictors import CountingPotential, short_nve_steps, short_nve_value


def test_the_budget_buys_equilibration_then_nve():
    # 4 replicas on 32- and 31-atom starts: 126 atoms per step; 25,380 atoms = 201 evaluations:
    # 1 of the start + 100 equilibration steps + 100 NVE steps
    assert short_nve_steps(25_380, [32, 31, 32, 31], 100, 5_000) == (100, 100)
    # capped at the ground truth's NVE length
    assert short_nve_steps(10_000_000, [32, 31, 32, 31], 100, 5_000) == (100, 5_000)
    # a budget smaller than the equilibration still runs one NVE step
    assert short_nve_steps(1_000, [32, 31, 32, 31], 100, 5_000) == (100, 1)


def _rep(failed, drift=0.0, slope=0.0):
    return {"failed": failed, "max_abs_drift_mev_per_atom": drift, "drift_slope_mev_per_atom_per_ps": slope}


def test_the_short_nve_value_ranks_failures_above_any_drift():
    # 1 of 4 failed; the stable ones reach 1.0, 0.5 and 0.0 of the 2 meV/atom limit: 1/4 + (1/4) x 0.5
    value = short_nve_value([_rep(True), _rep(False, 2.0 * 0.999), _rep(False, 1.0), _rep(False, 0.0)], 2.0, None)
    assert np.isclose(value, 0.25 + 0.25 * (0.999 + 0.5 + 0.0) / 3)
    no_failure_max_drift = short_nve_value([_rep(False, 1.999)] * 4, 2.0, None)
    one_failure_no_drift = short_nve_value([_rep(True)] + [_rep(False, 0.0)] * 3, 2.0, None)
    assert no_failure_max_drift < one_failure_no_drift
    # the slope counts only when tested (a long enough NVE): then the larger ratio wins
    assert np.isclose(short_nve_value([_rep(False, 0.2, 0.4)] * 4, 2.0, 0.5), 0.25 * 0.8)
    assert short_nve_value([_rep(True)] * 4, 2.0, 0.5) == 1.0


class _Sum:
    cutoff_angstrom = 3.0
    conservative = True
    supported_elements = None

    def __call__(self, batch):
        from bsct.potentials.protocol import PotentialOutput

        return PotentialOutput(torch.zeros(batch.n_systems, dtype=torch.float64),
                               torch.zeros_like(batch.positions_angstrom))


def test_the_counting_wrapper_counts_frames_and_atoms_and_forwards():
    from ase.build import bulk

    pot = CountingPotential(_Sum(), "sum")
    frames = [bulk("Cu", "fcc", a=3.6, cubic=True), bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))]
    pot(AtomsBatch.from_atoms(frames))
    pot(AtomsBatch.from_atoms(frames[:1]))
    assert pot.counts == {"calls": 2, "frames": 3, "atoms": 4 + 8 + 4}
    assert pot.cutoff_angstrom == 3.0 and pot.conservative and pot.name == "sum"
