"""The zoo expanded from the protocol: its counts are the protocol's arithmetic (computed here from the
protocol's fields), families keep their pre-registered half, and a family that cannot be built is
dropped and reported, never reassigned."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

from bsct.validation import zoo as zoo_module
from bsct.validation.protocol import DEFAULT_PROTOCOL, load_protocol
from bsct.validation.trainers import checkpoint_epochs
from bsct.validation.zoo import expand_zoo

PROTOCOL = Path(__file__).resolve().parents[2] / DEFAULT_PROTOCOL
RAW = tomllib.loads(PROTOCOL.read_text())


def _dtype_factory(version, dtype="float32"):
    raise AssertionError("not called")


@pytest.fixture
def everything_installed(monkeypatch):
    """Every family buildable (trainers and packages present), and float64 twins supported."""
    from bsct import registry

    monkeypatch.setattr(zoo_module, "family_unavailable", lambda arch, family: None)
    monkeypatch.setattr(zoo_module, "_missing_packages", lambda packages: [])
    monkeypatch.setitem(registry.FAMILIES, "chgnet", _dtype_factory)
    monkeypatch.setitem(registry.FAMILIES, "sevennet", _dtype_factory)


def _product(table, *keys):
    return math.prod(len(table[k]) for k in keys)


def test_zoo_counts_are_the_protocols_arithmetic(everything_installed):
    z = expand_zoo(load_protocol(PROTOCOL))
    t, zoo = RAW["zoo"]["transformer"], RAW["zoo"]
    assert z.count("transformer") == _product(t, "configs", "seeds", "training_sets", "checkpoints_at_fraction",
                                             "systems") == 72
    for arch in ("schnetpack", "nequip"):
        assert z.count(arch) == _product(zoo[arch], "families", "seeds", "training_sets", "checkpoints_at_fraction",
                                         "systems") == 12
    pre = zoo["pretrained"]
    n_pre = (len(pre["chgnet"]) + len(pre["sevennet"]) + len(pre["float64_twins"])) * len(pre["systems"])
    assert z.count("chgnet") + z.count("sevennet") == n_pre == 18
    con = zoo["constructed_to_fail"]
    # weakened Transformers on every system; the planted Morse twins exist for Cu only
    n_con = len(con["weakened"]) * len(con["systems"]) + len(con["planted"])
    assert z.count("constructed") == n_con == 17
    assert len(z.potentials) == 72 + 12 + 12 + 18 + 17 and not z.dropped
    assert len(z.trainings()) == 72 // len(t["checkpoints_at_fraction"]) + 12 + 12 + len(con["weakened"]) * 3


def test_every_potential_keeps_its_familys_registered_half(everything_installed):
    z = expand_zoo(load_protocol(PROTOCOL))
    for pot in z.potentials:
        if pot.family.startswith("constructed/"):
            assert pot.split == "constructed"
        else:
            expected = "calibration" if pot.family in RAW["split"]["calibration"] else "held_out"
            assert pot.family in RAW["split"][expected] and pot.split == expected


def test_a_family_that_cannot_be_built_is_dropped_never_reassigned(monkeypatch, everything_installed):
    monkeypatch.setattr(zoo_module, "family_unavailable",
                        lambda arch, family: "not installable here" if family == "schnetpack/painn" else None)
    z = expand_zoo(load_protocol(PROTOCOL))
    assert z.dropped == {"schnetpack/painn": "not installable here"}
    assert z.count("schnetpack/painn") == 0
    held_out = {p.family for p in z.potentials if p.split == "held_out"}
    assert held_out == set(RAW["split"]["held_out"]) - {"schnetpack/painn"}
    assert all(p.split == "calibration" for p in z.potentials if p.family == "schnetpack/schnet")


def test_missing_packages_drop_families_here():
    """Without schnetpack and nequip installed, their families are reported as dropped."""
    z = expand_zoo(load_protocol(PROTOCOL))
    for family in ("schnetpack/schnet", "nequip/allegro"):
        if zoo_module.family_unavailable(family.split("/")[0], family):
            assert family in z.dropped and z.count(family) == 0
            assert "not installable here" in z.dropped[family]


def test_checkpoints_along_training():
    assert checkpoint_epochs([0.25, 1.0], 30) == [8, None]  # round(7.5) = 8; the trained model at the end
    assert checkpoint_epochs([0.25, 1.0], 2) == [1, None]
