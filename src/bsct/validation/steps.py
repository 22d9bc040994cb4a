"""The MD steps of the validation study: the reference validation, the timing runs of the plan,
training and the MD ground truth of the zoo.

Each step is :func:`bsct.runs.cached_step` of a record under the run's folder, with a settings
dict as its identity; MD resumes replica by replica through the run log
(:func:`bsct.md.run.run_md_stability` with ``resume=True``), as ``bsct md --resume`` does.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from pathlib import Path

from bsct.runs import ResumeMismatchError, cached_step, safe_name
from bsct.validation.protocol import Protocol
from bsct.validation.starts import build_starts, primitive_variant
from bsct.validation.zoo import Training, ZooPotential

log = logging.getLogger(__name__)

#: The start sets a system can run from: the registered ones and the budget rule's primitive cells.
START_SETS = ("registered", "primitive")


def start_names(p: Protocol, system: str, start_set: str = "registered") -> tuple[str, ...]:
    names = p.systems[system].starts
    return tuple(primitive_variant(n) for n in names) if start_set == "primitive" else names


def md_config(p: Protocol, system: str, temperature_k: float, *, replicas: int | None = None, nve_ps: float | None = None,
              equilibration_ps: float | None = None, seed: int | None = None, n_starts: int | None = None):
    """The protocol's :class:`~bsct.md.run.MDConfig` of one (system, T): ``seeds_per_start`` x starts replicas."""
    from bsct.md.run import MDConfig

    n_starts = n_starts or len(p.systems[system].starts)
    return MDConfig(temperature_k=temperature_k, time_ps=p.md.nve_ps if nve_ps is None else nve_ps,
                    timestep_fs=p.systems[system].timestep_fs,
                    equilibration_ps=p.md.equilibration_ps if equilibration_ps is None else equilibration_ps,
                    friction_per_fs=p.md.friction_per_fs, replicas=replicas or p.md.seeds_per_start * n_starts,
                    seed=p.md.seed_base if seed is None else seed, dtype=p.md.dtype)


def criteria_of(p: Protocol):
    from bsct.md.criteria import StabilityCriteria

    return StabilityCriteria(**p.md.criteria)


def temperature_limit_k(criteria, n_atoms: int, target_k: float, equilibration: bool) -> float:
    """The temperature criterion's limit (docs/md.md): (factor + s * sqrt(2 / 3N)) x T."""
    factor = criteria.equilibration_temperature_blowup_factor if equilibration else criteria.temperature_blowup_factor
    return (factor + criteria.temperature_fluctuation_sigmas * math.sqrt(2.0 / (3.0 * n_atoms))) * target_k


def replica_record(run, p: Protocol, criteria, target_k: float) -> dict:
    """What the study keeps of one replica: outcome, failure class, drift and the largest sampled
    temperature over its limit (NVE and equilibration apart; traces are sampled, so a lower bound)."""
    trace = run.trace or {}
    t, temp = trace.get("time_ps", []), trace.get("temperature_k", [])
    ratios = {"nve": 0.0, "equilibration": 0.0}
    for t_ps, temp_k in zip(t, temp):
        if temp_k is None or not math.isfinite(temp_k):
            continue
        phase = "equilibration" if t_ps <= run.production_start_ps else "nve"
        limit = temperature_limit_k(criteria, run.n_atoms, target_k, phase == "equilibration")
        ratios[phase] = max(ratios[phase], temp_k / limit)
    return {"replica": run.replica, "structure_index": run.structure_index, "seed": run.seed, "n_atoms": run.n_atoms,
            "failed": not run.stable, "reason": run.reason or "", "failure_class": p.md.failure_class(run.reason),
            "time_ps": run.time_to_failure_ps if not run.stable else run.simulated_ps,
            "time_to_failure_ps": run.time_to_failure_ps, "simulated_ps": run.simulated_ps, "detail": run.detail,
            "max_abs_drift_mev_per_atom": run.max_abs_drift_mev_per_atom,
            "drift_slope_mev_per_atom_per_ps": run.drift_slope_mev_per_atom_per_ps,
            "max_temperature_over_limit_nve": ratios["nve"],
            "max_temperature_over_limit_equilibration": ratios["equilibration"],
            "wall_clock_s": run.wall_clock_s, "n_force_calls": run.n_force_calls,
            "n_atom_evaluations": run.n_force_calls * run.n_atoms, "engine": run.engine}


