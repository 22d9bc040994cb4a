"""One reading of ``--data``: ``ci:SYSTEM[/SPLIT]`` with the command's default split, else a file."""

from pathlib import Path

import pytest

from bsct.data import ci_path, parse_ci_arg, resolve_data_arg


def test_ci_names_take_the_default_split_unless_given():
    assert resolve_data_arg("ci:cu", default_split="test") == ci_path("cu", "test")
    assert resolve_data_arg("ci:cu", default_split="train") == ci_path("cu", "train")
    assert resolve_data_arg("ci:si/val", default_split="test") == ci_path("si", "val")


def test_anything_else_is_a_path():
    assert resolve_data_arg("frames.extxyz", default_split="test") == Path("frames.extxyz")
    assert resolve_data_arg("cu", default_split="test") == Path("cu")  # a bare name is a file here
    assert parse_ci_arg("frames.extxyz") is None
    assert parse_ci_arg("ci:water/unseen") == ("water", "unseen") and parse_ci_arg("ci:water") == ("water", None)


def test_unknown_split_or_system_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown split"):
        resolve_data_arg("ci:cu/nope", default_split="test")
    with pytest.raises(ValueError):
        resolve_data_arg("ci:argon", default_split="test")
