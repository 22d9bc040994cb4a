"""`bsct fsd --workers 2` stopped by SIGTERM or SIGINT: exit 143/130, a one-line message, no
traceback, and no worker process left behind (issue #22, item 6)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

SLOW_CALC = '''
import time
from ase.calculators.lj import LennardJones


def make():
    """Lennard-Jones 0.2 s per frame: a pool still busy when the signal comes."""
    calc = LennardJones()
    fast = calc.calculate
    calc.calculate = lambda *args, **kwargs: (time.sleep(0.2), fast(*args, **kwargs))[1]
    return calc
'''


def _pool_started(parent: psutil.Process, timeout_s: float) -> bool:
    """Polls (bounded) until ``parent`` has its two workers."""
    for _ in range(int(timeout_s * 5)):
        if len(parent.children()) >= 2:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize(("sig", "code", "word"), [
    (signal.SIGTERM, 143, "SIGTERM"),
    pytest.param(signal.SIGINT, 130, "SIGINT", marks=pytest.mark.slow),  # the same path; KeyboardInterrupt
])
def test_fsd_workers_die_with_their_parent(tmp_path, sig, code, word):
    (tmp_path / "slowcalc.py").write_text(SLOW_CALC)
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(tmp_path)])}
    out = tmp_path / "out"
    # SIGINT back to its default in the child: a test run started in the background by a
    # non-interactive shell inherits SIGINT ignored, and Python then installs no KeyboardInterrupt
    proc = subprocess.Popen([sys.executable, "-m", "bsct.cli", "fsd", "--model", "slowcalc:make", "--workers", "2",
                             "--out", str(out), "--no-plots"], env=env, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    parent = psutil.Process(proc.pid)
    try:
        assert _pool_started(parent, 180), "the worker pool never started"
        workers = parent.children(recursive=True)
        proc.send_signal(sig)
        stderr = proc.communicate(timeout=120)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"workers still running after the parent's {word}: {[p.pid for p in alive]}"
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    assert word in stderr and str(out) in stderr  # says what stopped it and where the finished part is
