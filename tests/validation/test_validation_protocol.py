"""The protocol file as data: what it holds, the errors that name a key, the ci override, the git hash."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

from bsct.runs import BadInput
from bsct.validation.protocol import (
    CI_OVERRIDES,
    DEFAULT_PROTOCOL,
    apply_overrides,
    check_protocol,
    load_protocol,
    protocol_git_hash,
)

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / DEFAULT_PROTOCOL


def raw() -> dict:
    return tomllib.loads(PROTOCOL.read_text())


def test_the_committed_protocol_loads_with_its_numbers():
    p = load_protocol(PROTOCOL)
    r = raw()
    assert list(p.systems) == list(r["systems"])
    assert p.systems["cu"].starts == tuple(r["systems"]["cu"]["starts"])
    assert p.md.nve_ps == r["md"]["nve_ps"] and p.md.seeds_per_start == r["md"]["seeds_per_start"]
    assert p.md.criteria == r["md"]["criteria"]
    assert p.md.failure_class("energy_drift") == "conservation" and p.md.failure_class("coordination") == "structural"
    assert p.md.failure_class(None) == ""
    assert p.split_of("sevennet") == "held_out" and p.split_of("transformer/baseline") == "calibration"
    assert p.data_size == "full" and p.tier == "full"


def test_the_md_criteria_are_those_of_stability_criteria():
    from bsct.md.criteria import StabilityCriteria

    p = load_protocol(PROTOCOL)
    assert StabilityCriteria(**p.md.criteria).max_energy_drift_mev_per_atom == raw()["md"]["criteria"][
        "max_energy_drift_mev_per_atom"]


@pytest.mark.parametrize("mutate, words", [
    (lambda r: r["md"].pop("nve_ps"), "[md] nve_ps"),
    (lambda r: r["md"].__setitem__("seeds_per_start", "16"), "[md] seeds_per_start must be int"),
    (lambda r: r["systems"]["cu"].pop("starts"), "[systems.cu] starts"),
    (lambda r: r["zoo"]["transformer"].__setitem__("seeds", [0, "1"]), "[zoo.transformer] seeds"),
    (lambda r: r["split"]["held_out"].append("chgnet"), "in both halves"),
    (lambda r: r["split"]["calibration"].remove("chgnet"), "does not place families ['chgnet']"),
    (lambda r: r["predictors"]["bsct"].__setitem__("pointz", 3), "unknown keys ['pointz']"),
    (lambda r: r.pop("budget"), "missing key [top level] budget"),
])
def test_a_broken_protocol_is_refused_naming_the_key(mutate, words):
    r = raw()
    mutate(r)
    with pytest.raises(BadInput) as err:
        check_protocol(r)
    assert words in str(err.value)


def test_an_unreadable_protocol_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        load_protocol(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[md\n")
    with pytest.raises(BadInput, match="not valid TOML"):
        load_protocol(bad)


def test_the_ci_tier_changes_only_what_its_table_names():
    full, ci = raw(), apply_overrides(raw(), CI_OVERRIDES)
    assert list(ci["systems"]) == CI_OVERRIDES["systems"]
    assert ci["md"]["nve_ps"] == CI_OVERRIDES["md.nve_ps"] and full["md"]["nve_ps"] != ci["md"]["nve_ps"]
    # everything the table does not name is the registered value
    assert ci["md"]["criteria"] == full["md"]["criteria"] and ci["split"] == full["split"]
    assert ci["zoo"]["transformer"]["configs"] == full["zoo"]["transformer"]["configs"]
    p = load_protocol(PROTOCOL, "ci")
    assert p.tier == "ci" and p.data_size == "ci" and p.transformer.epochs == CI_OVERRIDES["zoo.transformer.epochs"]


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_the_hash_is_the_last_commit_of_the_file_and_uncommitted_once_changed(tmp_path):
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@t")
    _git(tmp_path, "config", "user.name", "t")
    path = tmp_path / "protocol.toml"
    path.write_text(PROTOCOL.read_text())
    assert protocol_git_hash(path) == "uncommitted"  # not tracked
    _git(tmp_path, "add", "protocol.toml")
    _git(tmp_path, "commit", "-qm", "register")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    (tmp_path / "other.txt").write_text("x")
    _git(tmp_path, "add", "other.txt")
    _git(tmp_path, "commit", "-qm", "another file")
    assert protocol_git_hash(path) == commit  # the commit that last changed the protocol, not HEAD
    path.write_text(PROTOCOL.read_text() + "\n# edited\n")
    assert protocol_git_hash(path) == "uncommitted"
