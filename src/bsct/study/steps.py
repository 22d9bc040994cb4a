"""The steps of one study job: each turns the job's settings into one library call and caches
its record (``OUT/SYSTEM/POTENTIAL/STEP.json``, :func:`bsct.runs.cached_step`).

A step's ``settings`` dict is its identity: its fingerprint is the cache key and is written
into the record, so its content must not change for a result that has not changed.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bsct.data.reference import REFERENCES
from bsct.runs import NotCached, ResumeMismatchError, cached_step, is_cached_only
from bsct.study.config import (
    ELASTIC_CRYSTALS,
    THIRD_PARTY_MAX_EQUILIBRATION_PS,
    PotentialJob,
    StudyConfig,
    StudySize,
)

log = logging.getLogger(__name__)

#: Splits the errors step measures, and what it groups the frames of each by.
ERROR_SPLITS = ("test", "unseen")

#: ``ScanRange.past_cutoff_angstrom`` of every study scan: the cutoff term is off, so all
#: potentials of a system share one grid (0.6 r0 to ``bsct_r_max_scale`` x r0).
NO_CUTOFF_TERM_ANGSTROM = -1e6


def study_frames(system: str, split: str, data_size: str = "ci"):
    """The structures of a reference dataset split (``ci`` sets ship with the package; the
    others are generated on first use)."""
    from bsct.data import read_structures, reference_path

    return read_structures(reference_path(system, split, size=data_size, generate=data_size != "ci"))


def data_settings(size: StudySize) -> dict:
    """The dataset size in a step's fingerprint; empty for ``ci`` so caches made before the
    field existed stay valid."""
    return {} if size.data_size == "ci" else {"data": size.data_size}


def bsct_frames(frames):
    """The structures BSCT scans: for periodic data the largest frame (a long scan fits inside
    half its cell without growing it), for molecules all frames."""
    periodic = [a for a in frames if a.pbc.all()]
    if periodic:
        return [max(periodic, key=len)]
    return list(frames)


def model_config(job: PotentialJob, size: StudySize):
    """The named model config of a trained job with the size's and the job's overrides."""
    from bsct.model.config import named_config

    return named_config(job.config_name, **{**size.model_overrides, **dict(job.model_overrides)})


def train_step(job: PotentialJob, cfg: StudyConfig, job_dir: Path) -> dict:
    """Train the job's model into ``job_dir/model.pt`` (or reuse it); record ``train.json``."""
    from bsct.train.loop import TrainConfig

    size = cfg.study_size
    model_cfg = model_config(job, size)
    train_cfg = TrainConfig(epochs=size.epochs, batch_size=size.batch_size, lr=size.lr, seed=cfg.seed,
                            max_steps=job.max_steps, progress=cfg.progress)
    checkpoint = job_dir / "model.pt"
    model_settings = model_cfg.to_dict()
    if model_settings.get("force_head") == "gradient":  # field added later; its default is the old model
        del model_settings["force_head"]
    settings = {"model": model_settings, "train": {**train_cfg.to_dict(), "progress": None}, "system": job.system,
                **data_settings(size)}

    def compute() -> dict:
        from bsct.train.loop import train

        res = train(model_cfg, study_frames(job.system, "train", size.data_size),
                    study_frames(job.system, "val", size.data_size), train_cfg, out_dir=job_dir)
        # a training resumed after an interruption: its earlier epochs count in its cost
        before = sum(h["epoch_time_s"] for h in res.history[:res.resumed_epochs])
        return {"checkpoint": str(checkpoint), "epochs_run": len(res.history), "seconds_before_resume": before,
                "steps_run": res.history[-1]["step"] if res.history else 0, "val": res.metrics["val"],
                "dataset_sha256": res.dataset_sha256}

    return cached_step(job_dir / "train.json", settings, compute, force=not checkpoint.exists())


