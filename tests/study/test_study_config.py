"""The study's sizes, its zoo of potentials and the settings of one invocation."""

import dataclasses

import pytest

from bsct.data.reference import REFERENCE_SPECS, REFERENCES
from bsct.study.config import (
    CU_MORSE,
    KINDS,
    SIZES,
    VARIANTS,
    WEAKENED,
    PotentialJob,
    StudyConfig,
    potential_zoo,
)


def test_zoo_has_twelve_potentials_of_every_kind_on_cu_and_si():
    zoo = potential_zoo("cu", SIZES["ci"], third_party=True) + potential_zoo("si", SIZES["ci"], third_party=True)
    assert len(zoo) >= 12
    assert {j.kind for j in zoo} == set(KINDS)
    assert all(j.system == "cu" for j in zoo if j.kind == "planted")  # planted controls are labelled, Cu only
    assert len({(j.system, j.slug) for j in zoo}) == len(zoo)  # one folder per job


def test_zoo_order_and_size_dependent_entries():
    zoo = potential_zoo("cu", SIZES["small"])
    names = [j.name for j in zoo]
    assert names[:4] == list(VARIANTS) and names[4:4 + len(WEAKENED)] == [w["name"] for w in WEAKENED]
    assert names[4 + len(WEAKENED):] == ["emt", "morse (control)", "planted energy step"]
    under = next(j for j in zoo if j.name == "under-trained")
    assert under.max_steps == SIZES["small"].undertrained_steps == 5
    assert under.note == "final stopped after 5 optimiser steps"
    assert all(j.trained for j in zoo if j.kind in ("variant", "weakened"))
    assert all(j.spec is not None and not j.trained for j in zoo if j.kind in ("reference", "planted"))
    assert potential_zoo("si", SIZES["ci"], third_party=False, planted=True)[-1].name == "sw-si"  # no Si controls


def test_reference_job_runs_the_reference_method_and_a_slow_one_only_scans():
    for system in ("cu", "si", "water", "molecules"):
        (ref,) = [j for j in potential_zoo(system, SIZES["full"]) if j.kind == "reference"]
        assert ref.name == REFERENCES[system] and ref.spec == REFERENCE_SPECS[system]
        assert ref.scan_only == (system == "water")  # full size: the xTB water box is BSCT-only
    assert "accuracy=0.01" in REFERENCE_SPECS["molecules"]  # tight SCF for NVE drift


def test_slug_is_a_safe_folder_name():
    assert PotentialJob("cu", "+diffknn", "variant").slug == "plus-diffknn"
    assert PotentialJob("cu", "morse (control)", "planted").slug == "morse__control_"
    assert PotentialJob("cu", "T=0.05", "weakened").slug == "T_0.05"


def test_cu_planted_controls_hold_fcc_copper_at_the_data_lattice_constant():
    """The smooth control must be a stable crystal, or MD fails it (and its twin) for another reason."""
    from ase import units
    from ase.build import bulk

    from bsct.metrics.elastic import elastic_constants_cubic
    from bsct.potentials import TorchCalculator
    from bsct.registry import load_potential

    specs = {job.name: job.spec for job in potential_zoo("cu", SIZES["ci"], third_party=False) if job.kind == "planted"}
    control = load_potential(specs["morse (control)"])
    cell = bulk("Cu", "fcc", a=3.59, cubic=True)
    cell.calc = TorchCalculator(control)
    assert abs(cell.get_stress()[:3].mean() / units.GPa) < 0.5
    c = elastic_constants_cubic(cell, control, relax_internal=False)
    assert c["C11"] - c["C12"] > 20 and c["C11"] + 2 * c["C12"] > 100 and c["C44"] > 20  # Born criteria, with room
    assert CU_MORSE in specs["planted energy step"]  # the twin differs by the planted step only


def test_unknown_size_or_potential_is_a_clear_error():
    with pytest.raises(ValueError, match="study size"):
        StudyConfig(size="huge").jobs()
    with pytest.raises(ValueError, match="unknown potentials"):
        StudyConfig(systems=("cu",), potentials=("nope",)).jobs()


def test_jobs_keep_zoo_order_per_system_and_filter_by_name():
    cfg = StudyConfig(systems=("si", "cu"), potentials=("emt", "final", "sw-si"))
    assert [(j.system, j.name) for j in cfg.jobs()] == [("si", "final"), ("si", "sw-si"), ("cu", "final"), ("cu", "emt")]
    # a third-party name is known even when this study leaves third-party models out
    assert StudyConfig(systems=("cu",), potentials=("chgnet",)).jobs() == []


def test_sizes_are_data_and_serialise():
    assert SIZES["ci"].model_overrides["hidden_dim"] == 16 and SIZES["small"].model_overrides["hidden_dim"] == 32
    assert SIZES["full"].model_overrides == {}
    d = SIZES["full"].to_dict()
    assert d["slow_reference_systems"] == ("water",) and d["data_size"] == "full"
    assert dataclasses.replace(SIZES["ci"]) == SIZES["ci"]
