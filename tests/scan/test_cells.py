"""Image-safe crystal scan cells: checked on the generated frames themselves, by brute force."""

import itertools

import numpy as np
import pytest
from ase.build import bulk

from bsct.registry import load_potential
from bsct.scan.bonds import find_bonds
from bsct.scan.cells import lattice_translations_angstrom
from bsct.scan.collisions import scored_mask
from bsct.scan.geometry import ScanGeometry, ScanRange, _repeat, build_scan
from bsct.scan.runner import evaluate_scan


def _image_violations(geo, r_angstrom, range_angstrom: float) -> int:
    """Frames (at ``r_angstrom``) in which a moving atom is within ``range_angstrom`` of an image of
    i or j (other than its partner), the image taken moving (as computed) or still (as in the crystal)."""
    n = np.array(list(itertools.product(range(-3, 4), repeat=3)))
    offsets = n @ geo.atoms.cell.array  # (343, 3)
    rest = geo.atoms.positions[[geo.i, geo.j]]
    n_bad = 0
    for a, b in itertools.product(range(2), repeat=2):
        skip = np.all(n == 0, axis=1) if a == b else np.all(n == (geo.shift_idx if a == 0 else -geo.shift_idx), axis=1)
        for pos in geo.positions_angstrom(np.asarray(r_angstrom)):  # skip: the atom itself, or its partner
            moving = pos[[geo.i, geo.j]]
            for image_of_b in (moving[b], rest[b]):
                d = np.linalg.norm(image_of_b + offsets[~skip] - moving[a], axis=1)
                n_bad += int((d < range_angstrom).sum())
    return n_bad


def _scored_r(geo):
    return geo.r_angstrom[scored_mask(geo.closest_third_atom_angstrom(), geo.r_angstrom)]


@pytest.mark.parametrize("atoms, range_angstrom", [
    (bulk("Cu", "fcc", a=3.61, cubic=True), 6.0),
    (bulk("Cu", "fcc", a=3.61), 6.0),  # one atom: the bond joins it to its own image
    (bulk("Si", "diamond", a=5.431, cubic=True), 2 * 3.77118),
])
def test_image_safe_cell_keeps_images_out_of_range_and_is_minimal(atoms, range_angstrom):
    bond = find_bonds(atoms)[0]
    geo = build_scan(atoms, bond, ScanRange(n_points=40), cell_rule="image-safe", image_range_angstrom=range_angstrom)
    assert geo.cell_rule == "image-safe" and geo.i != geo.j
    r_scored = _scored_r(geo)
    assert len(r_scored) > 10
    assert _image_violations(geo, r_scored, range_angstrom) == 0
    half = build_scan(atoms, bond, ScanRange(n_points=40))
    assert len(geo.atoms) < len(half.atoms)
    reps = np.rint(np.diag(geo.atoms.cell.array @ np.linalg.inv(atoms.cell.array))).astype(int)
    assert np.prod(reps) * len(atoms) == len(geo.atoms)
    for k in np.flatnonzero(reps > 1):  # one repeat fewer on any axis lets an image in
        fewer = reps.copy()
        fewer[k] -= 1
        base, i, j, shift = _repeat(atoms, bond, fewer)
        dx_dr = np.zeros((len(base), 3))
        dx_dr[i], dx_dr[j] = geo.dx_dr[geo.i], geo.dx_dr[geo.j]
        trial = ScanGeometry(bond, base, i, j, geo.r_angstrom, dx_dr, "pair", shift_idx=shift)
        assert _image_violations(trial, r_scored, range_angstrom) > 0


