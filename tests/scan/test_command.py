"""`bsct scan` as a user runs it: a model that cannot be evaluated never passes the gate (exit 3),
and --score-version v2 / --temperature reach the report."""

import json

import pytest
from ase import Atoms
from ase.io import write

from bsct.cli import main

@pytest.fixture()
def dimer_file(tmp_path):
    path = tmp_path / "dimer.extxyz"
    write(path, [Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])])
    return path


@pytest.mark.parametrize("factory, message", [("broken", "cannot evaluate anything"), ("nan_morse", "non-finite")])
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_model_that_cannot_be_evaluated_exits_3_whatever_the_score( dimer_file, tmp_path, capsys,
                                                                      caplog, factory, message, version):
    out = tmp_path / "out"
    code = main(["scan", "--model", f"faulty_models:{factory}", "--data", str(dimer_file), "--out", str(out),
                 "--points", "40", "--fail-above", "1000", "--score-version", version])
    assert code == 3  # not 0: a huge --fail-above must not let a model that never ran pass
    printed = capsys.readouterr()
    said = printed.out + printed.err + caplog.text
    assert "failed evaluations" in said
    data = json.loads((out / "results.json").read_text())
    assert data["complete"] is False and data["n_failed_points"] == 40
    assert message in data["failed_evaluations"][0]
    assert data["score"] is None and data["n_artifacts"] == 0  # nothing evaluated: no score, no "artifact"
    assert data["bonds"][0]["n_failed_points"] == 40
    assert "Incomplete: 40 scan point(s) failed" in (out / "report.html").read_text()


def test_v2_and_temperature_flags_reach_the_report(dimer_file, tmp_path, capsys):
    out = tmp_path / "out"
    spec = "planted[kind=energy_step,size=0.01,r_star_angstrom=1.9]"  # an artifact ~0.6 eV up the wall
    args = ["scan", "--model", spec, "--data", str(dimer_file), "--out", str(out), "--fail-above", "0.5"]
    assert main(args + ["--score-version", "v2"]) == 1  # unweighted, the step fails the gate ...
    assert main(args + ["--score-version", "v2", "--temperature", "300", "--overwrite"]) == 0  # ... at 300 K it is out of reach
    data = json.loads((out / "results.json").read_text())
    assert data["schema"] == "bsct.report/2" and data["temperature_k"] == 300
    assert data["complete"] is True and data["weighted_score"] < 0.5 < data["score"]
    assert "weighted at 300 K" in capsys.readouterr().out
