"""Stored labels equal a fresh evaluation of the reference method; forces equal -dE/dx."""

import numpy as np
import pytest

from bsct.data import ci_path, read_structures
from bsct.data.io import get_energy, get_forces, get_stress
from bsct.data.reference import EMT_CU, GFN2_XTB, SW_SI, evaluate

METHODS = {"cu": EMT_CU, "si": SW_SI, "water": GFN2_XTB, "molecules": GFN2_XTB}


def _sample_frames(system, n):
    """n frames spread over the test split (water: clusters only, boxes take seconds each)."""
    frames = read_structures(ci_path(system, "test")) + read_structures(ci_path(system, "unseen"))
    if system == "water":
        frames = [a for a in frames if not a.pbc.any()]
    idx = np.linspace(0, len(frames) - 1, n).round().astype(int)
    return [frames[i] for i in sorted(set(idx.tolist()))]


@pytest.mark.parametrize("system", ["cu", "si", "water", "molecules"])
def test_stored_labels_match_fresh_evaluation(system):
    for atoms in _sample_frames(system, 3):
        fresh = evaluate(atoms, METHODS[system])
        # extxyz stores ~8 significant digits
        assert get_energy(atoms) == pytest.approx(fresh["energy"], abs=1e-5, rel=1e-8)
        np.testing.assert_allclose(get_forces(atoms), fresh["forces"], atol=1e-5)
        if "stress" in fresh:
            stored = get_stress(atoms)
            xx, yy, zz, yz, xz, xy = fresh["stress"]
            np.testing.assert_allclose(stored, [[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]], atol=1e-7)


@pytest.mark.slow
def test_stored_water_box_label_matches_fresh_evaluation():
    frames = [a for split in ("val", "test", "unseen") for a in read_structures(ci_path("water", split))]
    atoms = next(a for a in frames if a.pbc.all())
    fresh = evaluate(atoms, GFN2_XTB)
    assert get_energy(atoms) == pytest.approx(fresh["energy"], abs=1e-5, rel=1e-8)
    np.testing.assert_allclose(get_forces(atoms), fresh["forces"], atol=1e-5)


def _energy(atoms, method, positions):
    work = atoms.copy()
    work.positions = positions
    return evaluate(work, method)["energy"]


# (system, step in Å, tolerance in eV/Å); xTB's SCF converges its energy to ~1e-6 Eh, so it
# needs a larger step and tolerance than the analytic potentials
@pytest.mark.parametrize("system,h_angstrom,atol", [("cu", 1e-4, 1e-5), ("si", 1e-4, 1e-5), ("molecules", 2e-3, 2e-3),
                                                    ("water", 2e-3, 2e-3)])
def test_reference_forces_are_minus_energy_gradient(system, h_angstrom, atol):
    atoms = _sample_frames(system, 2)[-1]
    forces = get_forces(atoms)
    rng = np.random.default_rng(0)
    for atom in rng.choice(len(atoms), size=min(3, len(atoms)), replace=False):
        for axis in range(3):
            plus, minus = atoms.positions.copy(), atoms.positions.copy()
            plus[atom, axis] += h_angstrom
            minus[atom, axis] -= h_angstrom
            numeric = -(_energy(atoms, METHODS[system], plus) - _energy(atoms, METHODS[system], minus)) / (2 * h_angstrom)
            assert forces[atom, axis] == pytest.approx(numeric, abs=atol), (system, atom, axis)
