"""Are two runs of `bsct study` the same? Diff every result file of two output folders.

    python benchmarks/diff_study_runs.py /tmp/study-before /tmp/study-after

Compares JSON and JSONL files key by key (keys of timings, rates, wall times and versions
ignored), ``ablation.md`` line by line with its timing cells masked, ``.npz`` arrays exactly
(their JSON metadata as JSON), model checkpoints (``.pt``) by weights, configs and training
history without epoch times, and ``.xyz``/``.extxyz`` files byte for byte. The output folder's
own path may differ: it is replaced by ``<OUT>`` before comparing, and each step record's
fingerprint is checked against its own settings instead (settings that hold a path fingerprint
differently in another folder). A checkpoint's file hash (``potential.sha256``) is not compared:
the file holds its epochs' wall times; its contents are compared instead.
Prints each difference; exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from bsct.runs import fingerprint

IGNORED = ("second", "per_s", "wall", "timings", "versions", "epoch_time_s", "elapsed", "cost_ratio")


def ignored(key: str) -> bool:
    return any(part in key for part in IGNORED)


def strip(value):
    """``value`` without the keys of :data:`IGNORED` (at any depth), fingerprints and checkpoint hashes."""
    if isinstance(value, dict):
        checkpoint = str(value.get("spec", "")).endswith(".pt")
        return {k: strip(v) for k, v in value.items()
                if not ignored(k) and k != "fingerprint" and not (checkpoint and k == "sha256")}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def read_json(path: Path, root: Path | None = None) -> list:
    """The records of a JSON or JSONL file; with ``root``, its path replaced by ``<OUT>`` first."""
    text = path.read_text()
    if root is not None:
        text = text.replace(str(root), "<OUT>")
    return [json.loads(line) for line in text.splitlines() if line.strip()] if path.suffix == ".jsonl" \
        else [json.loads(text)]


def fingerprint_problems(records: list, where: str) -> list[str]:
    return [f"{where}: fingerprint does not match its settings" for r in records
            if isinstance(r, dict) and "fingerprint" in r and "settings" in r
            and r["fingerprint"] != fingerprint(r["settings"])]


def first_difference(a, b, where: str = "") -> str | None:
    if type(a) is not type(b):
        return f"{where}: {a!r} != {b!r}"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{where}: keys {list(a)} != {list(b)}"
        for k in a:
            diff = first_difference(a[k], b[k], f"{where}.{k}")
            if diff:
                return diff
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{where}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            diff = first_difference(x, y, f"{where}[{i}]")
            if diff:
                return diff
        return None
    return None if a == b else f"{where}: {a!r} != {b!r}"


def mask_markdown(text: str) -> list[str]:
    """Lines of ablation.md with the cells that hold wall times replaced by ``#``."""
    out, in_step_times = [], False
    for line in text.splitlines():
        line = re.sub(r"\d+ s this invocation", "# s this invocation", line)
        if line.startswith("Summed step times"):
            in_step_times = True
        elif in_step_times and not line.startswith("|") and line.strip():
            in_step_times = False
        if in_step_times and line.startswith("| ") and not line.startswith("| system"):
            line = re.sub(r"\d+\.\d+", "#", line)
        if line.startswith("- cost ratio BSCT s / MD s"):
            line = re.sub(r"median .*", "median #", line)
        cells = line.split(" | ")
        if len(cells) == 11 and " = " in cells[9]:  # a potential's row: cost and train time cells
            cells[9], cells[10] = "#", "# |"
            line = " | ".join(cells)
        out.append(line)
    return out


def _array_or_json(array: np.ndarray, root: Path):
    """A 0-d string array that holds JSON as its parsed, stripped content; anything else as is."""
    if array.dtype.kind == "U" and array.ndim == 0:
        try:
            return strip(json.loads(str(array).replace(str(root), "<OUT>")))
        except json.JSONDecodeError:
            return np.array(str(array).replace(str(root), "<OUT>"))
    return array


def compare_npz(a: Path, b: Path, before: Path, after: Path, name: str) -> str | None:
    with np.load(a, allow_pickle=False) as za, np.load(b, allow_pickle=False) as zb:
        if sorted(za.files) != sorted(zb.files):
            return f"{name}: arrays {sorted(za.files)} != {sorted(zb.files)}"
        for k in (k for k in za.files if not ignored(k)):
            x, y = _array_or_json(za[k], before), _array_or_json(zb[k], after)
            diff = (first_difference(x, y, f"{name}:{k}") if isinstance(x, dict)
                    else None if np.array_equal(x, y) else f"{name}: array {k} differs")
            if diff:
                return diff
    return None


def compare_checkpoints(a: Path, b: Path, before: Path, after: Path, name: str) -> str | None:
    import torch

    ca, cb = (torch.load(p, map_location="cpu", weights_only=False) for p in (a, b))
    if list(ca) != list(cb):
        return f"{name}: keys {list(ca)} != {list(cb)}"
    for key in ca:
        x, y = ca[key], cb[key]
        if isinstance(x, dict) and x and all(isinstance(v, torch.Tensor) for v in x.values()):
            if list(x) != list(y) or not all(torch.equal(x[t], y[t]) for t in x):
                return f"{name}: {key} differs"
            continue
        diff = first_difference(strip(json.loads(json.dumps(x, default=str).replace(str(before), "<OUT>"))),
                                strip(json.loads(json.dumps(y, default=str).replace(str(after), "<OUT>"))),
                                f"{name}:{key}")
        if diff:
            return diff
    return None


def compare(before: Path, after: Path) -> list[str]:
    problems = []
    names_a = {p.relative_to(before) for p in before.rglob("*") if p.is_file()}
    names_b = {p.relative_to(after) for p in after.rglob("*") if p.is_file()}
    for name in sorted(names_a ^ names_b):
        problems.append(f"{name}: only in {'before' if name in names_a else 'after'}")
    for name in sorted(names_a & names_b):
        a, b = before / name, after / name
        if name.suffix in (".json", ".jsonl"):
            ra, rb = read_json(a, before), read_json(b, after)
            problems += fingerprint_problems(read_json(a), f"before/{name}") + fingerprint_problems(read_json(b), f"after/{name}")
            diff = first_difference(strip(ra), strip(rb), str(name))
        elif name.suffix == ".md":
            la, lb = mask_markdown(a.read_text()), mask_markdown(b.read_text())
            diff = next((f"{name}:{i + 1}: {x!r} != {y!r}" for i, (x, y) in enumerate(zip(la, lb)) if x != y),
                        None if len(la) == len(lb) else f"{name}: {len(la)} != {len(lb)} lines")
        elif name.suffix == ".npz":
            diff = compare_npz(a, b, before, after, str(name))
        elif name.suffix == ".pt":
            diff = compare_checkpoints(a, b, before, after, str(name))
        elif name.suffix in (".xyz", ".extxyz"):
            diff = None if a.read_bytes() == b.read_bytes() else f"{name}: bytes differ"
        else:
            continue
        if diff:
            problems.append(diff)
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    problems = compare(args.before.resolve(), args.after.resolve())
    for p in problems:
        print(p)
    n = sum(1 for p in args.before.rglob("*") if p.suffix in (".json", ".jsonl", ".md", ".npz", ".pt", ".xyz", ".extxyz"))
    print(f"{n} result files compared: " + ("identical" if not problems else f"{len(problems)} difference(s)"))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
