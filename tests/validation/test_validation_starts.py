"""The named start structures: atom counts, cells, the vacancy, the budget rule's primitive cells."""

from __future__ import annotations

import numpy as np
import pytest

from bsct.runs import BadInput
from bsct.validation.starts import build_start, primitive_variant


@pytest.mark.parametrize("name, system, n_atoms, formula", [
    ("fcc_2x2x2_a3.59", "cu", 32, "Cu32"),           # 4 atoms per cubic fcc cell x 8
    ("fcc_2x2x2_a3.59_vacancy", "cu", 31, "Cu31"),
    ("diamond_2x2x2_a5.431", "si", 64, "Si64"),      # 8 atoms per cubic diamond cell x 8
    ("diamond_2x2x2_a5.431_vacancy", "si", 63, "Si63"),
    ("fccprim_2x2x2_a3.59", "cu", 8, "Cu8"),         # 1 atom per primitive fcc cell x 8
    ("diamondprim_2x2x2_a5.431_vacancy", "si", 15, "Si15"),
    ("g2:CH3CH2OH", "molecules", 9, "C2H6O"),
])
def test_start_structures_have_the_registered_atoms(name, system, n_atoms, formula):
    atoms = build_start(name, system)
    assert len(atoms) == n_atoms and atoms.get_chemical_formula() == formula


def test_the_cubic_cells_have_twice_the_lattice_constant():
    assert np.allclose(build_start("fcc_2x2x2_a3.59", "cu").cell.lengths(), 7.18)
    assert np.allclose(build_start("diamond_2x2x2_a5.431", "si").cell.lengths(), 10.862)
    molecule = build_start("g2:CH3CONH2", "molecules")
    assert not molecule.pbc.any()


def test_the_vacancy_removes_atom_zero_and_keeps_the_rest():
    full = build_start("fcc_2x2x2_a3.59", "cu")
    vacancy = build_start("fcc_2x2x2_a3.59_vacancy", "cu")
    assert np.allclose(vacancy.positions, full.positions[1:])
    assert np.allclose(full.positions[0], 0.0)


def test_primitive_variants():
    assert primitive_variant("fcc_2x2x2_a3.59_vacancy") == "fccprim_2x2x2_a3.59_vacancy"
    assert primitive_variant("g2:CH3CH2OH") == "g2:CH3CH2OH"
    assert primitive_variant("fccprim_2x2x2_a3.59") == "fccprim_2x2x2_a3.59"


@pytest.mark.parametrize("name", ["bcc_2x2x2_a3.0", "g2:NOT_A_MOLECULE", "fcc_2x2_a3.59"])
def test_unknown_starts_are_bad_input(name):
    with pytest.raises(BadInput):
        build_start(name, "cu")