def errors_step(job: PotentialJob, potential_ref: str, cfg: StudyConfig, job_dir: Path, depends: str) -> dict:
    """Energy / force errors on ``test`` and ``unseen``, also per ``config_type``; ``errors.json``."""
    settings = {"potential": potential_ref, "depends": depends, "splits": list(ERROR_SPLITS),
                "by": "config_type", **data_settings(cfg.study_size)}

    def compute() -> dict:
        from bsct.registry import load_potential
        from bsct.train.loss import errors_by_group

        potential = load_potential(potential_ref)
        out: dict = {"by_config_type": {}}
        for split in ERROR_SPLITS:
            out[split], out["by_config_type"][split] = errors_by_group(
                potential, study_frames(job.system, split, cfg.study_size.data_size))
        return out

    return cached_step(job_dir / "errors.json", settings, compute)


def _resuming(run: Callable[[bool], Any], out_dir: Path):
    """``run(resume)`` with ``resume=True`` first: keep what a stopped run of this step saved
    (scans, systems, MD replicas); if ``out_dir`` holds another potential's or other settings'
    results, start afresh."""
    try:
        return run(True)
    except ResumeMismatchError as exc:
        log.info("%s: %s; starting afresh", out_dir, exc)
        return run(False)


def _scan_size(job: PotentialJob, size: StudySize) -> tuple[int, int]:
    """(points per scan, bonds per type) of a job's BSCT: smaller for third-party and scan-only jobs."""
    third = job.kind == "third_party" or job.scan_only
    return ((size.third_party_bsct_points, size.third_party_bsct_max_per_type) if third
            else (size.bsct_points, size.bsct_max_per_type))


def _scan_record(report) -> dict:
    """What both BSCT steps record of a report: cost (a resumed test's: this run plus the model time
    of the curves an earlier run saved), artifacts by kind, per type, cutoff."""
    return {"wall_seconds": report.wall_seconds + report.resumed_model_seconds,
            "resumed_model_seconds": report.resumed_model_seconds, "model_seconds": report.model_seconds,
            "n_model_calls": report.n_model_calls, "n_points": report.n_points,
            "n_artifacts": len(report.artifacts), "artifact_kinds": dict(Counter(a.kind for a in report.artifacts)),
            "per_type": report.per_type, "cutoff_angstrom": report.cutoff_angstrom}


def bsct_step(job: PotentialJob, potential_ref: str, cfg: StudyConfig, job_dir: Path, depends: str) -> dict:
    """BSCT score of the potential on the system's held-out structures; ``bsct.json``."""
    from bsct.scan.geometry import ScanRange

    size = cfg.study_size
    n_points, max_per_type = _scan_size(job, size)
    scan_range = ScanRange(n_points=n_points, r_max_scale=size.bsct_r_max_scale,
                           past_cutoff_angstrom=NO_CUTOFF_TERM_ANGSTROM)
    settings = {"potential": potential_ref, "depends": depends, "max_per_type": max_per_type, **data_settings(size),
                "scan_range": dataclasses.asdict(scan_range), "seed": cfg.seed}

    def compute() -> dict:
        from bsct.scan.api import run_bsct

        def scan(resume: bool):
            return run_bsct(potential_ref, bsct_frames(study_frames(job.system, "test", size.data_size)),
                            out_dir=job_dir / "bsct", resume=resume, progress=cfg.progress,
                            max_per_type=max_per_type, seed=cfg.seed, scan_range=scan_range)

        report = _resuming(scan, job_dir / "bsct")
        return {"score": report.score, **_scan_record(report)}

    return cached_step(job_dir / "bsct.json", settings, compute)


def bsct_v2_scan_range(n_points: int, size: StudySize, periodic: bool):
    """The grid of a study's v2 scans: as v1's (0.6 r0 to ``bsct_r_max_scale`` x r0) for crystals,
    extended past the model's cutoff (``ScanRange``'s default: to cutoff + 1 Å where that lies
    further) for molecules, whose fragment scans v2's residual-force test probes there (issue
    #19, item 3). A crystal's pair scan has no far field (the moving atoms keep their other
    neighbours; v2 does not test it), and the longer scan would only grow its cell (Cu: 864
    instead of 108 atoms, float32 energy noise 1e-3 eV). v1 keeps the cutoff term off
    everywhere: turning it on would move v1's grid and so its numbers."""
    from bsct.scan.geometry import ScanRange

    if periodic:
        return ScanRange(n_points=n_points, r_max_scale=size.bsct_r_max_scale, past_cutoff_angstrom=NO_CUTOFF_TERM_ANGSTROM)
    return ScanRange(n_points=n_points, r_max_scale=size.bsct_r_max_scale)


