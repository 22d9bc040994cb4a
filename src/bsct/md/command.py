"""``bsct md``: MD stability test of a model from held-out structures.

Parses and calls the library, which writes ``OUT/md_runs.jsonl`` (one line per replica, appended
as each finishes; ``--resume`` continues a killed run; :func:`bsct.md.run.run_md_stability`),
``OUT/md_summary.json`` and ``OUT/md_traces.png`` (``MDStabilityResult.save``); prints one summary
line on stdout. Exit code 1 when ``--min-stable-fraction`` is given and not reached.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)

#: what the command writes into --out (the CLI owns --out for the run: bsct.runs.RunDir)
OUTPUTS = ("md_runs.jsonl", "md_summary.json", "md_traces.png")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model SPEC (e.g. emt, sw-si, morse, 'planted[kind=energy_step]', module:factory, checkpoint.pt)")
    parser.add_argument("--data", required=True,
                        help="starting structures: extxyz / ASE-readable file or .db, or ci:SYSTEM[/SPLIT] for the committed CI data (split defaults to test)")
    parser.add_argument("--replicas", type=int, default=8, help="number of seeded replicas (default 8)")
    parser.add_argument("--time-ps", type=float, default=10.0, help="NVE production per replica in ps (default 10)")
    parser.add_argument("--timestep-fs", type=float, default=None, help="default 0.5 fs with hydrogen, 1 fs otherwise")
    parser.add_argument("--temperature", type=float, default=300.0, help="temperature in K (default 300)")
    parser.add_argument("--equilibration-ps", type=float, default=0.5, help="Langevin equilibration before NVE (default 0.5 ps)")
    parser.add_argument("--friction-per-fs", type=float, default=0.01, help="Langevin friction (default 0.01/fs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-structures", type=int, default=None, help="use only the first N structures of --data")
    parser.add_argument("--engine", choices=("auto", "torch", "ase"), default="auto",
                        help="torch: all replicas batched, one model call per step; ase: ASE MD one replica at a time; auto: ase for ASE calculators")
    parser.add_argument("--batch-size", type=int, default=None, help="torch engine: replicas per batch (default all)")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (1 is often fastest for small systems on a busy CPU)")
    parser.add_argument("--out", default="reports/md", help="output directory (default reports/md)")
    parser.add_argument("--resume", action="store_true", help="keep finished replicas in OUT/md_runs.jsonl, run the rest")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--min-stable-fraction", type=float, default=None, help="exit 1 if the stable fraction is below this")
    crit = parser.add_argument_group("failure criteria (see docs/md.md)")
    crit.add_argument("--max-drift-mev-per-atom", type=float, default=None)
    crit.add_argument("--max-drift-slope-mev-per-atom-per-ps", type=float, default=None)
    crit.add_argument("--max-bond-deviation-angstrom", type=float, default=None)
    crit.add_argument("--isolation-distance-angstrom", type=float, default=None)
    crit.add_argument("--temperature-blowup-factor", type=float, default=None)
    crit.add_argument("--max-coordination-change-fraction", type=float, default=None)
    crit.add_argument("--structure-kind", choices=("auto", "molecule", "crystal"), default=None)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from bsct.data import resolve_data_arg
    from bsct.data.io import read_structures
    from bsct.md.criteria import StabilityCriteria
    from bsct.md.run import MDConfig, run_md_stability
    from bsct.registry import load_potential

    path = resolve_data_arg(args.data, default_split="test")
    structures = read_structures(path)[:args.max_structures]
    potential = load_potential(args.model)
    config = MDConfig(
        temperature_k=args.temperature,
        time_ps=args.time_ps,
        timestep_fs=args.timestep_fs,
        equilibration_ps=args.equilibration_ps,
        friction_per_fs=args.friction_per_fs,
        replicas=args.replicas,
        seed=args.seed,
        engine=args.engine,
        max_batch_replicas=args.batch_size,
        dtype=args.dtype,
        device=args.device,
    )
    overrides = {
        "max_energy_drift_mev_per_atom": args.max_drift_mev_per_atom,
        "max_drift_slope_mev_per_atom_per_ps": args.max_drift_slope_mev_per_atom_per_ps,
        "max_bond_deviation_angstrom": args.max_bond_deviation_angstrom,
        "isolation_distance_angstrom": args.isolation_distance_angstrom,
        "temperature_blowup_factor": args.temperature_blowup_factor,
        "max_coordination_change_fraction": args.max_coordination_change_fraction,
        "structure_kind": args.structure_kind,
    }
    criteria = replace(StabilityCriteria(), **{k: v for k, v in overrides.items() if v is not None})
    out = Path(args.out)
    log.info("MD stability of %s on %d structure(s) from %s -> %s", args.model, len(structures), path, out)
    result = run_md_stability(potential, structures, config, criteria, out_dir=out, resume=args.resume,
                              model_name=args.model)
    result.save(out, data=path, plot=not args.no_plots)
    s = result.summary
    drift = s["mean_abs_drift_mev_per_atom"]
    print(
        f"{args.model}: stable fraction {s['stable_fraction']:.2f} ({s['n_stable']}/{s['n_runs']}), "
        f"mean time to failure {s['mean_time_to_failure_ps']:.3g} ps of {s['duration_ps']:.3g} ps, "
        f"mean |drift| {drift if drift is None else format(drift, '.3g')} meV/atom, "
        f"failures {s['failure_reasons'] or 'none'}, "
        f"{s['n_force_calls']} force calls, {s['wall_clock_s']:.1f} s"
    )
    log.info("wrote %s, %s", out / "md_runs.jsonl", out / "md_summary.json")
    if args.min_stable_fraction is not None and s["stable_fraction"] < args.min_stable_fraction:
        log.error("stable fraction %.2f < required %.2f", s["stable_fraction"], args.min_stable_fraction)
        return 1
    return 0