def run_md(potential_ref: str, starts, md_cfg, criteria, out_dir: Path, name: str):
    """:func:`~bsct.md.run.run_md_stability` resuming the replicas ``out_dir`` holds; a log of another
    potential or other settings is started afresh."""
    from bsct.md.run import run_md_stability

    for resume in (True, False):
        try:
            return run_md_stability(potential_ref, starts, md_cfg, criteria, out_dir=out_dir, resume=resume,
                                    model_name=name)
        except ResumeMismatchError as exc:
            log.info("%s: %s; starting afresh", out_dir, exc)
    raise AssertionError("unreachable")


def md_step(p: Protocol, potential_ref: str, depends: str, system: str, temperature_k: float, unit_dir: Path,
            name: str, start_set: str = "registered", **md_overrides) -> dict:
    """The MD ground truth of one (potential, system, T): ``unit_dir/md.json`` with one record per replica."""
    criteria = criteria_of(p)
    names = start_names(p, system, start_set)
    md_cfg = md_config(p, system, temperature_k, n_starts=len(names), **md_overrides)
    settings = {"potential": potential_ref, "depends": depends, "starts": list(names),
                "md": dataclasses.asdict(md_cfg), "criteria": criteria.to_dict()}

    def compute() -> dict:
        result = run_md(potential_ref, build_starts(names, system), md_cfg, criteria, unit_dir / "md", name)
        return {"summary": result.summary,
                "replicas": [replica_record(r, p, criteria, temperature_k) for r in result.runs]}

    return cached_step(unit_dir / "md.json", settings, compute)


# ------------------------------------------------------------------ a. the reference validation


def reference_step(p: Protocol, system: str, start_set: str, temperature_k: float, out: Path) -> dict:
    """The reference of ``system`` through the full MD protocol at one T from one start set."""
    ref = p.systems[system].reference
    unit_dir = out / "references" / system / start_set / f"T{temperature_k:g}"
    return md_step(p, ref, ref, system, temperature_k, unit_dir, f"reference {ref}", start_set)


def criterion_margins(records: list[dict], p: Protocol) -> list[dict]:
    """Per criterion: the worst value over the replicas, its threshold and the margin threshold / worst.

    The MD run log keeps drift and slope per replica and a sampled temperature trace; the
    geometric criteria (atoms lost, bonds, coordination) are pass/fail only (no value recorded)."""
    c = criteria_of(p)
    nve_long_enough = p.md.nve_ps >= c.min_slope_window_ps
    rows = []

    def row(criterion, values, threshold, unit, note=""):
        finite = [abs(v) for v in values if v is not None and math.isfinite(v)]
        worst = max(finite) if finite else None
        margin = threshold / worst if worst else None
        n_failed = sum(r["reason"] == criterion for r in records)
        rows.append({"criterion": criterion, "worst": worst, "threshold": threshold, "unit": unit,
                     "margin": margin, "n_failed": n_failed, "note": note})

    row("energy_drift", [r["max_abs_drift_mev_per_atom"] for r in records], c.max_energy_drift_mev_per_atom,
        "meV/atom")
    row("drift_slope", [r["drift_slope_mev_per_atom_per_ps"] for r in records] if nve_long_enough else [],
        c.max_drift_slope_mev_per_atom_per_ps, "meV/atom/ps",
        "" if nve_long_enough else f"not tested: NVE shorter than {c.min_slope_window_ps} ps")
    row("temperature", [max(r["max_temperature_over_limit_nve"], r["max_temperature_over_limit_equilibration"])
                        for r in records], 1.0, "T / limit", "sampled trace (~400 points per replica)")
    for criterion in ("atom_loss", "bond_length", "coordination", "non_finite"):
        rows.append({"criterion": criterion, "worst": None, "threshold": None, "unit": "", "margin": None,
                     "n_failed": sum(r["reason"] == criterion for r in records), "note": "pass/fail only"})
    return rows


