"""Every result file of the project goes through write_json: whole or not at all."""

import json

import numpy as np
import pytest

from bsct.runs import clean_json, write_json


def test_write_json_round_trips_and_leaves_no_temporary_file(tmp_path):
    path = write_json(tmp_path / "a.json", clean_json({"e_ev": np.float64(1.5), "bad": float("nan")}), indent=2)
    assert json.loads(path.read_text()) == {"e_ev": 1.5, "bad": None}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    path = write_json(tmp_path / "a.json", {"step": 1})
    with pytest.raises(TypeError):
        write_json(path, {"step": 2, "not json": object()})
    assert json.loads(path.read_text()) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
