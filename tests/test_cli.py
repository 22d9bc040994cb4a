"""The command line as a user runs it: exit codes, outputs on disk, clear errors."""

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


def test_scan_writes_json_plots_html_and_passes_the_gate(dimer_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["scan", "--model", "morse", "--data", str(dimer_file), "--out", str(out), "--fail-above", "0.01"]) == 0
    data = json.loads((out / "results.json").read_text())
    assert data["schema"] == "bsct.report/1" and data["score"] == 0 and data["n_artifacts"] == 0
    assert {"config", "versions", "timings", "bonds", "per_type"} <= set(data)
    assert (out / "plots" / "Cu-Cu.png").stat().st_size > 1000
    html = (out / "report.html").read_text()
    assert "data:image/png;base64" in html and "BSCT score 0.000" in html
    assert "BSCT score 0.0000" in capsys.readouterr().out


def test_scan_gate_fails_with_exit_1_and_lists_the_artifact(dimer_file, tmp_path, capsys):
    spec = "planted[kind=energy_step,size=0.01,r_star_angstrom=3.2]"
    code = main(["scan", "--model", spec, "--data", str(dimer_file), "--out", str(tmp_path / "o"), "--fail-above", "0.1"])
    assert code == 1
    printed = capsys.readouterr().out
    line = next(x for x in printed.splitlines() if "energy_jump" in x)
    assert abs(float(line.split("r =")[1].split("Å")[0]) - 3.2) < 0.05
    data = json.loads((tmp_path / "o" / "results.json").read_text())
    art = data["bonds"][0]["artifacts"][0]
    assert art["kind"] == "energy_jump" and abs(art["r_angstrom"] - 3.2) < 0.05 and art["unit"] == "eV"


def test_bad_input_exits_2_with_a_message_naming_the_file(tmp_path, caplog):
    bad = tmp_path / "broken.extxyz"
    bad.write_text("2\nnot a header\nCu 0 0\n")
    assert main(["scan", "--model", "morse", "--data", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "broken.extxyz" in caplog.text
    assert main(["scan", "--model", "morse", "--data", str(tmp_path / "missing.xyz"), "--out", str(tmp_path / "o")]) == 2
    assert main(["scan", "--model", "nonsense", "--data", str(bad), "--out", str(tmp_path / "o")]) == 2


def test_demo_subset_reports_each_case(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--only", "morse,planted-force-step"]) == 0
    rows = json.loads((tmp_path / "summary.json").read_text())
    assert [r["ok"] for r in rows] == [True, True]
    assert (tmp_path / "index.html").exists() and (tmp_path / "planted-force-step" / "report.html").exists()


def test_fsd_command_on_the_shipped_sample(tmp_path, capsys):
    assert main(["fsd", "--model", "morse", "--bond-types", "N-O", "--out", str(tmp_path)]) == 0
    assert "FSD" in capsys.readouterr().out and (tmp_path / "fsd.json").exists()


def test_help_loads_no_heavy_package():
    """``bsct --help`` (and every subcommand's parser) stays fast: no ASE, torch, numpy or matplotlib."""
    import subprocess
    import sys

    code = ("import sys, contextlib, io\n"
            "from bsct.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    try:\n"
            "        main(['--help'])\n"
            "    except SystemExit as exc:\n"
            "        assert exc.code == 0, exc.code\n"
            "assert 'diatomics' in out.getvalue() and 'train' in out.getvalue()\n"
            "heavy = sorted(m for m in ('ase', 'torch', 'numpy', 'matplotlib', 'scipy') if m in sys.modules)\n"
            "assert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
