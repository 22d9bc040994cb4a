"""bsct.runs.RunDir: a run owns its --out (lock with the holder's PID, no silent overwrite)."""

import multiprocessing
import os

import pytest

from bsct.runs import LOCK_NAME, BadInput, RunDir, RunDirInUse, outcome_exit_code


def _hold(out, ready, release):
    with RunDir(out):
        ready.set()
        release.wait(30)


def test_a_second_run_into_a_locked_folder_is_refused_naming_the_holder(tmp_path):
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(tmp_path / "out", ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(RunDirInUse, match=f"PID {holder.pid}"):
            with RunDir(tmp_path / "out", resume=True):
                pass
    finally:
        release.set()
        holder.join(30)
    with RunDir(tmp_path / "out", resume=True):  # released when its process ended
        assert (tmp_path / "out" / LOCK_NAME).read_text().strip() == str(os.getpid())
    assert not (tmp_path / "out" / LOCK_NAME).exists()  # a finished run leaves only its results


def test_a_non_empty_folder_needs_resume_or_overwrite(tmp_path):
    out = tmp_path / "out"
    (out / "curves").mkdir(parents=True)
    (out / "curves" / "a.npz").write_bytes(b"x")
    (out / "results.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(BadInput, match="--resume .* --overwrite"):
        with RunDir(out, owned=("curves", "results.json")):
            pass
    assert (out / "curves" / "a.npz").exists()  # refused, nothing deleted
    with RunDir(out, resume=True, owned=("curves", "results.json")):
        assert (out / "curves" / "a.npz").exists()
    with RunDir(out, overwrite=True, owned=("curves", "results.json")):
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME, "notes.txt"]  # only what the command writes


def test_an_out_that_is_a_file_or_cannot_be_created_is_bad_input(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(BadInput, match="is a file"):
        RunDir(tmp_path / "f").__enter__()
    with pytest.raises(BadInput, match="cannot create"):
        RunDir(tmp_path / "f" / "sub").__enter__()


def test_failed_evaluations_win_over_the_gate():
    assert outcome_exit_code() == 0
    assert outcome_exit_code(above_gate=True) == 1
    assert outcome_exit_code(n_failed=2, above_gate=True) == 3
