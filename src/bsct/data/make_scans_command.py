"""`bsct make-scans`: build BSCT-SPICE style scans labelled by a reference SPEC, or relabel a set."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
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


def run(args: argparse.Namespace) -> int:
    import logging
    import time

    from bsct.data.make_scans import generate_scans, relabel_set, system_complete

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
        logging.getLogger("bsct").error("%d system(s) not written", len(paths) - complete)
        return 1
    return 0
