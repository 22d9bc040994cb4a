"""bsct.testing.assert_smooth: a model that did not run never passes, whatever max_score allows."""

import pytest
import torch
from ase import Atoms
from faulty_models import Broken

from bsct.potentials import PotentialOutput
from bsct.potentials.pair import Morse
from bsct.testing import assert_smooth

DIMER = [Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])]


class NaNBeyond(Morse):
    """A Morse pair whose energy is NaN past 4 Å (a model that returns garbage on part of the scan)."""

    def forward(self, batch, compute_stress=False):
        out = super().forward(batch, compute_stress)
        pos = batch.positions_angstrom.reshape(batch.n_systems, 2, 3)
        far = (pos[:, 1] - pos[:, 0]).norm(dim=1) > 4.0
        return PotentialOutput(torch.where(far, torch.nan, out.energy_ev), out.forces_ev_per_angstrom, None)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_assert_smooth_fails_on_a_calculator_that_raises_at_every_point(version):
    with pytest.raises(AssertionError, match="failed evaluations") as err:
        assert_smooth(Broken(), DIMER, max_score=1e9, score_version=version, scan_range=_short())
    assert "cannot evaluate anything" in str(err.value)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_assert_smooth_fails_on_nan_points_even_when_the_rest_is_smooth(version):
    with pytest.raises(AssertionError, match="failed evaluations") as err:
        assert_smooth(NaNBeyond(), DIMER, max_score=1e9, score_version=version)
    assert "non-finite" in str(err.value)


def _short():
    from bsct.scan.geometry import ScanRange

    return ScanRange(n_points=30)