# ------------------------------------------------------------------ b. timing runs of the plan


def timing_step(p: Protocol, potential_ref: str, label: str, system: str, start_set: str, n_steps: int,
                out: Path) -> dict:
    """Seconds per MD step of ``potential_ref`` on ``system``'s starts at the highest T (a few steps;
    the trajectory is not looked at): all replicas of a unit in one batch where the engine batches
    them (torch; the per-step time of the whole unit), else one replica (the ASE engine runs them
    one by one). The model is loaded before the clock starts, and only when no record is cached."""
    import json

    from bsct.runs import fingerprint

    names = start_names(p, system, start_set)
    temperature_k = max(p.systems[system].temperatures_k)
    dt = p.systems[system].timestep_fs
    path = out / "plan" / "timing" / system / start_set / f"{safe_name(label)}.json"

    def settings_of(batched: bool):
        n_replicas = p.md.seeds_per_start * len(names) if batched else 1
        cfg = md_config(p, system, temperature_k, replicas=n_replicas, nve_ps=n_steps * dt / 1000.0,
                        equilibration_ps=0.0, n_starts=len(names))
        return cfg, {"potential": potential_ref, "starts": list(names), "md": dataclasses.asdict(cfg),
                     "n_steps": n_steps}

    saved = json.loads(path.read_text()).get("fingerprint") if path.exists() else None
    cached = [b for b in (True, False) if saved == fingerprint(settings_of(b)[1])]

    def compute_with(potential, cfg) -> dict:
        from bsct.md.run import run_md_stability

        starts = build_starts(names, system)
        t0 = time.perf_counter()
        result = run_md_stability(potential, starts, cfg, criteria_of(p), model_name=label)
        wall = time.perf_counter() - t0
        return {"seconds_per_step": wall / n_steps, "replicas_per_step": cfg.replicas,
                "n_atoms": [len(a) for a in starts], "engine": result.summary["engine"], "wall_seconds": wall}

    if cached:
        return cached_step(path, settings_of(cached[0])[1], lambda: {})
    from bsct.potentials.ase_adapters import CalculatorPotential
    from bsct.registry import load_potential

    potential = load_potential(potential_ref)
    cfg, settings = settings_of(not isinstance(potential, CalculatorPotential))
    return cached_step(path, settings, lambda: compute_with(potential, cfg))


# ------------------------------------------------------------------ c. training and the zoo's MD


def training_dir(out: Path, training: Training) -> Path:
    return out / "zoo" / training.system / "_train" / training.slug


def train_step(training: Training, out: Path, progress: bool = False) -> dict:
    """Train (or reuse) one training of the zoo; ``train.json`` lists one checkpoint SPEC per fraction."""
    from bsct.validation.trainers import train_any

    job_dir = training_dir(out, training)
    settings = {"training": dataclasses.asdict(training)}

    def compute() -> dict:
        return {"checkpoints": train_any(training, job_dir, progress)}

    record = cached_step(job_dir / "train.json", settings, compute)
    if not all(Path(c.split(":", 1)[-1]).exists() for c in record["checkpoints"]):  # weights deleted: retrain
        record = cached_step(job_dir / "train.json", settings, compute, force=True)
    return record


def potential_ref_of(z: ZooPotential, out: Path, progress: bool = False) -> tuple[str, str]:
    """(SPEC, dependency fingerprint) of a zoo potential, training it first if needed."""
    if not z.trained:
        return z.spec, z.spec
    record = train_step(z.training, out, progress)
    return record["checkpoints"][z.training.checkpoints_at.index(z.fraction)], record["fingerprint"]


def unit_dir(out: Path, z: ZooPotential, temperature_k: float) -> Path:
    return out / "zoo" / z.system / z.slug / f"T{temperature_k:g}"


def zoo_md_step(p: Protocol, z: ZooPotential, temperature_k: float, out: Path, start_set: str,
                progress: bool = False) -> dict:
    ref, depends = potential_ref_of(z, out, progress)
    return md_step(p, ref, depends, z.system, temperature_k, unit_dir(out, z, temperature_k), z.name, start_set)
