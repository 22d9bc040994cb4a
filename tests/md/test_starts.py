"""MD start frames: no distorted frames, compositions round-robin, lowest reference force first."""

import numpy as np
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator

from bsct.md.starts import DISTORTED_KINDS, MD_START, max_reference_force, md_start_frames


def frame(name, kind, fmax):
    a = molecule(name)
    a.calc = SinglePointCalculator(a, energy=0.0, forces=np.full((len(a), 3), fmax / np.sqrt(3)))
    a.info["config_type"] = kind
    return a


def test_md_starts_skip_distorted_frames_and_cycle_compositions():
    frames = [frame("CH4", "md_300K", 2.0), frame("CH4", "rattled", 0.1), frame("CH4", "md_1000K", 1.0),
              frame("NH3", "stretched", 0.1), frame("NH3", "md_300K", 1.5), frame("H2O", "liquid_1700K", 0.1)]
    starts = md_start_frames(frames)
    assert [(a.get_chemical_formula(), a.info["config_type"]) for a in starts] == [
        ("CH4", "md_1000K"), ("H3N", "md_300K"), ("CH4", "md_300K")]  # lowest force first, then round-robin


def test_only_distorted_frames_are_all_used_and_unlabelled_ones_keep_file_order():
    frames = [frame("CH4", "rattled", 0.5), frame("CH4", "stretched", 0.1)]
    assert [a.info["config_type"] for a in md_start_frames(frames)] == ["stretched", "rattled"]
    bare = [molecule("CH4"), molecule("CH4")]
    for i, a in enumerate(bare):
        a.info["config_type"] = f"md_{i}"
    assert max_reference_force(bare[0]) == 0.0
    assert [a.info["config_type"] for a in md_start_frames(bare)] == ["md_0", "md_1"]  # stable sort


def test_max_reference_force_and_the_rule_description():
    assert max_reference_force(frame("H2O", "md", 3.0)) == np.float64(3.0 / np.sqrt(3))
    assert all(kind in MD_START for kind in DISTORTED_KINDS)
