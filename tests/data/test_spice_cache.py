"""The cache of parsed BSCT-SPICE systems: a second read parses nothing, and a change is never missed."""

import shutil

import numpy as np
import pytest
from ase.io import read, write

import bsct.data.bsct_spice as bsct_spice
from bsct.data.bsct_spice import read_system, sample_root, system_dirs
from bsct.data.spice_cache import cache_root, load_system


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("BSCT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "bsct_spice"


@pytest.fixture
def system(tmp_path):
    src = system_dirs(sample_root(), ["C-O"])[0]
    dst = tmp_path / "set" / "C-O" / src.name
    shutil.copytree(src, dst)
    return dst


def _no_parsing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("an extxyz file was parsed")

    monkeypatch.setattr(bsct_spice, "read", refuse)


def _assert_same(a, b):
    assert (a.bond_type, a.system_id, a.smiles, a.bond_index, a.charge, a.n_dropped) == \
        (b.bond_type, b.system_id, b.smiles, b.bond_index, b.charge, b.n_dropped)
    for name in ("r_angstrom", "energy_ref_ev", "forces_ref_ev_per_angstrom", "fragment_labels", "positions_angstrom"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for fa, fb in zip(a.frames, b.frames, strict=True):
        assert np.array_equal(fa.numbers, fb.numbers) and np.array_equal(fa.cell.array, fb.cell.array)
        assert np.array_equal(fa.pbc, fb.pbc)


def test_second_load_parses_nothing_and_gives_the_same_system(cache_dir, system, monkeypatch):
    first = load_system(system)
    assert len(list(cache_dir.glob("*.npz"))) == 1
    _no_parsing(monkeypatch)
    second = load_system(system)
    monkeypatch.undo()
    _assert_same(first, read_system(system))
    _assert_same(second, read_system(system))


def test_a_changed_frame_is_parsed_again(cache_dir, system):
    load_system(system)
    frame = read(system / "atoms_5.xyz", format="extxyz")
    frame.calc.results["energy"] += 0.25
    write(system / "atoms_5.xyz", frame, format="extxyz")
    again = load_system(system)
    assert len(list(cache_dir.glob("*.npz"))) == 2
    assert again.energy_ref_ev[5] == pytest.approx(read_system(system).energy_ref_ev[5], abs=0)
    _assert_same(again, read_system(system))


@pytest.mark.parametrize("damage", ["garbage", "missing_field", "other_system"])
def test_a_corrupt_or_foreign_entry_is_rebuilt(cache_dir, system, tmp_path, damage):
    load_system(system)
    (entry,) = cache_dir.glob("*.npz")
    if damage == "garbage":
        entry.write_bytes(b"not a zip file")
    elif damage == "missing_field":  # e.g. written by an older version: its own key, one array short
        with np.load(entry) as data:
            kept = {k: data[k] for k in data.files if k != "cells"}
        with open(entry, "wb") as fh:
            np.savez(fh, **kept)
    else:  # a valid entry of another system under this system's name
        other = tmp_path / "other"
        shutil.copytree(system_dirs(sample_root(), ["N-O"])[0], other)
        load_system(other)
        (other_entry,) = set(cache_dir.glob("*.npz")) - {entry}
        shutil.copy(other_entry, entry)
    _assert_same(load_system(system), read_system(system))
    with np.load(entry) as data:  # rewritten, good for next time
        assert data["bond_type"] == "C-O"


def test_bsct_cache_dir_off_disables_the_cache(tmp_path, system, monkeypatch):
    monkeypatch.setenv("BSCT_CACHE_DIR", "off")
    monkeypatch.chdir(tmp_path)  # a cache taking "off" for a folder name would land in tmp_path/off
    assert cache_root() is None
    load_system(system)
    assert sorted(p.name for p in tmp_path.rglob("*.npz")) == ["partition.npz"]  # the system's own file only


def test_default_cache_is_under_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.delenv("BSCT_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "bsct" / "bsct_spice"


def test_second_fsd_run_of_another_model_reads_no_extxyz(cache_dir, monkeypatch):
    from bsct.fsd.run import run_fsd

    kw = dict(bond_types=["C-O", "N-O"], plots=False, progress=False)
    run_fsd("morse", **kw)  # fills the cache
    monkeypatch.setenv("BSCT_CACHE_DIR", "off")
    uncached = run_fsd("lj", **kw)
    monkeypatch.setenv("BSCT_CACHE_DIR", str(cache_dir.parent))
    _no_parsing(monkeypatch)
    cached = run_fsd("lj", **kw)
    def values(result):  # everything but wall times
        return {label: {k: v for k, v in row.items() if "seconds" not in k} for label, row in result["systems"].items()}

    assert cached["mean"] == uncached["mean"] and values(cached) == values(uncached)
