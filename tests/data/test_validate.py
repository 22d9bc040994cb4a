"""Input validation before any model call: each refusal names the source, the frame and the problem."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from bsct.data import DatasetError
from bsct.data.validate import (
    InvalidInput,
    NonFiniteInput,
    OverlappingAtoms,
    TooFewAtoms,
    UnsupportedElement,
    check_elements,
    declared_elements,
    validate_structures,
)
from bsct.potentials.ase_adapters import CalculatorPotential
from bsct.registry import load_potential


def _dimer(symbol: str, r: float = 2.5) -> Atoms:
    return Atoms([symbol, symbol], positions=[[0, 0, 0], [r, 0, 0]])


def test_refusals_are_value_errors_dataset_errors_and_bad_input():
    from bsct.runs import BadInput

    assert issubclass(InvalidInput, ValueError) and issubclass(InvalidInput, DatasetError)
    assert issubclass(InvalidInput, BadInput)  # exit 2
    for cls in (NonFiniteInput, OverlappingAtoms, TooFewAtoms, UnsupportedElement):
        assert issubclass(cls, InvalidInput)


def test_nan_positions_name_file_frame_and_atom():
    bad = molecule("H2O")
    bad.positions[2, 1] = np.nan
    with pytest.raises(NonFiniteInput, match=r"^w\.xyz, frame 1: positions are not finite .* atom\(s\) 2$") as info:
        validate_structures([molecule("H2O"), bad], source="w.xyz")
    assert info.value.frame_index == 1


def test_infinite_cell_is_refused():
    cu = bulk("Cu", cubic=True)
    cu.cell[0, 0] = np.inf
    with pytest.raises(NonFiniteInput, match="cell is not finite"):
        validate_structures([cu])


def test_overlapping_atoms_name_the_pair_its_elements_and_distance():
    water = molecule("H2O")
    water.positions[2] = water.positions[0] + [0.0, 0.2, 0.0]
    with pytest.raises(OverlappingAtoms, match=r"frame 0: overlapping atoms: 0 \(O\) and 2 \(H\) are 0\.200 Å apart") as info:
        validate_structures([water], source="w.xyz")
    assert info.value.pair[:2] == (0, 2) and info.value.pair[2] == pytest.approx(0.2)


def test_overlap_with_a_periodic_image_is_found():
    cell = Atoms("Cu2", positions=[[0.1, 0, 0], [1.5, 1.5, 1.5]], cell=[3.0, 3.0, 3.0], pbc=True)
    cell.positions[1] = [2.8, 0.0, 0.0]  # 0.3 Å from atom 0 through the x boundary
    with pytest.raises(OverlappingAtoms, match="0.300 Å apart") as info:
        validate_structures([cell])
    assert sorted(info.value.pair[:2]) == [0, 1]


def test_single_atom_is_refused_for_md_and_for_a_scan_of_isolated_atoms_only():
    with pytest.raises(TooFewAtoms, match="a single atom: MD needs at least two atoms"):
        validate_structures([Atoms("Cu")], min_atoms=2, what="MD")
    with pytest.raises(TooFewAtoms, match="a bond scan needs at least two atoms"):
        validate_structures([Atoms("Cu"), Atoms("H")], need_a_pair=True, what="a bond scan")
    # isolated-atom reference frames beside real structures, and a periodic one-atom cell, are fine for a scan
    validate_structures([Atoms("Cu"), bulk("Cu", cubic=True)], need_a_pair=True)
    validate_structures([bulk("Cu")], need_a_pair=True)


def test_builtins_declare_their_elements():
    assert declared_elements(load_potential("emt")) == frozenset(
        {"H", "C", "N", "O", "Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au"})
    assert declared_elements(load_potential("sw-si")) == frozenset({"Si"})
    assert declared_elements(load_potential("morse")) is None
    assert declared_elements(load_potential("planted")) is None
    xtb = declared_elements(load_potential("gfn2-xtb"))
    assert "Rn" in xtb and "Fr" not in xtb and len(xtb) == 86


def test_sw_si_on_copper_and_emt_on_uranium_are_refused_naming_the_element():
    with pytest.raises(UnsupportedElement, match=r"cu\.xyz, frame 0: model SW-Si does not support Cu .*supports Si") as info:
        validate_structures([bulk("Cu", cubic=True)], load_potential("sw-si"), source="cu.xyz")
    assert info.value.elements == ("Cu",)
    with pytest.raises(UnsupportedElement, match=r"model EMT does not support U \(atoms 0, 1\)"):
        check_elements([_dimer("Cu"), _dimer("U")], load_potential("emt"))
    validate_structures([bulk("Si", cubic=True)], load_potential("sw-si"))


def test_checkpoint_model_declares_its_config_elements():
    from bsct.model.config import named_config
    from bsct.model.transformer import build_model

    model = build_model(named_config("baseline", elements=(29,)), seed=0)
    assert declared_elements(model) == frozenset({"Cu"})
    with pytest.raises(UnsupportedElement, match="does not support H"):
        check_elements([molecule("H2")], model)


class _RaisesFor(Calculator):
    """A calculator without declared elements that raises on one element (or on all, with z=None)."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, z: int | None):
        super().__init__()
        self.z = z

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if self.z is None or self.z in self.atoms.numbers:
            raise RuntimeError("not parametrised")
        self.results = {"energy": 0.0, "forces": np.zeros((len(self.atoms), 3))}


def test_undeclared_model_is_probed_and_the_failing_element_named():
    potential = CalculatorPotential(_RaisesFor(z=8), name="probe-me")
    check_elements([_dimer("H")], potential)  # no O: the probe passes
    with pytest.raises(UnsupportedElement, match=r"frame 1: model probe-me cannot evaluate O: a O-O dimer fails "
                                                 r"\(RuntimeError: not parametrised\) while H pass"):
        check_elements([_dimer("H"), molecule("H2O")], potential)


def test_a_model_that_fails_on_everything_is_left_to_the_test_to_report():
    # it cannot be told from a broken model: the scan or MD records its failed evaluations (exit 3)
    check_elements([molecule("H2O")], CalculatorPotential(_RaisesFor(z=None), name="broken"))
    check_elements([_dimer("U")], CalculatorPotential(_RaisesFor(z=92), name="no-uranium"))


def test_probe_is_skipped_when_asked_and_for_declared_models():
    check_elements([molecule("H2O")], CalculatorPotential(_RaisesFor(z=None)), probe=False)
    check_elements([molecule("H2O")], CalculatorPotential(EMT, supported_elements={"H", "O"}))
