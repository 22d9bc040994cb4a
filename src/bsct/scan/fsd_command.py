"""`bsct fsd`: Force Smoothness Deviation of a model on BSCT-SPICE style scans (reference labels)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
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


def run(args: argparse.Namespace) -> int:
    from bsct.scan.spice_eval import run_fsd

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
    return 1 if result["failures"] else 0
