"""The batched protocol, both ASE adapters and the conformance check on every built-in."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.emt import EMT

from bsct.potentials import (
    AtomsBatch,
    CalculatorPotential,
    PotentialOutput,
    TorchCalculator,
)
from bsct.potentials.pair import LennardJones, Morse, PlantedArtifact
from bsct.registry import load_potential
from bsct.testing import check_potential


def cu_cluster():
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    atoms.rattle(0.05, seed=3)
    return atoms


def test_batch_round_trip_keeps_structures():
    structures = [molecule("H2O"), cu_cluster()]
    batch = AtomsBatch.from_atoms(structures)
    assert batch.n_systems == 2 and batch.n_atoms == 7
    assert batch.n_atoms_per_system.tolist() == [3, 4]
    back = batch.to_atoms()
    for a, b in zip(structures, back):
        np.testing.assert_allclose(a.positions, b.positions)
        assert (a.pbc == b.pbc).all()
    sub = batch.select([1])
    assert sub.n_systems == 1 and sub.system_idx.tolist() == [0] * 4


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(system_idx=[1, 0]), "sorted"),
        (dict(system_idx=[0, 5]), "0..n_systems-1"),
        (dict(positions_angstrom=np.zeros((2, 2))), "positions"),
    ],
)
def test_batch_rejects_malformed_arrays(bad, match):
    args = dict(positions_angstrom=np.zeros((2, 3)), atomic_numbers=[1, 1], system_idx=[0, 1],
                cell_angstrom=np.zeros((2, 3, 3)), pbc=np.zeros((2, 3), bool))
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        AtomsBatch.from_arrays(**args)


@pytest.mark.parametrize("spec", ["morse", "lj[sigma_angstrom=2.3,epsilon_ev=0.3,cutoff_angstrom=5.0]",
                                  "planted[kind=force_step]", "emt"])
def test_builtins_pass_conformance_on_molecule_and_crystal(spec):
    potential = load_potential(spec)
    structures = [Atoms("Cu3", positions=[[0, 0, 0], [2.4, 0.1, 0], [1.1, 2.2, 0.3]]), cu_cluster()]
    report = check_potential(potential, structures)
    assert report["finite_difference_forces"] < 1e-3


def test_stillinger_weber_passes_conformance():
    si = bulk("Si", "diamond", a=5.43, cubic=True)
    si.rattle(0.05, seed=1)
    check_potential(load_potential("sw-si"), [si], n_fd_components=3)


def test_conformance_catches_forces_that_are_not_gradients():
    wrong = PlantedArtifact("nonconservative", 0.5, 2.45)
    wrong.conservative = True  # lie about it: the finite-difference check must notice
    with pytest.raises(AssertionError, match="-dE/dx"):
        check_potential(wrong, [Atoms("Cu2", positions=[[0, 0, 0], [2.45, 0, 0]])], n_fd_components=6, seed=1)


def test_conformance_catches_a_potential_that_mutates_its_input():
    class Mutating(Morse):
        def forward(self, batch, compute_stress=False):
            batch.positions_angstrom.add_(0.1)
            return super().forward(batch, compute_stress)

    with pytest.raises(AssertionError, match="modified its input"):
        check_potential(Mutating(), [cu_cluster()])


class Violating(Morse):
    """Morse plus a small conservative extra energy that breaks one symmetry (forces by autograd)."""

    def __init__(self, breaks: str):
        super().__init__()
        self.breaks = breaks

    def extra_energy_ev(self, pos: torch.Tensor, batch: AtomsBatch) -> torch.Tensor:  # (n_systems,)
        sys_idx, n = batch.system_idx, batch.n_systems
        counts = torch.bincount(sys_idx, minlength=n).to(pos.dtype)
        centroid = pos.new_zeros(n, 3).index_add(0, sys_idx, pos) / counts[:, None]
        spread = ((pos - centroid[sys_idx]) ** 2).sum(-1)  # translation and rotation invariant
        if self.breaks == "translation":
            per_atom = pos[:, 0]  # depends on where the structure sits
        elif self.breaks == "permutation":
            first = torch.cumsum(counts, 0) - counts
            index = torch.arange(len(pos), device=pos.device) - first[sys_idx].long()
            per_atom = index * spread  # depends on the atoms' order
        elif self.breaks == "periodic image":
            per_atom = spread  # moving an atom by a lattice vector changes it
        else:  # "batch vs single": depends on how many systems share the call
            per_atom = spread * n
        return 0.01 * pos.new_zeros(n).index_add(0, sys_idx, per_atom)

    def forward(self, batch, compute_stress=False):
        out = super().forward(batch)
        pos = batch.positions_angstrom.detach().clone().requires_grad_(True)
        extra = self.extra_energy_ev(pos, batch)
        (grad,) = torch.autograd.grad(extra.sum(), pos)
        return PotentialOutput(out.energy_ev + extra.detach(), out.forces_ev_per_angstrom - grad)


@pytest.mark.parametrize("breaks", ["translation", "permutation", "periodic image", "batch vs single"])
def test_conformance_catches_each_broken_invariance(breaks):
    cell = bulk("Cu", "fcc", a=3.61, cubic=True)
    cell.rattle(0.05, seed=2)
    structures = [cell, cu_cluster()]
    check_potential(Morse(), structures)  # the same structures pass without the extra term
    where = "" if breaks == "batch vs single" else r"structure \d: "  # the failure names the structure
    with pytest.raises(AssertionError, match=where + breaks):
        check_potential(Violating(breaks), structures)


def test_torch_potential_as_ase_calculator_matches_batched_and_numerical_stress():
    from ase.calculators.fd import calculate_numerical_stress

    atoms = cu_cluster()
    morse = Morse()
    atoms.calc = TorchCalculator(morse)
    out = morse(AtomsBatch.from_atoms([atoms]))
    assert atoms.get_potential_energy() == pytest.approx(float(out.energy_ev[0]), abs=1e-10)
    np.testing.assert_allclose(atoms.get_forces(), out.forces_ev_per_angstrom.numpy(), atol=1e-10)
    np.testing.assert_allclose(atoms.get_stress(), calculate_numerical_stress(atoms), atol=1e-6)


def test_ase_calculator_behind_batched_interface_matches_plain_ase():
    structures = [cu_cluster(), Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])]
    out = CalculatorPotential(EMT)(AtomsBatch.from_atoms(structures))
    for k, atoms in enumerate(structures):
        atoms.calc = EMT()
        assert float(out.energy_ev[k]) == pytest.approx(atoms.get_potential_energy(), abs=1e-12)


def test_shifted_lj_has_a_force_step_and_the_switched_one_does_not():
    r = torch.tensor([4.999999, 5.000001], dtype=torch.float64, requires_grad=True)
    for lj, expect_step in [(LennardJones(0.3, 2.3, 5.0), True), (LennardJones(0.3, 2.3, 5.0, switch_on_angstrom=4.0), False)]:
        phi = lj.cut_pair_energy_ev(r)
        (grad,) = torch.autograd.grad(phi.sum(), r)
        assert abs(float((phi[0] - phi[1]).detach())) < 1e-6  # energy continuous in both
        assert (abs(float(grad[0] - grad[1])) > 1e-3) == expect_step


def test_registry_resolves_module_factory_and_reports_bad_specs():
    pot = load_potential("bsct.potentials.pair:Morse")
    assert isinstance(pot, Morse)
    with pytest.raises(ValueError, match="unknown model"):
        load_potential("no-such-model")
    with pytest.raises(ValueError, match="cannot import"):
        load_potential("no_such_module_xyz:factory")
    with pytest.raises(ValueError, match="key=value"):
        load_potential("morse[oops]")
    with pytest.raises(TypeError):
        load_potential(object())


def test_assert_smooth_gate_passes_smooth_and_names_the_artifact_otherwise():
    from bsct.testing import assert_smooth

    dimer = [Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])]
    assert assert_smooth("morse", dimer).score == 0
    with pytest.raises(AssertionError, match=r"energy_jump at r = 3\.\d+"):
        assert_smooth("planted[kind=energy_step,size=0.01,r_star_angstrom=3.4]", dimer, max_score=0.1)
