"""The design-loop study: ablation table, BSCT-vs-MD correlation and cost, one command.

Orchestration only; the science lives in the modules it calls:

=========  ===============================================================  ==========================
step       what it does                                                     done by
=========  ===============================================================  ==========================
train      train a Transformer variant (or reuse its cached checkpoint)      :func:`bsct.train.loop.train`
errors     energy / force errors on ``test``/``unseen``, per config_type    :func:`bsct.train.loss.errors_by_group`
bsct       BSCT score of the potential on a held-out structure              :func:`bsct.scan.api.run_bsct`
md         MD stability from the ``test`` structures                        :func:`bsct.md.run.run_md_stability`
elastic    C11, C12, C44 of the crystal (``final`` and references only)     :func:`bsct.metrics.elastic.elastic_constants_cubic`
=========  ===============================================================  ==========================

A *job* is one potential on one system; it runs its steps in order. Each step writes
``OUT/SYSTEM/POTENTIAL/STEP.json`` with the settings that produced it (a fingerprint); a step
whose JSON exists with the same fingerprint is skipped, so a killed study resumes where it
stopped, and the MD step resumes replica by replica. Jobs run in-process one after the other,
or fan out over a Dask cluster (``executor="dask"``: an existing scheduler address, or a
``LocalCluster``).

>>> from bsct.study import StudyConfig, run_study
>>> result = run_study(StudyConfig(systems=("cu",), size="ci", out_dir="runs/study-ci"))
>>> result.rows[0]["bsct_score"], result.correlation
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bsct.runs import clean_json, write_json

log = logging.getLogger(__name__)

STEPS = ("train", "errors", "bsct", "fsd", "md", "elastic")
VARIANTS = ("baseline", "+diffknn", "+temperature", "final")

# Kinds of potential in the zoo; "planted" ones have artifacts put in on purpose and are
# labelled as such in every table and plot.
KINDS = ("variant", "weakened", "reference", "third_party", "planted")


@dataclass(frozen=True)
class StudySize:
    """How big each step is. ``ci`` runs in the tests; ``small`` is the documented study.

    Attributes:
        name: size label.
        model_overrides: replace fields of every named model config (``named_config(name, **...)``).
        epochs: training epochs of the variants; ``batch_size`` structures per step.
        undertrained_steps: optimiser steps of the deliberately under-trained checkpoint.
        bsct_points: points per bond scan; ``bsct_max_per_type`` bonds per bond type.
        bsct_r_max_scale: every scan runs from 0.6 r0 to this x r0 for every potential of a
            system (the same grid for all, so scores compare); the cutoff term of ScanRange is off.
        md_replicas, md_time_ps, md_equilibration_ps, md_temperature_k: the MD stability test.
        third_party_bsct_points, third_party_bsct_max_per_type, third_party_md_replicas,
            third_party_md_time_ps: smaller settings for CHGNet and SevenNet-0 (about 1 s per
            evaluation of a 100-atom cell here).
        elastic: compute C11/C12/C44 for ``final`` and the reference potential.
        slow_reference_systems: systems whose reference method is too slow here for the MD test
            (GFN2-xTB on a periodic 96-atom water box: its 120-point scan took 1,370 s on one core): it runs
            the third-party BSCT settings and no MD, so it has no MD entry and no correlation point.
        data_size: which reference datasets train and test the models: ``ci`` (committed in the
            package) or ``full`` (``bsct data generate SYSTEM --size full``; made on first use).
        fsd_points, fsd_per_type: the FSD set of each system (``bsct make-scans`` from its test
            split, labelled by the system's reference method): points per scan, scans per bond type.
    """

    name: str
    model_overrides: dict = field(default_factory=dict)
    epochs: int = 2
    batch_size: int = 4
    lr: float = 2e-3
    undertrained_steps: int = 2
    bsct_points: int = 120
    bsct_max_per_type: int = 1
    bsct_r_max_scale: float = 2.0
    md_replicas: int = 2
    md_time_ps: float = 0.2
    md_equilibration_ps: float = 0.05
    md_temperature_k: float = 300.0
    third_party_bsct_points: int = 60
    third_party_bsct_max_per_type: int = 1
    third_party_md_replicas: int = 1
    third_party_md_time_ps: float = 0.1
    elastic: bool = False
    slow_reference_systems: tuple[str, ...] = ()
    fsd_points: int = 40
    fsd_per_type: int = 1
    data_size: str = "ci"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_TINY = {"hidden_dim": 16, "n_layers": 1, "n_heads": 2, "n_vector_channels": 2, "n_rbf": 8, "r_cut_angstrom": 4.0,
         "k_neighbors": 12}
_SMALL = {"hidden_dim": 32, "n_layers": 1, "n_heads": 4, "n_vector_channels": 4, "n_rbf": 16, "r_cut_angstrom": 4.0,
          "k_neighbors": 12}

SIZES: dict[str, StudySize] = {
    "ci": StudySize("ci", _TINY, epochs=2, lr=5e-3, undertrained_steps=2, md_replicas=2, md_time_ps=0.2,
                    md_equilibration_ps=0.05, elastic=False),
    "small": StudySize("small", _SMALL, epochs=30, lr=5e-3, undertrained_steps=5, md_replicas=4, md_time_ps=0.5,
                       md_equilibration_ps=0.1, elastic=True, fsd_points=60),
    # The paper-like model (named configs at their defaults). 30 epochs and 4 x 2 ps of MD, not the
    # 100 epochs and 8 x 10 ps first tried: measured here those cost ~80 worker-hours (Cu/Si
    # trainings 1.5-1.8 h each; +diffknn MD of 8 dense water or Cu boxes 0.5-1.2 s per step, i.e.
    # 3-4 h per potential), ~40 h on the two cores. docs/results.md has the numbers.
    "full": StudySize("full", {}, epochs=30, undertrained_steps=20, bsct_points=240, bsct_max_per_type=3,
                      md_replicas=4, md_time_ps=2.0, md_equilibration_ps=0.5, third_party_bsct_points=120,
                      third_party_bsct_max_per_type=1, third_party_md_replicas=1, third_party_md_time_ps=0.5,
                      elastic=True, fsd_points=100, fsd_per_type=3, data_size="full",
                      slow_reference_systems=("water",)),
}


# The Cu planted controls' Morse: r0 puts fcc Cu at the data's lattice constant (EMT's 3.59 Å) at
# zero pressure, C11/C12/C44 ~ 130/66/66 GPa, so the smooth control holds its crystal in MD and
# only the planted step can make its twin fail. With Morse's default r0 = 2.5 Å that cell sits at
# -30 GPa with C11 < 0: from the strained and vacancy starts, all 4 replicas of the full-size
# control changed coordination within 0.3-0.7 ps (docs/results.md, "The potentials", has the commands).
CU_MORSE = "cutoff_angstrom=5.0,r0_angstrom=2.775"


@dataclass(frozen=True)
class PotentialJob:
    """One potential on one system.

    Attributes:
        system: dataset name (``cu``, ``si``, ``water``, ``molecules``).
        name: label in tables (``baseline``, ``final``, ``hard-cutoff``, ``EMT``...).
        kind: one of :data:`KINDS`.
        spec: a SPEC string for :func:`bsct.registry.load_potential` (untrained ones).
        config_name: named model config to train (trained ones).
        model_overrides: extra overrides of that config (on top of the size's).
        max_steps: stop training after this many steps (under-trained checkpoints).
        note: what this potential is meant to show.
        scan_only: BSCT at the third-party settings, and no MD (a reference too slow to run MD).
    """

    system: str
    name: str
    kind: str
    spec: str | None = None
    config_name: str | None = None
    model_overrides: tuple[tuple[str, object], ...] = ()
    max_steps: int | None = None
    note: str = ""
    scan_only: bool = False

    @property
    def trained(self) -> bool:
        return self.config_name is not None

    @property
    def slug(self) -> str:
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in self.name.replace("+", "plus-"))


REFERENCES = {"cu": "emt", "si": "sw-si", "water": "gfn2-xtb", "molecules": "gfn2-xtb"}
# How the study runs each reference. GFN2-xTB gets a 100x tighter SCF than tblite's default
# (accuracy 1): at the default, SCF noise in the forces makes CH4 drift 0.24 meV/atom/ps in NVE
# (10 ps fail the 2 meV/atom limit); at 0.01 it drifts 0.002 meV/atom/ps (docs/md.md).
REFERENCE_SPECS = {**REFERENCES, "water": "xtb:GFN2-xTB[accuracy=0.01]", "molecules": "xtb:GFN2-xTB[accuracy=0.01]"}


def potential_zoo(
    system: str,
    size: StudySize,
    third_party: bool = False,
    planted: bool = True,
) -> list[PotentialJob]:
    """The potentials of the study for ``system``: the four design variants, weakened
    variants, the reference potential, optionally CHGNet/SevenNet-0 and planted-artifact controls."""
    jobs = [PotentialJob(system, v, "variant", config_name=v, note="design step") for v in VARIANTS]
    jobs += [
        PotentialJob(system, "hard-cutoff", "weakened", config_name="final",
                     model_overrides=(("graph", "knn"), ("k_neighbors", 10_000)),
                     note="final, but every candidate inside r_cut kept with weight 1: no envelope at the cutoff"),
        PotentialJob(system, "direct-force", "weakened", config_name="final", model_overrides=(("force_head", "direct"),),
                     note="final with a direct-force head: forces read out per atom, not -dE/dx (non-conservative)"),
        PotentialJob(system, "under-trained", "weakened", config_name="final", max_steps=size.undertrained_steps,
                     note=f"final stopped after {size.undertrained_steps} optimiser steps"),
        PotentialJob(system, "T=0.05", "weakened", config_name="final", model_overrides=(("attention_temperature", 0.05),),
                     note="final with a very cold attention (logits x 20: near-argmax)"),
        PotentialJob(system, "T=20", "weakened", config_name="final", model_overrides=(("attention_temperature", 20.0),),
                     note="final with a very hot attention (near-uniform weights)"),
    ]
    slow = system in size.slow_reference_systems
    jobs.append(PotentialJob(system, REFERENCES[system], "reference", spec=REFERENCE_SPECS[system], scan_only=slow,
                             note="the reference method that labelled the data"
                                  + (" (too slow here for MD at this size: BSCT only)" if slow else "")))
    if third_party and system in ("cu", "si"):
        jobs += [PotentialJob(system, "chgnet", "third_party", spec="chgnet", note="CHGNet 0.3 (pretrained, MPtrj)"),
                 PotentialJob(system, "sevennet-0", "third_party", spec="sevennet-0", note="SevenNet-0 (pretrained, MPtrj)")]
    if planted and system == "cu":
        jobs += [
            PotentialJob(system, "morse (control)", "planted", spec=f"morse[{CU_MORSE}]",
                         note="smoothly switched Morse pair potential (smooth twin of the planted one)"),
            PotentialJob(system, "planted energy step", "planted",
                         spec=f"planted[kind=energy_step,size=0.01,r_star_angstrom=3.5,{CU_MORSE}]",
                         note="Morse + a planted 0.01 eV energy step at 3.5 Å"),
        ]
    return jobs


@dataclass(frozen=True)
class StudyConfig:
    """Settings of a study (``bsct study``).

    Attributes:
        systems: datasets to run.
        size: a key of :data:`SIZES`.
        out_dir: where every job writes its cached results.
        seed: seeds training, bond choice, MD replicas and the bootstrap.
        potentials: only these potential names (None = the whole zoo).
        third_party: include CHGNet and SevenNet-0 (Cu and Si).
        planted: include the planted-artifact controls (Cu).
        threads: torch intra-op threads per job.
        n_bootstrap: bootstrap resamples of the correlation intervals.
        progress: show progress bars.
        fsd: also score every potential with the paper's FSD on the system's FSD set.
        cached_only: compute nothing; report the potentials whose every step is cached and list
            the others as pending (the tables of a long study that is still running).
    """

    systems: tuple[str, ...] = ("cu", "si")
    size: str = "ci"
    out_dir: str = "runs/study"
    seed: int = 0
    potentials: tuple[str, ...] | None = None
    third_party: bool = False
    planted: bool = True
    threads: int = 1
    n_bootstrap: int = 2000
    progress: bool = True
    fsd: bool = True
    cached_only: bool = False

    @property
    def study_size(self) -> StudySize:
        if self.size not in SIZES:
            raise ValueError(f"unknown study size {self.size!r}; choose one of {', '.join(SIZES)}")
        return SIZES[self.size]

    def jobs(self) -> list[PotentialJob]:
        jobs = []
        for system in self.systems:
            zoo = potential_zoo(system, self.study_size, self.third_party, self.planted)
            if self.potentials is not None:
                unknown = set(self.potentials) - {j.name for s in self.systems
                                                  for j in potential_zoo(s, self.study_size, True, True)}
                if unknown:
                    raise ValueError(f"unknown potentials {sorted(unknown)}")
                zoo = [j for j in zoo if j.name in self.potentials]
            jobs += zoo
        return jobs


# ----------------------------------------------------------------------------- caching


def _fingerprint(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


class NotCached(Exception):
    """A step that a ``cached_only`` study would have to compute."""


_CACHED_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar("bsct_study_cached_only", default=False)


def _cached_step(path: Path, settings: dict, compute: Callable[[], dict], force: bool = False) -> dict:
    """Run ``compute`` unless ``path`` holds a result of the same settings; save it with its wall time.

    In a ``cached_only`` study a step to compute raises :class:`NotCached` instead."""
    fp = _fingerprint(settings)
    if path.exists() and not force:
        saved = json.loads(path.read_text())
        if saved.get("fingerprint") == fp:
            log.info("%s: cached", path)
            saved["cached"] = True
            return saved
        log.info("%s: settings changed, recomputing", path)
    if _CACHED_ONLY.get():
        raise NotCached(str(path))
    t0 = time.perf_counter()
    result = compute()
    record = {"fingerprint": fp, "settings": settings, "step_wall_seconds": time.perf_counter() - t0, **result}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, clean_json(record))  # atomic: a killed step leaves no half-written result
    record["cached"] = False
    return record


# ----------------------------------------------------------------------------- steps


def _frames(system: str, split: str, data_size: str = "ci"):
    from bsct.data import read_structures, reference_path

    return read_structures(reference_path(system, split, size=data_size, generate=data_size != "ci"))


def _data_settings(size: StudySize) -> dict:
    """The dataset size in a step's fingerprint; empty for ``ci`` so caches made before the
    field existed stay valid."""
    return {} if size.data_size == "ci" else {"data": size.data_size}


def _bsct_frames(frames):
    """The structures BSCT scans: for periodic data the largest frame (a long scan fits inside
    half its cell without growing it), for molecules all frames."""
    periodic = [a for a in frames if a.pbc.all()]
    if periodic:
        return [max(periodic, key=len)]
    return list(frames)


_MD_START = "thermal test frames (no liquid, rattled, stretched), round-robin over compositions"
_DISTORTED_KINDS = ("liquid", "rattled", "stretched")


def _md_frames(frames):
    """MD starting structures: thermal test frames, one composition after another.

    Rattled and stretched frames are left out: they sit eV/Å from equilibrium, so the bond
    criterion (bonds measured on the start) fires within femtoseconds for every potential,
    the reference included. Liquid snapshots are left out because a liquid quenched to the
    300 K thermostat changes its coordination by itself. Compositions are taken round-robin
    (within one, lowest reference force first) so 8 replicas visit 8 molecules, not 8 CH4s.
    """
    kept = [a for a in frames if not any(k in str(a.info.get("config_type", "")) for k in _DISTORTED_KINDS)]
    kept = kept or list(frames)
    groups: dict[str, list] = {}
    for a in kept:
        groups.setdefault(a.get_chemical_formula(), []).append(a)
    for group in groups.values():
        group.sort(key=_max_reference_force)
    ordered = []
    for rank in range(max(len(g) for g in groups.values())):
        ordered += [g[rank] for g in groups.values() if rank < len(g)]
    return ordered


def _max_reference_force(atoms) -> float:
    forces = atoms.calc.results.get("forces") if atoms.calc is not None else None
    return float(np.abs(forces).max()) if forces is not None else 0.0  # unlabelled: file order


def _model_config(job: PotentialJob, size: StudySize):
    from bsct.model.config import named_config

    return named_config(job.config_name, **{**size.model_overrides, **dict(job.model_overrides)})


def _train_step(job: PotentialJob, cfg: StudyConfig, job_dir: Path) -> dict:
    from bsct.train.loop import TrainConfig

    size = cfg.study_size
    model_cfg = _model_config(job, size)
    train_cfg = TrainConfig(epochs=size.epochs, batch_size=size.batch_size, lr=size.lr, seed=cfg.seed,
                            max_steps=job.max_steps, progress=cfg.progress)
    checkpoint = job_dir / "model.pt"
    model_settings = model_cfg.to_dict()
    if model_settings.get("force_head") == "gradient":  # field added later; its default is the old model
        del model_settings["force_head"]
    settings = {"model": model_settings, "train": {**train_cfg.to_dict(), "progress": None}, "system": job.system,
                **_data_settings(size)}

    def compute() -> dict:
        from bsct.train.loop import train

        res = train(model_cfg, _frames(job.system, "train", size.data_size), _frames(job.system, "val", size.data_size),
                    train_cfg, out_dir=job_dir)
        # a training resumed after an interruption: its earlier epochs count in its cost
        before = sum(h["epoch_time_s"] for h in res.history[:res.resumed_epochs])
        return {"checkpoint": str(checkpoint), "epochs_run": len(res.history), "seconds_before_resume": before,
                "steps_run": res.history[-1]["step"] if res.history else 0, "val": res.metrics["val"],
                "dataset_sha256": res.dataset_sha256}

    record = _cached_step(job_dir / "train.json", settings, compute, force=not checkpoint.exists())
    return record


def _errors_step(job: PotentialJob, potential_ref: str, cfg: StudyConfig, job_dir: Path, depends: str) -> dict:
    settings = {"potential": potential_ref, "depends": depends, "splits": ["test", "unseen"],
                "by": "config_type", **_data_settings(cfg.study_size)}

    def compute() -> dict:
        from bsct.registry import load_potential
        from bsct.train.loss import errors_by_group

        potential = load_potential(potential_ref)
        out: dict = {"by_config_type": {}}
        for split in ("test", "unseen"):
            out[split], out["by_config_type"][split] = errors_by_group(
                potential, _frames(job.system, split, cfg.study_size.data_size))
        return out

    return _cached_step(job_dir / "errors.json", settings, compute)


def _resuming(run: Callable[[bool], Any], out_dir: Path):
    """``run(resume)`` with ``resume=True`` first: keep what a stopped run of this step saved
    (scans, systems, MD replicas); if ``out_dir`` holds another potential's or other settings'
    results, start afresh."""
    from bsct.runs import ResumeMismatchError

    try:
        return run(True)
    except ResumeMismatchError as exc:
        log.info("%s: %s; starting afresh", out_dir, exc)
        return run(False)


def _bsct_step(job: PotentialJob, potential_ref: str, cfg: StudyConfig, job_dir: Path, depends: str) -> dict:
    from bsct.scan.geometry import ScanRange

    size = cfg.study_size
    third = job.kind == "third_party" or job.scan_only
    n_points = size.third_party_bsct_points if third else size.bsct_points
    max_per_type = size.third_party_bsct_max_per_type if third else size.bsct_max_per_type
    scan_range = ScanRange(n_points=n_points, r_max_scale=size.bsct_r_max_scale, past_cutoff_angstrom=-1e6)
    settings = {"potential": potential_ref, "depends": depends, "max_per_type": max_per_type, **_data_settings(size),
                "scan_range": dataclasses.asdict(scan_range), "seed": cfg.seed}

    def compute() -> dict:
        from bsct.scan.api import run_bsct

        def scan(resume: bool):
            return run_bsct(potential_ref, _bsct_frames(_frames(job.system, "test", size.data_size)),
                            out_dir=job_dir / "bsct", resume=resume, progress=cfg.progress,
                            max_per_type=max_per_type, seed=cfg.seed, scan_range=scan_range)

        report = _resuming(scan, job_dir / "bsct")
        kinds: dict[str, int] = {}
        for a in report.artifacts:
            kinds[a.kind] = kinds.get(a.kind, 0) + 1
        # a resumed test's cost: this run plus the model time of the curves an earlier run saved
        return {"score": report.score, "wall_seconds": report.wall_seconds + report.resumed_model_seconds,
                "resumed_model_seconds": report.resumed_model_seconds, "model_seconds": report.model_seconds,
                "n_model_calls": report.n_model_calls, "n_points": report.n_points,
                "n_artifacts": len(report.artifacts), "artifact_kinds": kinds,
                "per_type": report.per_type, "cutoff_angstrom": report.cutoff_angstrom}

    return _cached_step(job_dir / "bsct.json", settings, compute)


def prepare_datasets(cfg: "StudyConfig", workers: int = 1) -> None:
    """Generate the systems' datasets that are neither packaged nor cached, once, before the jobs:
    parallel jobs would otherwise each generate the same set (minutes to an hour for ``full``)."""
    from bsct.data import reference_path

    for system in dict.fromkeys(cfg.systems):
        reference_path(system, "train", size=cfg.study_size.data_size, generate=True, workers=workers,
                       progress=cfg.progress)


def fsd_set_root(cfg: "StudyConfig", system: str) -> Path:
    """Where the study keeps the FSD set of ``system`` (shared by all its potentials)."""
    size = cfg.study_size
    return Path(cfg.out_dir) / system / f"_fsd_set-{size.fsd_per_type}x{size.fsd_points}-seed{cfg.seed}"


def make_study_fsd_set(cfg: "StudyConfig", system: str) -> Path:
    """Build (or find) the FSD set of ``system``: fragment or two-atom scans of its test split,
    labelled by the reference method. Made once, before the jobs, so parallel jobs share it."""
    from bsct.data.make_scans import make_fsd_set

    size = cfg.study_size
    return make_fsd_set(system, fsd_set_root(cfg, system), per_type=size.fsd_per_type, points=size.fsd_points,
                        seed=cfg.seed, split="test", reference=REFERENCES[system], progress=cfg.progress)


def fsd_floor_per_angstrom(root: Path) -> float:
    """Mean flat-model FSD floor over the scans of an FSD set: what FSD a model gets that has not
    learnt the reference's force profile at all (:func:`bsct.metrics.fsd.flat_model_smoothness`)."""
    from bsct.data.bsct_spice import read_system, system_dirs
    from bsct.metrics.fsd import flat_model_smoothness

    scans = [read_system(p) for p in system_dirs(root)]
    return float(np.mean([flat_model_smoothness(s.r_angstrom, s.forces_ref_ev_per_angstrom, s.energy_ref_ev)
                          ["flat_full_smoothness"] for s in scans]))


def _fsd_step(job: PotentialJob, potential_ref: str, cfg: StudyConfig, job_dir: Path, depends: str) -> dict:
    """The paper's Force Smoothness Deviation of the potential on its system's FSD set."""
    root = fsd_set_root(cfg, job.system)
    if not (root / "make_scans.json").exists():  # run_study makes it before the jobs; run_job alone may not
        if _CACHED_ONLY.get():
            raise NotCached(str(root))
        root = make_study_fsd_set(cfg, job.system)
    settings = {"potential": potential_ref, "depends": depends, "fsd_set": root.name}

    def compute() -> dict:
        from bsct.scan.spice_eval import run_fsd

        t0 = time.perf_counter()
        result = _resuming(lambda resume: run_fsd(potential_ref, root, out_dir=job_dir / "fsd", plots=False,
                                                  progress=cfg.progress, resume=resume), job_dir / "fsd")
        resumed = result["timings"]["resumed_eval_seconds"]
        return {"mean": result["mean"], "n_systems": len(result["systems"]),
                "wall_seconds": time.perf_counter() - t0 + resumed, "resumed_eval_seconds": resumed,
                "failures": result.get("failures", {})}

    return _cached_step(job_dir / "fsd.json", settings, compute)


def _md_step(job: PotentialJob, potential_ref: str, cfg: StudyConfig, job_dir: Path, depends: str) -> dict:
    from bsct.md.criteria import StabilityCriteria
    from bsct.md.run import MDConfig

    size = cfg.study_size
    third = job.kind == "third_party"
    md_cfg = MDConfig(temperature_k=size.md_temperature_k,
                      time_ps=size.third_party_md_time_ps if third else size.md_time_ps,
                      equilibration_ps=min(size.md_equilibration_ps, 0.02) if third else size.md_equilibration_ps,
                      replicas=size.third_party_md_replicas if third else size.md_replicas, seed=cfg.seed)
    criteria = StabilityCriteria()
    settings = {"potential": potential_ref, "depends": depends, "md": dataclasses.asdict(md_cfg), **_data_settings(cfg.study_size),
                "criteria": criteria.to_dict(), "start": _MD_START}

    def compute() -> dict:
        from bsct.md.run import run_md_stability

        frames = _md_frames(_frames(job.system, "test", cfg.study_size.data_size))
        result = _resuming(lambda resume: run_md_stability(potential_ref, frames, md_cfg, criteria, out_dir=job_dir / "md",
                                                           resume=resume, model_name=job.name), job_dir / "md")
        return {"summary": result.summary,
                "runs": [{k: v for k, v in r.to_dict().items() if k != "trace"} for r in result.runs]}

    return _cached_step(job_dir / "md.json", settings, compute)


def _crystal(system: str):
    from ase.build import bulk

    if system == "cu":
        return bulk("Cu", "fcc", a=3.6, cubic=True)
    if system == "si":
        return bulk("Si", "diamond", a=5.43, cubic=True)
    return None


def _elastic_step(job: PotentialJob, potential_ref: str, cfg: StudyConfig, job_dir: Path, depends: str) -> dict | None:
    crystal = _crystal(job.system)
    if crystal is None:
        return None
    settings = {"potential": potential_ref, "depends": depends, "crystal": crystal.get_chemical_formula(),
                "a_guess": float(crystal.cell[0, 0]), "volume_scales": [0.94, 0.97, 1.0, 1.03, 1.06]}

    def compute() -> dict:
        import numpy as np
        from ase import units
        from ase.eos import EquationOfState

        from bsct.metrics.elastic import elastic_constants_cubic
        from bsct.potentials.ase_adapters import TorchCalculator
        from bsct.registry import load_potential

        calc = TorchCalculator(load_potential(potential_ref))
        volumes, energies = [], []
        for s in settings["volume_scales"]:  # equilibrium lattice constant of this potential
            atoms = crystal.copy()
            atoms.set_cell(crystal.cell * s ** (1 / 3), scale_atoms=True)
            atoms.calc = calc
            energies.append(atoms.get_potential_energy())
            volumes.append(atoms.get_volume())
        v0, _, b = EquationOfState(volumes, energies).fit()
        a0 = float(crystal.cell[0, 0] * (v0 / crystal.get_volume()) ** (1 / 3))
        atoms = crystal.copy()
        atoms.set_cell(np.eye(3) * a0, scale_atoms=True)
        constants = elastic_constants_cubic(atoms, calc)
        return {"a0_angstrom": a0, "bulk_modulus_gpa_eos": float(b / units.GPa), **constants}

    return _cached_step(job_dir / "elastic.json", settings, compute)


def run_job(job: PotentialJob, cfg: StudyConfig) -> dict:
    """Run (or resume) every step of one potential on one system; return its table row."""
    import torch

    torch.set_num_threads(max(1, cfg.threads))
    size = cfg.study_size
    job_dir = Path(cfg.out_dir) / job.system / job.slug
    job_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    row: dict = {"system": job.system, "potential": job.name, "kind": job.kind, "note": job.note,
                 "size": size.name, "seed": cfg.seed}
    if job.trained:
        train_rec = _train_step(job, cfg, job_dir)
        potential_ref = train_rec["checkpoint"]
        depends = train_rec["fingerprint"]
        row.update(train_seconds=train_rec["step_wall_seconds"] + train_rec.get("seconds_before_resume", 0.0),
                   train_epochs=train_rec["epochs_run"], train_steps=train_rec["steps_run"], checkpoint=potential_ref)
    else:
        potential_ref, depends = job.spec, job.spec
        row.update(train_seconds=None, spec=job.spec)
    err = _errors_step(job, potential_ref, cfg, job_dir, depends)
    for split in ("test", "unseen"):
        row[f"{split}_energy_rmse_mev_per_atom"] = err[split]["energy_rmse_mev_per_atom"]
        row[f"{split}_force_rmse_mev_per_angstrom"] = err[split]["force_rmse_mev_per_angstrom"]
    row["errors_seconds"] = err["step_wall_seconds"]
    row["errors_by_config_type"] = err["by_config_type"]
    bsct = _bsct_step(job, potential_ref, cfg, job_dir, depends)
    row.update(bsct_score=bsct["score"], bsct_seconds=bsct["wall_seconds"], bsct_model_calls=bsct["n_model_calls"],
               bsct_points=bsct["n_points"], bsct_artifacts=bsct["n_artifacts"], bsct_artifact_kinds=bsct["artifact_kinds"])
    if cfg.fsd:
        fsd = _fsd_step(job, potential_ref, cfg, job_dir, depends)
        row.update(fsd_per_angstrom=fsd["mean"].get("full_smoothness"),
                   fsd_compression_per_angstrom=fsd["mean"].get("compress_smoothness"),
                   fsd_stretch_per_angstrom=fsd["mean"].get("stretch_smoothness"), fsd_seconds=fsd["wall_seconds"])
    if job.scan_only:
        row.update(md_stable_fraction=None, md_replicas=0, md_mean_time_to_failure_ps=None, md_duration_ps=None,
                   md_failure_reasons={}, md_mean_abs_drift_mev_per_atom=None, md_seconds=None, md_force_calls=0)
    else:
        md = _md_step(job, potential_ref, cfg, job_dir, depends)
        s = md["summary"]
        row.update(md_stable_fraction=s["stable_fraction"], md_replicas=s["n_runs"],
                   md_mean_time_to_failure_ps=s["mean_time_to_failure_ps"], md_duration_ps=s["duration_ps"],
                   md_failure_reasons=s["failure_reasons"], md_mean_abs_drift_mev_per_atom=s["mean_abs_drift_mev_per_atom"],
                   md_seconds=s["wall_clock_s"], md_force_calls=s["n_force_calls"])
    row["cost_ratio_bsct_over_md"] = (row["bsct_seconds"] / row["md_seconds"]) if row["md_seconds"] else None
    if size.elastic and (job.name == "final" or job.kind == "reference"):
        el = _elastic_step(job, potential_ref, cfg, job_dir, depends)
        if el is not None:
            row["elastic"] = {k: el[k] for k in ("a0_angstrom", "C11", "C12", "C44", "bulk_modulus_gpa_eos")}
            row["elastic_seconds"] = el["step_wall_seconds"]
    row["job_wall_seconds_this_run"] = time.perf_counter() - t0
    row = clean_json(row)
    write_json(job_dir / "row.json", row)
    return row


# ----------------------------------------------------------------------------- the study


@dataclass
class StudyResult:
    """rows: one dict per (system, potential); correlation: statistics over the rows (see
    :func:`correlation_summary`); wall_seconds: this invocation."""

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


def correlation_summary(rows: Sequence[dict], n_bootstrap: int = 2000, seed: int = 0) -> dict:
    """BSCT score vs MD stability across potentials (Pearson, Spearman, bootstrap 95 % CIs).

    Two MD measures: the stable fraction, and the mean time to failure as a fraction of the run
    (a stable run counts as the full duration), which still ranks potentials when every replica
    fails. Lower BSCT = smoother, so a working test gives negative correlations. The same
    statistics for the paper's FSD (lower = smoother) sit under ``fsd_<measure>`` keys. Computed over
    all rows; without the planted controls (when there are any); when third-party models are
    present, without planted and third-party rows (the third-party MD protocol is shorter); and,
    when there are several systems, within each system (``system_<name>``): pooled rows mix
    systems whose scores and MD differ in scale, while a developer compares models of one system.
    """
    from bsct.metrics.correlation import correlate

    def stats(subset: Sequence[dict]) -> dict:
        out: dict = {"n": len(subset), "potentials": [f"{r['system']}/{r['potential']}" for r in subset]}
        with_fsd = [r for r in subset if r.get("fsd_per_angstrom") is not None]
        # key prefix "" = BSCT score (the study's subject), "fsd_" = the paper's FSD on the same rows
        for prefix, score_key, rs in (("", "bsct_score", subset), ("fsd_", "fsd_per_angstrom", with_fsd)):
            if prefix and len(rs) < 3:
                continue
            measures = {
                "stable_fraction": [r["md_stable_fraction"] for r in rs],
                "time_to_failure_fraction": [r["md_mean_time_to_failure_ps"] / r["md_duration_ps"] for r in rs],
            }
            for key, y in measures.items():
                try:
                    c = correlate([r[score_key] for r in rs], y, n_bootstrap=n_bootstrap, seed=seed)
                    out[prefix + key] = dataclasses.asdict(c)
                except ValueError as exc:
                    out[prefix + key] = {"error": str(exc)}
        return out

    def finite(r):
        return r.get("bsct_score") is not None and r.get("md_stable_fraction") is not None

    usable = [r for r in rows if finite(r)]
    out = {"all": stats(usable)}
    if any(r["kind"] == "planted" for r in usable):
        out["without_planted"] = stats([r for r in usable if r["kind"] != "planted"])
    if any(r["kind"] == "third_party" for r in usable):
        # third-party models run a shorter MD (fewer replicas, shorter time): a different protocol
        out["same_protocol_without_planted"] = stats([r for r in usable if r["kind"] not in ("planted", "third_party")])
    systems = list(dict.fromkeys(r["system"] for r in usable))
    if len(systems) > 1:
        for system in systems:
            out[f"system_{system}"] = stats([r for r in usable if r["system"] == system])
    return out


class StudyJobsFailed(RuntimeError):
    """Some potentials' jobs raised; the others ran to the end and every finished step is cached.

    ``failures`` lists (system, potential, error message)."""

    def __init__(self, failures: list[tuple[str, str, str]], n_jobs: int, out_dir: str):
        self.failures = failures
        lines = "\n".join(f"  {system}/{name}: {msg}" for system, name, msg in failures)
        super().__init__(f"{len(failures)} of {n_jobs} study jobs failed:\n{lines}\nThe other jobs finished and "
                         f"every finished step is cached under {out_dir}; rerun the same command to retry.")


def _run_local(jobs, cfg, on_done, on_fail):
    for job in jobs:
        try:
            row = run_job(job, cfg)
        except Exception as exc:  # noqa: BLE001 - one broken potential must not stop the others
            on_fail(job, exc)
            continue
        on_done(job, row)


@contextlib.contextmanager
def local_dask_cluster(n_workers: int, processes: bool = True):
    """A Dask ``LocalCluster`` of one-thread workers that keep glibc's default ``malloc`` tuning.

    Dask's nanny exports ``MALLOC_TRIM_THRESHOLD_=65536`` to its workers to hand memory back to
    the OS. Setting that variable at all also fixes glibc's mmap threshold at 128 KiB, so every
    large torch temporary becomes a fresh ``mmap`` whose pages fault in zero-filled: about a third
    of a study worker's CPU went to the kernel (docs/benchmarks.md, "Dask workers and malloc").
    The setting holds for the cluster's whole life: nannies start (and restart) workers after
    ``LocalCluster()`` returns.
    """
    import dask
    from dask.distributed import LocalCluster

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}), \
            LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes,
                         dashboard_address=":0") as cluster:  # any free port: never clash with another cluster
        yield cluster


