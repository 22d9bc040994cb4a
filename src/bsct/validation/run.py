"""Run the pre-registered validation study, stage by stage, cached and resumable.

Stages (``bsct validate --stage ...``), in the order ``all`` runs them:

    plan        timing runs (a few MD steps per family and system) -> projected worker-hours per
                family; the protocol's budget rule, applied mechanically (``plan/plan.json``)
    references  each system's reference method through the full MD protocol, from the start set
                in force (``references/references.json``: pass/fail, worst value and margin per
                criterion)
    zoo         training, then the MD ground truth of every (potential, system, T)
    predictors  BSCT v1/v2 (+ at T, + components), FSD, force RMSE, the cost-matched short NVE,
                and the cost of each
    analysis    ``units.csv`` and ``replicas.csv`` (the data contract), then the pre-registered
                analysis (:mod:`bsct.metrics.validation_stats`) when it is installed

Work fans out over Dask (:mod:`bsct.study.executors`) as one task per potential (a training
with its checkpoints, or a ready model), or per reference unit.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from bsct.runs import BadInput, write_json
from bsct.study.executors import StudyJobsFailed, run_dask, run_local
from bsct.validation import steps
from bsct.validation.protocol import Protocol, load_protocol, protocol_git_hash
from bsct.validation.zoo import Zoo, ZooPotential, expand_zoo

log = logging.getLogger(__name__)

STAGES = ("plan", "references", "zoo", "predictors", "analysis")


@dataclass(frozen=True)
class ValidateConfig:
    """Settings of one ``bsct validate`` invocation (what to run, where; the science is the protocol's)."""

    protocol_path: str
    tier: str = "full"
    out_dir: str = "runs/validation"
    workers: int = 1
    dask_address: str | None = None
    progress: bool = True
    stopped: bool = False
    systems: tuple[str, ...] | None = None  # run only these systems' references/zoo/predictors (None = all)
    reference_start_set: str | None = None  # references from this start set, not the plan's (to inform an amendment)
    timing_steps: int = 5  # MD steps per timing run of the plan (not a protocol number: cost estimate only)


@dataclass(frozen=True)
class Task:
    """One unit of parallel work: ``kind`` ``reference`` | ``zoo`` | ``predictors``."""

    kind: str
    system: str
    slug: str
    payload: tuple = ()


@dataclass
class StageResult:
    stage: str
    record: dict = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ executing tasks


def execute_task(task: Task, cfg: ValidateConfig) -> dict:
    """Run one task in this process (a Dask worker or the local loop); returns its records."""
    import torch

    torch.set_num_threads(1)
    p = load_protocol(cfg.protocol_path, cfg.tier)
    out = Path(cfg.out_dir)
    if task.kind == "reference":
        start_set, temperature_k = task.payload
        return steps.reference_step(p, task.system, start_set, temperature_k, out)
    potentials, start_set, extra = task.payload
    if task.kind == "zoo":
        return {z.name: {f"{t:g}": steps.zoo_md_step(p, z, t, out, start_set, cfg.progress)
                         for t in p.systems[z.system].temperatures_k} for z in potentials}
    if task.kind == "predictors":
        from bsct.validation.predictor_stage import predictors_of

        return {z.name: predictors_of(p, z, out, start_set, extra) for z in potentials}
    raise ValueError(f"unknown task kind {task.kind!r}")


def run_tasks(tasks: list[Task], cfg: ValidateConfig, desc: str) -> dict:
    """Every task (locally for one worker, else on Dask); a failed task does not stop the others,
    and :class:`StudyJobsFailed` names the failures at the end."""
    from tqdm.auto import tqdm

    results, failures = {}, []
    bar = tqdm(total=len(tasks), desc=desc, unit="task", disable=not cfg.progress)

    def on_done(task: Task, result: dict) -> None:
        results[(task.system, task.slug)] = result
        bar.update(1)

    def on_fail(task: Task, exc: Exception) -> None:
        failures.append((task.system, task.slug, f"{type(exc).__name__}: {exc}"))
        log.error("%s %s/%s failed: %s: %s", desc, task.system, task.slug, type(exc).__name__, exc)
        bar.update(1)

    fn = functools.partial(execute_task, cfg=cfg)
    if cfg.workers <= 1 and cfg.dask_address is None:
        run_local(tasks, fn, on_done, on_fail)
    else:
        run_dask(tasks, fn, on_done, on_fail, cfg.dask_address, cfg.workers, processes=True)
    bar.close()
    if failures:
        raise StudyJobsFailed(failures, len(tasks), cfg.out_dir)
    return results


# ------------------------------------------------------------------ plan


def plan_path(out: Path) -> Path:
    return out / "plan" / "plan.json"


def start_set_in_force(out: Path) -> str | None:
    """The crystal start set the plan decided (``registered`` | ``primitive``), None before the plan."""
    path = plan_path(out)
    return json.loads(path.read_text())["decision"]["start_set"] if path.exists() else None


def stage_plan(p: Protocol, cfg: ValidateConfig, zoo: Zoo) -> StageResult:
    from bsct.validation.plan import make_plan, plan_lines

    record = make_plan(p, zoo, Path(cfg.out_dir), cfg.timing_steps)
    write_json(plan_path(Path(cfg.out_dir)), record)
    return StageResult("plan", record, plan_lines(record))


# ------------------------------------------------------------------ references


def selected(p: Protocol, cfg: ValidateConfig) -> dict:
    """The protocol's systems this invocation runs (``--systems``), in protocol order."""
    unknown = set(cfg.systems or ()) - set(p.systems)
    if unknown:
        raise BadInput(f"--systems: {sorted(unknown)} are not systems of the protocol ({', '.join(p.systems)})")
    return {k: v for k, v in p.systems.items() if cfg.systems is None or k in cfg.systems}


def stage_references(p: Protocol, cfg: ValidateConfig) -> StageResult:
    out = Path(cfg.out_dir)
    if cfg.reference_start_set not in (None,) + steps.START_SETS:
        raise BadInput(f"--reference-starts must be one of {', '.join(steps.START_SETS)}")
    start_sets = [cfg.reference_start_set or start_set_in_force(out) or "registered"]
    tasks = [Task("reference", system, f"{start_set}-T{t:g}", (start_set, t))
             for system, sp in selected(p, cfg).items() for start_set in start_sets for t in sp.temperatures_k]
    results = run_tasks(tasks, cfg, "references")
    rows, lines = [], ["reference validation (required failures: "
                       f"{p.md.required_reference_failures}; pass = at most that many failed replicas)"]
    for system, sp in selected(p, cfg).items():
        for start_set in start_sets:
            records = [r for t in sp.temperatures_k for r in results[(system, f"{start_set}-T{t:g}")]["replicas"]]
            per_t = {f"{t:g}": sum(r["failed"] for r in results[(system, f"{start_set}-T{t:g}")]["replicas"])
                     for t in sp.temperatures_k}
            n_failed = sum(r["failed"] for r in records)
            passed = n_failed <= p.md.required_reference_failures
            margins = steps.criterion_margins(records, p)
            rows.append({"system": system, "reference": sp.reference, "start_set": start_set,
                         "starts": list(steps.start_names(p, system, start_set)), "n_replicas": len(records),
                         "n_failed": n_failed, "failed_by_temperature": per_t, "passed": passed,
                         "criteria": margins})
            lines.append(f"  {system} ({sp.reference}, {start_set} starts): {'PASS' if passed else 'FAIL'}, "
                         f"{n_failed}/{len(records)} failed {per_t}")
            for m in margins:
                if m["worst"] is not None:
                    lines.append(f"    {m['criterion']}: worst {m['worst']:.4g} {m['unit']} vs {m['threshold']:g}"
                                 f" -> margin {m['margin']:.3g}x")
            if not passed:
                lines.append("    the protocol's pre-stated fallback applies ([md.reference_validation]); "
                             "record it as an amendment before any zoo MD")
    path = out / "references" / "references.json"  # rows of other systems (another --systems run) are kept
    kept = [r for r in (json.loads(path.read_text())["references"] if path.exists() else [])
            if (r["system"], r["start_set"]) not in {(n["system"], n["start_set"]) for n in rows}]
    rows = kept + rows
    record = {"references": rows, "passed": all(r["passed"] for r in rows)}
    write_json(path, record)
    return StageResult("references", record, lines)


# ------------------------------------------------------------------ zoo and predictors


def runnable_potentials(zoo: Zoo, out: Path) -> tuple[list[ZooPotential], dict]:
    """The zoo's potentials the plan lets run, and the families it set aside (with why)."""
    plan = json.loads(plan_path(out).read_text())
    not_run = dict(plan["decision"].get("not_run", {}))
    return [z for z in zoo.potentials if z.family not in not_run], not_run


def zoo_tasks(potentials: list[ZooPotential], start_set: str, kind: str, extra=None) -> list[Task]:
    """One task per training (all its checkpoints) or per ready model."""
    groups: dict[tuple[str, str], list[ZooPotential]] = {}
    for z in potentials:
        key = (z.system, z.training.slug if z.trained else z.slug)
        groups.setdefault(key, []).append(z)
    return [Task(kind, system, slug, (tuple(zs), start_set, extra)) for (system, slug), zs in groups.items()]


def require_plan(p: Protocol, cfg: ValidateConfig, zoo: Zoo) -> str:
    out = Path(cfg.out_dir)
    if start_set_in_force(out) is None:
        for line in stage_plan(p, cfg, zoo).lines:
            log.info("%s", line)
    return start_set_in_force(out)


def prepare_datasets(p: Protocol, potentials: list[ZooPotential], progress: bool) -> None:
    """Generate the reference datasets the tasks read (training sets, the test split), once, before
    parallel tasks would each generate the same set."""
    from bsct.data import reference_path

    needed = {(z.system, z.training.training_set) for z in potentials if z.trained}
    needed |= {(z.system, p.data_size) for z in potentials}
    for system, size in sorted(needed):
        reference_path(system, "train", size=size, generate=size != "ci", progress=progress)


def check_references_passed(p: Protocol, out: Path, start_set: str, systems) -> None:
    """The full tier runs zoo MD only after the references passed the MD protocol from the start set
    in force, on every system it runs (the protocol: the criteria are validated first)."""
    path = out / "references" / "references.json"
    rows = json.loads(path.read_text())["references"] if path.exists() else []
    passed = {r["system"] for r in rows if r["start_set"] == start_set and r["passed"]}
    missing = [s for s in systems if s not in passed]
    if missing:
        raise BadInput(f"the reference validation has not passed for {missing} from the {start_set} starts "
                       f"({path}): run --stage references first; a failure needs the protocol's fallback, "
                       "recorded as an amendment, before any zoo MD")


def stage_zoo(p: Protocol, cfg: ValidateConfig, zoo: Zoo) -> StageResult:
    start_set = require_plan(p, cfg, zoo)
    potentials, not_run = runnable_potentials(zoo, Path(cfg.out_dir))
    potentials = [z for z in potentials if z.system in selected(p, cfg)]
    if p.tier == "full":
        check_references_passed(p, Path(cfg.out_dir), start_set, sorted({z.system for z in potentials}))
    prepare_datasets(p, potentials, cfg.progress)
    results = run_tasks(zoo_tasks(potentials, start_set, "zoo"), cfg, "zoo")
    n_units = sum(len(v) for r in results.values() for v in r.values())
    return StageResult("zoo", {"n_potentials": len(potentials), "n_units": n_units, "not_run": not_run},
                       [f"zoo: {len(potentials)} potentials, {n_units} units finished; not run: {not_run or 'none'}"])


def stage_predictors(p: Protocol, cfg: ValidateConfig, zoo: Zoo) -> StageResult:
    from bsct.validation.predictor_stage import make_fsd_sets

    start_set = require_plan(p, cfg, zoo)
    potentials, _ = runnable_potentials(zoo, Path(cfg.out_dir))
    potentials = [z for z in potentials if z.system in selected(p, cfg)]
    prepare_datasets(p, potentials, cfg.progress)
    fsd_roots = make_fsd_sets(p, sorted({z.system for z in potentials}), Path(cfg.out_dir), cfg.progress)
    results = run_tasks(zoo_tasks(potentials, start_set, "predictors", fsd_roots), cfg, "predictors")
    return StageResult("predictors", {"n_potentials": sum(len(r) for r in results.values())},
                       [f"predictors: {sum(len(r) for r in results.values())} potentials scored"])


# ------------------------------------------------------------------ the whole run


def check_may_run_zoo(p: Protocol, protocol_hash: str) -> None:
    """The full tier runs zoo MD only from a committed, unmodified protocol (pre-registration)."""
    if p.tier == "full" and protocol_hash == "uncommitted":
        raise BadInput(f"{p.path} is not committed or differs from its committed version: the full tier runs no "
                       "zoo MD from an unregistered protocol (commit it, with an [[amendments]] entry if changed)")


def run_validation(cfg: ValidateConfig, stage: str = "all") -> list[StageResult]:
    """Run ``stage`` (or all, in :data:`STAGES` order); each stage's records are cached under ``out_dir``."""
    from bsct.validation.analysis import stage_analysis

    p = load_protocol(cfg.protocol_path, cfg.tier)
    protocol_hash = protocol_git_hash(cfg.protocol_path)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    zoo = expand_zoo(p)
    write_json(out / "run.json", {"protocol": cfg.protocol_path, "protocol_hash": protocol_hash, "tier": cfg.tier,
                                  "dropped": zoo.dropped, "n_potentials": len(zoo.potentials),
                                  "ci_tier": "not evidence" if cfg.tier == "ci" else None})
    todo = STAGES if stage == "all" else (stage,)
    if stage not in STAGES + ("all",):
        raise BadInput(f"--stage must be one of {', '.join(STAGES + ('all',))}, not {stage!r}")
    if {"zoo", "predictors"} & set(todo):
        check_may_run_zoo(p, protocol_hash)
    results = []
    for name in todo:
        if name == "plan":
            results.append(stage_plan(p, cfg, zoo))
        elif name == "references":
            results.append(stage_references(p, cfg))
        elif name == "zoo":
            results.append(stage_zoo(p, cfg, zoo))
        elif name == "predictors":
            results.append(stage_predictors(p, cfg, zoo))
        else:
            results.append(stage_analysis(p, cfg, zoo, protocol_hash))
    return results
