"""``bsct md``: files written, the summary line, the CI gate, resume after a real kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from ase.io import write

from bsct.cli import main


@pytest.fixture
def cu_file(tmp_path, cu4):
    path = tmp_path / "cu.extxyz"
    write(path, [cu4, cu4.repeat((2, 1, 1))])
    return path


def _args(data, out, model="morse", *extra):
    return ["md", "--model", model, "--data", str(data), "--replicas", "2", "--time-ps", "0.05",
            "--timestep-fs", "2", "--equilibration-ps", "0.02", "--out", str(out), *extra]


def test_cli_writes_results_and_prints_the_stable_fraction(cu_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_args(cu_file, out)) == 0
    printed = capsys.readouterr().out
    assert "stable fraction 1.00 (2/2)" in printed
    summary = json.loads((out / "md_summary.json").read_text())
    assert summary["schema"] == "bsct.md/1" and summary["summary"]["stable_fraction"] == 1.0
    assert [r["structure_index"] for r in summary["runs"]] == [0, 1]
    assert (out / "md_traces.png").stat().st_size > 0
    assert len((out / "md_runs.jsonl").read_text().splitlines()) == 3


def test_cli_gate_fails_a_planted_potential(cu_file, tmp_path, capsys):
    out = tmp_path / "planted"
    args = _args(cu_file, out, "planted[kind=energy_step,size=0.05]", "--time-ps", "0.3",
                 "--min-stable-fraction", "1.0", "--no-plots")
    assert main(args) == 1
    assert "stable fraction 0." in capsys.readouterr().out
    assert not (out / "md_traces.png").exists()


def test_cli_resume_with_other_settings_is_an_error(cu_file, tmp_path):
    out = tmp_path / "out"
    assert main(_args(cu_file, out, "morse", "--no-plots")) == 0
    assert main(_args(cu_file, out, "morse", "--no-plots", "--temperature", "600", "--resume")) == 2


@pytest.mark.slow
def test_killed_cli_run_resumes(cu_file, tmp_path):
    out = tmp_path / "killed"
    args = _args(cu_file, out, "morse", "--replicas", "6", "--batch-size", "1", "--time-ps", "0.4", "--no-plots")
    proc = subprocess.Popen([sys.executable, "-m", "bsct.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    log_path = out / "md_runs.jsonl"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if log_path.exists() and len(log_path.read_text().splitlines()) >= 2:
                break
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    done_before = [json.loads(x) for x in log_path.read_text().splitlines()[1:] if x.endswith("}")]
    assert len(done_before) < 6, "the run finished before it was killed: nothing left to resume"
    assert main(args + ["--resume"]) == 0
    records = [json.loads(x) for x in log_path.read_text().splitlines()]
    runs = [r for r in records if r["type"] == "run"]
    assert sorted(r["replica"] for r in runs) == list(range(6))
    assert runs[: len(done_before)] == done_before  # the finished replicas were kept, not rerun


def test_ci_data_shorthand_reads_the_test_split(tmp_path):
    from importlib.resources import files

    assert (files("bsct") / "assets" / "data" / "ci" / "cu" / "test.extxyz").is_file()  # shipped in the package
    out = tmp_path / "ci"
    assert main(_args("ci:cu", out, "morse", "--max-structures", "1", "--replicas", "1", "--no-plots")) == 0
    summary = json.loads((out / "md_summary.json").read_text())
    assert summary["data"].endswith(os.path.join("ci", "cu", "test.extxyz"))  # the default split of bsct md
    assert summary["protocol"]["n_structures"] == 1


def test_library_writes_the_files_of_the_command(cu_file, tmp_path):
    """A Python user gets what ``bsct md`` writes: run_md_stability + result.save."""
    from bsct.data.io import read_structures
    from bsct.md.run import MDConfig, run_md_stability
    from bsct.registry import load_potential

    assert main(_args(cu_file, tmp_path / "cli")) == 0
    config = MDConfig(replicas=2, time_ps=0.05, timestep_fs=2.0, equilibration_ps=0.02)
    result = run_md_stability(load_potential("morse"), read_structures(cu_file), config, out_dir=tmp_path / "lib",
                              model_name="morse")
    result.save(tmp_path / "lib", data=cu_file)
    assert sorted(p.name for p in (tmp_path / "lib").iterdir()) == sorted(p.name for p in (tmp_path / "cli").iterdir())

    def without_timings(doc):
        if isinstance(doc, dict):
            return {k: without_timings(v) for k, v in doc.items() if "wall" not in k and not k.endswith("_per_s")}
        return [without_timings(v) for v in doc] if isinstance(doc, list) else doc

    cli, lib = (json.loads((tmp_path / d / "md_summary.json").read_text()) for d in ("cli", "lib"))
    assert without_timings(lib) == without_timings(cli)
    assert "trace" not in lib["runs"][0] and lib["data"] == str(cu_file)