def bounded_dask_map(client, fn: Callable, items: Sequence, key: Callable[[Any], str],
                     on_result: Callable[[Any, Any], None], on_error: Callable[[Any, Exception], None]) -> None:
    """Run ``fn(item)`` for every item on the Dask cluster of ``client``, keeping exactly as many
    tasks in flight as the cluster has worker threads, in the order of ``items``.

    Submitting everything at once left the choice of worker to Dask: tasks with unique keys form
    one-task groups with no duration estimate, which Dask neither queues nor steals, and in the
    full study it put 37 of 46 jobs on one worker while the other sat idle. Here a worker that
    finishes gets the next item, and a job list's order is its priority.
    """
    from collections import deque

    from dask.distributed import as_completed

    todo = deque(items)
    in_flight = as_completed()
    owner: dict = {}

    def top_up() -> None:
        capacity = max(1, sum(client.nthreads().values()))  # workers of an outside cluster may come and go
        while todo and in_flight.count() < capacity:
            item = todo.popleft()
            future = client.submit(fn, item, pure=False, key=key(item))
            owner[future.key] = item
            in_flight.add(future)

    top_up()
    for future in in_flight:
        item = owner.pop(future.key)
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - one broken item must not stop the others
            on_error(item, exc)
        else:
            on_result(item, result)
        top_up()


