"""Pretrained universal MLIPs whose weights ship in their wheels, behind the batched protocol."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from bsct.potentials import AtomsBatch
from bsct.registry import load_potential


@pytest.mark.parametrize("spec, atoms", [
    ("chgnet[ase=True]", bulk("Cu", "fcc", a=3.61, cubic=True)),  # the ASE path; native: test_native_batched.py
    pytest.param("sevennet-0[ase=True]", bulk("Si", "diamond", a=5.43), marks=pytest.mark.slow),  # SevenNet loads fast below
])
def test_pretrained_models_load_offline_and_match_their_own_calculator(spec, atoms):
    potential = load_potential(spec)
    rattled = atoms.copy()
    rattled.rattle(0.03, seed=2)
    out = potential(AtomsBatch.from_atoms([atoms, rattled]))
    assert np.isfinite(out.energy_ev.numpy()).all()
    e_per_atom = float(out.energy_ev[0]) / len(atoms)
    assert -6.0 < e_per_atom < -3.0  # cohesive-energy scale of Cu and Si in these models
    rattled.calc = potential._get_calculator()
    np.testing.assert_allclose(out.forces_ev_per_angstrom.numpy()[len(atoms):], rattled.get_forces(), atol=1e-4)
    assert np.abs(out.forces_ev_per_angstrom.numpy()[: len(atoms)]).max() < 0.05  # perfect crystal: no net force


def test_chgnet_takes_molecules_in_a_vacuum_box():
    potential = load_potential("chgnet")
    out = potential(AtomsBatch.from_atoms([Atoms("Cu2", positions=[[0, 0, 0], [2.3, 0, 0]])]))
    f = out.forces_ev_per_angstrom.numpy()
    assert np.isfinite(f).all() and np.allclose(f[0], -f[1], atol=1e-4)


@pytest.mark.parametrize("spec, name", [("chgnet:0.3.0", "CHGNet 0.3.0"), ("chgnet:0.2.0", "CHGNet 0.2.0"),
                                        ("sevennet:7net-0", "SevenNet-0"), ("xtb:GFN2-xTB", "GFN2-xTB")])
def test_versioned_specs_load_the_named_model(spec, name):
    potential = load_potential(spec)
    assert potential.name == name
    out = potential(AtomsBatch.from_atoms([Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.75]])]))
    assert np.isfinite(out.energy_ev.numpy()).all()


def test_chgnet_versions_are_different_weights():
    h2 = AtomsBatch.from_atoms([Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.75]])])
    e3 = float(load_potential("chgnet:0.3.0")(h2).energy_ev[0])
    e2 = float(load_potential("chgnet:0.2.0")(h2).energy_ev[0])
    assert abs(e3 - e2) > 1e-3


def test_unknown_family_version_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot import"):
        load_potential("nosuchfamily:1.0")


def test_xtb_scf_settings_reach_the_calculator():
    potential = load_potential("xtb:GFN2-xTB[max_iterations=7,electronic_temperature_k=900.0]")
    calc = potential._get_calculator()
    assert calc.parameters["max_iterations"] == 7 and calc.parameters["electronic_temperature"] == 900.0
