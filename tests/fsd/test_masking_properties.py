"""Property-based tests (hypothesis) of FSD's masking of non-finite reference frames: masking and then
the metric equals the metric on the frames kept; the reader masks exactly the broken frames."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from hypothesis import given, settings
from hypothesis import strategies as st

from bsct.data.bsct_spice import finite_frame_mask, read_system
from bsct.fsd.metric import force_smoothness_deviation

SETTINGS = settings(max_examples=50, deadline=None, derandomize=True)
FIELDS = ("energy", "forces", "positions")


@st.composite
def scan_with_broken_frames(draw):
    """(arrays of a clean scan, the same arrays with some frames broken, the broken frame indices)."""
    n_frames, n_atoms = draw(st.integers(4, 12)), draw(st.integers(2, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    clean = {
        "r": np.cumsum(rng.uniform(0.01, 0.2, n_frames)) + 0.5,
        "f_model": rng.normal(0, 3, (n_frames, n_atoms, 3)),
        "f_ref": rng.normal(0, 3, (n_frames, n_atoms, 3)),
        "e_ref": rng.normal(0, 1, n_frames),
        "positions": rng.normal(0, 2, (n_frames, n_atoms, 3)),
    }
    broken = draw(st.sets(st.integers(0, n_frames - 1), max_size=n_frames - 3))
    dirty = {k: v.copy() for k, v in clean.items()}
    for k in broken:
        value = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        field = draw(st.sampled_from(FIELDS))
        if field == "energy":
            dirty["e_ref"][k] = value
        else:
            key = "f_ref" if field == "forces" else "positions"
            dirty[key][k, draw(st.integers(0, n_atoms - 1)), draw(st.integers(0, 2))] = value
    return clean, dirty, sorted(broken)


def _fsd(a: dict, keep) -> dict:
    return force_smoothness_deviation(a["r"][keep], a["f_model"][keep], a["f_ref"][keep], a["e_ref"][keep],
                                      a["positions"][keep]).metrics()


@SETTINGS
@given(scan_with_broken_frames())
def test_masking_then_the_metric_equals_the_metric_on_the_frames_kept(case):
    clean, dirty, broken = case
    mask = finite_frame_mask(dirty["e_ref"], dirty["f_ref"], dirty["positions"])
    assert np.flatnonzero(~mask).tolist() == broken
    kept = np.setdiff1d(np.arange(len(clean["r"])), broken)
    assert _fsd(dirty, mask) == _fsd(clean, kept)
    if broken:
        with pytest.raises(ValueError, match="not finite"):
            _fsd(dirty, slice(None))


def _write_system(root: Path, a: dict, n_atoms: int) -> Path:
    """A BSCT-SPICE folder for the arrays (two-atom pair scan geometry is not needed by the reader)."""
    system = root / "C-C" / "1"
    system.mkdir(parents=True)
    r = a["r"]
    np.savez(system / "partition.npz", bond="C-C", bond_index=np.array([0, 1]), labels=np.array([0] + [1] * (n_atoms - 1)),
             perturb_range=np.array([r[0], r[-1], len(r)]))
    for k in range(len(r)):
        atoms = Atoms(f"C{n_atoms}", positions=a["positions"][k])
        atoms.calc = SinglePointCalculator(atoms, energy=a["e_ref"][k], forces=a["f_ref"][k])
        write(system / f"atoms_{k}.xyz", atoms, format="extxyz")
    return system


@SETTINGS
@given(scan_with_broken_frames())
def test_the_reader_masks_exactly_the_broken_frames(case):
    clean, dirty, broken = case
    n_frames, n_atoms = clean["f_ref"].shape[:2]
    dirty["r"] = np.linspace(0.8, 2.0, n_frames)  # the reader's grid is linspace(perturb_range)
    with tempfile.TemporaryDirectory() as tmp:
        scan = read_system(_write_system(Path(tmp), dirty, n_atoms))
    kept = np.setdiff1d(np.arange(n_frames), broken)
    assert scan.n_dropped == len(broken) and len(scan.frames) == len(kept)
    assert np.allclose(scan.r_angstrom, dirty["r"][kept])
    assert np.allclose(scan.forces_ref_ev_per_angstrom, clean["f_ref"][kept], atol=1e-7)
    assert np.allclose(scan.energy_ref_ev, clean["e_ref"][kept], atol=1e-7)
