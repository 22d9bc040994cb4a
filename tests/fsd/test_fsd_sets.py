"""`bsct make-scans`: scan geometry, the BSCT-SPICE layout, relabelling, resume, errors.

Expected values come from the definition (covalent radii, rigid motion, half the displacement
each side) or from the reference evaluated directly, never from the generator itself.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.data import covalent_radii
from ase.io import read, write

from bsct.data.bsct_spice import read_system, sample_root, system_dirs
from bsct.fsd.sets import (
    build_scan_system,
    choose_systems,
    generate_scans,
    label_frames,
    plan_scans,
    relabel_set,
)
from bsct.potentials.evaluate import call_potential
from bsct.potentials.protocol import AtomsBatch
from bsct.registry import load_potential
from bsct.scan.bonds import find_bonds

TOL_ANGSTROM = 1e-9


def _ethanol() -> Atoms:
    return molecule("CH3CH2OH")  # C C O H H H H H H


def _distances(positions: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.array([np.linalg.norm(positions[a] - positions[b]) for a, b in combinations(idx, 2)])


def _reference_labels(spec: str, atoms: Atoms) -> tuple[float, np.ndarray]:
    e, f = call_potential(load_potential(spec), AtomsBatch.from_atoms([atoms]))
    return float(e[0]), f


# ---------------------------------------------------------------------------------- geometry


def test_fragments_move_rigidly_half_each_side_and_bond_hits_the_grid():
    atoms = _ethanol()
    (plan,) = plan_scans([atoms], bond_types=["C-O"], per_type=1)
    system = build_scan_system(atoms, plan, n_points=25, seed=3)
    i, j = (int(x) for x in system.partition["bond_index"])
    labels = system.partition["labels"]
    # the hydroxyl side is O plus the H within 1.1 Å of it; everything else is the ethyl side
    o = next(k for k in (i, j) if atoms[k].symbol == "O")
    hydroxyl = {o} | {k for k in range(len(atoms)) if atoms[k].symbol == "H" and atoms.get_distance(o, k) < 1.1}
    assert {k for k in range(len(atoms)) if labels[k] == labels[o]} == hydroxyl

    r_sum = covalent_radii[6] + covalent_radii[8]
    grid = np.linspace(0.5 * r_sum, 2.0 * r_sum, 25)
    x0 = system.unperturbed.positions
    r0 = np.linalg.norm(x0[j] - x0[i])
    u = (x0[j] - x0[i]) / r0
    side0, side1 = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    other_bonds = [(b.i, b.j, b.r0_angstrom) for b in find_bonds(system.unperturbed) if {b.i, b.j} != {i, j}]
    assert len(other_bonds) == 7
    for r, x in zip(grid, system.positions_angstrom):
        assert abs(np.linalg.norm(x[j] - x[i]) - r) < TOL_ANGSTROM
        for side, sign in ((side0, -1.0), (side1, 1.0)):
            np.testing.assert_allclose(_distances(x, side), _distances(x0, side), atol=TOL_ANGSTROM, rtol=0)
            np.testing.assert_allclose(x[side] - x0[side], np.tile(sign * 0.5 * (r - r0) * u, (len(side), 1)),
                                       atol=TOL_ANGSTROM, rtol=0)
        for a, b, length in other_bonds:
            assert abs(np.linalg.norm(x[a] - x[b]) - length) < TOL_ANGSTROM


def test_rotation_text_is_the_rotation_applied():
    atoms = _ethanol()
    (plan,) = plan_scans([atoms], bond_types=["C-C"], per_type=1)
    system = build_scan_system(atoms, plan, n_points=10, seed=7)
    text = str(system.partition["rotation"])
    turned = atoms.copy()
    for part in text.split(","):  # ASE's own rotations, about fixed x, then y, then z
        turned.rotate(float(part[:-1]), part[-1], center="COP")
    np.testing.assert_allclose(system.unperturbed.positions, turned.positions, atol=TOL_ANGSTROM, rtol=0)
    assert not np.allclose(turned.positions, atoms.positions)


def test_ring_bonds_are_refused():
    benzene = molecule("C6H6")
    with pytest.raises(ValueError, match="C-C only inside rings"):
        plan_scans([benzene], bond_types=["C-C"])
    plans = plan_scans([benzene], bond_types=["C-H"], per_type=6)
    assert len(plans) == 6
    assert all(np.bincount(p.labels).tolist() == [11, 1] or np.bincount(p.labels).tolist() == [1, 11] for p in plans)


def test_a_bond_type_not_present_is_a_clear_error():
    with pytest.raises(ValueError, match=r"N-N.*not scannable.*scannable types: C-C, C-H, C-O, H-O"):
        plan_scans([_ethanol()], bond_types=["N-N"])


def test_a_cluster_keeps_its_other_molecules_with_the_larger_piece():
    dimer = molecule("H2O")
    other = molecule("H2O")
    other.translate([0.0, 0.0, 3.0])
    cluster = dimer + other
    plans = plan_scans([cluster], bond_types=["H-O"], per_type=4)
    assert len(plans) == 4
    for plan in plans:
        h = plan.bond.i if cluster[plan.bond.i].symbol == "H" else plan.bond.j
        assert np.sum(plan.labels == plan.labels[h]) == 1  # the H alone is pulled out


def test_periodic_two_atom_scan_keeps_the_cell_and_moves_two_atoms():
    si = bulk("Si", "diamond", a=5.43, cubic=True)  # 8 atoms; the 4.44 Å scan needs a 2x2x2 cell
    (plan,) = plan_scans([si], per_type=1)
    system = build_scan_system(si, plan, n_points=12)
    cell = system.unperturbed.cell.array
    np.testing.assert_allclose(cell, np.diag([10.86, 10.86, 10.86]), atol=1e-12)
    assert len(system.unperturbed) == 64
    i, j = (int(x) for x in system.partition["bond_index"])
    assert system.partition["labels"].tolist() == [1 if k in (i, j) else 0 for k in range(64)]
    r_sum = 2 * covalent_radii[14]
    grid = np.linspace(0.5 * r_sum, 2.0 * r_sum, 12)
    assert grid[-1] < 0.5 * 10.86
    x0 = system.unperturbed.positions
    for r, x in zip(grid, system.positions_angstrom):
        frame = system.unperturbed.copy()
        frame.positions = x
        assert abs(frame.get_distance(i, j, mic=True) - r) < TOL_ANGSTROM
        moved = np.flatnonzero(np.linalg.norm(x - x0, axis=1) > 0)
        assert set(moved.tolist()) <= {i, j}


def test_same_seed_same_set_other_seed_other_rotation():
    structures = [_ethanol(), molecule("CH3CH2NH2"), molecule("CH3COOH")]
    a = [build_scan_system(structures[p.structure_idx], p, 10, seed=1) for p in plan_scans(structures, seed=1)]
    b = [build_scan_system(structures[p.structure_idx], p, 10, seed=1) for p in plan_scans(structures, seed=1)]
    c = [build_scan_system(structures[p.structure_idx], p, 10, seed=2) for p in plan_scans(structures, seed=2)]
    assert [s.plan.label for s in a] == [s.plan.label for s in b]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.positions_angstrom, y.positions_angstrom)
        assert str(x.partition["rotation"]) == str(y.partition["rotation"])
    assert [str(s.partition["rotation"]) for s in a] != [str(s.partition["rotation"]) for s in c]


# ---------------------------------------------------------------------------------- written sets


def test_set_round_trips_and_scores_zero_against_itself(tmp_path):
    from bsct.fsd.run import run_fsd

    structures = [_ethanol(), molecule("CH3CH2NH2")]
    paths = generate_scans(structures, "emt", tmp_path / "set", bond_types=["C-C", "C-N"], per_type=1, n_points=16,
                           progress=False)
    assert [p.parent.name for p in paths] == ["C-C", "C-N"]
    assert system_dirs(tmp_path / "set") == sorted(paths)
    for path in paths:
        scan = read_system(path)
        with np.load(path / "partition.npz") as part:
            assert set(part.files) == {"bond", "bond_index", "labels", "perturb_range", "unit_vec", "rotation"}
            r_start, r_end, n = part["perturb_range"]
        assert n == 16 and len(scan.frames) == 16
        np.testing.assert_allclose(scan.r_angstrom, np.linspace(r_start, r_end, 16))
        i, j = scan.bond_index
        for r, frame in zip(scan.r_angstrom, scan.frames):
            assert abs(frame.get_distance(i, j) - r) < 1e-7  # stored with 8 decimals
        e, f = _reference_labels("emt", scan.frames[5])  # the labels belong to the stored frames
        assert e == pytest.approx(scan.energy_ref_ev[5], abs=1e-9)
        np.testing.assert_allclose(scan.forces_ref_ev_per_angstrom[5], f, atol=1e-8, rtol=0)
        assert scan.frames[0].info["dataset"] == "bsct"
        assert scan.smiles == structures[int(path.name[:4])].get_chemical_formula()
    result = run_fsd("emt", tmp_path / "set", plots=False, progress=False)
    for row in result["systems"].values():  # zero up to the 8 decimals extxyz keeps of the forces
        assert row["full_smoothness"] < 1e-6 and row["full_forces_mae"] < 1e-8


class _Counting:
    """EMT that counts its calls (to see what a resumed run recomputes)."""

    def __init__(self):
        self.inner = load_potential("emt")
        self.cutoff_angstrom, self.conservative, self.n_calls = self.inner.cutoff_angstrom, True, 0

    def __call__(self, batch, compute_stress=False):
        self.n_calls += 1
        return self.inner(batch, compute_stress)


def test_resume_skips_complete_systems_and_redoes_broken_ones(tmp_path):
    structures = [_ethanol()]
    counting = _Counting()
    paths = generate_scans(structures, counting, tmp_path, bond_types=["C-C", "C-O"], per_type=1, n_points=8,
                           progress=False)
    first = counting.n_calls
    assert first == 2
    generate_scans(structures, counting, tmp_path, bond_types=["C-C", "C-O"], per_type=1, n_points=8, progress=False)
    assert counting.n_calls == first
    (paths[0] / "atoms_3.xyz").unlink()
    generate_scans(structures, counting, tmp_path, bond_types=["C-C", "C-O"], per_type=1, n_points=8, progress=False)
    assert counting.n_calls == first + 1
    read_system(paths[0])
    assert not (tmp_path / ".partial").exists()


def test_relabel_keeps_geometry_and_partition(tmp_path):
    src = sample_root()
    (out,) = relabel_set(src, "emt", tmp_path, bond_types=["N-N"], progress=False)
    original = src / "N-N" / out.name
    assert (out / "partition.npz").read_bytes() == (original / "partition.npz").read_bytes()
    scan, ref = read_system(out), read_system(original)
    np.testing.assert_array_equal(scan.r_angstrom, ref.r_angstrom)
    for a, b in zip(scan.frames, ref.frames):
        np.testing.assert_array_equal(a.positions, b.positions)
        assert a.info["smiles"] == b.info["smiles"] and a.info["id"] == b.info["id"]
    e, f = _reference_labels("emt", scan.frames[40])
    assert scan.energy_ref_ev[40] == pytest.approx(e, abs=1e-9)
    np.testing.assert_allclose(scan.forces_ref_ev_per_angstrom[40], f, atol=1e-8, rtol=0)
    assert not np.allclose(scan.forces_ref_ev_per_angstrom, ref.forces_ref_ev_per_angstrom)
    unperturbed = read(out / "unperturbed.xyz")
    np.testing.assert_array_equal(unperturbed.positions, read(original / "unperturbed.xyz").positions)


def test_choice_of_systems_to_relabel_by_elements_and_per_type():
    chosen = choose_systems(sample_root(), elements=["H", "C", "N", "O"], per_type=1)
    assert [p.parent.name for p in chosen] == ["C-N", "C-O", "N-N", "N-O"]  # C-C holds F, the others S/P/Cl/Br


def test_a_frame_the_reference_fails_on_is_nan_and_the_others_are_kept():
    emt = load_potential("emt")

    class FailsWhenCompressed:
        cutoff_angstrom, conservative = None, True

        def __call__(self, batch, compute_stress=False):
            x = batch.positions_angstrom.detach().numpy()
            for s in range(batch.n_systems):
                pos = x[batch.system_idx.numpy() == s]
                if np.linalg.norm(pos[0] - pos[1]) < 0.9:
                    raise RuntimeError("SCF did not converge")
            return emt(batch, compute_stress)

    frames = [Atoms("H2", positions=[[0, 0, 0], [0, 0, d]]) for d in (0.6, 0.8, 1.0, 1.2)]
    energy, forces, errors = label_frames(FailsWhenCompressed(), frames)
    assert np.isnan(energy[:2]).all() and np.isnan(forces[:2]).all()
    assert np.isfinite(energy[2:]).all() and len(errors) == 2 and "SCF" in errors[0]


# ---------------------------------------------------------------------------------- command line and ci sets


def test_cli_writes_a_set_and_refuses_an_absent_bond_type(tmp_path, capsys):
    from bsct.cli import main

    data = tmp_path / "mols.extxyz"
    write(data, [_ethanol(), molecule("CH3CH2NH2")])
    assert main(["make-scans", "--data", str(data), "--reference", "emt", "--out", str(tmp_path / "set"),
                 "--bonds", "C-N", "--points", "10", "--no-progress"]) == 0
    assert "1/1 system(s)" in capsys.readouterr().out
    assert len(read_system(system_dirs(tmp_path / "set")[0]).frames) == 10
    assert main(["make-scans", "--data", str(data), "--reference", "emt", "--out", str(tmp_path / "x"),
                 "--bonds", "S-S", "--no-progress"]) == 2


def test_make_fsd_set_from_the_ci_silicon_data(tmp_path):
    from bsct.fsd.sets import make_fsd_set

    root = make_fsd_set("si", tmp_path, per_type=1, points=12)
    (path,) = system_dirs(root)
    scan = read_system(path)
    assert path.parent.name == "Si-Si" and scan.frames[0].pbc.all() and len(scan.frames) == 12
    e, _ = _reference_labels("sw-si", scan.frames[0])
    assert scan.energy_ref_ev[0] == pytest.approx(e, abs=1e-9)


def test_a_rattled_ring_with_a_stretched_bond_still_counts_as_a_ring():
    from bsct.data import ci_path, load_dataset

    structures = load_dataset(ci_path("molecules", "test"))
    pyrrole = [k for k, a in enumerate(structures) if a.info["molecule"] == "C4H4NH"]
    atoms = structures[pyrrole[0]]
    n = atoms.get_chemical_symbols().index("N")
    n_to_c = sorted(atoms.get_distance(n, c) for c in range(len(atoms)) if atoms[c].symbol == "C")[:2]
    assert n_to_c[1] > 1.2 * (covalent_radii[7] + covalent_radii[6])  # the ring is open at bond discovery's 1.2x
    assert not [p for p in plan_scans(structures, bond_types=["C-C"], per_type=None) if p.structure_idx in pyrrole]


@pytest.mark.parametrize("problem", ["nan", "overlap"])
def test_bad_input_is_refused_before_any_reference_call(tmp_path, problem):
    """make-scans validates its structures like scan/md/fsd do: the frame and the atoms are named and
    nothing is written (the reference is never called: it would fail on a NaN or an overlap)."""
    from bsct.data.validate import InvalidInput

    atoms = molecule("CH3CH2OH")
    if problem == "nan":
        atoms.positions[2, 0] = np.nan
    else:
        atoms.positions[3] = atoms.positions[2] + [0.1, 0.0, 0.0]
    expected = "not finite (NaN or inf) at atom(s) 2" if problem == "nan" else "2 (O) and 3 (H) are 0.100 Å apart"
    with pytest.raises(InvalidInput, match="frame 1") as info:
        generate_scans([molecule("H2O"), atoms], "morse", tmp_path / "set", per_type=1, n_points=20, progress=False)
    assert expected in str(info.value)
    assert not any((tmp_path / "set").rglob("*.xyz"))
