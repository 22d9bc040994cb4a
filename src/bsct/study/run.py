"""Run a study: every job's steps (resuming what is cached), then the correlation and the tables.

``run_job`` is one potential on one system; ``run_study`` runs all jobs of a
:class:`~bsct.study.config.StudyConfig` on an executor and writes ``OUT/study.json`` and
``OUT/ablation.md``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from bsct.metrics.correlation import correlation_summary
from bsct.report.study_tables import ablation_markdown, fmt
from bsct.runs import NotCached, cached_only, clean_json, reset_cached_only, write_json
from bsct.study import steps
from bsct.study.config import PotentialJob, StudyConfig
from bsct.study.executors import StudyJobsFailed, run_dask, run_local

log = logging.getLogger(__name__)

#: The key of an FSD result's mean that holds its set's floor (:func:`bsct.fsd.metric.flat_model_smoothness`).
FSD_FLOOR_KEY = "flat_full_smoothness"


def run_job(job: PotentialJob, cfg: StudyConfig) -> dict:
    """Run (or resume) every step of one potential on one system; return its table row
    (also written to ``OUT/SYSTEM/POTENTIAL/row.json``)."""
    import torch

    torch.set_num_threads(max(1, cfg.threads))
    size = cfg.study_size
    job_dir = Path(cfg.out_dir) / job.system / job.slug
    job_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    row: dict = {"system": job.system, "potential": job.name, "kind": job.kind, "note": job.note,
                 "size": size.name, "seed": cfg.seed}
    if job.trained:
        train_rec = steps.train_step(job, cfg, job_dir)
        potential_ref = train_rec["checkpoint"]
        depends = train_rec["fingerprint"]
        row.update(train_seconds=train_rec["step_wall_seconds"] + train_rec.get("seconds_before_resume", 0.0),
                   train_epochs=train_rec["epochs_run"], train_steps=train_rec["steps_run"], checkpoint=potential_ref)
    else:
        potential_ref, depends = job.spec, job.spec
        row.update(train_seconds=None, spec=job.spec)
    err = steps.errors_step(job, potential_ref, cfg, job_dir, depends)
    for split in steps.ERROR_SPLITS:
        row[f"{split}_energy_rmse_mev_per_atom"] = err[split]["energy_rmse_mev_per_atom"]
        row[f"{split}_force_rmse_mev_per_angstrom"] = err[split]["force_rmse_mev_per_angstrom"]
    row["errors_seconds"] = err["step_wall_seconds"]
    row["errors_by_config_type"] = err["by_config_type"]
    bsct = steps.bsct_step(job, potential_ref, cfg, job_dir, depends)
    row.update(bsct_score=bsct["score"], bsct_seconds=bsct["wall_seconds"], bsct_model_calls=bsct["n_model_calls"],
               bsct_points=bsct["n_points"], bsct_artifacts=bsct["n_artifacts"], bsct_artifact_kinds=bsct["artifact_kinds"])
    v2 = steps.bsct_v2_step(job, potential_ref, cfg, job_dir, depends)
    row.update(bsct_v2_score=v2["score"], bsct_v2_weighted_score=v2["weighted_score"],
               bsct_v2_temperature_k=v2["temperature_k"], bsct_v2_complete=v2["complete"],
               bsct_v2_seconds=v2["wall_seconds"], bsct_v2_artifacts=v2["n_artifacts"],
               bsct_v2_artifact_kinds=v2["artifact_kinds"], bsct_v2_score_by_kind=v2["score_by_kind"])
    if cfg.fsd:
        fsd = steps.fsd_step(job, potential_ref, cfg, job_dir, depends)
        row.update(fsd_per_angstrom=fsd["mean"].get("full_smoothness"),
                   fsd_compression_per_angstrom=fsd["mean"].get("compress_smoothness"),
                   fsd_stretch_per_angstrom=fsd["mean"].get("stretch_smoothness"), fsd_seconds=fsd["wall_seconds"])
    if job.scan_only:
        row.update(md_stable_fraction=None, md_replicas=0, md_mean_time_to_failure_ps=None, md_duration_ps=None,
                   md_failure_reasons={}, md_mean_abs_drift_mev_per_atom=None, md_seconds=None, md_force_calls=0)
    else:
        md = steps.md_step(job, potential_ref, cfg, job_dir, depends)
        s = md["summary"]
        row.update(md_stable_fraction=s["stable_fraction"], md_replicas=s["n_runs"],
                   md_mean_time_to_failure_ps=s["mean_time_to_failure_ps"], md_duration_ps=s["duration_ps"],
                   md_failure_reasons=s["failure_reasons"], md_mean_abs_drift_mev_per_atom=s["mean_abs_drift_mev_per_atom"],
                   md_seconds=s["wall_clock_s"], md_force_calls=s["n_force_calls"])
    row["cost_ratio_bsct_over_md"] = (row["bsct_seconds"] / row["md_seconds"]) if row["md_seconds"] else None
    if size.elastic and (job.name == "final" or job.kind == "reference"):
        el = steps.elastic_step(job, potential_ref, cfg, job_dir, depends)
        if el is not None:
            row["elastic"] = {k: el[k] for k in ("a0_angstrom", "C11", "C12", "C44", "bulk_modulus_gpa_eos")}
            row["elastic_seconds"] = el["step_wall_seconds"]
    row["job_wall_seconds_this_run"] = time.perf_counter() - t0
    row = clean_json(row)
    write_json(job_dir / "row.json", row)
    return row


@dataclass
class StudyResult:
    """rows: one dict per (system, potential); correlation: statistics over the rows (see
    :func:`bsct.metrics.correlation.correlation_summary`); wall_seconds: this invocation."""

    config: StudyConfig
    rows: list[dict]
    correlation: dict
    wall_seconds: float
    fsd_floor_per_angstrom: dict[str, float] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)  # "system/potential" not finished (cached_only)

    def to_dict(self) -> dict:
        return clean_json({"schema": "bsct.study/1", "config": dataclasses.asdict(self.config),
                           "size": self.config.study_size.to_dict(), "rows": self.rows,
                           "correlation": self.correlation, "wall_seconds": self.wall_seconds,
                           "fsd_floor_per_angstrom": self.fsd_floor_per_angstrom, "pending": self.pending})

    def markdown(self) -> str:
        """The tables of ``ablation.md`` (:func:`bsct.report.study_tables.ablation_markdown`)."""
        return ablation_markdown(self.rows, self.correlation, systems=self.config.systems, size=self.config.size,
                                 seed=self.config.seed, wall_seconds=self.wall_seconds,
                                 fsd_floor_per_angstrom=self.fsd_floor_per_angstrom, pending=self.pending)


def prepare_datasets(cfg: StudyConfig, workers: int = 1) -> None:
    """Generate the systems' datasets that are neither packaged nor cached, once, before the jobs:
    parallel jobs would otherwise each generate the same set (minutes to an hour for ``full``)."""
    from bsct.data import reference_path

    for system in dict.fromkeys(cfg.systems):
        reference_path(system, "train", size=cfg.study_size.data_size, generate=True, workers=workers,
                       progress=cfg.progress)


def fsd_floors(cfg: StudyConfig, jobs: list[PotentialJob]) -> dict[str, float]:
    """The FSD floor of each system's FSD set (per system, in job order), read from the first
    FSD step record on that set that covers all of it (no failures).

    The floor depends on the set's reference labels alone, so every FSD run on the set
    records the same value (``run_fsd``'s ``mean``); a system no FSD step has finished on yet
    has no floor."""
    floors: dict[str, float] = {}
    for system in dict.fromkeys(j.system for j in jobs):
        set_name = steps.fsd_set_root(cfg, system).name
        for job in (j for j in jobs if j.system == system):
            path = Path(cfg.out_dir) / system / job.slug / "fsd.json"
            if not path.exists():
                continue
            record = json.loads(path.read_text())
            if (record.get("settings", {}).get("fsd_set") == set_name and not record.get("failures")
                    and FSD_FLOOR_KEY in record.get("mean", {})):
                floors[system] = record["mean"][FSD_FLOOR_KEY]
                break
    return floors


def run_study(
    cfg: StudyConfig,
    executor: str = "local",
    dask_address: str | None = None,
    n_workers: int = 2,
    processes: bool = True,
) -> StudyResult:
    """Run every job of ``cfg`` (resuming cached steps), then the correlation; writes
    ``OUT/study.json`` and ``OUT/ablation.md``.

    executor: ``"local"`` (in-process, one job after the other) or ``"dask"`` (one Dask task per
    job on the scheduler at ``dask_address``, or on a fresh ``LocalCluster`` of ``n_workers``
    single-threaded workers; ``processes=False`` keeps them in this process). Training seeds
    torch's global generator, so parallel *threads* can interleave their random draws; use
    processes (the default) when bit-for-bit reproducible checkpoints matter.

    A job that raises does not stop the others: when all have run,
    :class:`~bsct.study.executors.StudyJobsFailed` names the failed ones (their finished steps
    stay cached; rerunning retries them). With ``cfg.cached_only`` nothing is computed (in this
    process, whatever ``executor``): the tables cover the finished potentials and
    ``StudyResult.pending`` lists the rest.
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    jobs = cfg.jobs()
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.fsd and not cfg.cached_only:  # shared by every potential of a system: made once, here, before parallel jobs
        for system in dict.fromkeys(j.system for j in jobs):
            steps.make_study_fsd_set(cfg, system)
    if not cfg.cached_only:
        prepare_datasets(cfg, workers=max(1, min(n_workers, os.cpu_count() or 1)))  # before any job runs
    rows: dict[tuple[str, str], dict] = {}
    bar = tqdm(total=len(jobs), desc="study", unit="potential", disable=not cfg.progress)

    def on_done(job: PotentialJob, row: dict) -> None:
        rows[(job.system, job.name)] = row
        bar.update(1)
        bar.set_postfix_str(f"{job.system}/{job.name}: BSCT {row['bsct_score']:.3g}, "
                            f"MD {fmt(row['md_stable_fraction'], 2)}")
        log.info("%s/%s: BSCT %.4g, MD stable %s, F RMSE %.1f meV/Å", job.system, job.name,
                 row["bsct_score"], fmt(row["md_stable_fraction"], 2), row["test_force_rmse_mev_per_angstrom"])

    failures: list[tuple[str, str, str]] = []
    pending: list[str] = []

    def on_fail(job: PotentialJob, exc: Exception) -> None:
        bar.update(1)
        if isinstance(exc, NotCached):  # cached_only: not finished yet
            pending.append(f"{job.system}/{job.name}")
            return
        failures.append((job.system, job.name, f"{type(exc).__name__}: {exc}"))
        log.error("%s/%s failed: %s: %s", job.system, job.name, type(exc).__name__, exc)

    job_fn = functools.partial(run_job, cfg=cfg)
    if cfg.cached_only:
        token = cached_only(True)
        try:
            run_local(jobs, job_fn, on_done, on_fail)
        finally:
            reset_cached_only(token)
    elif executor == "local":
        run_local(jobs, job_fn, on_done, on_fail)
    elif executor == "dask":
        run_dask(jobs, job_fn, on_done, on_fail, dask_address, n_workers, processes)
    else:
        raise ValueError(f"executor must be local or dask, got {executor!r}")
    bar.close()
    if failures:
        raise StudyJobsFailed(failures, len(jobs), str(out))
    ordered = [rows[(j.system, j.name)] for j in jobs if (j.system, j.name) in rows]
    corr = correlation_summary(ordered, cfg.n_bootstrap, cfg.seed) if len(ordered) >= 3 else {}
    floors = fsd_floors(cfg, jobs) if cfg.fsd else {}
    result = StudyResult(cfg, ordered, corr, time.perf_counter() - t0, floors, pending)
    suffix = ".cached" if cfg.cached_only else ""  # a partial report never replaces the full one
    write_json(out / f"study{suffix}.json", result.to_dict())
    (out / f"ablation{suffix}.md").write_text(result.markdown())
    return result


def load_study(out_dir: str | Path) -> dict:
    """The ``study.json`` of a finished study."""
    return json.loads((Path(out_dir) / "study.json").read_text())