def bsct_v2_step(job: PotentialJob, potential_ref: str, cfg: StudyConfig, job_dir: Path, depends: str) -> dict:
    """BSCT v2 (docs/metrics_v2.md) of the potential on the same structures and bonds as
    :func:`bsct_step`, unweighted and weighted at the MD temperature; ``bsct_v2.json``, its scan
    in ``bsct_v2/``. A step of its own, so v1's record, cache key and curves are untouched."""
    from bsct.metrics.floors import FloorsV2
    from bsct.scan.api import BSCTConfig

    size = cfg.study_size
    n_points, max_per_type = _scan_size(job, size)
    frames = bsct_frames(study_frames(job.system, "test", size.data_size))
    periodic = all(a.pbc.all() for a in frames)
    config = BSCTConfig(max_per_type=max_per_type, seed=cfg.seed, scan_range=bsct_v2_scan_range(n_points, size, periodic),
                        score_version="v2", temperature_k=size.md_temperature_k, floors=FloorsV2())
    settings = {"potential": potential_ref, "depends": depends, **data_settings(size), "bsct": config.to_dict()}

    def compute() -> dict:
        from bsct.scan.api import run_bsct

        def scan(resume: bool):
            return run_bsct(potential_ref, frames, config=config, out_dir=job_dir / "bsct_v2", resume=resume,
                            progress=cfg.progress)

        report = _resuming(scan, job_dir / "bsct_v2")
        return {"score": report.score, "weighted_score": report.weighted_score, "temperature_k": size.md_temperature_k,
                "complete": report.complete, "score_by_kind": score_by_kind(report), **_scan_record(report)}

    return cached_step(job_dir / "bsct_v2.json", settings, compute)


def score_by_kind(report) -> dict[str, float]:
    """The unweighted v2 score of a :class:`~bsct.scan.api.BSCTReport` split by the primary kind
    of its artifacts: per scan the sum of each kind's strengths log10(1 + X), then the score's own means (over a type's scans, then
    over types), so the parts add up to the score."""
    from bsct.metrics.bsct_v2 import artifact_strength

    per_type: dict[str, list[dict[str, float]]] = {}
    for res in report.results:
        if res.analysis.result.n_scored == 0:
            continue
        parts: dict[str, float] = {}
        for m in res.analysis.merged:
            parts[m.kind] = parts.get(m.kind, 0.0) + artifact_strength(m)
        per_type.setdefault(res.curve.bond_type, []).append(parts)
    if not per_type:
        return {}
    kinds = sorted({k for scans in per_type.values() for p in scans for k in p})
    return {k: sum(sum(p.get(k, 0.0) for p in scans) / len(scans) for scans in per_type.values()) / len(per_type)
            for k in kinds}


def fsd_set_root(cfg: StudyConfig, system: str) -> Path:
    """Where the study keeps the FSD set of ``system`` (shared by all its potentials)."""
    size = cfg.study_size
    return Path(cfg.out_dir) / system / f"_fsd_set-{size.fsd_per_type}x{size.fsd_points}-seed{cfg.seed}"


def make_study_fsd_set(cfg: StudyConfig, system: str) -> Path:
    """Build (or find) the FSD set of ``system``: fragment or two-atom scans of its test split,
    labelled by the reference method. Made once, before the jobs, so parallel jobs share it."""
    from bsct.fsd.sets import make_fsd_set

    size = cfg.study_size
    return make_fsd_set(system, fsd_set_root(cfg, system), per_type=size.fsd_per_type, points=size.fsd_points,
                        seed=cfg.seed, split="test", reference=REFERENCES[system], progress=cfg.progress)


