"""`bsct validate`: the pre-registered validation study (issue #20), stage by stage.

    bsct validate --tier ci --out runs/validation-ci                      # everything, CI-sized (not evidence)
    bsct validate --stage plan --out runs/validation                      # timing runs and the budget decision
    bsct validate --stage references --out runs/validation --workers 1    # the references through the MD protocol

Every record is cached under ``--out``: rerunning the same command continues where it stopped
(MD replica by replica). The protocol's git hash is printed first; the full tier runs no zoo MD
from an uncommitted or modified protocol (exit 2).
"""

from __future__ import annotations

import argparse
import sys

#: What `bsct validate` writes into --out; every rerun continues the cache.
OUTPUTS = ("run.json", "plan", "references", "zoo", "predictors", "units.csv", "replicas.csv", "validation*",
           "figures")
ALWAYS_RESUMES = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--protocol", default="benchmarks/validation/protocol.toml",
                        help="the pre-registered protocol (default benchmarks/validation/protocol.toml)")
    parser.add_argument("--tier", choices=("ci", "full"), default="full",
                        help="full: the protocol as registered; ci: a small documented override of it (not evidence)")
    parser.add_argument("--stage", default="all",
                        choices=("plan", "references", "zoo", "predictors", "analysis", "all"),
                        help="which stage to run (default all, in the order plan, references, zoo, predictors, analysis)")
    parser.add_argument("--out", required=True, help="output folder (the cache of every stage; resumable)")
    parser.add_argument("--workers", type=int, default=1, help="parallel workers (Dask LocalCluster when > 1)")
    parser.add_argument("--dask-scheduler", default=None, help="address of an existing Dask scheduler")
    parser.add_argument("--resume", action="store_true",
                        help="accepted for symmetry with the other commands: every rerun continues the cache")
    parser.add_argument("--stopped", action="store_true",
                        help="analysis: declare the run stopped, so the analysis runs with zoo units missing "
                             "(reported by family); without it the full tier refuses (no interim analysis)")
    parser.add_argument("--systems", default=None,
                        help="comma-separated subset of the protocol's systems for references, zoo and predictors "
                             "(default all; the plan always projects all)")
    parser.add_argument("--reference-starts", choices=("registered", "primitive"), default=None,
                        help="references: validate from these starts instead of the plan's decision (default: the "
                             "start set in force; registered before any plan)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from bsct.runs import EXIT_FAILED_EVALUATIONS
    from bsct.study.executors import StudyJobsFailed
    from bsct.validation.protocol import protocol_git_hash
    from bsct.validation.run import ValidateConfig, run_validation

    protocol_hash = protocol_git_hash(args.protocol)
    sys.stdout.write(f"protocol {args.protocol} at commit {protocol_hash}; tier {args.tier}"
                     + (" (ci tier: not evidence)" if args.tier == "ci" else "") + "\n")
    sys.stdout.flush()
    cfg = ValidateConfig(protocol_path=args.protocol, tier=args.tier, out_dir=str(args.out), workers=args.workers,
                         dask_address=args.dask_scheduler, progress=not args.no_progress, stopped=args.stopped,
                         systems=tuple(s.strip() for s in args.systems.split(",")) if args.systems else None,
                         reference_start_set=args.reference_starts)
    try:
        results = run_validation(cfg, args.stage)
    except StudyJobsFailed as exc:
        sys.stderr.write(f"bsct validate: {exc}\n")
        return EXIT_FAILED_EVALUATIONS
    for result in results:
        sys.stdout.write("\n".join(result.lines) + "\n")
    return 0
