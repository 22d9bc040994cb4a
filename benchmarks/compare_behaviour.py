"""Before/after behaviour diff of a refactor (issue #21, item 7): run the same commands on a base
revision and on the current working tree and compare every result file they write.

    .venv/bin/python benchmarks/compare_behaviour.py [--base 837386c] [--cache-base DIR] [--only demo,fsd-xtb]

Commands (``COMMANDS`` below), each through the CLI only (``python -m bsct.cli``, never an import of
bsct, so the script works whatever the module layout of either revision):

- ``demo``: ``bsct demo`` (planted artifacts and smooth references, 11 cases);
- ``fsd-xtb``: ``bsct fsd --model xtb:GFN2-xTB`` on the shipped BSCT-SPICE subset (9 systems; the
  ASE-calculator path), ``fsd-morse``: the same with the torch Morse (the batched path);
- ``diatomics-emt`` / ``diatomics-morse``: ``bsct diatomics`` on H, C, O, Cu and C-O, Cu-H;
- ``study``: the ci-sized study, ``bsct study --size ci`` on Cu and water only: the whole ci study
  (cu, si, water, molecules) takes well over 10 min on the 2-core machine, Cu holds every kind of
  potential (variants, weakened, reference, control, planted) and water adds a molecular system
  with the xTB reference.

The base revision is checked out with ``git worktree add`` into a temporary folder and run with
``PYTHONPATH=<that worktree>/src``, the current tree with ``PYTHONPATH=<repo>/src``, both by this
interpreter (``sys.executable``; a check first makes sure each side imports its own ``bsct``). Each
side gets one thread (OMP/MKL/OpenBLAS/torch), ``PYTHONHASHSEED=0`` and its own HOME, XDG cache,
matplotlib and ``BSCT_DATA_DIR`` folders, so the two runs share no cache. Both sides write into the
same absolute folder (``RUN_DIR``, then moved away): the study fingerprints its settings, which hold
paths of its output (checkpoints), so only an identical path gives identical fingerprints. Paths of
the source trees in results are replaced by ``<TREE>`` before comparing.

What counts as the same:
- ``.json`` / ``.jsonl``: equal after dropping keys that hold timings or versions (names containing
  seconds, wall, timing, versions, elapsed, or ending ``_time_s``, ``_per_s``, ``per_second``, or
  starting ``cost_ratio``; a bare "time" is not enough: ``time_ps`` or ``time_to_failure_ps`` are
  results and are compared), floats exactly (NaN equal to NaN);
- ``.npz`` / ``.npy``: same names, dtypes, shapes and values exactly (arrays named like the timing
  keys above, e.g. ``meta_eval_seconds``, only need to exist on both sides); a string array that
  holds JSON (the FSD predictions' ``meta``) is compared as JSON above;
- ``.md``, ``.txt``, ``.html``, ``.csv``, ``.log`` and each command's stdout: line by line with
  durations (``3.4 s``, ``12 ms``, ``0:01:02``), prose lines of cost ratios and worker-hours, the
  cells of markdown table columns whose header names a time or cost (``train s``, ``cost``,
  ``wall``) and the tables announced as timings (the study's summed step times) masked;
- ``.pt`` checkpoints: bytes, else the loaded content (``torch.load(weights_only=True)``) as JSON
  above (tensors exactly, ``epoch_time_s`` of the history ignored); a checkpoint's sha256 in
  other results (the potential's identity) is replaced by ``<sha256 of PATH>`` on both sides,
  since the history's epoch times change the bytes of identical weights;
- anything else (PNG plots included): bytes.
Files that exist on one side only are listed. Prints per command ``identical`` or its differences;
exit 0 iff every command is identical (and ran with exit code 0 on both sides).

``--cache-base DIR`` keeps the base outputs (with a manifest of the revision and each command's
arguments) so a second run only recomputes the current tree.

Runtime on the 2-core development machine, measured while other helpers' studies and test suites
ran on the same two cores (so an idle machine is faster): first run 31 min, of which the base side
22 min (demo 89 s, fsd 64 + 34 s, diatomics 48 + 30 s, study 1045 s) and the current side 9 min
(demo 121 s, fsd 21 + 8 s, diatomics 10 + 7 s, study 355 s); with ``--cache-base`` a second run
only recomputes the current side: 17 min (study 831 s while the test suite ran beside it).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BASE = "837386c"  # the last commit before the issue #21 refactor
RUN_DIR = Path(tempfile.gettempdir()) / "bsct-behaviour-run"  # same absolute output path on both sides

COMMANDS: dict[str, list[str]] = {
    "demo": ["demo", "--out", "{out}"],
    "fsd-xtb": ["fsd", "--model", "xtb:GFN2-xTB", "--out", "{out}"],
    "fsd-morse": ["fsd", "--model", "morse", "--out", "{out}"],
    "diatomics-emt": ["diatomics", "--model", "emt", "--elements", "H,C,O,Cu", "--pairs", "C-O,Cu-H",
                      "--out", "{out}", "--no-progress"],
    "diatomics-morse": ["diatomics", "--model", "morse", "--elements", "H,C,O,Cu", "--pairs", "C-O,Cu-H",
                        "--out", "{out}", "--no-progress"],
    "study": ["study", "--systems", "cu,water", "--size", "ci", "--seed", "0", "--out", "{out}", "--no-progress"],
}

IGNORED_KEY = re.compile(r"seconds|wall|timing|versions|elapsed|_time_s$|_per_s$|per_second|^cost_ratio", re.I)
TIMING_LINE = re.compile(r"cost ratio|worker-hours", re.I)  # prose lines made of timings
DURATION = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:e[-+]?\d+)?\s?(?:s|ms|us|µs|min|h)\b|\b\d+:\d\d:\d\d(?:\.\d+)?\b")
TIME_HEADER = re.compile(r"(?:^|\W)(?:s|sec|seconds|min|h|wall|time|cost|ms)(?:\W|$)", re.I)
TEXT_SUFFIXES = {".md", ".txt", ".html", ".csv", ".log", ".stdout"}
MAX_SHOWN = 25


# ---------------------------------------------------------------- running one side


def side_env(tree: Path, scratch: Path) -> dict[str, str]:
    """Environment of one side: its own source tree first, one thread, no shared caches."""
    env = dict(os.environ)
    for name in ("home", "cache", "mpl", "datasets"):
        (scratch / name).mkdir(parents=True, exist_ok=True)
    env.update({
        "PYTHONPATH": str(tree / "src"), "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1",
        "HOME": str(scratch / "home"), "XDG_CACHE_HOME": str(scratch / "cache"),
        "MPLCONFIGDIR": str(scratch / "mpl"), "BSCT_DATA_DIR": str(scratch / "datasets"),
        "MPLBACKEND": "Agg",
    })
    return env


def check_imports_own_tree(tree: Path, env: dict[str, str]) -> None:
    where = subprocess.run([sys.executable, "-c", "import bsct; print(bsct.__file__)"], env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    if not Path(where).resolve().is_relative_to((tree / "src").resolve()):
        raise SystemExit(f"PYTHONPATH={tree / 'src'} imports bsct from {where}, not from that tree")


@contextlib.contextmanager
def run_dir_lock():
    """One comparison at a time may use RUN_DIR."""
    RUN_DIR.parent.mkdir(parents=True, exist_ok=True)
    with open(str(RUN_DIR) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def run_command(name: str, tree: Path, env: dict[str, str], dest: Path) -> dict:
    """Run one command of ``COMMANDS`` from ``tree`` in RUN_DIR/name, then move its output to
    ``dest`` (``dest/out`` and ``dest/stdout``). Returns its exit code and wall time."""
    out = RUN_DIR / name
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    args = [a.format(out=out) for a in COMMANDS[name]]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bsct.cli", *args], env=env, cwd=tree,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    if out.exists():
        shutil.move(str(out), dest / "out")
    else:
        (dest / "out").mkdir()
    (dest / "stdout").write_text(proc.stdout)
    (dest / "stderr").write_text(proc.stderr)
    record = {"command": COMMANDS[name], "returncode": proc.returncode, "seconds": round(seconds, 1)}
    (dest / "command.json").write_text(json.dumps(record, indent=1))
    print(f"  {name}: exit {proc.returncode} in {seconds:.0f} s", flush=True)
    return record


# ---------------------------------------------------------------- comparing


def _normalise_str(s: str, trees: list) -> str:
    """``trees``: source-tree paths (replaced by ``<TREE>``) and ``(text, placeholder)`` pairs."""
    for sub in trees:
        old, new = sub if isinstance(sub, tuple) else (str(sub), "<TREE>")
        s = s.replace(old, new)
    return s


def normalise(obj, trees: list[Path]):
    """JSON value without timing/version keys, source-tree paths replaced."""
    if isinstance(obj, dict):
        return {k: normalise(v, trees) for k, v in obj.items() if not IGNORED_KEY.search(str(k))}
    if isinstance(obj, list):
        return [normalise(v, trees) for v in obj]
    if isinstance(obj, str):
        return _normalise_str(obj, trees)
    return obj


def json_diffs(a, b, where: str = "") -> list[str]:
    """Paths (``a.b[3].c``) where two normalised JSON values differ, key order included."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        if list(a) != list(b):
            if set(a) != set(b):
                only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
                out.append(f"{where or '.'}: keys only in base {only_a}, only in current {only_b}")
            else:
                out.append(f"{where or '.'}: key order differs")
        for k in a:
            if k in b:
                out += json_diffs(a[k], b[k], f"{where}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: length {len(a)} vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in json_diffs(x, y, f"{where}[{i}]")]
    same = (type(a) is type(b) and a == b) or (
        isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
    return [] if same else [f"{where or '.'}: {a!r} vs {b!r}"]


def _mask_table_row(line: str, time_columns: set[int]) -> str:
    cells = line.split("|")
    return "|".join("<t>" if i in time_columns else c for i, c in enumerate(cells))


def mask_text(text: str, trees: list) -> list[str]:
    """Lines with durations masked, prose lines of timings (cost ratios, worker-hours) masked whole,
    and in markdown tables the columns whose header names a time or cost, or every column but the
    first when the line above the table announces timings ("Summed step times (worker-hours...")."""
    lines, time_columns, in_table, last_prose = [], set(), False, ""
    for line in _normalise_str(text, trees).splitlines():
        stripped = line.strip()
        if stripped.startswith("|"):
            cells = stripped.split("|")
            if not in_table:  # the header row
                everything = TIMING_LINE.search(last_prose)
                time_columns = {i for i, c in enumerate(cells) if TIME_HEADER.search(c) or (everything and i > 1)}
            line, in_table = _mask_table_row(stripped, time_columns), True
        else:
            in_table = False
            if stripped:
                last_prose = stripped
            if TIMING_LINE.search(stripped):
                line = "<timings>"
        lines.append(DURATION.sub("<dt>", line))
    return lines


def text_diffs(a: str, b: str, trees: list[Path]) -> list[str]:
    la, lb = mask_text(a, trees), mask_text(b, trees)
    out = [f"line {i + 1}: {x[:160]!r} vs {y[:160]!r}" for i, (x, y) in enumerate(zip(la, lb)) if x != y]
    if len(la) != len(lb):
        out.append(f"{len(la)} vs {len(lb)} lines")
    return out


def _array_diffs(name: str, x: np.ndarray, y: np.ndarray, trees: list[Path]) -> list[str]:
    if x.dtype.kind == y.dtype.kind == "U" and x.shape == y.shape == ():  # text, e.g. JSON metadata
        try:
            ja, jb = json.loads(str(x)), json.loads(str(y))
        except ValueError:
            return [] if _normalise_str(str(x), trees) == _normalise_str(str(y), trees) else [f"{name}: text differs"]
        return [f"{name}{d}" for d in json_diffs(normalise(ja, trees), normalise(jb, trees))]
    if x.dtype != y.dtype or x.shape != y.shape:
        return [f"{name}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}"]
    equal = np.array_equal(x, y, equal_nan=x.dtype.kind in "fc")
    if equal:
        return []
    if x.dtype.kind in "fc":
        diff = np.abs(np.asarray(x, float) - np.asarray(y, float))
        return [f"{name}: {int(np.sum(~(x == y) & ~(np.isnan(x) & np.isnan(y))))} value(s) differ, "
                f"max |diff| {np.nanmax(diff):.3g}"]
    return [f"{name}: values differ"]


def npz_diffs(a: Path, b: Path, trees: list[Path]) -> list[str]:
    if a.suffix == ".npy":
        return _array_diffs("", np.load(a, allow_pickle=False), np.load(b, allow_pickle=False), trees)
    with np.load(a, allow_pickle=False) as za, np.load(b, allow_pickle=False) as zb:
        if za.files != zb.files:
            return [f"arrays {za.files} vs {zb.files}"]
        return [d for k in za.files if not IGNORED_KEY.search(k) for d in _array_diffs(k, za[k], zb[k], trees)]


def checkpoint_diffs(a: Path, b: Path, trees: list[Path]) -> list[str]:
    if a.read_bytes() == b.read_bytes():
        return []
    import torch

    try:
        ca, cb = torch.load(a, weights_only=True, map_location="cpu"), torch.load(b, weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - an unreadable checkpoint is reported as a byte difference
        return [f"bytes differ (not loadable with weights_only: {exc.__class__.__name__})"]

    def plain(o):
        if isinstance(o, torch.Tensor):
            return {"dtype": str(o.dtype), "values": o.detach().cpu().numpy().tolist()}
        if isinstance(o, dict):
            return {str(k): plain(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [plain(v) for v in o]
        return o

    return json_diffs(normalise(plain(ca), trees), normalise(plain(cb), trees))


def file_diffs(a: Path, b: Path, trees: list[Path]) -> list[str]:
    suffix = a.suffix.lower()
    try:
        if suffix == ".json":
            return json_diffs(normalise(json.loads(a.read_text()), trees), normalise(json.loads(b.read_text()), trees))
        if suffix == ".jsonl":
            ra, rb = a.read_text().splitlines(), b.read_text().splitlines()
            if len(ra) != len(rb):
                return [f"{len(ra)} vs {len(rb)} records"]
            return [f"record {i + 1}{d}" for i, (x, y) in enumerate(zip(ra, rb))
                    for d in json_diffs(normalise(json.loads(x), trees), normalise(json.loads(y), trees))]
        if suffix in (".npz", ".npy"):
            return npz_diffs(a, b, trees)
        if suffix == ".pt":
            return checkpoint_diffs(a, b, trees)
        if suffix in TEXT_SUFFIXES or a.name == "stdout":
            return text_diffs(a.read_text(), b.read_text(), trees)
    except (ValueError, UnicodeDecodeError) as exc:
        return [f"unreadable: {exc}"] if a.read_bytes() != b.read_bytes() else []
    return [] if a.read_bytes() == b.read_bytes() else ["bytes differ"]


def checkpoint_hashes(root: Path) -> list[tuple[str, str]]:
    """``(sha256, "<sha256 of REL>")`` of each checkpoint under ``root``: a checkpoint holds its
    training history with epoch times, so its hash (recorded as the potential's identity) differs
    between two runs that trained the same weights; the checkpoints themselves are compared."""
    import hashlib

    return [(hashlib.sha256(p.read_bytes()).hexdigest(), f"<sha256 of {p.relative_to(root)}>")
            for p in sorted(root.rglob("*.pt"))]


def compare_dirs(base: Path, current: Path, trees: list) -> list[str]:
    """Every difference between two output folders, as ``relative/path: what``."""
    trees = list(trees) + checkpoint_hashes(base) + checkpoint_hashes(current)
    files_a = {p.relative_to(base) for p in base.rglob("*") if p.is_file()}
    files_b = {p.relative_to(current) for p in current.rglob("*") if p.is_file()}
    out = [f"{p}: only in base" for p in sorted(files_a - files_b)]
    out += [f"{p}: only in current" for p in sorted(files_b - files_a)]
    for rel in sorted(files_a & files_b):
        out += [f"{rel}: {d}" for d in file_diffs(base / rel, current / rel, trees)]
    return out


# ---------------------------------------------------------------- the two sides


def resolve(rev: str) -> str:
    return subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=REPO, check=True,
                          capture_output=True, text=True).stdout.strip()


@contextlib.contextmanager
def base_worktree(sha: str):
    folder = Path(tempfile.mkdtemp(prefix="bsct-base-"))
    tree = folder / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(tree), sha], cwd=REPO, check=True)
    try:
        yield tree
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, check=False)
        shutil.rmtree(folder, ignore_errors=True)


def run_side(label: str, tree: Path, names: list[str], dest_root: Path, scratch: Path) -> dict[str, dict]:
    env = side_env(tree, scratch)
    check_imports_own_tree(tree, env)
    print(f"{label}: {tree}", flush=True)
    return {name: run_command(name, tree, env, dest_root / name) for name in names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default=DEFAULT_BASE, help=f"base git revision (default {DEFAULT_BASE})")
    parser.add_argument("--cache-base", type=Path, help="keep the base outputs here and reuse them on the next run")
    parser.add_argument("--keep", type=Path, help="keep the current tree's outputs here (default: a temp folder, removed)")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(COMMANDS)}")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(COMMANDS)
    unknown = set(names) - set(COMMANDS)
    if unknown:
        parser.error(f"unknown command(s) {sorted(unknown)}; known: {', '.join(COMMANDS)}")

    sha = resolve(args.base)
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(run_dir_lock())
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bsct-behaviour-")))
        base_root = args.cache_base or scratch / "base"
        current_root = args.keep or scratch / "current"
        base_root.mkdir(parents=True, exist_ok=True)
        manifest_path = base_root / "manifest.json"
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        if manifest.get("revision") != sha or manifest.get("run_dir") != str(RUN_DIR):
            manifest = {"revision": sha, "run_dir": str(RUN_DIR), "commands": {}}
        stale = [n for n in names if manifest["commands"].get(n, {}).get("command") != COMMANDS[n]
                 or not (base_root / n / "out").exists()]
        trees = [REPO]
        if stale:
            tree = stack.enter_context(base_worktree(sha))
            trees.append(tree)
            manifest["base_tree"] = str(tree)
            manifest["commands"].update(run_side(f"base {args.base} ({sha[:10]})", tree, stale,
                                                 base_root, scratch / "base-env"))
            manifest_path.write_text(json.dumps(manifest, indent=1))
        else:
            print(f"base {args.base}: all outputs cached in {base_root}")
        if manifest.get("base_tree"):
            trees.append(Path(manifest["base_tree"]))
        current = run_side(f"current {REPO}", REPO, names, current_root, scratch / "current-env")

        print()
        all_same = True
        for name in names:
            rc_base, rc_current = manifest["commands"][name]["returncode"], current[name]["returncode"]
            diffs = compare_dirs(base_root / name / "out", current_root / name / "out", trees)
            diffs += [f"stdout: {d}" for d in text_diffs((base_root / name / "stdout").read_text(),
                                                         (current_root / name / "stdout").read_text(),
                                                         trees + [RUN_DIR])]
            if rc_base or rc_current:
                diffs.insert(0, f"exit code {rc_base} (base) / {rc_current} (current); stderr in "
                                f"{base_root / name / 'stderr'} / {current_root / name / 'stderr'}")
            all_same &= not diffs
            print(f"{name}: identical" if not diffs else f"{name}: {len(diffs)} difference(s)")
            for d in diffs[:MAX_SHOWN]:
                print(f"    {d}")
            if len(diffs) > MAX_SHOWN:
                print(f"    ... and {len(diffs) - MAX_SHOWN} more")
    print(f"\n{'all identical' if all_same else 'DIFFERENCES'} ({time.perf_counter() - t0:.0f} s)")
    return 0 if all_same else 1


if __name__ == "__main__":
    sys.exit(main())
