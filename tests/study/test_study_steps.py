"""The steps of a study job: their inputs, and that their settings (the cache keys) are those of
the study before it became a package."""

import dataclasses
from pathlib import Path

import pytest

from bsct.runs import fingerprint
from bsct.study import steps
from bsct.study.config import SIZES, StudyConfig, potential_zoo


def test_full_size_trains_on_the_full_datasets():
    assert SIZES["full"].data_size == "full" and SIZES["small"].data_size == "ci"
    assert steps.data_settings(SIZES["small"]) == {}  # caches of the ci-data sizes keep their fingerprints
    assert steps.data_settings(SIZES["full"]) == {"data": "full"}
    # the full molecules set ships with the package; the other full sets are generated on first use
    assert len(steps.study_frames("molecules", "test", "full")) > 2 * len(steps.study_frames("molecules", "test", "ci"))


def test_bsct_scans_the_largest_periodic_frame_or_every_molecule():
    from ase.build import bulk, molecule

    small, large = bulk("Cu", cubic=True), bulk("Cu", cubic=True).repeat(2)
    assert steps.bsct_frames([small, large, small]) == [large]
    mols = [molecule("CH4"), molecule("H2O")]
    assert steps.bsct_frames(mols) == mols


def test_elastic_crystals_are_the_cubic_cells_of_cu_and_si():
    cu, si = steps.elastic_crystal("cu"), steps.elastic_crystal("si")
    assert cu.get_chemical_formula() == "Cu4" and cu.cell[0, 0] == pytest.approx(3.6)
    assert si.get_chemical_formula() == "Si8" and si.cell[0, 0] == pytest.approx(5.43)
    assert steps.elastic_crystal("water") is None


def _record_settings(monkeypatch) -> dict:
    """Replace the cached step by one that records each step's settings and computes nothing."""
    seen: dict = {}

    def fake_cached_step(path, settings, compute, force=False):
        seen[Path(path).stem] = settings
        return {"fingerprint": fingerprint(settings), "checkpoint": "model.pt"}

    monkeypatch.setattr(steps, "cached_step", fake_cached_step)
    return seen


# Fingerprints the study wrote for the ci-size Cu jobs (seed 0) before it became a package:
# they are the cache keys of every existing study folder, so they must not change.
EMT_FINGERPRINTS = {"errors": "76a404335f55e1ff", "bsct": "a9521eac9c35cf91", "fsd": "ceb0e6180d000b25",
                    "md": "774123ca66542379"}
FINAL_TRAIN_FINGERPRINT = "c5e5dd568c87c7cd"


def test_step_settings_keep_the_fingerprints_of_existing_caches(monkeypatch, tmp_path):
    seen = _record_settings(monkeypatch)
    cfg = StudyConfig(systems=("cu",), size="ci", out_dir=str(tmp_path), seed=0)
    fsd_root = steps.fsd_set_root(cfg, "cu")
    fsd_root.mkdir(parents=True)
    (fsd_root / "make_scans.json").write_text("{}")  # the set exists: the FSD step does not make it
    jobs = {j.name: j for j in potential_zoo("cu", SIZES["ci"])}
    emt = jobs["emt"]
    for step in (steps.errors_step, steps.bsct_step, steps.fsd_step, steps.md_step):
        step(emt, emt.spec, cfg, tmp_path / "cu" / emt.slug, emt.spec)
    assert {k: fingerprint(v) for k, v in seen.items()} == EMT_FINGERPRINTS
    steps.train_step(jobs["final"], cfg, tmp_path / "cu" / "final")
    assert fingerprint(seen["train"]) == FINAL_TRAIN_FINGERPRINT


def test_elastic_and_third_party_settings(monkeypatch, tmp_path):
    seen = _record_settings(monkeypatch)
    cfg = StudyConfig(systems=("cu",), size="full", out_dir=str(tmp_path), third_party=True)
    jobs = {j.name: j for j in potential_zoo("cu", SIZES["full"], third_party=True)}
    steps.elastic_step(jobs["emt"], "emt", cfg, tmp_path, "emt")
    assert seen["elastic"] == {"potential": "emt", "depends": "emt", "crystal": "Cu4", "a_guess": 3.6,
                               "volume_scales": [0.94, 0.97, 1.0, 1.03, 1.06]}
    steps.md_step(jobs["chgnet"], "chgnet", cfg, tmp_path, "chgnet")
    md = seen["md"]["md"]
    full = SIZES["full"]
    assert (md["replicas"], md["time_ps"]) == (full.third_party_md_replicas, full.third_party_md_time_ps)
    assert md["equilibration_ps"] == 0.02 < full.md_equilibration_ps
    assert seen["md"]["data"] == "full"
    steps.bsct_step(jobs["chgnet"], "chgnet", cfg, tmp_path, "chgnet")
    assert seen["bsct"]["scan_range"]["n_points"] == full.third_party_bsct_points
    assert seen["bsct"]["scan_range"]["past_cutoff_angstrom"] == -1e6


def test_fsd_step_in_a_cached_only_run_does_not_make_the_set(tmp_path):
    from bsct.runs import NotCached, cached_only, reset_cached_only

    cfg = StudyConfig(systems=("cu",), size="ci", out_dir=str(tmp_path))
    emt = next(j for j in potential_zoo("cu", SIZES["ci"]) if j.name == "emt")
    token = cached_only(True)
    try:
        with pytest.raises(NotCached):
            steps.fsd_step(emt, emt.spec, cfg, tmp_path / "cu" / "emt", emt.spec)
    finally:
        reset_cached_only(token)
    assert not steps.fsd_set_root(cfg, "cu").exists()
    assert dataclasses.replace(cfg).out_dir == str(tmp_path)