def test_lattice_translations_skip_zero_and_free_axes():
    cell = np.diag([3.0, 4.0, 5.0])
    t = lattice_translations_angstrom(cell, [True, True, False], (2, 1, 1), 8.5)
    assert len(t) > 0 and not np.any(np.all(t == 0, axis=1)) and np.all(t[:, 2] == 0)
    assert np.allclose(np.mod(t[:, 0], 6.0), 0) and np.all(np.linalg.norm(t, axis=1) <= 8.5)
    assert sorted(map(tuple, t.tolist())) == sorted(
        (6.0 * a, 4.0 * b, 0.0) for a in (-1, 0, 1) for b in (-2, -1, 0, 1, 2)
        if (a or b) and (6.0 * a) ** 2 + (4.0 * b) ** 2 <= 8.5**2)


def test_collision_guard_distance_is_the_large_cells():
    cu = bulk("Cu", "fcc", a=3.61, cubic=True)
    bond = find_bonds(cu)[0]
    small = build_scan(cu, bond, ScanRange(n_points=60), cell_rule="image-safe", image_range_angstrom=6.0)
    large = build_scan(cu, bond, ScanRange(n_points=60))
    d_small, d_large = small.closest_third_atom_angstrom(), large.closest_third_atom_angstrom()
    mask = scored_mask(d_large, large.r_angstrom)
    assert np.array_equal(scored_mask(d_small, small.r_angstrom), mask)
    np.testing.assert_allclose(d_small[mask], d_large[mask], atol=1e-12)
    # fcc <110>: the next atom of the row is r0 - (r - r0)/2 from a moving atom (collisions.py)
    r0 = bond.r0_angstrom
    row = r0 - (small.r_angstrom - r0) / 2
    assert np.all(d_small <= row + 1e-12)


@pytest.mark.parametrize("spec, atoms", [
    ("morse", bulk("Cu", "fcc", a=3.61, cubic=True)),
    ("lj", bulk("Cu", "fcc", a=3.61, cubic=True)),
    ("sw-si", bulk("Si", "diamond", a=5.431, cubic=True)),
])
def test_small_cell_energy_differences_equal_the_large_cells(spec, atoms):
    """Pair potentials (range = cutoff) and SW (range = 2 cutoff): the same scan, to rounding."""
    potential = load_potential(spec)
    bond = find_bonds(atoms)[0]
    grid = ScanRange(n_points=16)
    small = build_scan(atoms, bond, grid, potential.cutoff_angstrom, cell_rule="image-safe",
                       image_range_angstrom=getattr(potential, "interaction_range_angstrom", None))
    large = build_scan(atoms, bond, grid, potential.cutoff_angstrom)
    assert len(small.atoms) < len(large.atoms)
    mask = scored_mask(small.closest_third_atom_angstrom(), small.r_angstrom)
    cs, cl = evaluate_scan(potential, small), evaluate_scan(potential, large)
    k0 = np.flatnonzero(mask)[0]
    de_small = cs.energy_ev[mask] - cs.energy_ev[k0]
    de_large = cl.energy_ev[mask] - cl.energy_ev[k0]
    np.testing.assert_allclose(de_small, de_large, rtol=0, atol=1e-10 * np.abs(de_large).max())
    np.testing.assert_allclose(cs.scan_force_ev_per_angstrom[mask], cl.scan_force_ev_per_angstrom[mask],
                               rtol=0, atol=1e-10 * np.abs(cl.scan_force_ev_per_angstrom[mask]).max())


def test_range_of_the_cutoff_alone_is_not_enough_for_a_many_body_potential():
    """SW-Si with images just past one cutoff: a shared neighbour couples them (why R = 2 r_c)."""
    si = bulk("Si", "diamond", a=5.431, cubic=True)
    potential = load_potential("sw-si")
    bond = find_bonds(si)[0]
    grid = ScanRange(n_points=20)
    one_rc = build_scan(si, bond, grid, potential.cutoff_angstrom, cell_rule="image-safe",
                        image_range_angstrom=potential.cutoff_angstrom)
    large = build_scan(si, bond, grid, potential.cutoff_angstrom)
    assert len(one_rc.atoms) == 8
    mask = scored_mask(one_rc.closest_third_atom_angstrom(), one_rc.r_angstrom)
    cs, cl = evaluate_scan(potential, one_rc), evaluate_scan(potential, large)
    de = (cs.energy_ev - cs.energy_ev[0]) - (cl.energy_ev - cl.energy_ev[0])
    assert np.abs(de[mask]).max() > 1e-3


