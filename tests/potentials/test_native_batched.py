"""CHGNet and SevenNet evaluated natively in batches equal their own ASE calculators."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule

from bsct.potentials import AtomsBatch
from bsct.potentials.evaluate import evaluate
from bsct.registry import load_potential
from bsct.runs import BadInput

pytest.importorskip("chgnet")
pytest.importorskip("sevenn")


def _structures() -> list[Atoms]:
    """A Cu fcc cell, a rattled Si cell, a bigger rattled Cu cell and a molecule: a batch mixing sizes."""
    cu = bulk("Cu", "fcc", a=3.61, cubic=True)
    si = bulk("Si", "diamond", a=5.43) * (2, 1, 1)
    si.rattle(0.05, seed=1)
    cu8 = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 1, 1)
    cu8.rattle(0.03, seed=2)
    return [cu, si, cu8, molecule("CH3OH")]


def _own_calculator(spec: str):
    if spec.startswith("chgnet"):
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator

        net = CHGNet.load(model_name="0.3.0", use_device="cpu", verbose=False)
        return CHGNetCalculator(net, use_device="cpu", on_isolated_atoms="ignore")
    from sevenn.calculator import SevenNetCalculator

    return SevenNetCalculator("7net-0", device="cpu")


@pytest.fixture(scope="module", params=["chgnet:0.3.0", "sevennet:7net-0"])
def models(request):
    """(spec, native float32, native float64, the package's own ASE calculator), loaded once."""
    torch.set_num_threads(1)
    spec = request.param
    return spec, load_potential(spec), load_potential(spec + "[dtype=float64]"), _own_calculator(spec)


def _by_calculator(calc, atoms: Atoms, boxed: bool) -> tuple[float, np.ndarray]:
    from bsct.potentials.ase_adapters import in_vacuum_box

    atoms = in_vacuum_box(atoms, 6.0, "CHGNet") if boxed else atoms.copy()
    atoms.calc = calc
    return atoms.get_potential_energy(), atoms.get_forces()


def test_batched_energies_and_forces_equal_the_package_calculator(models):
    spec, native, _, calc = models
    frames = _structures()
    out = native(AtomsBatch.from_atoms(frames))
    offsets = np.cumsum([0] + [len(a) for a in frames])
    for k, atoms in enumerate(frames):
        e_ref, f_ref = _by_calculator(calc, atoms, boxed=spec.startswith("chgnet"))
        assert abs(float(out.energy_ev[k]) - e_ref) <= 1e-6
        f = out.forces_ev_per_angstrom[offsets[k]:offsets[k + 1]].numpy()
        np.testing.assert_allclose(f, f_ref, rtol=0, atol=1e-5)


def test_periodic_stress_equals_the_package_calculator(models):
    spec, native, _, calc = models
    si = _structures()[1]
    out = native(AtomsBatch.from_atoms([si]), compute_stress=True)
    si.calc = calc
    np.testing.assert_allclose(out.stress_ev_per_angstrom3[0].numpy(), si.get_stress(voigt=False), rtol=0, atol=1e-6)


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_a_batch_equals_each_structure_alone(models, precision):
    _, native32, native64, _ = models
    native = native32 if precision == "float32" else native64
    frames = _structures()
    together = evaluate(native, frames, max_atoms_per_call=None)
    alone = evaluate(native, frames, max_atoms_per_call=1)
    assert together.n_model_calls == 1 and alone.n_model_calls == len(frames)
    np.testing.assert_allclose(together.energy_ev, alone.energy_ev, rtol=0, atol=1e-6)
    np.testing.assert_allclose(together.forces_ev_per_angstrom, alone.forces_ev_per_angstrom, rtol=0, atol=1e-5)


def test_grouping_structures_by_edges_changes_nothing(models, monkeypatch):
    _, native, _, _ = models
    frames = _structures()
    grouped = evaluate(native, frames, max_atoms_per_call=None)
    monkeypatch.setattr(native, "max_edges_per_call", 1)  # one structure per model call
    one_by_one = evaluate(native, frames, max_atoms_per_call=None)
    np.testing.assert_array_equal(grouped.energy_ev, one_by_one.energy_ev)
    np.testing.assert_allclose(grouped.forces_ev_per_angstrom, one_by_one.forces_ev_per_angstrom, rtol=0, atol=1e-5)


def test_float64_runs_the_same_weights(models):
    _, native32, native64, _ = models
    batch = AtomsBatch.from_atoms(_structures())
    e32, e64 = native32(batch).energy_ev.numpy(), native64(batch).energy_ev.numpy()
    np.testing.assert_allclose(e64, e32, rtol=0, atol=2e-4)  # float32 rounding of ~20-100 eV totals
    assert native64.dtype == torch.float64 and "float64" in native64.name


def test_forces_are_minus_the_energy_gradient_in_float64(models):
    _, _, native64, _ = models
    si = _structures()[1]
    h = 1e-4
    atom, axis = 3, 1
    energies = []
    for sign in (+1, -1):
        moved = si.copy()
        moved.positions[atom, axis] += sign * h
        energies.append(float(native64(AtomsBatch.from_atoms([moved])).energy_ev[0]))
    f = native64(AtomsBatch.from_atoms([si])).forces_ev_per_angstrom[atom, axis].item()
    assert abs(f) > 0.05  # rattled: a real force, not a symmetric zero
    assert f == pytest.approx(-(energies[0] - energies[1]) / (2 * h), abs=1e-5)


def test_the_ase_path_stays_reachable(models):
    spec, native, _, _ = models
    old = load_potential(spec + "[ase=True]")
    assert "(ASE)" in old.name and old.cutoff_angstrom == native.cutoff_angstrom
    batch = AtomsBatch.from_atoms(_structures()[:2])
    np.testing.assert_allclose(old(batch).energy_ev.numpy(), native(batch).energy_ev.numpy(), rtol=0, atol=1e-6)


def test_declared_elements_and_cutoffs():
    chgnet2 = load_potential("chgnet:0.2.0")
    assert chgnet2.cutoff_angstrom == 5.0 and 94 in chgnet2.supported_elements and 95 not in chgnet2.supported_elements
    assert load_potential("chgnet:r2scan").name == "CHGNet r2scan"


def test_multi_fidelity_sevennet_needs_its_modal():
    pbe = load_potential("sevennet:7net-mf-0[modal=pbe]")
    assert pbe.name == "SevenNet 7net-mf-0 [PBE]" and pbe.cutoff_angstrom == 5.0
    with pytest.raises(BadInput, match="modal=one of R2SCAN, PBE"):
        load_potential("sevennet:7net-mf-0")


def test_a_sevennet_name_not_in_the_wheel_is_refused_without_download():
    with pytest.raises(BadInput, match="weights shipped in the sevenn wheel"):
        load_potential("sevennet:7net-omat")
