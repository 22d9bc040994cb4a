"""`bsct fsd` (Force Smoothness Deviation of a model on BSCT-SPICE style scans) and `bsct make-scans`
(build such scans labelled by a reference SPEC, or relabel a set): parsing and calls only."""

from __future__ import annotations

import argparse
from types import SimpleNamespace


def add_fsd_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model SPEC (see `bsct scan --help`), e.g. xtb:GFN2-xTB")
    parser.add_argument("--data", default=None,
                        help="unpacked BSCT-SPICE folder (default: the shipped subset, one system per bond type)")
    parser.add_argument("--out", default=None, help="output folder: fsd.json, predictions/, plots/, report.html")
    parser.add_argument("--bond-types", default=None, help="comma-separated, e.g. C-C,C-N")
    parser.add_argument("--limit", type=int, default=None, help="systems per bond type")
    parser.add_argument("--workers", type=int, default=1, help="worker processes for ASE calculators (default 1)")
    parser.add_argument("--resume", action="store_true", help="skip systems already cached in OUT/predictions")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip malformed system folders (each is named and listed in fsd.json) instead of stopping")
    parser.add_argument("--eps", type=float, default=1.0, help="force floor ε in eV/Å (default 1, the paper's)")
    parser.add_argument("--no-plots", action="store_true", help="write no per-system PNGs")


def fsd(args: argparse.Namespace) -> int:
    from bsct.fsd.run import run_fsd

    result = run_fsd(args.model, args.data, args.out, bond_types=args.bond_types.split(",") if args.bond_types else None,
                     limit_per_type=args.limit, workers=args.workers, resume=args.resume, skip_bad=args.skip_bad,
                     eps_ev_per_angstrom=args.eps, plots=not args.no_plots)
    m = result["mean"]
    print(f"{result['model']}: {m['n_systems']} system(s)  FSD {m['full_smoothness']:.3f} 1/Å "
          f"(compress {m['compress_smoothness']:.3f}, stretch {m['stretch_smoothness']:.3f})  "
          f"energy MAE {m['full_energy_mae']:.4f} eV  force MAE {m['full_forces_mae']:.4f} eV/Å")
    if "flat_full_smoothness" in m:
        print(f"  flat-model floor (from the reference alone): FSD {m['flat_full_smoothness']:.3f} "
              f"(compress {m['flat_compress_smoothness']:.3f}, stretch {m['flat_stretch_smoothness']:.3f})")
    for t, v in result["per_bond"].items():
        floor = f"  (flat-model floor {v['flat_full_smoothness']:.3f})" if "flat_full_smoothness" in v else ""
        print(f"  {t:<5s} n={v['n_systems']:<3d} FSD {v['full_smoothness']:.3f}  compress "
              f"{v['compress_smoothness']:.3f}  stretch {v['stretch_smoothness']:.3f}{floor}")
    for s in result["skipped"]:
        print(f"  skipped {s['system']}: {s['error']}")
    for s in result["failures"]:
        print(f"  failed  {s['system']}: {s['error']}")
    if args.out:
        print(f"report: {args.out}/report.html")
    from bsct.runs import outcome_exit_code

    return outcome_exit_code(n_failed=len(result["failures"]))  # 3: systems the model failed on


def add_make_scans_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="structures to scan: extxyz / ASE-readable file or .db, or ci:SYSTEM[/SPLIT] "
                                    "(committed ci data, split defaults to test)")
    src.add_argument("--relabel", metavar="ROOT_IN", help="an existing set in the BSCT-SPICE layout to relabel "
                                                          "(geometry and partition kept)")
    parser.add_argument("--reference", required=True, help="model SPEC that labels the frames, e.g. xtb:GFN2-xTB, "
                                                           "emt, sw-si (xTB gets each system's charge)")
    parser.add_argument("--out", required=True, help="root of the new set: OUT/<BOND>/<ID>/...")
    parser.add_argument("--bonds", default=None, help="bond types, comma-separated, e.g. C-C,C-O (default: all)")
    parser.add_argument("--per-type", type=int, default=None,
                        help="systems per bond type, chosen by seed (default: 5 when scanning, all when relabelling)")
    parser.add_argument("--points", type=int, default=100, help="frames per scan, 0.5x to 2x the covalent bond length")
    parser.add_argument("--seed", type=int, default=0, help="seeds the choice of bonds and the random rotations")
    parser.add_argument("--elements", default=None, help="only systems made of these elements, e.g. H,C,N,O")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--resume", action="store_true", help="keep the finished systems in OUT (same --reference, "
                        "--points and --seed) and make the rest; without it a non-empty OUT is refused")


def _check_resume_set(args: argparse.Namespace) -> None:
    """A resumed set must be labelled by the same reference with the same grid and seed."""
    import json
    from pathlib import Path

    from bsct.runs import check_resume

    manifest = Path(args.out) / "make_scans.json"
    if args.resume and manifest.exists():
        saved = json.loads(manifest.read_text())
        keys = ("reference", "seed") + (() if args.relabel else ("n_points",))
        wanted = {"reference": args.reference, "seed": args.seed, "n_points": args.points}
        check_resume({k: saved.get(k) for k in keys}, {k: wanted[k] for k in keys}, manifest,
                     hint="use another --out or the same --reference, --points and --seed")


def _split(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _read_data(spec: str):
    from bsct.data.io import read_structures

    if spec.startswith("ci:"):
        from bsct.data import ci_path

        system, _, split = spec[3:].partition("/")
        path = ci_path(system, split or "test")
        return read_structures(path), f"bsct ci {system}/{split or 'test'}"
    return read_structures(spec), spec


def make_scans(args: argparse.Namespace) -> int:
    import logging
    import time

    from bsct.fsd.sets import generate_scans, relabel_set, system_complete

    _check_resume_set(args)
    start = time.perf_counter()
    common = {"bond_types": _split(args.bonds), "seed": args.seed, "elements": _split(args.elements),
              "progress": not args.no_progress}
    if args.relabel:
        paths = relabel_set(args.relabel, args.reference, args.out, per_type=args.per_type, **common)
    else:
        structures, dataset = _read_data(args.data)
        paths = generate_scans(structures, args.reference, args.out, per_type=args.per_type or 5,
                               n_points=args.points, dataset=dataset, **common)
    complete = sum(system_complete(p) for p in paths)
    by_type: dict[str, int] = {}
    for p in paths:
        by_type[p.parent.name] = by_type.get(p.parent.name, 0) + 1
    print(f"{complete}/{len(paths)} system(s) in {args.out} ({', '.join(f'{t} {n}' for t, n in sorted(by_type.items()))}) "
          f"labelled by {args.reference} in {time.perf_counter() - start:.1f} s; "
          f"score a model with: bsct fsd --model SPEC --data {args.out}")
    if complete < len(paths):
        from bsct.runs import outcome_exit_code

        logging.getLogger("bsct").error("%d system(s) not written", len(paths) - complete)
        return outcome_exit_code(n_failed=len(paths) - complete)
    return 0


#: what `bsct.cli` dispatches to: each has ``add_arguments(parser)`` and ``run(args) -> int``
#: ``OUTPUTS``: what each writes into --out (the CLI owns --out for the run: bsct.runs.RunDir)
FSD = SimpleNamespace(add_arguments=add_fsd_arguments, run=fsd,
                      OUTPUTS=("fsd.json", "predictions", "plots", "report.html"))
MAKE_SCANS = SimpleNamespace(add_arguments=add_make_scans_arguments, run=make_scans,
                             OUTPUTS=("make_scans.json", "*-*"))  # OUT/<BOND>/<ID>/
