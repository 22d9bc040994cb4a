"""`bsct diatomics`: dimer curves on MLIP Arena's grid, Arena's metrics beside the BSCT score."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)

SCHEMA = "bsct.diatomics/1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model SPEC, e.g. chgnet:0.3.0, sevennet:7net-0, emt")
    parser.add_argument("--elements", default=None, help="homonuclear dimers: H,C,O,Si,Cu or 'all' (H-Og, as MLIP Arena)")
    parser.add_argument("--pairs", default=None, help="extra pairs, e.g. C-O,Si-O (the grid uses the mean radii)")
    parser.add_argument("--out", required=True, help="directory: diatomics.json, plots/, report.html")
    parser.add_argument("--resume", action="store_true", help="skip pairs already in OUT/diatomics.json (failed pairs are retried)")
    parser.add_argument("--metric", default="force-flip-times", help="heat-map metric: an MLIP Arena name or bsct_score")
    parser.add_argument("--step", type=float, default=0.01, help="grid step in Å (MLIP Arena: 0.01)")
    parser.add_argument("--points-per-call", type=int, default=100, help="dimers per model call")
    parser.add_argument("--no-refine", action="store_true", help="do not re-scan candidate jumps at h/8")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import json
    import time
    from pathlib import Path

    from bsct.metrics.arena import METRIC_NAMES
    from bsct.registry import load_potential, potential_identity
    from bsct.runs import ResumeMismatchError
    from bsct.report.diatomics_plots import write_diatomics_report
    from bsct.runs import clean_json, write_json
    from bsct.scan.diatomics import DiatomicGrid, parse_pairs, run_diatomics

    if args.metric not in METRIC_NAMES + ("bsct_score",):
        raise ValueError(f"--metric {args.metric!r}: choose from {', '.join(METRIC_NAMES)}, bsct_score")
    t_start = time.perf_counter()
    pairs = parse_pairs(args.elements, args.pairs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "diatomics.json"
    grid = DiatomicGrid(step_angstrom=args.step)
    done: dict = {}
    identity = potential_identity(args.model)  # a retrained checkpoint at one path differs
    if args.resume and json_path.exists():
        old = json.loads(json_path.read_text())
        if (old.get("model"), old.get("potential"), old.get("grid")) != (args.model, identity, clean_json(vars(grid))):
            raise ResumeMismatchError(f"{json_path} holds model {old.get('model')!r} ({old.get('potential')}) "
                                      f"on grid {old.get('grid')}; use another --out or the same --model and --step")
        done = old["pairs"]
    potential = load_potential(args.model)
    data = {"schema": SCHEMA, "model": args.model, "potential": identity,
            "model_name": getattr(potential, "name", args.model),
            "cutoff_angstrom": potential.cutoff_angstrom, "grid": clean_json(vars(grid)), "versions": _versions(),
            "pairs": dict(done)}

    def save(record: dict | None = None) -> None:
        if record is not None:
            data["pairs"][record["pair"]] = record
        write_json(json_path, clean_json(data), indent=None)

    records = run_diatomics(potential, pairs, done, grid, points_per_call=args.points_per_call,
                            refine_jumps=not args.no_refine, progress=not args.no_progress, on_pair=save,
                            name=args.model)
    data["pairs"] = records
    data["timings"] = {"wall_seconds": time.perf_counter() - t_start,
                       "model_seconds": sum(r["model_seconds"] for r in records.values()),
                       "n_model_calls": sum(r["n_model_calls"] for r in records.values()),
                       "n_points": sum(r["n_points"] for r in records.values())}
    save()
    html_path = write_diatomics_report(data, out, args.metric)
    for pair, rec in records.items():
        m = rec["metrics"]
        status = f"  ERROR {rec['errors'][0]}" if rec["errors"] else ""
        print(f"{pair:<6s} flips {m.get('force-flip-times', '-')!s:>3}  tortuosity {_num(m.get('tortuosity'))}  "
              f"energy-jump {_num(m.get('energy-jump'))} eV  conservation {_num(m.get('conservation-deviation'))} eV/Å  "
              f"BSCT {_num(rec['bsct_score'])} ({len(rec['artifacts'])} artifact(s)){status}")
    print(f"{args.model}: {len(records)} pair(s) in {data['timings']['wall_seconds']:.1f} s; report in {html_path}")
    return 1 if any(r["errors"] for r in records.values()) else 0


def _versions() -> dict[str, str]:
    """Installed versions of bsct and the packages that decide the numbers (models included)."""
    from importlib import metadata

    out = {}
    for package in ("bsct", "ase", "numpy", "scipy", "torch", "chgnet", "sevenn", "tblite"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return out


def _num(value) -> str:
    return "-" if value is None else f"{value:.3g}"
