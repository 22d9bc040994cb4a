"""Command line: parsing and dispatch only. Each subcommand lives in the module that owns its
science and exposes ``add_arguments(parser)`` and ``run(args) -> int``; heavy imports happen
inside ``run`` so ``bsct --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# subcommand -> (module or module:OBJECT with add_arguments and run, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "scan": ("bsct.scan.command", "run BSCT bond scans on a model and write a report"),
    "demo": ("bsct.scan.demo", "run BSCT on the built-in demo potentials (planted artifacts vs smooth references)"),
    "fsd": ("bsct.fsd.command:FSD", "Force Smoothness Deviation of a model on BSCT-SPICE style scans"),
    "make-scans": ("bsct.fsd.command:MAKE_SCANS", "build BSCT-SPICE style fragment scans (or relabel a set) with a reference SPEC"),
    "diatomics": ("bsct.scan.diatomics_command", "homonuclear/heteronuclear diatomic curves with MLIP Arena's metrics and BSCT"),
    "data": ("bsct.data.command", "generate or validate reference datasets"),
    "md": ("bsct.md.command", "MD stability test of a model"),
    "train": ("bsct.train.command", "train the reference Transformer MLIP"),
    "study": ("bsct.study.command", "design-loop study: train variants, errors, BSCT, MD stability, correlation, cost"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bsct", description="Bond Smoothness Characterization Test for MLIPs.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (target, help_text) in SUBCOMMANDS.items():
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # subcommand not built yet
        command = getattr(module, attr) if attr else module
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        command.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args._run(args) or 0)
    except (FileNotFoundError, ValueError) as exc:
        logging.getLogger("bsct").error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
