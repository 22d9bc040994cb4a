"""`bsct diatomics`: dimer curves on MLIP Arena's grid, Arena's metrics beside the BSCT score.

Parses and calls :func:`bsct.scan.diatomics.run_diatomics_to`, which writes the files; prints one
line per pair. Exit 3 when a pair failed (failed evaluations, bsct.runs.outcome_exit_code).
"""

from __future__ import annotations

import argparse

#: what the command writes into --out (the CLI owns --out for the run: bsct.runs.RunDir)
OUTPUTS = ("diatomics.json", "plots", "report.html")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model SPEC, e.g. chgnet:0.3.0, sevennet:7net-0, emt")
    parser.add_argument("--elements", default=None, help="homonuclear dimers: H,C,O,Si,Cu or 'all' (H-Og, as MLIP Arena)")
    parser.add_argument("--pairs", default=None, help="extra pairs, e.g. C-O,Si-O (the grid uses the mean radii)")
    parser.add_argument("--out", required=True, help="directory: diatomics.json, plots/, report.html")
    parser.add_argument("--resume", action="store_true", help="keep the pairs already in OUT/diatomics.json (failed pairs are retried); "
                        "refuse one of another model or grid")
    parser.add_argument("--metric", default="force-flip-times", help="heat-map metric: an MLIP Arena name or bsct_score")
    parser.add_argument("--step", type=float, default=0.01, help="grid step in Å (MLIP Arena: 0.01)")
    parser.add_argument("--points-per-call", type=int, default=100, help="dimers per model call")
    parser.add_argument("--no-refine", action="store_true", help="do not re-scan candidate jumps at h/8")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--score-version", choices=("v1", "v2"), default="v1",
                        help="BSCT score: v1 (default until validation decides) or v2 (docs/metrics_v2.md)")
    parser.add_argument("--temperature", type=float, default=None, metavar="K",
                        help="v2 only: also weight each artifact by its Boltzmann reachability at K")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bsct.scan.diatomics import DiatomicGrid, parse_pairs, run_diatomics_to

    data = run_diatomics_to(args.out, args.model, parse_pairs(args.elements, args.pairs),
                            DiatomicGrid(step_angstrom=args.step), points_per_call=args.points_per_call,
                            refine_jumps=not args.no_refine, progress=not args.no_progress, resume=args.resume,
                            report_metric=args.metric, score_version=args.score_version,
                            temperature_k=args.temperature)
    records = data["pairs"]
    for pair, rec in records.items():
        m = rec["metrics"]
        status = f"  ERROR {rec['errors'][0]}" if rec["errors"] else ""
        print(f"{pair:<6s} flips {m.get('force-flip-times', '-')!s:>3}  tortuosity {_num(m.get('tortuosity'))}  "
              f"energy-jump {_num(m.get('energy-jump'))} eV  conservation {_num(m.get('conservation-deviation'))} eV/Å  "
              f"BSCT {_num(rec['bsct_score'])} ({len(rec['artifacts'])} artifact(s)){status}")
    print(f"{args.model}: {len(records)} pair(s) in {data['timings']['wall_seconds']:.1f} s; "
          f"report in {Path(args.out) / 'report.html'}")
    from bsct.runs import outcome_exit_code

    return outcome_exit_code(n_failed=sum(bool(r["errors"]) for r in records.values()))  # 3: pairs that failed


def _num(value) -> str:
    return "-" if value is None else f"{value:.3g}"
