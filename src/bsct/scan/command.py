"""`bsct scan`: BSCT of one model on one dataset, written to a directory; exit 1 above a threshold,
3 when evaluations failed (the score is then incomplete)."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger("bsct.scan")

#: what a scan writes into --out (the CLI owns --out for the run: bsct.runs.RunDir)
OUTPUTS = ("run.json", "results.json", "curves", "plots", "report.html")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="SPEC: built-in name (e.g. emt, morse, sw-si, gfn2-xtb, "
                        "'planted[kind=energy_step]'), module:factory, or a checkpoint path")
    parser.add_argument("--data", required=True, help="structures: extxyz or ASE .db, or ci:SYSTEM[/SPLIT] for the "
                        "committed ci data (split defaults to test)")
    parser.add_argument("--out", required=True, help="output directory (results.json, plots/, report.html, curves/)")
    parser.add_argument("--fail-above", type=float, default=None, metavar="SCORE",
                        help="exit with code 1 when the BSCT score is above SCORE (a CI gate)")
    parser.add_argument("--max-per-type", type=int, default=3, help="bonds scanned per bond type (default 3)")
    parser.add_argument("--points", type=int, default=240, help="points per scan (default 240)")
    parser.add_argument("--seed", type=int, default=0, help="seed for choosing bonds (default 0)")
    parser.add_argument("--mode", choices=["auto", "pair", "fragment"], default="auto",
                        help="move only the two atoms (pair) or the two rigid fragments (fragment); auto: fragments "
                        "for molecules where the bond is not in a ring")
    parser.add_argument("--image-range", type=float, default=None, metavar="ANGSTROM",
                        help="v2: size crystal scan cells so images of the moving pair stay this far away (default: "
                        "the model's interaction range, else 2x its cutoff; smaller is cheaper but not exact for "
                        "many-body models; docs/metrics_v2.md, 'Crystal scan cells')")
    parser.add_argument("--evaluate-unscored", action="store_true",
                        help="v2: also evaluate the points the collision guard does not score (drawn grey); by "
                        "default the model sees only the scored range (same score, fewer evaluations)")
    parser.add_argument("--bond-symmetry", choices=["auto", "distinct", "all"], default="auto",
                        help="crystals: choose among symmetry-distinct bonds (equivalent bonds give the same scan) or "
                        "among all; auto: distinct under v2, all under v1")
    parser.add_argument("--bond-types", default=None, help="comma-separated bond types to scan, e.g. C-H,C-C")
    parser.add_argument("--no-refine", action="store_true", help="do not re-scan candidate jumps at 8x resolution")
    parser.add_argument("--score-version", choices=["v1", "v2"], default="v1",
                        help="v1: the detectors of docs/metrics.md (default until validated); v2: noise-derived "
                        "floors, one artifact per defect, collision guard (docs/metrics_v2.md)")
    parser.add_argument("--temperature", type=float, default=None, metavar="K",
                        help="v2: also weight each artifact by exp(-dE/kT), dE its energy above the bond's minimum; "
                        "--fail-above then judges the weighted score (default: none, unweighted)")
    parser.add_argument("--resume", action="store_true", help="continue a killed run, keeping finished bonds; "
                        "refuse an OUT of another model or settings")


def run(args: argparse.Namespace) -> int:
    from bsct.data import resolve_data_arg
    from bsct.runs import BadInput, outcome_exit_code
    from bsct.scan.api import BSCTConfig, run_bsct
    from bsct.scan.geometry import ScanRange

    for option, value, least in (("--max-per-type", args.max_per_type, 1), ("--points", args.points, 8)):
        if value < least:
            raise BadInput(f"{option} must be >= {least}, got {value}")

    config = BSCTConfig(
        max_per_type=args.max_per_type,
        seed=args.seed,
        bond_types=tuple(args.bond_types.split(",")) if args.bond_types else None,
        scan_range=ScanRange(n_points=args.points),
        mode=args.mode,
        refine_jumps=not args.no_refine,
        score_version=args.score_version,
        temperature_k=args.temperature,
        image_range_angstrom=args.image_range,
        bond_symmetry=args.bond_symmetry,
        evaluate_unscored=args.evaluate_unscored,
    )
    report = run_bsct(args.model, resolve_data_arg(args.data, default_split="test"), config, out_dir=args.out, resume=args.resume)
    weighted = f" (weighted at {args.temperature:g} K: {report.weighted_score:.4f})" if args.temperature is not None else ""
    version = "" if report.score_version == "v1" else f" {report.score_version}"
    print(f"BSCT{version} score {report.score:.4f}{weighted} for {report.model}: {len(report.artifacts)} "
          f"artifact(s) in {len(report.results)} scan(s); report in {args.out}/report.html")
    for art in report.artifacts:
        print(f"  {art.bond_label:>24s}  {art.kind:<20s} r = {art.r_angstrom:7.3f} Å  size {art.size:.4g} {art.unit}  {art.detail}")
    n_failed = report.n_failed_points  # failed model evaluations (points): not artifacts
    above = args.fail_above is not None and report.gate_score > args.fail_above
    if n_failed:  # exit 3: the run finished with failed evaluations, whatever the score
        log.error("the run finished with failed evaluations: %d scan point(s) could not be evaluated, so the "
                  "score is incomplete (first: %s)", n_failed, (report.failed_evaluations(1) or ["?"])[0])
    elif above:
        log.error("BSCT score %.4f is above --fail-above %.4f", report.gate_score, args.fail_above)
    return outcome_exit_code(n_failed=n_failed, above_gate=above)