def _run_dask(jobs, cfg, on_done, on_fail, address: str | None, n_workers: int, processes: bool):
    try:
        from dask.distributed import Client
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ValueError('executor "dask" needs dask.distributed: pip install "dask[distributed]"') from exc
    with contextlib.ExitStack() as stack:
        if address is None:
            cluster = stack.enter_context(local_dask_cluster(n_workers, processes))
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(Client(address))
        bounded_dask_map(client, functools.partial(run_job, cfg=cfg), jobs,
                         key=lambda job: f"bsct-study-{job.system}-{job.slug}", on_result=on_done, on_error=on_fail)


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

    A job that raises does not stop the others: when all have run, :class:`StudyJobsFailed`
    names the failed ones (their finished steps stay cached; rerunning retries them).
    With ``cfg.cached_only`` nothing is computed (in this process, whatever ``executor``): the
    tables cover the finished potentials and ``StudyResult.pending`` lists the rest.
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    jobs = cfg.jobs()
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    floors: dict[str, float] = {}
    if cfg.fsd:  # shared by every potential of a system: made once, here, before parallel jobs
        for system in dict.fromkeys(j.system for j in jobs):
            root = fsd_set_root(cfg, system)
            if cfg.cached_only:  # read what is there, write nothing
                if not (root / "make_scans.json").exists():
                    continue
            else:
                root = make_study_fsd_set(cfg, system)
            floors[system] = fsd_floor_per_angstrom(root)
    if not cfg.cached_only:
        prepare_datasets(cfg, workers=max(1, min(n_workers, os.cpu_count() or 1)))  # before any job runs
    rows: dict[tuple[str, str], dict] = {}
    bar = tqdm(total=len(jobs), desc="study", unit="potential", disable=not cfg.progress)

    def on_done(job: PotentialJob, row: dict) -> None:
        rows[(job.system, job.name)] = row
        bar.update(1)
        bar.set_postfix_str(f"{job.system}/{job.name}: BSCT {row['bsct_score']:.3g}, "
                            f"MD {_fmt(row['md_stable_fraction'], 2)}")
        log.info("%s/%s: BSCT %.4g, MD stable %s, F RMSE %.1f meV/Å", job.system, job.name,
                 row["bsct_score"], _fmt(row["md_stable_fraction"], 2), row["test_force_rmse_mev_per_angstrom"])

    failures: list[tuple[str, str, str]] = []
    pending: list[str] = []

    def on_fail(job: PotentialJob, exc: Exception) -> None:
        bar.update(1)
        if isinstance(exc, NotCached):  # cached_only: not finished yet
            pending.append(f"{job.system}/{job.name}")
            return
        failures.append((job.system, job.name, f"{type(exc).__name__}: {exc}"))
        log.error("%s/%s failed: %s: %s", job.system, job.name, type(exc).__name__, exc)

    if cfg.cached_only:
        token = _CACHED_ONLY.set(True)
        try:
            _run_local(jobs, cfg, on_done, on_fail)
        finally:
            _CACHED_ONLY.reset(token)
    elif executor == "local":
        _run_local(jobs, cfg, on_done, on_fail)
    elif executor == "dask":
        _run_dask(jobs, cfg, on_done, on_fail, dask_address, n_workers, processes)
    else:
        raise ValueError(f"executor must be local or dask, got {executor!r}")
    bar.close()
    if failures:
        raise StudyJobsFailed(failures, len(jobs), str(out))
    ordered = [rows[(j.system, j.name)] for j in jobs if (j.system, j.name) in rows]
    corr = correlation_summary(ordered, cfg.n_bootstrap, cfg.seed) if len(ordered) >= 3 else {}
    result = StudyResult(cfg, ordered, corr, time.perf_counter() - t0, floors, pending)
    suffix = ".cached" if cfg.cached_only else ""  # a partial report never replaces the full one
    write_json(out / f"study{suffix}.json", result.to_dict())
    (out / f"ablation{suffix}.md").write_text(ablation_markdown(result))
    return result


