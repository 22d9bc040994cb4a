"""NequIP-framework models (NequIP, Allegro) through the ``nequip:PATH`` SPEC family.

The models are trained here, tiny, by ``nequip-train`` (tests/zoo_models.py). Only the optional
package is skipped when absent (``pytest.importorskip("nequip")``, the ``zoo`` extra); the
missing-package message is tested without it.
"""

import sys

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk

from bsct.data import ci_path
from bsct.data.io import read_structures
from bsct.potentials import AtomsBatch
from bsct.registry import load_potential
from bsct.runs import BadInput
from bsct.testing import check_potential


def _cu_frames():
    """Two periodic ci Cu test frames and a free Cu4 cluster (no cell)."""
    cluster = Atoms("Cu4", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.4, 0.2], [1.2, 1.1, 2.1]], pbc=False)
    return read_structures(ci_path("cu", "test"))[:2] + [cluster]


def test_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "nequip", None)  # import nequip -> ImportError
    with pytest.raises(BadInput, match=r"pip install 'bsct\[zoo\]'"):
        load_potential("nequip:/no/such/model.ckpt")


def test_spec_equals_nequips_own_ase_calculator():
    pytest.importorskip("nequip")
    from nequip.integrations.ase import NequIPCalculator
    from zoo_models import assert_equals_calculator, tiny_nequip

    path = tiny_nequip("nequip")[-1]
    before = torch.get_default_dtype()
    potential = load_potential(f"nequip:{path}")
    assert potential.cutoff_angstrom == 4.5 and potential.supported_elements == {"Cu"}
    frames = _cu_frames()
    batch = AtomsBatch.from_atoms(frames)
    out = potential(batch, compute_stress=True)
    assert torch.get_default_dtype() == before  # loading and calling nequip leave the process as it was
    torch.set_default_dtype(torch.float64)  # the dtype nequip's own set-up leaves (our adapter pins it per call)
    try:
        calc = NequIPCalculator._from_saved_model(str(path), chemical_species_to_atom_type_map=True)
        assert_equals_calculator(out, batch, frames, calc, stress_atol=1e-8, periodic_stress_only=True)
    finally:
        torch.set_default_dtype(before)


@pytest.mark.parametrize("model", ["nequip", pytest.param("allegro", marks=pytest.mark.slow)])
def test_conformance_batched_invariant_and_conservative(model):
    """Batch == one by one, translation/rotation invariance and F = -dE/dx by finite differences."""
    pytest.importorskip("nequip")
    from zoo_models import tiny_nequip

    potential = load_potential(f"nequip:{tiny_nequip(model)[-1]}")
    report = check_potential(potential, _cu_frames(), energy_atol_ev=1e-8, force_atol_ev_per_angstrom=1e-8,
                             fd_atol_ev_per_angstrom=1e-5)
    assert report["batch_vs_single_energy_ev"] < 1e-8


def test_elements_the_model_was_not_trained_on_are_refused():
    pytest.importorskip("nequip")
    from zoo_models import tiny_nequip

    potential = load_potential(f"nequip:{tiny_nequip('nequip')[-1]}")
    water = AtomsBatch.from_atoms([Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])])
    with pytest.raises(ValueError, match="trained on Cu only; it cannot evaluate H, O"):
        potential(water)


def test_float32_evaluation_of_the_same_weights():
    pytest.importorskip("nequip")
    from zoo_models import tiny_nequip

    path = tiny_nequip("nequip")[-1]
    cu = bulk("Cu", "fcc", a=3.6, cubic=True)
    cu.rattle(0.05, seed=1)
    batch = AtomsBatch.from_atoms([cu])
    e64 = load_potential(f"nequip:{path}")(batch)
    p32 = load_potential(f"nequip:{path}[dtype=float32]")
    assert next(p32.model.parameters()).dtype == torch.float32
    e32 = p32(batch)
    assert 0 < abs(float(e64.energy_ev[0] - e32.energy_ev[0])) < 1e-3
    np.testing.assert_allclose(e32.forces_ev_per_angstrom.numpy(), e64.forces_ev_per_angstrom.numpy(), atol=1e-4)


def test_a_model_file_spec_is_identified_by_its_content(tmp_path):
    """Resuming a run checks the model: a retrained file at the same path is another potential."""
    from bsct.registry import potential_identity

    path = tmp_path / "model.ckpt"
    path.write_bytes(b"weights one")
    first = potential_identity(f"nequip:{path}")
    path.write_bytes(b"weights two")
    second = potential_identity(f"nequip:{path}")
    assert first["spec"] == second["spec"] == f"nequip:{path}" and first["sha256"] != second["sha256"]
    assert "sha256" not in potential_identity("chgnet:0.3.0")
