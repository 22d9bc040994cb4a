"""The before/after comparison of benchmarks/compare_behaviour.py: what counts as the same result
(timings, versions and source-tree paths ignored) and what is reported as a difference."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("compare_behaviour", ROOT / "benchmarks" / "compare_behaviour.py")
cb = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = cb
spec.loader.exec_module(cb)

TREES = [Path("/tmp/base-tree"), Path("/work/repo")]


def test_json_ignores_timings_versions_and_tree_paths_but_not_md_times():
    a = {"score": 1.5, "timings": {"wall_seconds": 3.0}, "eval_seconds": 1.0, "versions": {"torch": "2"},
         "frames_per_second": 10.0, "cost_ratio_bsct_over_md": 0.1, "data": "/tmp/base-tree/src/x",
         "md": {"time_ps": 0.2, "time_to_failure_ps": 0.1}}
    b = {"score": 1.5, "timings": {"wall_seconds": 9.0}, "eval_seconds": 2.0, "versions": {"torch": "3"},
         "frames_per_second": 20.0, "cost_ratio_bsct_over_md": 0.3, "data": "/work/repo/src/x",
         "md": {"time_ps": 0.2, "time_to_failure_ps": 0.1}}
    assert cb.json_diffs(cb.normalise(a, TREES), cb.normalise(b, TREES)) == []
    b["md"]["time_to_failure_ps"] = 0.15
    b["score"] = 1.5000000001
    assert cb.json_diffs(cb.normalise(a, TREES), cb.normalise(b, TREES)) == [
        ".score: 1.5 vs 1.5000000001", ".md.time_to_failure_ps: 0.1 vs 0.15"]


def test_json_reports_key_order_missing_keys_lengths_and_types():
    assert cb.json_diffs({"a": 1, "b": 2}, {"b": 2, "a": 1}) == [".: key order differs"]
    assert cb.json_diffs({"a": 1}, {"a": 1, "c": 2}) == [".: keys only in base [], only in current ['c']"]
    assert cb.json_diffs({"a": [1, 2]}, {"a": [1]}) == [".a: length 2 vs 1"]
    assert cb.json_diffs({"a": 1}, {"a": 1.0}) == [".a: 1 vs 1.0"]
    assert cb.json_diffs({"a": float("nan")}, {"a": float("nan")}) == []


def test_text_masks_durations_and_time_columns_of_markdown_tables():
    base = "| potential | score | train s | cost |\n|---|---:|---:|---:|\n| final | 0.25 | 12.3 | 4 |\ndone in 3.4 s\n"
    same = "| potential | score | train s | cost |\n|---|---:|---:|---:|\n| final | 0.25 | 15.1 | 7 |\ndone in 12 s\n"
    other = "| potential | score | train s | cost |\n|---|---:|---:|---:|\n| final | 0.26 | 15.1 | 7 |\ndone in 12 s\n"
    assert cb.text_diffs(base, same, TREES) == []
    (diff,) = cb.text_diffs(base, other, TREES)
    assert diff.startswith("line 3:") and "0.25" in diff and "0.26" in diff
    assert cb.text_diffs("a\nb\n", "a\n", TREES) == ["2 vs 1 lines"]


def test_npz_compares_arrays_exactly_and_json_metadata_without_timings(tmp_path):
    def save(name, forces, seconds):
        meta = json.dumps({"model": "morse", "row": {"fsd": 1.0, "eval_seconds": seconds}})
        np.savez(tmp_path / name, forces=forces, meta=np.array(meta), meta_eval_seconds=np.array(seconds))
        return tmp_path / name

    f = np.array([[0.1, np.nan], [0.3, 0.4]])
    assert cb.npz_diffs(save("a.npz", f, 0.5), save("b.npz", f.copy(), 12.25), TREES) == []
    g = f.copy()
    g[1, 1] += 1e-12
    (diff,) = cb.npz_diffs(save("a.npz", f, 0.5), save("c.npz", g, 0.5), TREES)
    assert diff.startswith("forces: 1 value(s) differ")


def test_folders_list_files_on_one_side_and_each_difference(tmp_path):
    base, current = tmp_path / "base", tmp_path / "current"
    for root, score in ((base, 1.0), (current, 2.0)):
        (root / "plots").mkdir(parents=True)
        (root / "results.json").write_text(json.dumps({"score": score, "wall_seconds": score}))
        (root / "plots" / "a.png").write_bytes(b"\x89PNG same")
    (base / "old.json").write_text("{}")
    (current / "plots" / "b.png").write_bytes(b"\x89PNG new")
    assert cb.compare_dirs(base, current, TREES) == [
        "old.json: only in base", "plots/b.png: only in current", "results.json: .score: 1.0 vs 2.0"]


def test_study_timing_prose_and_tables_announced_as_timings_are_masked():
    base = ("- cost ratio BSCT s / MD s (n = 22): median 0.34\n\nSummed step times (worker-hours; ...):\n\n"
            "| system | train | MD |\n|---|---|---|\n| cu | 0.02 | 0.06 |\n\nErrors by structure type:\n\n"
            "| split | frames |\n|---|---|\n| test | 2 |\n")
    same = base.replace("0.34", "0.37").replace("0.02 | 0.06", "0.00 | 0.03")
    assert cb.text_diffs(base, same, TREES) == []
    assert cb.text_diffs(base, same.replace("| test | 2 |", "| test | 3 |"), TREES) != []
    assert cb.text_diffs(base, same.replace("| cu |", "| si |"), TREES) != []  # the row's name still counts


def test_a_checkpoints_hash_is_the_same_placeholder_on_both_sides(tmp_path):
    base, current = tmp_path / "base", tmp_path / "current"
    for root, history in ((base, b"epoch 1.5 s"), (current, b"epoch 2.5 s")):
        (root / "cu").mkdir(parents=True)
        (root / "cu" / "model.pt").write_bytes(history)
        sha = cb.checkpoint_hashes(root)[0][0]
        (root / "cu" / "run.json").write_text(json.dumps({"potential": {"sha256": sha}}))
    diffs = cb.compare_dirs(base, current, TREES)
    assert [d for d in diffs if d.startswith("cu/run.json")] == []
    assert [d.split(":")[0] for d in diffs] == ["cu/model.pt"]  # the checkpoints themselves are compared