# ----------------------------------------------------------------------------- presentation


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        return f"{value:.{digits}g}"
    return str(value)


def _counts(kinds: dict | None) -> str:
    """``{"energy_jump": 2, ...}`` -> ``"energy jump 2, ..."`` (sorted by name)."""
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted((kinds or {}).items()))


def _row_markdown(r: dict) -> str:
    artifacts = f"{_fmt(r['bsct_score'])} ({r['bsct_artifacts']}" + (
        f": {_counts(r.get('bsct_artifact_kinds'))})" if r["bsct_artifacts"] else ")")
    reasons = _counts(r.get("md_failure_reasons"))
    md = f"{_fmt(r['md_stable_fraction'], 2)} ({r['md_replicas']}" + (f"; {reasons})" if reasons else ")")
    cost = f"{_fmt(r['bsct_seconds'])} / {_fmt(r['md_seconds'])} = {_fmt(r['cost_ratio_bsct_over_md'], 2)}"
    name = f"{r['potential']} *(planted)*" if r["kind"] == "planted" else r["potential"]
    return (f"| {name} | {r['kind'].replace('_', ' ')} | {_fmt(r['test_energy_rmse_mev_per_atom'])} "
            f"| {_fmt(r['test_force_rmse_mev_per_angstrom'])} | {_fmt(r['unseen_force_rmse_mev_per_angstrom'])} "
            f"| {artifacts} | {_fmt(r.get('fsd_per_angstrom'))} | {md} "
            f"| {_fmt(r['md_mean_time_to_failure_ps'])} / {_fmt(r['md_duration_ps'])} | {cost} "
            f"| {_fmt(r.get('train_seconds'))} |")


