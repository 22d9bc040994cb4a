"""`bsct study`: the design-loop study (ablation table, BSCT-vs-MD correlation, cost ratio).

    bsct study --systems cu,si --size small --out runs/study --figures docs/figures
    bsct study --systems cu --size ci --out runs/study-ci --executor dask --workers 2

Every step of every potential is cached under ``--out``; rerunning the same command skips
what is done (delete a potential's folder to redo it). Logs and progress on stderr; results in
``OUT/study.json`` (all numbers), ``OUT/ablation.md`` (tables) and, with ``--figures``, the
scatter plots ``study_bsct_vs_md.png`` and ``study_bsct_vs_ttf.png``.
"""

from __future__ import annotations

import argparse
import sys

#: What the study writes into --out (the CLI owns --out while it runs: bsct.runs.RunDir); every
#: rerun continues the cache, so the study needs no --resume.
OUTPUTS = ("study*.json", "ablation*.md", "cu", "si", "water", "molecules")
ALWAYS_RESUMES = True

#: (score, MD measure, file) of the pooled scatter plots; FSD ones only when the study scores FSD.
SCATTER_FIGURES = (("bsct_score", "md_stable_fraction", "study_bsct_vs_md.png"),
                   ("bsct_score", "time_to_failure_fraction", "study_bsct_vs_ttf.png"),
                   ("fsd_per_angstrom", "md_stable_fraction", "study_fsd_vs_md.png"))
#: (score, file) of the per-system scatter plots (MD stable fraction).
BY_SYSTEM_FIGURES = (("bsct_score", "study_bsct_vs_md_by_system.png"),
                     ("fsd_per_angstrom", "study_fsd_vs_md_by_system.png"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--systems", default="cu,si", help="comma-separated datasets: cu, si, water, molecules (default cu,si)")
    parser.add_argument("--size", default="ci", help="study size: ci (tests, ~2 min per system), small (documented study), full")
    parser.add_argument("--out", required=True, help="output folder (cache of every step; resumable)")
    parser.add_argument("--seed", type=int, default=0, help="seed of training, bond choice, MD and bootstrap (default 0)")
    parser.add_argument("--potentials", default=None,
                        help="comma-separated subset of potential names (default: the whole zoo)")
    parser.add_argument("--third-party", action="store_true", help="include CHGNet and SevenNet-0 on cu and si (slow)")
    parser.add_argument("--no-planted", action="store_true", help="leave out the planted-artifact controls (Cu)")
    parser.add_argument("--executor", choices=("local", "dask"), default="local",
                        help="local: in-process; dask: one task per potential on a Dask cluster")
    parser.add_argument("--dask-address", default=None, help="scheduler address of an existing Dask cluster "
                        "(default: start a LocalCluster)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per job (default 1)")
    parser.add_argument("--figures", default=None, help="folder for the scatter plots (PNG)")
    parser.add_argument("--no-fsd", action="store_true", help="skip the paper's FSD column (no FSD sets are made)")
    parser.add_argument("--cached-only", action="store_true",
                        help="compute nothing: tables of the potentials already finished under --out, the rest "
                             "listed as pending (written to ablation.cached.md); for a study still running")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def config_from_args(args: argparse.Namespace):
    """The :class:`~bsct.study.config.StudyConfig` the arguments ask for."""
    from bsct.study.config import StudyConfig

    return StudyConfig(
        systems=tuple(s.strip() for s in args.systems.split(",") if s.strip()),
        size=args.size,
        out_dir=str(args.out),
        seed=args.seed,
        potentials=tuple(p.strip() for p in args.potentials.split(",")) if args.potentials else None,
        third_party=args.third_party,
        planted=not args.no_planted,
        threads=args.threads,
        progress=not args.no_progress,
        fsd=not args.no_fsd,
        cached_only=args.cached_only,
    )


def save_figures(result, fig_dir, fsd: bool) -> list:
    """Draw the study's scatter plots into ``fig_dir`` (PNG, 150 dpi); return their paths."""
    from pathlib import Path

    from bsct.report.study_plots import plot_correlation, plot_correlation_by_system

    fig_dir = Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    figures = [(plot_correlation, (result.rows, y_key, x_key), name)
               for x_key, y_key, name in SCATTER_FIGURES if x_key == "bsct_score" or fsd]
    figures += [(plot_correlation_by_system, (result.rows, result.correlation, "md_stable_fraction", x_key), name)
                for x_key, name in BY_SYSTEM_FIGURES if x_key == "bsct_score" or fsd]
    paths = []
    for plot, plot_args, name in figures:
        plot(*plot_args).savefig(fig_dir / name, dpi=150)
        paths.append(fig_dir / name)
    return paths


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bsct.runs import EXIT_FAILED_EVALUATIONS
    from bsct.study.executors import StudyJobsFailed
    from bsct.study.run import run_study

    cfg = config_from_args(args)
    _ = cfg.study_size  # unknown size -> ValueError before any work
    try:
        result = run_study(cfg, executor=args.executor, dask_address=args.dask_address, n_workers=args.workers)
    except StudyJobsFailed as exc:
        sys.stderr.write(f"bsct study: {exc}\n")
        return EXIT_FAILED_EVALUATIONS  # the others finished; the failed jobs rerun on the next call
    if args.figures and len(result.rows) >= 2:
        save_figures(result, args.figures, cfg.fsd)
    sys.stdout.write((Path(args.out) / ("ablation.cached.md" if args.cached_only else "ablation.md")).read_text())
    return 0


if __name__ == "__main__":  # `python -m bsct.study.command ...`
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    parser = argparse.ArgumentParser(prog="bsct study")
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
