"""The committed ci datasets: present, small, valid, with provenance, and used by the loaders."""

import numpy as np
import pytest

from bsct.data import SPLITS, SYSTEMS, ci_path, load_dataset, read_structures
from bsct.data.generate import content_checksum, read_manifest
from bsct.data.io import get_energy, get_forces, get_stress, to_labelled_batch

PROVENANCE = ("system", "seed", "split", "config_type", "method", "method_params", "versions", "generator_version")
ELEMENTS = {"cu": {"Cu"}, "si": {"Si"}, "water": {"H", "O"}, "molecules": {"C", "H", "N", "O"}}


@pytest.mark.parametrize("system", SYSTEMS)
def test_ci_set_files_valid_and_small(system):
    for split in SPLITS:
        path = ci_path(system, split)
        assert path.stat().st_size <= 1_000_000, f"{path} exceeds 1 MB"
        frames = load_dataset(path)  # validates structures and labels
        assert len(frames) >= 3
        symbols = {s for a in frames for s in a.get_chemical_symbols()}
        assert symbols <= ELEMENTS[system]
        for atoms in frames:
            for key in PROVENANCE:
                assert key in atoms.info, f"{path}: {key} missing"
            assert atoms.info["split"] == split and atoms.info["system"] == system
            if atoms.pbc.all():
                assert get_stress(atoms) is not None


@pytest.mark.parametrize("system", SYSTEMS)
def test_ci_manifest_checksums_match_files(system):
    manifest = read_manifest(ci_path(system, "train").parent)
    assert manifest is not None
    for split in SPLITS:
        entry = manifest["files"][split]
        frames = read_structures(ci_path(system, split))
        assert entry["n_frames"] == len(frames)
        assert entry["content_sha256"] == content_checksum(frames)


def test_unseen_molecules_are_held_out():
    names = lambda split: {a.info["molecule"] for a in read_structures(ci_path("molecules", split))}
    in_dist = names("train") | names("val") | names("test")
    assert names("unseen") and not (names("unseen") & in_dist)


def test_unseen_structures_differ_from_pool():
    kinds = lambda system, split: {a.info["config_type"] for a in read_structures(ci_path(system, split))}
    for system in ("cu", "si", "water"):
        pool = kinds(system, "train") | kinds(system, "val") | kinds(system, "test")
        assert not (kinds(system, "unseen") & pool), system


def test_ci_path_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown system"):
        ci_path("gold", "train")
    with pytest.raises(ValueError, match="unknown split"):
        ci_path("cu", "holdout")
    assert ci_path("Cu", "val") == ci_path("copper", "val")


def test_labelled_batch_shapes():
    frames = read_structures(ci_path("cu", "val")) + read_structures(ci_path("molecules", "val"))
    lb = to_labelled_batch(frames)
    n_atoms = sum(len(a) for a in frames)
    assert lb.batch.n_systems == len(frames)
    assert tuple(lb.energy_ev.shape) == (len(frames),)
    assert tuple(lb.forces_ev_per_angstrom.shape) == (n_atoms, 3)
    assert tuple(lb.stress_ev_per_angstrom3.shape) == (len(frames), 3, 3)
    assert lb.has_stress.tolist() == [bool(a.pbc.all()) for a in frames]
    np.testing.assert_allclose(lb.energy_ev.numpy(), [get_energy(a) for a in frames])
    np.testing.assert_allclose(lb.forces_ev_per_angstrom.numpy(), np.concatenate([get_forces(a) for a in frames]))


def test_reference_path_finds_packaged_and_reports_missing(tmp_path, monkeypatch):
    from bsct.data import reference_path

    assert reference_path("cu", "val") == ci_path("cu", "val")
    assert reference_path("molecules", "train", size="full").parent.name == "molecules"
    monkeypatch.setenv("BSCT_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="bsct data generate si --size full --seed 0"):
        reference_path("si", "train", size="full")


@pytest.mark.slow
def test_committed_full_molecules_set_is_valid():
    from bsct.data import reference_path

    names, n_frames = set(), 0
    for split in SPLITS:
        path = reference_path("molecules", split, size="full")
        assert path.stat().st_size <= 1_000_000
        frames = load_dataset(path)
        n_frames += len(frames)
        if split == "unseen":
            assert not ({a.info["molecule"] for a in frames} & names)
        else:
            names |= {a.info["molecule"] for a in frames}
    assert n_frames >= 1000
