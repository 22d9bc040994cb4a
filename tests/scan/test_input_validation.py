"""Bad input is refused before any model call by scan and diatomics (issue #22), not scored."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.io import write

from bsct.cli import main
from bsct.data.validate import NonFiniteInput, OverlappingAtoms, TooFewAtoms, UnsupportedElement
from bsct.potentials.ase_adapters import CalculatorPotential
from bsct.registry import load_potential
from bsct.scan.api import run_bsct
from bsct.scan.diatomics import ALL_ELEMENTS, DiatomicGrid, run_diatomics, run_diatomics_to


class _Counting(Calculator):
    """Zero energy and forces; counts its calls, or raises at every one with ``fail``."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, fail: bool = False):
        super().__init__()
        self.fail, self.calls = fail, 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        if self.fail:
            raise RuntimeError("cannot evaluate anything")
        self.results = {"energy": 0.0, "forces": np.zeros((len(self.atoms), 3))}


def test_sw_si_on_copper_is_refused_before_any_model_call():
    with pytest.raises(UnsupportedElement, match="model SW-Si does not support Cu"):
        run_bsct("sw-si", bulk("Cu", cubic=True), progress=False)
    calc = _Counting()
    si_only = CalculatorPotential(calc, name="si-only", supported_elements={"Si"})
    with pytest.raises(UnsupportedElement, match=r"<structures>, frame 0: model si-only does not support Cu"):
        run_bsct(si_only, bulk("Cu", cubic=True), progress=False)
    assert calc.calls == 0


def test_emt_on_uranium_is_refused():
    with pytest.raises(UnsupportedElement, match=r"model EMT does not support U \(atoms 0, 1\)"):
        run_bsct("emt", Atoms("U2", positions=[[0, 0, 0], [2.8, 0, 0]]), progress=False)


def test_nan_and_overlapping_positions_and_a_lone_atom_are_refused():
    nan = Atoms("Cu2", positions=[[0, 0, 0], [np.nan, 0, 0]])
    with pytest.raises(NonFiniteInput, match="atom\\(s\\) 1"):
        run_bsct("morse", nan, progress=False)
    close = Atoms("Cu2", positions=[[0, 0, 0], [0.1, 0, 0]])
    with pytest.raises(OverlappingAtoms, match=r"0 \(Cu\) and 1 \(Cu\) are 0.100 Å apart"):
        run_bsct("morse", close, progress=False)
    with pytest.raises(TooFewAtoms, match="a bond scan needs at least two atoms"):
        run_bsct("morse", Atoms("Cu"), progress=False)


class _NoSilver(_Counting):
    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        self.fail = 47 in atoms.numbers
        super().calculate(atoms, properties, system_changes)


def test_an_undeclared_model_failing_on_one_element_is_refused_naming_it():
    calc = _NoSilver()
    with pytest.raises(UnsupportedElement, match="model no-ag cannot evaluate Ag: a Ag-Ag dimer fails .* while Cu pass"):
        run_bsct(CalculatorPotential(calc, name="no-ag"), Atoms("CuAg", positions=[[0, 0, 0], [2.6, 0, 0]]),
                 progress=False)
    assert calc.calls == 3  # the probe only: the structure, then one dimer per element


def test_scan_command_exits_2_naming_file_frame_and_element(tmp_path, caplog):
    data = tmp_path / "cu.extxyz"
    write(data, [Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])])
    assert main(["scan", "--model", "sw-si", "--data", str(data), "--out", str(tmp_path / "o")]) == 2
    assert f"{data}, frame 0: model SW-Si does not support Cu" in caplog.text


def test_diatomics_refuses_sw_si_on_copper_and_emt_on_uranium(tmp_path):
    with pytest.raises(UnsupportedElement, match=r"model SW-Si does not support Cu \(pair Cu-Cu\)"):
        run_diatomics(load_potential("sw-si"), [("Cu", "Cu")], progress=False)
    with pytest.raises(UnsupportedElement, match=r"does not support U \(pairs U-U, H-U\)"):
        run_diatomics_to(tmp_path / "d", "emt", [("H", "H"), ("U", "U"), ("H", "U")], progress=False)
    assert not (tmp_path / "d" / "diatomics.json").exists()


def test_diatomics_command_exits_2_for_sw_si_on_copper(tmp_path, caplog):
    assert main(["diatomics", "--model", "sw-si", "--elements", "Cu", "--out", str(tmp_path / "d"),
                 "--no-progress"]) == 2
    assert "SW-Si does not support Cu" in caplog.text


def test_a_whole_table_sweep_leaves_out_unsupported_pairs_and_lists_them(tmp_path):
    pairs = [(s, s) for s in ALL_ELEMENTS]
    data = run_diatomics_to(tmp_path / "d", "sw-si", pairs, DiatomicGrid(step_angstrom=0.2), progress=False,
                            report_metric=None)
    assert list(data["pairs"]) == ["Si-Si"]
    assert len(data["unsupported_pairs"]) == len(ALL_ELEMENTS) - 1 and data["unsupported_pairs"]["Cu-Cu"] == ["Cu"]
    saved = json.loads((tmp_path / "d" / "diatomics.json").read_text())
    assert "Cu-Cu" in saved["unsupported_pairs"] and list(saved["pairs"]) == ["Si-Si"]
