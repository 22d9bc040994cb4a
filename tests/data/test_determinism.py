"""Same seed -> same data, different seed -> different data; the cache skips regeneration."""

import numpy as np
import pytest
from ase.build import bulk

from bsct.data.generate import content_checksum, generate, split_pool
from bsct.data.reference import EMT_CU
from bsct.data.sampling import child_rng
from bsct.data.systems import molecules
from bsct.data.systems._common import md_frames


def _cu_md(seed):
    return md_frames(lambda rng: bulk("Cu", "fcc", a=3.59, cubic=True), EMT_CU.factory, 3, seed, "md", 600.0,
                     5.0, 10, 5, 2, lambda: None)


def test_md_sampling_deterministic_by_seed():
    a, b, c = _cu_md(7), _cu_md(7), _cu_md(8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.positions, y.positions)
    assert not np.allclose(a[0].positions, c[0].positions)


def test_child_rng_independent_of_other_keys():
    assert child_rng(1, "cu", 0).random() == child_rng(1, "cu", 0).random()
    assert child_rng(1, "cu", 0).random() != child_rng(1, "cu", 1).random()
    assert child_rng(1, "cu", 0).random() != child_rng(2, "cu", 0).random()


def test_split_is_a_deterministic_partition():
    pool = list(range(50))
    s1, s2 = split_pool(pool, 3), split_pool(pool, 3)
    assert s1 == s2
    assert sorted(s1["train"] + s1["val"] + s1["test"]) == pool
    assert len(s1["val"]) == len(s1["test"]) == 5
    assert split_pool(pool, 4) != s1


@pytest.fixture
def tiny_molecules(monkeypatch):
    """A three-molecule, one-held-out version of the molecules recipe (real xTB, small)."""
    monkeypatch.setattr(molecules, "TRAIN_MOLECULES", ("H2O", "NH3", "CH4"))
    monkeypatch.setattr(molecules, "UNSEEN_MOLECULES", ("HCN",))
    monkeypatch.setattr(molecules, "MD_EQUIL_STEPS", 10)
    monkeypatch.setattr(molecules, "MD_STRIDE_STEPS", 5)
    monkeypatch.setitem(molecules.SIZES, "ci", {"md_300K": 1, "md_1000K": 0, "rattled": 1, "stretched": 1})


def test_generate_same_seed_same_data_and_cache(tiny_molecules, tmp_path):
    m1 = generate("molecules", "ci", seed=5, out_dir=tmp_path / "a", progress=False)
    m2 = generate("molecules", "ci", seed=5, out_dir=tmp_path / "b", progress=False)
    m3 = generate("molecules", "ci", seed=6, out_dir=tmp_path / "c", progress=False)
    for split in ("train", "val", "test", "unseen"):
        assert m1["files"][split]["content_sha256"] == m2["files"][split]["content_sha256"]
    assert m1["files"]["train"]["content_sha256"] != m3["files"]["train"]["content_sha256"]
    assert sum(f["n_frames"] for f in m1["files"].values()) == 4 * 3

    train = tmp_path / "a" / "train.extxyz"
    mtime = train.stat().st_mtime_ns
    m4 = generate("molecules", "ci", seed=5, out_dir=tmp_path / "a", progress=False)
    assert m4 == m1 and train.stat().st_mtime_ns == mtime  # cached: nothing rewritten

    train.write_text(train.read_text().replace("GFN2-xTB", "GFN1-xTB", 1))  # tamper -> regenerated
    m5 = generate("molecules", "ci", seed=5, out_dir=tmp_path / "a", progress=False)
    assert m5["files"]["train"]["content_sha256"] == m1["files"]["train"]["content_sha256"]
    assert "GFN1-xTB" not in train.read_text()


def test_checksum_ignores_provenance_but_not_numbers():
    from bsct.data import ci_path, read_structures

    frames = read_structures(ci_path("cu", "val"))
    ref = content_checksum(frames)
    frames[0].info["versions"] = "ase=0"
    assert content_checksum(frames) == ref
    frames[0].positions[0, 0] += 1e-3
    assert content_checksum(frames) != ref


@pytest.mark.parametrize("system", ["cu", "si", "water", "molecules"])
def test_committed_ci_sets_are_what_the_generator_makes(system, tmp_path, capsys):
    """The committed manifest key equals the current generator's, so `bsct data generate` finds
    the committed set cached (and would regenerate it, not something else)."""
    import shutil

    from bsct.cli import main
    from bsct.data import ci_path

    target = tmp_path / system
    shutil.copytree(ci_path(system, "train").parent, target)
    before = {p.name: p.stat().st_mtime_ns for p in target.iterdir()}
    assert main(["data", "generate", system, "--size", "ci", "--seed", "0", "--out", str(target), "--no-progress"]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in target.iterdir()} == before
    assert "content_sha256" in capsys.readouterr().out