def fsd_step(job: PotentialJob, potential_ref: str, cfg: StudyConfig, job_dir: Path, depends: str) -> dict:
    """The paper's Force Smoothness Deviation of the potential on its system's FSD set; ``fsd.json``."""
    root = fsd_set_root(cfg, job.system)
    if not (root / "make_scans.json").exists():  # run_study makes it before the jobs; run_job alone may not
        if is_cached_only():
            raise NotCached(str(root))
        root = make_study_fsd_set(cfg, job.system)
    settings = {"potential": potential_ref, "depends": depends, "fsd_set": root.name}

    def compute() -> dict:
        from bsct.fsd.run import run_fsd

        t0 = time.perf_counter()
        result = _resuming(lambda resume: run_fsd(potential_ref, root, out_dir=job_dir / "fsd", plots=False,
                                                  progress=cfg.progress, resume=resume), job_dir / "fsd")
        resumed = result["timings"]["resumed_eval_seconds"]
        return {"mean": result["mean"], "n_systems": len(result["systems"]),
                "wall_seconds": time.perf_counter() - t0 + resumed, "resumed_eval_seconds": resumed,
                "failures": result.get("failures", {})}

    return cached_step(job_dir / "fsd.json", settings, compute)


def md_step(job: PotentialJob, potential_ref: str, cfg: StudyConfig, job_dir: Path, depends: str) -> dict:
    """MD stability from the system's test structures (:func:`bsct.md.starts.md_start_frames`); ``md.json``."""
    from bsct.md.criteria import StabilityCriteria
    from bsct.md.run import MDConfig
    from bsct.md.starts import MD_START

    size = cfg.study_size
    third = job.kind == "third_party"
    md_cfg = MDConfig(temperature_k=size.md_temperature_k,
                      time_ps=size.third_party_md_time_ps if third else size.md_time_ps,
                      equilibration_ps=(min(size.md_equilibration_ps, THIRD_PARTY_MAX_EQUILIBRATION_PS) if third
                                        else size.md_equilibration_ps),
                      replicas=size.third_party_md_replicas if third else size.md_replicas, seed=cfg.seed)
    criteria = StabilityCriteria()
    settings = {"potential": potential_ref, "depends": depends, "md": dataclasses.asdict(md_cfg),
                **data_settings(cfg.study_size), "criteria": criteria.to_dict(), "start": MD_START}

    def compute() -> dict:
        from bsct.md.run import run_md_stability
        from bsct.md.starts import md_start_frames

        frames = md_start_frames(study_frames(job.system, "test", cfg.study_size.data_size))
        result = _resuming(lambda resume: run_md_stability(potential_ref, frames, md_cfg, criteria, out_dir=job_dir / "md",
                                                           resume=resume, model_name=job.name), job_dir / "md")
        return {"summary": result.summary,
                "runs": [{k: v for k, v in r.to_dict().items() if k != "trace"} for r in result.runs]}

    return cached_step(job_dir / "md.json", settings, compute)


def elastic_crystal(system: str):
    """The cubic crystal of ``system`` at its guessed lattice constant, or None (no elastic step)."""
    from ase.build import bulk

    if system not in ELASTIC_CRYSTALS:
        return None
    symbol, lattice, a_angstrom = ELASTIC_CRYSTALS[system]
    return bulk(symbol, lattice, a=a_angstrom, cubic=True)


def elastic_step(job: PotentialJob, potential_ref: str, cfg: StudyConfig, job_dir: Path, depends: str) -> dict | None:
    """a0, EOS bulk modulus and C11/C12/C44 of the system's crystal; ``elastic.json`` (None: no crystal)."""
    from bsct.metrics.elastic import EOS_VOLUME_SCALES

    crystal = elastic_crystal(job.system)
    if crystal is None:
        return None
    settings = {"potential": potential_ref, "depends": depends, "crystal": crystal.get_chemical_formula(),
                "a_guess": float(crystal.cell[0, 0]), "volume_scales": list(EOS_VOLUME_SCALES)}

    def compute() -> dict:
        from bsct.metrics.elastic import elastic_constants_at_equilibrium
        from bsct.potentials.ase_adapters import TorchCalculator
        from bsct.registry import load_potential

        calc = TorchCalculator(load_potential(potential_ref))
        return elastic_constants_at_equilibrium(crystal, calc, settings["volume_scales"])

    return cached_step(job_dir / "elastic.json", settings, compute)
