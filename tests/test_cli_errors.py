"""Every row of issue #22's "tracebacks instead of errors": exit 2, a message that names the
problem, no traceback (``--debug`` shows it); a scan whose model fails everywhere exits 3; a
second run into a used --out is refused and a finished one is never emptied."""

import json

import pytest
import torch
from ase import Atoms
from ase.io import write

from bsct.cli import exit_code_of, main
from bsct.runs import BadInput, FailedEvaluations, ResumeMismatchError, Terminated


@pytest.fixture()
def dimer(tmp_path):
    path = tmp_path / "dimer.extxyz"
    write(path, [Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])])
    return str(path)


@pytest.fixture()
def said(capsys, caplog):
    """What the user read on stderr since the last call (logging goes through caplog in-process)."""
    def read() -> str:
        text = capsys.readouterr().err + caplog.text
        caplog.clear()
        return text
    return read


def _no_traceback(said, *words):
    err = said()
    assert "Traceback" not in err
    for word in words:
        assert word in err, err
    return err


@pytest.mark.parametrize(("model", "words"), [
    ("planted[kind=nosuch]", ["unknown kind 'nosuch'", "energy_step"]),
    ("planted[nosuch=1]", ["unknown keyword(s) nosuch", "r_star_angstrom"]),
    ("faulty_models:raises", ["cannot be built", "cannot find my weights"]),
    ("faulty_models:returns_none", ["returned None"]),
])
def test_a_model_that_cannot_be_built_exits_2(model, words, dimer, tmp_path, said):
    assert main(["scan", "--model", model, "--data", dimer, "--out", str(tmp_path / "o")]) == 2
    _no_traceback(said, *words)


def test_unreadable_checkpoints_exit_2(dimer, tmp_path, said):
    whole = tmp_path / "whole.pt"
    torch.save({"format": "bsct-transformer-mlip/1", "model_state": {}}, whole)
    (tmp_path / "truncated.pt").write_bytes(whole.read_bytes()[:200])
    torch.save({"object": tmp_path}, tmp_path / "pickled.pt")
    for name, word in (("truncated.pt", "cannot read this checkpoint"), ("pickled.pt", "not only weights")):
        assert main(["scan", "--model", str(tmp_path / name), "--data", dimer, "--out", str(tmp_path / name[:3])]) == 2
        _no_traceback(said, name, word)


@pytest.mark.parametrize(("argv", "words"), [
    (["scan", "--model", "morse", "--max-per-type", "0"], ["--max-per-type must be >= 1"]),
    (["train", "--config", "baseline", "--data", "cu", "--set", "hidden_dim", "--epochs", "1"], ["KEY=VALUE", "hidden_dim"]),
    (["train", "--config", "baseline", "--data", "cu", "--set", "hidden_dim=abc", "--epochs", "1"], ["takes a int"]),
    (["demo", "--only", "nosuch"], ["no demo case nosuch", "planted-force-step"]),
])
def test_bad_options_exit_2(argv, words, dimer, tmp_path, said):
    extra = ["--data", dimer] if argv[0] == "scan" else []
    assert main([*argv, *extra, "--out", str(tmp_path / "o")]) == 2
    _no_traceback(said, *words)


@pytest.mark.parametrize("command", [
    ["scan", "--model", "morse", "--data", "DIMER"],
    ["train", "--config", "baseline", "--data", "cu", "--epochs", "1", "--no-progress"],
    ["md", "--model", "morse", "--data", "DIMER", "--replicas", "1", "--time-ps", "0.01"],
    ["diatomics", "--model", "morse", "--elements", "Cu", "--no-progress"],
    ["fsd", "--model", "morse", "--bond-types", "N-O"],
    ["demo", "--only", "morse"],
])
def test_an_out_that_is_a_file_is_refused_before_any_work(command, dimer, tmp_path, said):
    (tmp_path / "a_file").write_text("x")
    argv = [dimer if a == "DIMER" else a for a in command]
    assert main([*argv, "--out", str(tmp_path / "a_file")]) == 2
    _no_traceback(said, "is a file")


def test_a_model_failing_everywhere_exits_3_even_under_the_gate(dimer, tmp_path, said):
    code = main(["scan", "--model", "faulty_models:broken", "--data", dimer, "--out", str(tmp_path / "o"),
                 "--points", "40", "--fail-above", "1000"])
    assert code == 3
    _no_traceback(said, "failed")


def test_a_finished_run_is_not_emptied_by_a_rerun(dimer, tmp_path, said):
    out = tmp_path / "o"
    assert main(["scan", "--model", "morse", "--data", dimer, "--out", str(out), "--points", "40"]) == 0
    curves = sorted((out / "curves").glob("*.npz"))
    assert curves
    assert main(["scan", "--model", "lj", "--data", dimer, "--out", str(out), "--points", "40"]) == 2
    _no_traceback(said, "--resume", "--overwrite")
    assert sorted((out / "curves").glob("*.npz")) == curves
    assert json.loads((out / "results.json").read_text())["model"] == "morse"
    assert main(["scan", "--model", "lj", "--data", dimer, "--out", str(out), "--points", "40", "--resume"]) == 2
    _no_traceback(said, "cannot resume")
    assert main(["scan", "--model", "lj", "--data", dimer, "--out", str(out), "--points", "40", "--overwrite"]) == 0
    assert json.loads((out / "results.json").read_text())["model"] == "lj"


def test_a_curve_of_another_run_is_scanned_again_on_resume(dimer, tmp_path):
    from bsct.scan.runner import ScanCurve

    out = tmp_path / "o"
    assert main(["scan", "--model", "morse", "--data", dimer, "--out", str(out), "--points", "40"]) == 0
    path = next((out / "curves").glob("*.npz"))
    curve = ScanCurve.load(path)
    assert len(curve.run_fingerprint) == 16
    curve.run_fingerprint, curve.energy_ev = "another-run", curve.energy_ev + 1.0
    curve.save(path)
    assert main(["scan", "--model", "morse", "--data", dimer, "--out", str(out), "--points", "40", "--resume"]) == 0
    again = ScanCurve.load(path)
    assert again.run_fingerprint != "another-run" and (again.energy_ev != curve.energy_ev).all()


def test_debug_shows_the_traceback(dimer, tmp_path, said):
    assert main(["--debug", "scan", "--model", "planted[kind=nosuch]", "--data", dimer, "--out", str(tmp_path / "o")]) == 2
    assert "Traceback" in said()


def test_one_mapping_from_exceptions_to_exit_codes():
    assert exit_code_of(BadInput("x"))[0] == 2
    assert exit_code_of(ResumeMismatchError("x"))[0] == 2
    assert exit_code_of(FileNotFoundError(2, "No such file", "a.xyz")) == (2, "[Errno 2] No such file: 'a.xyz'")
    assert exit_code_of(FailedEvaluations("3 failed", 3))[0] == 3
    assert exit_code_of(KeyboardInterrupt())[0] == 130
    assert exit_code_of(Terminated())[0] == 143
    assert exit_code_of(ZeroDivisionError("bug"))[0] == 70


def test_threads_default_is_never_more_than_the_idle_cpus(monkeypatch):
    from bsct import runs

    monkeypatch.setattr(runs, "available_cpus", lambda: 2)
    monkeypatch.setattr(runs.os, "getloadavg", lambda: (5.0, 5.0, 5.0))
    assert runs.default_threads() == 1  # a busy machine: one thread
    monkeypatch.setattr(runs.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert runs.default_threads() == 2 and runs.default_threads(workers=2) == 1
    monkeypatch.setattr(runs, "available_cpus", lambda: 64)
    assert runs.default_threads() == 4
