"""`bsct fsd`: Force Smoothness Deviation of a model on BSCT-SPICE scans (reference DFT labels)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model SPEC (see `bsct scan --help`)")
    parser.add_argument("--data", default=None, help="unpacked BSCT-SPICE folder (default: the 4 shipped samples)")
    parser.add_argument("--bond-types", default=None, help="comma-separated, e.g. C-C,C-N")
    parser.add_argument("--limit", type=int, default=None, help="systems per bond type")
    parser.add_argument("--out", default=None, help="directory for fsd_rows.jsonl and fsd.json")
    parser.add_argument("--resume", action="store_true", help="skip systems already in --out")


def run(args: argparse.Namespace) -> int:
    from bsct.scan.spice_eval import run_fsd

    result = run_fsd(args.model, args.data, args.bond_types.split(",") if args.bond_types else None,
                     args.limit, args.out, args.resume)
    s = result["summary"]["all"]
    print(f"{result['model']}: {s['n_systems']} system(s)  FSD {s['fsd_per_angstrom']:.3f} 1/Å "
          f"(compression {s['fsd_compression_per_angstrom']:.3f}, stretch {s['fsd_stretch_per_angstrom']:.3f})  "
          f"energy MAE {s['energy_mae_ev']:.4f} eV  force MAE {s['force_mae_ev_per_angstrom']:.4f} eV/Å")
    for t, v in result["summary"]["per_bond_type"].items():
        print(f"  {t:<5s} n={v['n_systems']:<3d} FSD {v['fsd_per_angstrom']:.3f}  compression "
              f"{v['fsd_compression_per_angstrom']:.3f}  stretch {v['fsd_stretch_per_angstrom']:.3f}")
    return 1 if result["failures"] else 0
