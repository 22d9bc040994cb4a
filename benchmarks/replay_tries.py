"""Replay every try of issue #22 on a fresh clone and check each ends with its documented exit code.

    .venv/bin/python benchmarks/replay_tries.py                # clone this repo's HEAD into a temp dir
    .venv/bin/python benchmarks/replay_tries.py --only lock,sigterm --keep

The repository's committed HEAD is ``git clone``d into a temporary folder and every try runs
``python -m bsct.cli ...`` with this interpreter and ``PYTHONPATH=<clone>/src`` (plus a folder of
small fixtures: structures, model factories, broken checkpoints). Per try it prints the exit
code against the documented one, whether a traceback reached stderr, and the first line of
stderr that is not a log line of progress (INFO) — the message a user reads. Exit 0 iff every
try got its code, without a traceback, and the extra checks held (a doubled or rerun run keeps
the first run's results; no worker outlives a SIGTERM; no bare NaN in fsd.json).

Exit codes (bsct/cli.py): 0 done and under the gate, 1 above the gate, 2 bad input or a model that
cannot run, 3 finished with failed evaluations, 130 SIGINT, 143 SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

FACTORIES = '''
"""Model factories for the replay: the tests' faulty ones (raises when built, returns None,
raises at every point) and one slow enough to be killed mid-run."""
import time

from ase.calculators.lj import LennardJones
from faulty_models import broken, raises, returns_none  # noqa: F401  (tests/faulty_models.py)


class SlowLJ(LennardJones):
    def calculate(self, *args, **kwargs):
        time.sleep(float(__import__("os").environ.get("REPLAY_SLEEP_S", "0.05")))
        super().calculate(*args, **kwargs)


def slow():
    return SlowLJ(sigma=2.3, epsilon=0.3, rc=5.0)
'''


@dataclass
class Outcome:
    code: int | None
    stderr: str
    checks: list[tuple[str, bool]] = field(default_factory=list)


@dataclass
class Try:
    name: str
    expect: int
    argv: list[str] | None = None  # after `python -m bsct.cli`
    procedure: str | None = None  # a function of Replay for the tries that need more than one run
    needs: str = ""  # another part of issue #22 this try depends on


class Replay:
    def __init__(self, clone: Path, work: Path, python: str, timeout_s: float):
        self.clone, self.work, self.python, self.timeout_s = clone, work, python, timeout_s
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(clone / "src"), str(work)]),
                    "PYTHONUNBUFFERED": "1"}

    # -------------------------------------------------------------- running

    def popen(self, argv: list[str], **env) -> subprocess.Popen:
        return subprocess.Popen([self.python, "-m", "bsct.cli", *argv], cwd=self.work, env={**self.env, **env},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def run(self, argv: list[str], **env) -> Outcome:
        proc = self.popen(argv, **env)
        try:
            _, err = proc.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            return Outcome(None, f"timed out after {self.timeout_s:.0f} s\n{err}")
        return Outcome(proc.returncode, err)

    def wait_for(self, predicate, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.2)
        return False

    def locked_by(self, out: Path, proc: subprocess.Popen) -> bool:
        lock = out / ".bsct.lock"
        return lock.exists() and lock.read_text().strip() == str(proc.pid)

    # -------------------------------------------------------------- fixtures

    def fixtures(self) -> None:
        import numpy as np
        import torch
        from ase import Atoms
        from ase.build import molecule
        from ase.io import write

        w = self.work
        (w / "replay_models.py").write_text(FACTORIES)
        shutil.copy(self.clone / "tests" / "faulty_models.py", w)  # the tests' faulty factories
        write(w / "water.extxyz", molecule("H2O"))
        write(w / "cu_dimer.extxyz", Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]]))
        write(w / "cu_trimer.extxyz", Atoms("Cu3", positions=[[0, 0, 0], [2.5, 0, 0], [1.25, 2.2, 0]]))
        write(w / "u_dimer.extxyz", Atoms("U2", positions=[[0, 0, 0], [2.8, 0, 0]]))
        write(w / "cu_atom.extxyz", Atoms("Cu", positions=[[0, 0, 0]], cell=[10, 10, 10], pbc=False))
        write(w / "cu_overlap.extxyz", Atoms("Cu3", positions=[[0, 0, 0], [0.01, 0, 0], [2.5, 0, 0]]))
        nan = Atoms("Cu3", positions=[[0, 0, 0], [2.5, 0, 0], [1.2, 2.1, 0]])
        nan.positions[1, 0] = np.nan
        write(w / "cu_nan.extxyz", nan)
        (w / "a_file").write_text("not a folder\n")
        torch.save({"format": "bsct-transformer-mlip/1", "model_state": {}}, w / "whole.pt")
        (w / "truncated.pt").write_bytes((w / "whole.pt").read_bytes()[:200])
        torch.save({"format": "bsct-transformer-mlip/1", "object": Path("x")}, w / "pickled.pt")
        # one NaN in one reference frame of one shipped BSCT-SPICE system
        src = sorted((self.clone / "src/bsct/assets/bsct_spice/C-C").iterdir())[0]
        dst = w / "spice_nan" / "C-C" / src.name
        shutil.copytree(src, dst)
        lines = (dst / "atoms_5.xyz").read_text().splitlines()
        cols = lines[2].split()
        cols[4] = "nan"
        lines[2] = "  ".join(cols)
        (dst / "atoms_5.xyz").write_text("\n".join(lines) + "\n")

    # -------------------------------------------------------------- procedures

    def doubled_run(self) -> Outcome:
        """Two runs into one --out at once: the second is refused, the first's results stand,
        and a --resume of the second model is refused too (no report of mixed curves)."""
        out = self.work / "doubled"
        first = self.popen(["scan", "--model", "replay_models:slow", "--data", "cu_dimer.extxyz", "--out", str(out),
                            "--points", "100", "--no-refine"], REPLAY_SLEEP_S="0.1")
        self.wait_for(lambda: self.locked_by(out, first) or first.poll() is not None, 120)
        second = self.run(["scan", "--model", "morse", "--data", "cu_dimer.extxyz", "--out", str(out)])
        _, first_err = first.communicate(timeout=self.timeout_s)
        results = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
        resumed = self.run(["scan", "--model", "morse", "--data", "cu_dimer.extxyz", "--out", str(out), "--resume"])
        second.checks = [("first run exit 0", first.returncode == 0),
                         ("results.json is the first run's", results.get("model") == "replay_models:slow"),
                         ("--resume with another model refused (2)", resumed.code == 2)]
        return second

    def rerun_without_resume(self) -> Outcome:
        """A finished run, rerun into its --out without --resume: refused, nothing deleted;
        with --overwrite it runs."""
        out = self.work / "rerun"
        self.run(["scan", "--model", "morse", "--data", "cu_trimer.extxyz", "--out", str(out)])
        before = sorted(p.name for p in (out / "curves").glob("*.npz"))
        again = self.run(["scan", "--model", "morse", "--data", "cu_trimer.extxyz", "--out", str(out)])
        after = sorted(p.name for p in (out / "curves").glob("*.npz"))
        overwrite = self.run(["scan", "--model", "morse", "--data", "cu_trimer.extxyz", "--out", str(out), "--overwrite"])
        again.checks = [("curves kept", bool(before) and before == after), ("--overwrite runs (0)", overwrite.code == 0)]
        return again

    def _signal_when(self, argv: list[str], ready, sig: int, **env) -> Outcome:
        proc = self.popen(argv, **env)
        started = self.wait_for(lambda: ready(proc) or proc.poll() is not None, 180)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=self.timeout_s)
        outcome = Outcome(proc.returncode, err)
        outcome.checks.append(("it was running when signalled", started))
        return outcome

    def sigterm_scan_then_resume(self) -> Outcome:
        """SIGTERM a scan once its first bond is saved: 143; --resume then finishes it (0)
        without scanning the saved bond again."""
        out = self.work / "killed_scan"
        argv = ["scan", "--model", "replay_models:slow", "--data", "cu_trimer.extxyz", "--out", str(out),
                "--points", "60", "--no-refine"]
        killed = self._signal_when(argv, lambda p: any((out / "curves").glob("*.npz")), signal.SIGTERM,
                                   REPLAY_SLEEP_S="0.1")
        kept = {p: p.stat().st_mtime_ns for p in (out / "curves").glob("*.npz")}
        resumed = self.run([*argv, "--resume"], REPLAY_SLEEP_S="0")
        n_all = len(list((out / "curves").glob("*.npz")))
        killed.checks += [(f"--resume finishes it (0): {len(kept)} saved curve(s) reused, {n_all} in all",
                           resumed.code == 0 and bool(kept) and all(p.stat().st_mtime_ns == t for p, t in kept.items())
                           and n_all > len(kept))]
        return killed

    def sigint_scan(self) -> Outcome:
        out = self.work / "interrupted_scan"
        return self._signal_when(["scan", "--model", "replay_models:slow", "--data", "cu_trimer.extxyz",
                                  "--out", str(out), "--points", "60"], lambda p: self.locked_by(out, p) and
                                 (time.sleep(3) or True), signal.SIGINT, REPLAY_SLEEP_S="0.1")

    def sigterm_fsd_workers(self) -> Outcome:
        """SIGTERM `bsct fsd --workers 2`: 143, and neither worker survives it."""
        out = self.work / "fsd_killed"
        proc = self.popen(["fsd", "--model", "replay_models:slow", "--workers", "2", "--out", str(out), "--no-plots"],
                          REPLAY_SLEEP_S="0.2")
        started = self.wait_for(lambda: len(_children(proc.pid)) >= 2 or proc.poll() is not None, 180)
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=self.timeout_s)
        gone = self.wait_for(lambda: not any(_alive(pid) for pid in workers), 10)
        outcome = Outcome(proc.returncode, err)
        outcome.checks = [("the pool was running", started and len(workers) >= 2),
                          (f"no worker left 10 s later ({len(workers)} seen)", gone)]
        return outcome

    def fsd_nan_reference(self) -> Outcome:
        out = self.work / "fsd_nan"
        outcome = self.run(["fsd", "--model", "morse", "--data", "spice_nan", "--out", str(out), "--no-plots"])
        text = (out / "fsd.json").read_text() if (out / "fsd.json").exists() else ""
        outcome.checks = [("fsd.json written without a bare NaN", bool(text) and "NaN" not in text)]
        return outcome


def _children(pid: int) -> list[int]:
    try:
        import psutil

        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except ImportError:
        out = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                ppid = next(line for line in status.read_text().splitlines() if line.startswith("PPid:"))
            except (OSError, StopIteration):
                continue
            if int(ppid.split()[1]) == pid:
                out.append(int(status.parent.name))
        return out
    except Exception:  # noqa: BLE001 - the process is gone
        return []


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def tries() -> list[Try]:
    d, v, w = "input validation (item 2)", "failed evaluations (item 3)", "FSD NaN masking (item 4)"
    scan = ["scan", "--out"]
    return [
        Try("scan: a calculator that raises at every point", 3, [*scan, "o_broken", "--model", "replay_models:broken",
            "--data", "water.extxyz", "--points", "40"], needs=v),
        Try("scan: ... with --fail-above 3.5 (gate must not pass)", 3, [*scan, "o_broken_gate", "--model",
            "replay_models:broken", "--data", "water.extxyz", "--points", "40", "--fail-above", "3.5"], needs=v),
        Try("scan: EMT on uranium", 2, [*scan, "o_emt_u", "--model", "emt", "--data", "u_dimer.extxyz", "--points", "40"],
            needs=d),
        Try("scan: NaN positions", 2, [*scan, "o_nan", "--model", "morse", "--data", "cu_nan.extxyz"], needs=d),
        Try("scan: overlapping atoms", 2, [*scan, "o_overlap", "--model", "morse", "--data", "cu_overlap.extxyz"], needs=d),
        Try("scan: sw-si on Cu", 2, [*scan, "o_swsi", "--model", "sw-si", "--data", "cu_dimer.extxyz", "--points", "40"],
            needs=d),
        Try("diatomics: sw-si on Cu", 2, ["diatomics", "--model", "sw-si", "--elements", "Cu", "--out", "o_diat_swsi",
                                          "--no-progress"], needs=d),
        Try("md: a single atom", 2, ["md", "--model", "emt", "--data", "cu_atom.extxyz", "--replicas", "1", "--time-ps",
                                     "0.01", "--out", "o_md_atom"], needs=d),
        Try("md: overlapping atoms", 2, ["md", "--model", "emt", "--data", "cu_overlap.extxyz", "--replicas", "1",
                                         "--time-ps", "0.01", "--out", "o_md_overlap"], needs=d),
        Try("md: an element the model does not support (EMT, U)", 2, ["md", "--model", "emt", "--data", "u_dimer.extxyz",
            "--replicas", "1", "--time-ps", "0.01", "--out", "o_md_u"], needs=d),
        Try("md: NaN positions", 2, ["md", "--model", "emt", "--data", "cu_nan.extxyz", "--replicas", "1", "--time-ps",
                                     "0.01", "--out", "o_md_nan"], needs=d),
        Try("fsd: one NaN in one reference frame (masked, no bare NaN)", 0, procedure="fsd_nan_reference", needs=w),
        Try("scan: unknown planted kind", 2, [*scan, "o_pk", "--model", "planted[kind=nosuch]", "--data",
                                              "cu_dimer.extxyz"]),
        Try("scan: unknown planted keyword", 2, [*scan, "o_pw", "--model", "planted[nosuch=1]", "--data",
                                                 "cu_dimer.extxyz"]),
        Try("scan: a factory that raises", 2, [*scan, "o_fr", "--model", "replay_models:raises", "--data",
                                               "cu_dimer.extxyz"]),
        Try("scan: a factory that returns None", 2, [*scan, "o_fn", "--model", "replay_models:returns_none", "--data",
                                                     "cu_dimer.extxyz"]),
        Try("scan: --out is a file", 2, [*scan, "a_file", "--model", "morse", "--data", "cu_dimer.extxyz"]),
        Try("scan: --out not writable", 2, [*scan, "/proc/bsct-replay-out", "--model", "morse", "--data",
                                            "cu_dimer.extxyz"]),
        Try("train: --out is a file (refused before the first epoch)", 2, ["train", "--config", "baseline", "--data",
            "cu", "--epochs", "1", "--out", "a_file", "--no-progress"]),
        Try("scan: a truncated .pt", 2, [*scan, "o_trunc", "--model", "truncated.pt", "--data", "cu_dimer.extxyz"]),
        Try("scan: a .pt that is not weights-only", 2, [*scan, "o_pickled", "--model", "pickled.pt", "--data",
                                                         "cu_dimer.extxyz"]),
        Try("scan: --max-per-type 0", 2, [*scan, "o_mpt", "--model", "morse", "--data", "cu_dimer.extxyz",
                                          "--max-per-type", "0"]),
        Try("train: --set hidden_dim without a value", 2, ["train", "--config", "baseline", "--data", "cu", "--set",
                                                            "hidden_dim", "--out", "o_train_set", "--epochs", "1"]),
        Try("demo: --only nosuch", 2, ["demo", "--only", "nosuch", "--out", "o_demo"]),
        Try("scan: two runs into one --out at once (second refused)", 2, procedure="doubled_run"),
        Try("scan: rerun into a finished --out without --resume", 2, procedure="rerun_without_resume"),
        Try("scan: SIGTERM mid-run, then --resume", 143, procedure="sigterm_scan_then_resume"),
        Try("scan: SIGINT mid-run", 130, procedure="sigint_scan"),
        Try("fsd --workers 2: SIGTERM", 143, procedure="sigterm_fsd_workers"),
    ]


def message(stderr: str) -> str:
    """The line a user reads: the first ERROR line, else the first line that is not INFO/progress."""
    lines = [line.strip() for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
    for line in lines:  # a progress bar cut by the error leaves no newline before it
        for word in ("ERROR", "Traceback", "error:"):
            if word in line:
                return line[line.index(word):] if word != "error:" else line
    rest = [line for line in lines if not line.startswith(("INFO", "WARNING", "DEBUG")) and "it/s]" not in line
            and "/s]" not in line]
    return (rest or lines or [""])[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", default=str(REPO), help="repository to clone (default: this one)")
    parser.add_argument("--python", default=sys.executable, help="interpreter with bsct's dependencies")
    parser.add_argument("--only", default=None, help="comma-separated words; run the tries whose name has one")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone and outputs")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="bsct-replay-"))
    clone, work = tmp / "clone", tmp / "work"
    subprocess.run(["git", "clone", "--quiet", args.repo, str(clone)], check=True)
    commit = subprocess.run(["git", "-C", str(clone), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    work.mkdir()
    replay = Replay(clone, work, args.python, args.timeout)
    replay.fixtures()
    print(f"fresh clone of {args.repo} at {commit} in {clone}; outputs in {work}")
    selected = [t for t in tries() if not args.only or any(w.strip() in t.name for w in args.only.split(","))]
    n_ok = 0
    for t in selected:
        start = time.perf_counter()
        outcome = getattr(replay, t.procedure)() if t.procedure else replay.run(t.argv)
        traceback = "Traceback (most recent call last)" in outcome.stderr
        ok = outcome.code == t.expect and not traceback and all(passed for _, passed in outcome.checks)
        n_ok += ok
        print(f"{'ok  ' if ok else 'FAIL'} {t.name:<58s} exit {outcome.code!s:>4} (expected {t.expect:>3})  "
              f"traceback {'YES' if traceback else 'no '}  {time.perf_counter() - start:5.1f} s"
              + (f"  [needs {t.needs}]" if t.needs and not ok else ""))
        print(f"       stderr: {message(outcome.stderr)[:200]}")
        for name, passed in outcome.checks:
            print(f"       {'ok  ' if passed else 'FAIL'} {name}")
    print(f"{n_ok}/{len(selected)} tries as documented")
    if args.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if n_ok == len(selected) else 1


if __name__ == "__main__":
    sys.exit(main())
