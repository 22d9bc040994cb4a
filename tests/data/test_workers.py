"""Several worker processes give the same files as one; Si's fast sampler computes SW exactly."""

import json

import numpy as np
import pytest

from bsct.data import SPLITS, ci_path, read_structures
from bsct.data.generate import generate
from bsct.data.systems import cu, molecules, si, water

TINY_CU = {"md32_300K": 3, "md32_600K": 0, "md32_1200K": 0, "md108": 0, "strained": 4, "rattled": 3,
           "vacancy": 0, "slab111": 0, "unseen_bcc": 2, "unseen_hcp": 0, "unseen_fcc100": 0, "unseen_fcc110": 0}


@pytest.mark.slow
def test_two_workers_write_the_same_files_as_one(monkeypatch, tmp_path):
    """The real Cu recipe cut to its MD, strained, rattled and one unseen task (a few frames each)."""
    monkeypatch.setitem(cu.SIZES, "ci", TINY_CU)  # counts are read in this process, tasks carry them
    real = cu.sample_tasks
    monkeypatch.setattr(cu, "sample_tasks", lambda size, seed: [t for t in real(size, seed) if t.n_frames])
    one = generate("cu", "ci", seed=3, out_dir=tmp_path / "one", progress=False, workers=1)
    two = generate("cu", "ci", seed=3, out_dir=tmp_path / "two", progress=False, workers=2)
    assert [f["n_frames"] for f in one["files"].values()] == [8, 1, 1, 2]
    for split in SPLITS:
        assert (tmp_path / "one" / f"{split}.extxyz").read_bytes() == (tmp_path / "two" / f"{split}.extxyz").read_bytes()
    assert two["workers"] == 2 and one["key"] == two["key"]


def test_workers_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="workers"):
        generate("cu", "ci", out_dir=tmp_path, progress=False, force=True, workers=0)


def test_tasks_cover_the_recipe_counts():
    n_molecules = len(molecules.TRAIN_MOLECULES) + len(molecules.UNSEEN_MOLECULES)
    for size in ("ci", "full"):
        for module in (cu, si, water):
            assert sum(t.n_frames for t in module.sample_tasks(size, 0)) == sum(module.SIZES[size].values())
        assert sum(t.n_frames for t in molecules.sample_tasks(size, 0)) == sum(molecules.SIZES[size].values()) * n_molecules


def test_full_sets_meet_the_issue_sizes():
    total = lambda module: sum(t.n_frames for t in module.sample_tasks("full", 0))
    assert total(cu) >= 1000 and total(si) >= 1000 and total(molecules) >= 1000 and total(water) >= 500


def test_si_sampler_calculator_is_bitwise_stock_stillinger_weber():
    """Sampling uses matscipy's SW without its unused j-k pair search; the numbers must not move."""
    frames = read_structures(ci_path("si", "train"))[::8] + read_structures(ci_path("si", "unseen"))[::4]
    for atoms in frames:
        stock, fast = atoms.copy(), atoms.copy()
        stock.calc, fast.calc = si.METHOD.calculator(), si.sampler_calculator()
        assert fast.get_potential_energy() == stock.get_potential_energy()
        np.testing.assert_array_equal(fast.get_forces(), stock.get_forces())
        np.testing.assert_array_equal(fast.get_stress(), stock.get_stress())


def test_study_makes_a_missing_dataset_once_before_its_jobs(monkeypatch, tmp_path):
    """``bsct study`` generates a non-packaged set in the parent (parallel jobs would each make it),
    writes every split whole (no temporary files left, checksums of what is on disk) and then
    finds it cached."""
    from bsct.runs import file_sha256
    from bsct.study import StudyConfig, run_study

    monkeypatch.setenv("BSCT_DATA_DIR", str(tmp_path))
    monkeypatch.setitem(cu.SIZES, "full", TINY_CU)
    real = cu.sample_tasks
    monkeypatch.setattr(cu, "sample_tasks", lambda size, seed: [t for t in real(size, seed) if t.n_frames])
    # no potentials: run_study does only what comes before its jobs
    cfg = StudyConfig(systems=("cu",), size="full", out_dir=str(tmp_path / "study"), potentials=(), progress=False)
    run_study(cfg, n_workers=2)
    out = tmp_path / "cu-full-seed0"
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{s}.extxyz" for s in SPLITS] + ["manifest.json"])
    assert manifest["workers"] == 2
    for split in SPLITS:
        assert manifest["files"][split]["sha256"] == file_sha256(out / f"{split}.extxyz")
    stamp = (out / "train.extxyz").stat().st_mtime_ns
    run_study(cfg, n_workers=2)
    assert (out / "train.extxyz").stat().st_mtime_ns == stamp