SUBSET_LABELS = {"all": "all potentials", "without_planted": "without the planted controls",
                 "same_protocol_without_planted": "without planted and third-party (one MD protocol)"}


def _with_interval(value: float, ci95) -> str:
    """``-0.88 [-1.00, -0.64]``, or the value alone where too few potentials gave no interval."""
    from bsct.metrics.correlation import MIN_PAIRS_FOR_INTERVAL

    lo, hi = ci95  # NaN in memory, None once through JSON
    if any(v is None or not math.isfinite(v) for v in (lo, hi)):
        return f"{value:.2f} (no interval: n < {MIN_PAIRS_FOR_INTERVAL})"
    return f"{value:.2f} [{lo:.2f}, {hi:.2f}]"


def correlation_markdown(correlation: dict) -> list[str]:
    """A table, one row per (subset, score, MD measure): Pearson and Spearman with bootstrap 95 % CIs."""
    lines = ["| potentials | n | score | MD measure | Pearson r [95 % CI] | Spearman ρ [95 % CI] |",
             "|---|---|---|---|---|---|"]
    for subset, c in correlation.items():
        label = SUBSET_LABELS.get(subset) or f"within {subset.removeprefix('system_')}"
        for key in ("stable_fraction", "time_to_failure_fraction", "fsd_stable_fraction", "fsd_time_to_failure_fraction"):
            s = c.get(key, {})
            score_name = "FSD" if key.startswith("fsd_") else "BSCT"
            measure = key.removeprefix("fsd_").replace("_", " ")
            if "pearson_r" in s:
                lines.append(
                    f"| {label} | {s['n']} | {score_name} | {measure} "
                    f"| {_with_interval(s['pearson_r'], s['pearson_ci95'])} "
                    f"| {_with_interval(s['spearman_rho'], s['spearman_ci95'])} |")
            elif s:
                lines.append(f"| {label} | {c['n']} | {score_name} | {measure} | {s.get('error')} | |")
    return lines + [""]


