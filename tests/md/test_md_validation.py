"""MD refuses starting structures it cannot use as input errors, not as model failures (issue #22)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from bsct.data.validate import NonFiniteInput, OverlappingAtoms, TooFewAtoms, UnsupportedElement
from bsct.md.run import MDConfig, run_md_stability

CFG = MDConfig(time_ps=0.01, timestep_fs=2.0, equilibration_ps=0.0, replicas=2)


def test_a_single_atom_is_an_input_error():
    with pytest.raises(TooFewAtoms, match="starting structures, frame 0: a single atom: MD needs at least two atoms"):
        run_md_stability("morse", [Atoms("Cu", cell=[3, 3, 3], pbc=True)], CFG)


def test_overlapping_atoms_are_an_input_error(cu4):
    cu4.positions[1] = cu4.positions[0] + [0.05, 0.0, 0.0]
    with pytest.raises(OverlappingAtoms, match=r"frame 1: overlapping atoms: 0 \(Cu\) and 1 \(Cu\)"):
        run_md_stability("morse", [bulk("Cu", cubic=True), cu4], CFG)


def test_nan_positions_are_an_input_error_not_an_eigenvalue_failure(cu4):
    cu4.positions[3, 2] = np.nan
    with pytest.raises(NonFiniteInput, match="positions are not finite"):
        run_md_stability("morse", [cu4], CFG)


def test_unsupported_elements_are_an_input_error(cu4):
    with pytest.raises(UnsupportedElement, match="model SW-Si does not support Cu"):
        run_md_stability("sw-si", [cu4], CFG)
    with pytest.raises(UnsupportedElement, match="model EMT does not support U"):
        run_md_stability("emt", [bulk("U", "fcc", a=4.3, cubic=True)], CFG)


def test_only_the_structures_the_replicas_start_from_are_checked(cu4):
    lone = Atoms("Cu", cell=[3, 3, 3], pbc=True)
    result = run_md_stability("morse", [cu4, lone], MDConfig(time_ps=0.004, timestep_fs=2.0, equilibration_ps=0.0,
                                                               replicas=1))
    assert len(result.runs) == 1 and result.runs[0].stable
