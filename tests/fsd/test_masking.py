"""Non-finite reference frames are masked as the official code masks them (issue #22: one NaN
coordinate in one frame of C-O/21541 gave FSD 1,188.9 instead of 68.5, and a bare NaN in fsd.json)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from bsct.data.bsct_spice import TooFewFramesError, read_system, sample_root
from bsct.fsd.metric import force_smoothness_deviation
from bsct.fsd.run import run_fsd
from bsct.potentials.evaluate import evaluate
from bsct.registry import load_potential

SYSTEM = "C-O/21541"
BAD_FRAME = 50


def _copy(tmp_path):
    dst = tmp_path / "C-O" / "21541"
    shutil.copytree(sample_root() / SYSTEM, dst)
    return dst


def _put_nan(frame_file, column: int, atom: int = 0) -> None:
    """NaN into one number of one atom line (columns: symbol, x, y, z, fx, fy, fz)."""
    lines = frame_file.read_text().split("\n")
    parts = lines[2 + atom].split()
    parts[column] = "nan"
    lines[2 + atom] = "  ".join(parts)
    frame_file.write_text("\n".join(lines))


def _strict(text: str):
    def reject(name):
        raise ValueError(f"bare {name} in JSON")

    return json.loads(text, parse_constant=reject)


def _fsd_without_frame(model: str, frame: int) -> float:
    """The reference answer, by hand: the clean system with that frame deleted, then the pure metric."""
    scan = read_system(sample_root() / SYSTEM)
    keep = np.arange(len(scan.frames)) != frame
    frames = [a for a, k in zip(scan.frames, keep) if k]
    forces = evaluate(load_potential(model), frames).stacked_forces()
    res = force_smoothness_deviation(scan.r_angstrom[keep], forces, scan.forces_ref_ev_per_angstrom[keep],
                                     scan.energy_ref_ev[keep], scan.positions_angstrom[keep])
    return res.full_smoothness


@pytest.mark.parametrize("column", [1, 4], ids=["nan-coordinate", "nan-force"])
def test_one_nan_frame_is_masked_and_fsd_is_that_of_the_system_without_it(tmp_path, column):
    system = _copy(tmp_path)
    _put_nan(system / f"atoms_{BAD_FRAME}.xyz", column)
    out = run_fsd("lj", tmp_path, tmp_path / "out", plots=False, progress=False)
    row = out["systems"][SYSTEM]
    assert row["n_dropped"] == 1 and row["n_frames"] == 99
    assert row["full_smoothness"] == pytest.approx(_fsd_without_frame("lj", BAD_FRAME), rel=1e-12)
    assert row["full_smoothness"] == pytest.approx(68.5, abs=0.05)  # was 1,188.9 with the NaN coordinate
    assert all(np.isfinite(v) for v in row.values() if isinstance(v, float))
    _strict((tmp_path / "out" / "fsd.json").read_text())


def test_a_system_left_with_too_few_frames_is_a_failure_with_its_reason_and_the_others_go_on(tmp_path):
    system = _copy(tmp_path)
    for k in range(2, 100):
        _put_nan(system / f"atoms_{k}.xyz", 4)
    with pytest.raises(TooFewFramesError, match="only 2 frame"):
        read_system(system)
    good = tmp_path / "C-C" / "20476"
    shutil.copytree(sample_root() / "C-C" / "20476", good)
    out = run_fsd("morse", tmp_path, tmp_path / "out", plots=False, progress=False)
    assert list(out["systems"]) == ["C-C/20476"]
    (failure,) = out["failures"]
    assert failure["system"] == SYSTEM and "98 of 100 masked" in failure["error"]


def test_the_metric_refuses_an_unmasked_nan_reference():
    scan = read_system(sample_root() / SYSTEM)
    f_ref = scan.forces_ref_ev_per_angstrom.copy()
    f_ref[7, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"not finite at frame\(s\) \[7\]"):
        force_smoothness_deviation(scan.r_angstrom, f_ref, f_ref, scan.energy_ref_ev, scan.positions_angstrom)


def test_emt_on_a_system_with_fluorine_fails_that_system_without_a_model_call(tmp_path):
    shutil.copytree(sample_root() / "C-C" / "20476", tmp_path / "C-C" / "20476")  # CH2F-CF3: EMT has no F
    shutil.copytree(sample_root() / "C-O" / "21541", tmp_path / "C-O" / "21541")  # methanol: EMT evaluates it
    out = run_fsd("emt", tmp_path, None, plots=False, progress=False)
    (failure,) = out["failures"]
    assert failure["system"] == "C-C/20476"
    assert failure["error"].startswith("model EMT does not support F")