def ablation_markdown(result: StudyResult) -> str:
    """One table per system in the paper's format, plus the correlation (Markdown).

    Columns: errors on ``test`` (and the force error on ``unseen``), BSCT score with the artifacts
    found, the paper's FSD on the system's FSD set, MD stable fraction with the failure reasons,
    mean time to failure over the run length, cost = BSCT wall time / MD wall time, training time.
    """
    lines = [(f"Study size `{result.config.size}`, seed {result.config.seed}, {len(result.rows)} potentials, "
              f"{result.wall_seconds:.0f} s this invocation."), ""]
    if result.pending:
        n = len(result.pending)
        lines += [f"Cached results only: {n} potential{'s' if n > 1 else ''} not finished yet "
                  f"({', '.join(result.pending)}).", ""]
    for system in result.config.systems:
        lines += [f"### {system}", "",
                  ("| potential | kind | E RMSE test (meV/atom) | F RMSE test (meV/Å) | F RMSE unseen (meV/Å) "
                   "| BSCT score ↓ (artifacts) | FSD (1/Å) ↓ | MD stable fraction ↑ (replicas; failures) "
                   "| mean t_fail / run (ps) | cost: BSCT s / MD s = ratio | train s |"),
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        lines += [_row_markdown(r) for r in result.rows if r["system"] == system]
        lines.append("")
        if system in result.fsd_floor_per_angstrom:
            floor = result.fsd_floor_per_angstrom[system]
            lines += [(f"FSD floor of this FSD set: {floor:.3g} 1/Å (a model whose force deviation stays under ε "
                       "scores this; from the reference labels alone, docs/fsd.md)."), ""]
    lines += correlation_markdown(result.correlation)
    lines += cost_markdown(result.rows)
    lines += ["", *step_time_markdown(result.rows)]
    elastic = elastic_markdown(result.rows)
    if elastic:
        lines += ["", *elastic]
    by_type = config_type_error_markdown(result.rows)
    if by_type:
        lines += ["", *by_type]
    return "\n".join(lines) + "\n"


def elastic_markdown(rows: Sequence[dict]) -> list[str]:
    """C11, C12, C44 (GPa), a0 and the EOS bulk modulus of every row that has them, with each
    constant's deviation from the system's reference potential in %. Empty without elastic rows."""
    with_elastic = [r for r in rows if r.get("elastic")]
    if not with_elastic:
        return []
    reference = {r["system"]: r["elastic"] for r in with_elastic if r["kind"] == "reference"}
    lines = ["Elastic constants (GPa) at each potential's own lattice constant a0; in brackets the deviation "
             "from the reference potential:", "",
             "| system | potential | a0 (Å) | C11 | C12 | C44 | B from EOS |", "|---|---|---|---|---|---|---|"]
    for r in with_elastic:
        el = r["elastic"]
        ref = None if r["kind"] == "reference" else reference.get(r["system"])
        cells = [f"{el[k]:.1f}" + ("" if ref is None else f" ({100.0 * (el[k] - ref[k]) / ref[k]:+.0f} %)")
                 for k in ("C11", "C12", "C44", "bulk_modulus_gpa_eos")]
        lines.append(f"| {r['system']} | {r['potential']} | {el['a0_angstrom']:.3f} | " + " | ".join(cells) + " |")
    return lines


def config_type_error_markdown(rows: Sequence[dict], kinds: tuple[str, ...] = ("variant",)) -> list[str]:
    """Per system, the errors of each structure type (``atoms.info["config_type"]``) for the rows of
    the given kinds: signed mean energy error (prediction − reference, meV/atom) · force RMSE (meV/Å).

    A model can fit forces well and still put whole structure types at the wrong energy (a
    surface, a vacancy, a strained cell): that shows here as an offset shared by a type, and it
    is what moves lattice constants, elastic constants and formation energies.
    """
    lines: list[str] = []
    for system in dict.fromkeys(r["system"] for r in rows):
        chosen = [r for r in rows if r["system"] == system and r["kind"] in kinds and r.get("errors_by_config_type")]
        if not chosen:
            continue
        types = list(dict.fromkeys((split, name) for r in chosen
                                   for split, groups in r["errors_by_config_type"].items() for name in groups))
        lines += [(f"Errors by structure type, {system}: mean energy error (meV/atom, prediction − reference) · "
                   "force RMSE (meV/Å):"), "",
                  "| split | config_type | frames | " + " | ".join(r["potential"] for r in chosen) + " |",
                  "|---" * (len(chosen) + 3) + "|"]
        for split, name in types:
            cells, n_frames = [], None
            for r in chosen:
                g = r["errors_by_config_type"].get(split, {}).get(name)
                if g is None:
                    cells.append("–")
                    continue
                n_frames = g["n_frames"]
                cells.append(f"{g['energy_mean_error_mev_per_atom']:+.1f} · {g['force_rmse_mev_per_angstrom']:.0f}")
            lines.append(f"| {split} | {name} | {n_frames} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


STEP_SECONDS = (("train", "train_seconds"), ("errors", "errors_seconds"), ("BSCT", "bsct_seconds"),
                ("FSD", "fsd_seconds"), ("MD", "md_seconds"), ("elastic", "elastic_seconds"))


def step_time_markdown(rows: Sequence[dict]) -> list[str]:
    """Summed wall time of every step, per system, in worker-hours: the study's cost.

    This total does not depend on how many workers ran the study or on how many sessions it
    was spread over. Wall time on W workers is at least total / W.
    """
    systems = list(dict.fromkeys(r["system"] for r in rows))
    lines = ["Summed step times (worker-hours; each step's own wall time, cached steps count what they cost "
             "when they ran):", "",
             "| system | " + " | ".join(name for name, _ in STEP_SECONDS) + " | total |",
             "|---" * (len(STEP_SECONDS) + 2) + "|"]
    hours = {system: np.array([sum(r.get(key) or 0.0 for r in rows if r["system"] == system)
                               for _, key in STEP_SECONDS]) / 3600.0 for system in systems}
    hours["all"] = sum(hours.values(), np.zeros(len(STEP_SECONDS)))
    lines += [f"| {system} | " + " | ".join(f"{h:.2f}" for h in per_step) + f" | {per_step.sum():.2f} |"
              for system, per_step in hours.items()]
    return lines


def cost_markdown(rows: Sequence[dict]) -> list[str]:
    """Median and range of the BSCT/MD cost ratio over the potentials that share one MD protocol
    (third-party models run a shorter one), and over those whose MD ran to the end (a failing
    run stops early, which inflates its ratio)."""
    same = [r for r in rows if r["kind"] != "third_party" and r.get("cost_ratio_bsct_over_md") is not None]
    lines = []
    for label, group in (("one MD protocol", same),
                         ("MD ran to the end", [r for r in same if r["md_stable_fraction"] == 1.0])):
        ratios = [r["cost_ratio_bsct_over_md"] for r in group]
        if ratios:
            lines.append(f"- cost ratio BSCT s / MD s ({label}, n = {len(ratios)}): median {np.median(ratios):.2g}, "
                         f"range {min(ratios):.2g}–{max(ratios):.2g}")
    return lines


_MARKERS = {"variant": "o", "weakened": "s", "reference": "*", "third_party": "D", "planted": "X"}
_COLORS = {"cu": "tab:orange", "si": "tab:blue", "water": "tab:cyan", "molecules": "tab:green"}


def _md_measure(r: dict, y_key: str) -> float:
    if y_key == "time_to_failure_fraction":
        return r["md_mean_time_to_failure_ps"] / r["md_duration_ps"]
    return r[y_key]


def _scatter_potentials(ax, rows: Sequence[dict], y_key: str, x_key: str, name_of: Callable[[dict], str],
                        label_width: int = 60) -> None:
    """Points (marker = kind, colour = system, planted hollow), potentials sharing a point in one label."""
    groups: dict[tuple, list[tuple[float, str]]] = {}  # (x bin, y) -> (x, name) of its points
    for r in rows:
        if r.get(x_key) is None or r.get("md_stable_fraction") is None:  # no MD (a scan-only reference)
            continue
        x, y = float(r[x_key]), float(_md_measure(r, y_key))
        color = _COLORS.get(r["system"], "k")
        ax.scatter([x], [y], marker=_MARKERS.get(r["kind"], "o"), s=80, alpha=0.8,
                   facecolors="none" if r["kind"] == "planted" else color, edgecolors=color)
        # one label for the points of one bin: 0.1 in log10 x (a factor 1.26) above 0.1, 0.01 below
        x_bin = ("log", round(math.log10(x), 1)) if x > 0.1 else ("linear", round(x, 2))  # the symlog's two parts
        groups.setdefault((x_bin, round(y, 2)), []).append((x, name_of(r)))
    row_count: dict[float, int] = {}
    for (_, y), members in sorted(groups.items()):
        x, names = min(m[0] for m in members), [m[1] for m in members]
        text = ", ".join(names) if len(names) <= 3 else f"{len(names)} potentials: " + ", ".join(names)
        if len(text) > label_width:
            words, lines, line = text.split(", "), [], ""
            for w in words:
                if len(line) + len(w) > label_width:
                    lines.append(line)
                    line = ""
                line += (", " if line else "") + w
            text = ",\n".join(lines + [line])
        k = row_count[y] = row_count.get(y, -1) + 1  # stagger labels of points on the same row
        dy = -(10 + 7 * (k % 3)) if y > 0.9 else 4 + 7 * (k % 3)
        ax.annotate(text, (x, y), fontsize=5.5, xytext=(3, dy), textcoords="offset points")
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlim(left=-0.02)
    ax.set_ylim(-0.08, 1.08)


def _axis_labels(x_key: str, y_key: str) -> tuple[str, str]:
    x = ("BSCT score (lower = smoother; symlog axis, 0 = no artifact)" if x_key == "bsct_score"
         else "FSD (1/Å, lower = smoother; symlog axis)")
    return x, "MD stable fraction" if y_key == "md_stable_fraction" else "mean time to failure / run length"


def plot_correlation(rows: Sequence[dict], y_key: str = "md_stable_fraction", x_key: str = "bsct_score"):
    """Scatter of BSCT score (``x_key="fsd_per_angstrom"``: the paper's FSD; symlog x, so 0 = clean shows) vs an MD stability measure
    (``md_stable_fraction`` or ``time_to_failure_fraction``); marker = kind of potential, colour =
    system, planted controls hollow. Potentials that share a point are listed in one label.
    Returns the figure (saving is left to the caller)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.2, 4.8))
    _scatter_potentials(ax, rows, y_key, x_key, lambda r: f"{r['system']}/{r['potential']}")
    x_label, y_label = _axis_labels(x_key, y_key)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    handles = [plt.Line2D([], [], marker=m, ls="", color="gray", label=k) for k, m in _MARKERS.items()
               if any(r["kind"] == k for r in rows)]
    handles += [plt.Line2D([], [], marker="o", ls="", color=c, label=s) for s, c in _COLORS.items()
                if any(r["system"] == s for r in rows)]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: no point hidden
    fig.tight_layout()
    return fig


def plot_correlation_by_system(rows: Sequence[dict], correlation: dict, y_key: str = "md_stable_fraction",
                               x_key: str = "bsct_score"):
    """The scatter of :func:`plot_correlation`, one panel per system, each titled with its own
    Pearson r and Spearman ρ (``correlation`` from :func:`correlation_summary`): how well the score
    ranks the potentials of one system, which pooled points hide."""
    import matplotlib.pyplot as plt

    systems = list(dict.fromkeys(r["system"] for r in rows))
    ncols = min(2, len(systems))
    nrows = math.ceil(len(systems) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.2 * ncols, 3.9 * nrows), squeeze=False)
    key = ("fsd_" if x_key == "fsd_per_angstrom" else "") + y_key.removeprefix("md_")
    x_label, y_label = _axis_labels(x_key, y_key)
    for ax, system in zip(axes.flat, systems):
        _scatter_potentials(ax, [r for r in rows if r["system"] == system], y_key, x_key, lambda r: r["potential"],
                            label_width=40)
        subset = f"system_{system}" if len(systems) > 1 else "all"  # one system: its rows are "all"
        c = correlation.get(subset, {}).get(key, {})
        stats = (f": r = {_with_interval(c['pearson_r'], c['pearson_ci95'])}, "
                 f"ρ = {c['spearman_rho']:.2f} (n = {c['n']})" if "pearson_r" in c else "")
        ax.set_title(system + stats, fontsize=9)
        ax.set_xlabel(x_label, fontsize=8)
        ax.set_ylabel(y_label, fontsize=8)
    for ax in list(axes.flat)[len(systems):]:
        ax.set_axis_off()
    handles = [plt.Line2D([], [], marker=m, ls="", color="gray", label=k) for k, m in _MARKERS.items()
               if any(r["kind"] == k for r in rows)]
    fig.legend(handles=handles, fontsize=8, loc="lower center", ncol=len(handles), frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def load_study(out_dir: str | Path) -> dict:
    """The ``study.json`` of a finished study."""
    return json.loads((Path(out_dir) / "study.json").read_text())
