"""Command line: parsing and dispatch only. Each subcommand lives in the module that owns its
science and exposes ``add_arguments(parser)`` and ``run(args) -> int``; heavy imports happen
inside ``run`` so ``bsct --help`` stays fast.

Exit codes, the same for every command (:func:`exit_code_of` maps an exception to one):

    0    done, and under the gate (if any)
    1    done, above the gate (--fail-above, --min-stable-fraction, a demo case missed)
    2    bad input or a model that cannot run (file, SPEC, option, --out in use or not writable)
    3    the run finished with failed model evaluations (the result is incomplete)
    130  interrupted by SIGINT, 143 by SIGTERM: finished pieces are kept for --resume
    70   internal error (a bug: rerun with --debug and report the traceback)

A command whose module names its outputs (``OUTPUTS``) owns its ``--out`` while it runs
(:class:`bsct.runs.RunDir`: a lock, no second run, no silent overwrite, ``--overwrite``);
``ALWAYS_RESUMES = True`` marks a command whose --out is a cache every rerun continues.
Every command takes ``--threads N`` (per process; default :func:`bsct.runs.default_threads`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import signal
import sys

from bsct.runs import (
    EXIT_BAD_INPUT,
    EXIT_FAILED_EVALUATIONS,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    FailedEvaluations,
    RunDir,
    Terminated,
    configure_threads,
)

EXIT_INTERNAL_ERROR = 70

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
    "validate": ("bsct.validation.command", "the pre-registered validation study: does BSCT predict MD failure (issue #20)"),
}

log = logging.getLogger("bsct")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bsct", description="Bond Smoothness Characterization Test for MLIPs.",
                                     epilog="exit codes: 0 done (under the gate), 1 above the gate, 2 bad input or a "
                                     "model that cannot run, 3 finished with failed evaluations, 130/143 interrupted "
                                     "by SIGINT/SIGTERM, 70 internal error")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
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
        outputs = getattr(command, "OUTPUTS", None)
        if outputs is not None:
            sub_parser.add_argument("--overwrite", action="store_true",
                                    help="replace the run already in --out (deletes only what this command writes)")
        nested = [a for a in sub_parser._actions if isinstance(a, argparse._SubParsersAction)]
        for target_parser in [p for a in nested for p in a.choices.values()] or [sub_parser]:  # bsct data generate
            with contextlib.suppress(argparse.ArgumentError):  # md, train, study have their own --threads
                target_parser.add_argument("--threads", type=int, default=None,
                                           help="CPU threads per process (default: the idle CPUs, at most 4, split "
                                           "over --workers)")
        sub_parser.set_defaults(_run=command.run, _outputs=outputs,
                                _always_resumes=bool(getattr(command, "ALWAYS_RESUMES", False)))
    return parser


def exit_code_of(exc: BaseException) -> tuple[int, str]:
    """(exit code, one-line message) of an exception that ended a command: the one mapping."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_SIGINT, "interrupted (SIGINT)"
    if isinstance(exc, Terminated):
        return EXIT_SIGTERM, "terminated (SIGTERM)"
    if isinstance(exc, FailedEvaluations):
        return EXIT_FAILED_EVALUATIONS, str(exc)
    if isinstance(exc, (ValueError, OSError, ImportError)):  # BadInput, ResumeMismatchError, files, packages
        text = str(exc) or type(exc).__name__
        if isinstance(exc, OSError) and exc.filename is not None and str(exc.filename) not in text:
            text = f"{exc.filename}: {text}"
        return EXIT_BAD_INPUT, text
    return EXIT_INTERNAL_ERROR, f"internal error {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"


def _raise_terminated(signum, frame):
    raise Terminated()


def _kept(args: argparse.Namespace) -> str:
    out = getattr(args, "out", None)
    if getattr(args, "_outputs", None) is None or out is None:
        return "nothing was kept"
    return f"what finished is kept in {out}; rerun the same command with --resume to continue"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        configure_threads(getattr(args, "threads", None), max(1, getattr(args, "workers", None) or 1))
        with contextlib.ExitStack() as stack:
            # a run that only reads its --out (study --cached-only) takes no lock
            if args._outputs is not None and getattr(args, "out", None) is not None and not getattr(
                    args, "cached_only", False):
                resume = getattr(args, "resume", False) or args._always_resumes  # a cache that every rerun reuses
                stack.enter_context(RunDir(args.out, resume=resume, overwrite=args.overwrite, owned=args._outputs,
                                           command=args.command))
            return int(args._run(args) or 0)
    except BaseException as exc:  # noqa: BLE001 - every ending gets its one code and a message
        if isinstance(exc, SystemExit):
            raise
        code, message = exit_code_of(exc)
        if args.debug:
            log.exception("bsct %s failed", args.command)
        if code in (EXIT_SIGINT, EXIT_SIGTERM):
            message = f"{message}: {_kept(args)}"
        log.error("bsct %s: %s", args.command, message)
        return code
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