def test_without_a_range_or_a_cutoff_the_cell_grows_as_in_v1():
    cu = bulk("Cu", "fcc", a=3.61, cubic=True)
    bond = find_bonds(cu)[0]
    geo = build_scan(cu, bond, ScanRange(n_points=20), cell_rule="image-safe")
    assert geo.cell_rule == "half-cell"
    assert len(geo.atoms) == len(build_scan(cu, bond, ScanRange(n_points=20)).atoms)


def test_image_safe_refuses_a_cell_too_small_without_growing():
    cu = bulk("Cu", "fcc", a=3.61, cubic=True)
    with pytest.raises(ValueError, match="interaction range"):
        build_scan(cu, find_bonds(cu)[0], ScanRange(n_points=20), cell_rule="image-safe",
                   image_range_angstrom=6.0, grow_cell=False)


@pytest.mark.parametrize("spec, atoms, image_range, n_atoms", [
    ("sw-si", bulk("Si", "diamond", a=5.431, cubic=True), None, 64),
    ("emt", bulk("Cu", "fcc", a=3.61, cubic=True), 5.8768, 72),  # EMT at one cutoff: opt-in, not exact
])
def test_smooth_crystal_references_score_as_in_the_large_cell(spec, atoms, image_range, n_atoms):
    """v2 scores of the small cell and v1's half-cell agree: EMT clean; SW-Si's one tail bump at the
    last scored point (docs/metrics_v2.md) found in both, same place and size."""
    from bsct.scan.api import run_bsct

    kw = dict(score_version="v2", max_per_type=1, scan_range=ScanRange(n_points=120), progress=False)
    small = run_bsct(spec, [atoms], image_range_angstrom=image_range, **kw)
    large = run_bsct(spec, [atoms], cell_rule="half-cell", **kw)
    assert small.results[0].curve.forces_ev_per_angstrom.shape[1] == n_atoms
    assert large.results[0].curve.forces_ev_per_angstrom.shape[1] > n_atoms
    assert small.complete and small.score == pytest.approx(large.score, abs=1e-9)
    assert [(a.kind, a.r_angstrom) for a in small.artifacts] == [(a.kind, a.r_angstrom) for a in large.artifacts]
    if spec == "emt":
        assert small.score == 0 and small.artifacts == []


def test_v1_keeps_the_half_cell_and_v2_defaults_to_image_safe():
    from bsct.scan.api import BSCTConfig

    assert BSCTConfig().resolved_cell_rule == "half-cell"
    assert BSCTConfig(score_version="v2").resolved_cell_rule == "image-safe"
    assert BSCTConfig(score_version="v2", cell_rule="half-cell").resolved_cell_rule == "half-cell"
    assert "cell_rule" not in BSCTConfig().to_dict() and "cell_rule" in BSCTConfig(score_version="v2").to_dict()
    with pytest.raises(ValueError, match="cell_rule"):
        BSCTConfig(cell_rule="tiny")
    with pytest.raises(ValueError, match="image-safe cells only"):
        BSCTConfig(image_range_angstrom=6.0)  # v1: half-cell, a range would be ignored
    with pytest.raises(ValueError, match="> 0"):
        BSCTConfig(score_version="v2", image_range_angstrom=0.0)


def test_cli_image_range_needs_v2(tmp_path):
    from ase.io import write

    from bsct.cli import main

    data = tmp_path / "cu.extxyz"
    write(data, bulk("Cu", "fcc", a=3.61, cubic=True))
    assert main(["scan", "--model", "lj", "--data", str(data), "--out", str(tmp_path / "out"),
                 "--image-range", "8.5"]) == 2
