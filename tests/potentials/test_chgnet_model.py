"""A CHGNet trained from scratch by chgnet (tests/zoo_models.py) through the ``chgnet:PATH`` SPEC.

Only the optional package is skipped when absent (``pytest.importorskip("chgnet")``, the ``models``
extra). CHGNet runs in float32, so the tolerances are float32's.
"""

import pytest
import torch
from ase import Atoms

from bsct.data import ci_path
from bsct.data.io import read_structures
from bsct.potentials import AtomsBatch
from bsct.registry import load_potential
from bsct.testing import check_potential


def _cu_frames():
    """Two periodic ci Cu test frames and a free Cu4 cluster (boxed by the adapter)."""
    cluster = Atoms("Cu4", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.4, 0.2], [1.2, 1.1, 2.1]], pbc=False)
    return read_structures(ci_path("cu", "test"))[:2] + [cluster]


def test_spec_equals_chgnets_own_ase_calculator():
    pytest.importorskip("chgnet")
    from chgnet.model.dynamics import CHGNetCalculator
    from zoo_models import assert_equals_calculator, tiny_chgnet

    from chgnet.model import CHGNet

    path = tiny_chgnet()[-1]
    potential = load_potential(f"chgnet:{path}")
    assert potential.cutoff_angstrom == 4.5 and potential.supported_elements == {29}
    frames = _cu_frames()[:2]
    batch = AtomsBatch.from_atoms(frames)
    out = potential(batch, compute_stress=True)
    calc = CHGNetCalculator(CHGNet.from_file(str(path)), use_device="cpu")  # chgnet's own reading of the file
    assert_equals_calculator(out, batch, frames, calc, stress_atol=1e-7)
    f64 = load_potential(f"chgnet:{path}[dtype=float64]")  # the SPEC's options reach a model file too
    assert f64.dtype == torch.float64 and f64(batch).energy_ev.dtype == torch.float64


def test_conformance_batched_invariant_and_conservative():
    """Batch == one by one, translation/rotation/permutation invariance, F = -dE/dx (float32 steps)."""
    pytest.importorskip("chgnet")
    from zoo_models import tiny_chgnet

    potential = load_potential(f"chgnet:{tiny_chgnet()[-1]}")
    report = check_potential(potential, _cu_frames(), energy_atol_ev=1e-4, force_atol_ev_per_angstrom=1e-4,
                             fd_step_angstrom=1e-3, fd_atol_ev_per_angstrom=2e-3)
    assert report["batch_vs_single_energy_ev"] < 1e-4


def test_points_along_training_are_different_models_and_other_elements_are_refused():
    pytest.importorskip("chgnet")
    from zoo_models import tiny_chgnet

    first, last = (load_potential(f"chgnet:{p}") for p in tiny_chgnet())
    batch = AtomsBatch.from_atoms(_cu_frames()[:1])
    assert float(first(batch).energy_ev[0]) != float(last(batch).energy_ev[0])
    water = AtomsBatch.from_atoms([Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])])
    with pytest.raises(ValueError, match="fitted on Cu only; it cannot evaluate H, O"):
        last(water)
