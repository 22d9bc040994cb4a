"""``bsct data``: generate, validate, checksum and summarise reference datasets.

    bsct data generate SYSTEM [--size ci|full] [--seed S] [--out DIR] [--force] [--workers N]
    bsct data validate FILE [FILE ...] [--no-labels]
    bsct data checksum FILE [FILE ...]
    bsct data stats [FILE|ci:SYSTEM ...] [--plot PNG] [--markdown]

SYSTEM is ``cu``, ``si``, ``water``, ``molecules`` or ``all``. Heavy imports happen in ``run``.
"""

from __future__ import annotations

import argparse

SYSTEM_CHOICES = ("cu", "si", "water", "molecules", "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", required=True)

    gen = sub.add_parser("generate", help="sample and label a reference dataset (deterministic by seed; cached)")
    gen.add_argument("system", type=str.lower, choices=SYSTEM_CHOICES)
    gen.add_argument("--size", choices=("ci", "full"), default="ci",
                     help="ci: small set as committed in the package; full: >= 500-1000 frames (default ci)")
    gen.add_argument("--seed", type=int, default=0, help="random seed (default 0, the committed sets)")
    gen.add_argument("--out", default=None,
                     help="output folder (default $BSCT_DATA_DIR or ~/.cache/bsct/datasets/SYSTEM-SIZE-seedS; "
                          "with SYSTEM=all, one subfolder per system)")
    gen.add_argument("--force", action="store_true", help="regenerate even if a matching cached set exists")
    gen.add_argument("--no-progress", action="store_true", help="no progress bars")
    gen.add_argument("--workers", type=_positive_int, default=1,
                     help="processes for the independent sampling parts and the labelling; the files are "
                          "byte-identical for any number (default 1)")

    val = sub.add_parser("validate", help="check structure files (NaN, overlaps, missing cell, labels)")
    val.add_argument("files", nargs="+", help="extxyz / ASE-readable files or .db, or ci:SYSTEM[/SPLIT] (split defaults to train)")
    val.add_argument("--no-labels", action="store_true", help="check structures only, not energy/forces")
    val.add_argument("--min-distance-angstrom", type=float, default=0.5,
                     help="closest allowed approach of two atoms (default 0.5 Å)")

    chk = sub.add_parser("checksum", help="content checksum of files (compare a regenerated set)")
    chk.add_argument("files", nargs="+")

    st = sub.add_parser("stats", help="frames, atoms, elements, energy and force statistics")
    st.add_argument("files", nargs="*", help="files or ci:SYSTEM[/SPLIT] (split defaults to train); default: every committed ci set")
    st.add_argument("--plot", default=None, help="write the energy/force distribution figure to this PNG")
    st.add_argument("--markdown", action="store_true", help="print a markdown table")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _resolve(spec: str):
    from bsct.data import resolve_data_arg

    return resolve_data_arg(spec, default_split="train")


def run(args: argparse.Namespace) -> int:
    if args.data_command == "generate":
        return _generate(args)
    if args.data_command == "validate":
        return _validate(args)
    if args.data_command == "checksum":
        return _checksum(args)
    return _stats(args)


def _generate(args) -> int:
    import logging
    import os

    # tblite's OpenMP threads busy-wait; on a shared small machine one thread is several times
    # faster for the xTB systems (set OMP_NUM_THREADS yourself to override)
    if args.threads is None:  # --threads N overrides
        os.environ["OMP_NUM_THREADS"] = "1"
    from pathlib import Path

    from bsct.data.generate import default_out_dir, generate
    from bsct.data.systems import SYSTEMS

    log = logging.getLogger("bsct.data")
    systems = SYSTEMS if args.system == "all" else (args.system,)
    for system in systems:
        if args.out is None:
            out = default_out_dir(system, args.size, args.seed)
        elif args.system == "all":
            out = Path(args.out) / system
        else:
            out = Path(args.out)
        manifest = generate(system, args.size, args.seed, out, progress=not args.no_progress, force=args.force,
                            workers=args.workers)
        files = manifest["files"]
        print(f"{system}: {out}  " + "  ".join(f"{s}={files[s]['n_frames']}" for s in files)
              + f"  ({manifest['timing_s']['total']} s when generated)")
        for split, entry in files.items():
            print(f"  {split:6s} content_sha256 {entry['content_sha256']}")
        log.debug("manifest: %s", manifest)
    return 0


def _validate(args) -> int:
    from bsct.data.io import read_structures

    for spec in args.files:
        path = _resolve(spec)
        frames = read_structures(path, validate=True, require_labels=not args.no_labels,
                                 min_distance_angstrom=args.min_distance_angstrom)
        print(f"{path}: OK, {len(frames)} frames, {sum(len(a) for a in frames)} atoms")
    return 0


def _checksum(args) -> int:
    from bsct.data.generate import content_checksum
    from bsct.data.io import read_structures

    for spec in args.files:
        path = _resolve(spec)
        print(f"{content_checksum(read_structures(path))}  {path}")
    return 0


def _stats(args) -> int:
    from bsct.data.stats import (
        ci_files,
        dataset_stats,
        markdown_table,
        plot_distributions,
    )

    specs = args.files or None
    paths = [_resolve(s) for s in specs] if specs else ci_files()
    stats = [dataset_stats(p) for p in paths]
    if args.markdown:
        print(markdown_table(stats))
    else:
        for s in stats:
            print(f"{s['name']}: {s['n_frames']} frames, {s['n_atoms_min']}-{s['n_atoms_max']} atoms, "
                  f"elements {s['elements']}, E/atom {s['energy_per_atom_mean_ev']:.3f}±"
                  f"{s['energy_per_atom_std_ev']:.3f} eV, |F| rms {s['force_rms_ev_per_angstrom']:.3f} eV/Å")
    if args.plot:
        fig = plot_distributions(paths)
        fig.savefig(args.plot, dpi=120, bbox_inches="tight")
        print(f"wrote {args.plot}")
    return 0
