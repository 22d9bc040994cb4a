"""BSCT in one call: find bonds, scan them, detect artifacts, score, (optionally) write a report.

    from bsct import run_bsct
    report = run_bsct("emt", "structures.extxyz", out_dir="bsct_out")
    print(report.score, report.artifacts)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from tqdm.auto import tqdm

from bsct.data.validate import validate_structures
from bsct.metrics.detectors import Artifact, Tolerances
from bsct.metrics.floors import FloorsV2
from bsct.metrics.scan_metrics import ScanAnalysis, analyse_curve
from bsct.potentials.protocol import BatchedPotential
from bsct.registry import load_potential, potential_identity
from bsct.runs import check_resume, fingerprint, versions, write_json
from bsct.scan.bonds import BondSelection, select_bonds
from bsct.scan.geometry import CELL_RULES, ScanGeometry, ScanRange, build_scan
from bsct.scan.runner import MAX_ATOMS_PER_CALL, ScanCurve, evaluate_points, evaluate_scan
from bsct.scan.score_v2 import BondAnalysisV2, analyse_bond_v2

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BSCTConfig:
    """Everything that decides a BSCT result (recorded in the JSON, checked on resume)."""

    max_per_type: int = 3
    seed: int = 0
    bond_types: tuple[str, ...] | None = None
    scan_range: ScanRange = ScanRange()
    mode: str = "auto"
    grow_cell: bool = True
    tolerances: Tolerances = Tolerances()
    refine_jumps: bool = True
    max_atoms_per_call: int = MAX_ATOMS_PER_CALL
    score_version: str = "v1"
    """``v1`` (the detectors of docs/metrics.md) or ``v2`` (noise-derived floors, merged artifacts,
    collision guard, temperature weights: docs/metrics_v2.md). Default v1 until validation decides."""
    temperature_k: float | None = None
    """v2 only: the temperature (K) of the weighted score; None = unweighted."""
    collision_fraction: float = 0.5
    """v2 only: a pair scan is scored until a third atom is closer than this fraction of r."""
    floors: FloorsV2 = FloorsV2()
    """v2 only: detection floors and k_sigma."""
    cell_rule: str = "auto"
    """How a crystal scan's periodic cell is sized (:func:`bsct.scan.geometry.build_scan`):
    ``half-cell`` (v1: the whole scan inside half the cell), ``image-safe`` (the smallest cell in
    which no moving atom comes within the potential's interaction range of an image of the pair
    over the scored range, :mod:`bsct.scan.cells`), or ``auto`` = half-cell under v1, image-safe
    under v2 (v1 results stay byte-identical)."""
    image_range_angstrom: float | None = None
    """The interaction range the image-safe rule keeps images beyond; None = the potential's
    ``interaction_range_angstrom``, else 2 × its cutoff."""
    evaluate_unscored: bool = False
    """v2 only: also evaluate the points the collision guard will not score (they are drawn grey,
    in a cell sized for the scored range only). Off: the guard, known from geometry before any
    model call, decides which points the model sees; the v2 score is the same either way
    (tested), the model does less work (fcc ⟨110⟩: ~40 % of the points are scored)."""
    bond_symmetry: str = "auto"
    """Which crystal bonds the choice samples from: ``distinct`` (one per space-group class of
    symmetry-equivalent bonds, :func:`bsct.scan.bonds.symmetry_classes`: equivalent bonds give the
    same scan), ``all`` (every bond, equivalent copies included), ``auto`` = all under v1 (its bond
    choice stays byte-identical), distinct under v2."""

    def __post_init__(self):
        check_score_version(self.score_version, self.temperature_k)
        if self.evaluate_unscored and self.score_version != "v2":
            raise ValueError("evaluate_unscored concerns BSCT v2's collision guard: v1 evaluates every point")
        if self.bond_symmetry not in ("auto", "distinct", "all"):
            raise ValueError(f"bond_symmetry must be auto, distinct or all, not {self.bond_symmetry!r}")
        if self.cell_rule not in ("auto", *CELL_RULES):
            raise ValueError(f"cell_rule must be auto, {' or '.join(CELL_RULES)}, not {self.cell_rule!r}")
        if self.image_range_angstrom is not None:
            if not self.image_range_angstrom > 0:
                raise ValueError(f"image_range_angstrom must be > 0 Å, not {self.image_range_angstrom}")
            if self.resolved_cell_rule != "image-safe":
                raise ValueError("an image range sizes image-safe cells only: use score_version='v2' "
                                 "(--score-version v2) or cell_rule='image-safe'")

    @property
    def resolved_cell_rule(self) -> str:
        """``cell_rule`` with ``auto`` resolved by the score version."""
        if self.cell_rule != "auto":
            return self.cell_rule
        return "image-safe" if self.score_version == "v2" else "half-cell"

    @property
    def distinct_bonds(self) -> bool:
        """``bond_symmetry`` with ``auto`` resolved by the score version."""
        return self.bond_symmetry == "distinct" or (self.bond_symmetry == "auto" and self.score_version == "v2")

    def to_dict(self) -> dict:
        """Every setting; under v1 the v2-only settings are left out while at their defaults, so a
        v1 run's JSON and fingerprint (resume, caches) are what they were before v2 existed."""
        out = dataclasses.asdict(self)
        if self.score_version == "v1":
            for name in _V2_FIELDS:
                if getattr(self, name) == _DEFAULTS[name]:
                    del out[name]
        return out

    def fingerprint(self) -> str:
        return fingerprint(self.to_dict())


SCORE_VERSIONS = ("v1", "v2")


def check_score_version(score_version: str, temperature_k: float | None) -> None:
    """A known score version, and a temperature (>= 0 K) only with v2: the checks of every entry point."""
    if score_version not in SCORE_VERSIONS:
        raise ValueError(f"score_version must be one of {', '.join(SCORE_VERSIONS)}, not {score_version!r}")
    if score_version == "v1" and temperature_k is not None:
        raise ValueError("a temperature weights BSCT v2 scores only: use score_version='v2' (--score-version v2)")
    if temperature_k is not None and not temperature_k >= 0:
        raise ValueError(f"temperature must be >= 0 K, not {temperature_k}")
_V2_FIELDS = ("score_version", "temperature_k", "collision_fraction", "floors", "cell_rule", "image_range_angstrom",
              "bond_symmetry", "evaluate_unscored")
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(BSCTConfig)}


@dataclass
class BondResult:
    """One scanned bond: the raw curve, what the detectors made of it, and the frames it was
    scanned in (to evaluate more points of it later, e.g. a refinement outside ``run_bsct``)."""

    curve: ScanCurve
    analysis: ScanAnalysis | BondAnalysisV2
    geometry: ScanGeometry | None = None


@dataclass
class BSCTReport:
    """The outcome of :func:`run_bsct`.

    Attributes:
        model: name of the potential.
        score: BSCT score, mean over bond types of the mean scan score (lower = smoother, 0 = clean).
        per_type: per bond type: score, scans, artifacts, bonds found in the data.
        results: per bond, curve and analysis.
        wall_seconds: this run's wall time. model_seconds: time in the model, including curves
            loaded from an earlier run, whose model time is also ``resumed_model_seconds``: a
            resumed test cost about ``wall_seconds + resumed_model_seconds`` in all.
    """

    model: str
    config: BSCTConfig
    selection: BondSelection
    results: list[BondResult]
    score: float
    per_type: dict[str, dict]
    wall_seconds: float
    model_seconds: float
    n_model_calls: int
    cutoff_angstrom: float | None
    versions: dict[str, str] = field(default_factory=dict)
    resumed_model_seconds: float = 0.0
    weighted_score: float | None = None
    """v2: the mean over bond types of the mean weighted scan score (= ``score`` without a temperature)."""

    @property
    def artifacts(self) -> list[Artifact]:
        return [a for res in self.results for a in res.analysis.artifacts]

    @property
    def score_version(self) -> str:
        return self.config.score_version

    @property
    def gate_score(self) -> float:
        """The score a gate compares: v2 at a temperature judges the weighted score, else ``score``."""
        if self.weighted_score is not None and self.config.temperature_k is not None:
            return self.weighted_score
        return self.score

    @property
    def n_failed_points(self) -> int:
        """Scan points whose model evaluation failed (raised, or returned NaN/inf): never scored."""
        return sum(res.curve.n_failed_points for res in self.results)

    @property
    def complete(self) -> bool:
        """False when any evaluation failed: the score then covers only what could be evaluated."""
        return self.n_failed_points == 0

    def failed_evaluations(self, limit: int = 5) -> list[str]:
        """The first ``limit`` failure messages, each prefixed with its bond."""
        return [f"{res.curve.label}: {e}" for res in self.results for e in res.curve.errors][:limit]

    @property
    def n_points(self) -> int:
        return sum(len(res.curve.r_angstrom) for res in self.results)

    def to_dict(self) -> dict:
        from bsct.report.json_report import report_to_dict

        return report_to_dict(self)

    def save(self, out_dir: str | Path, plots: bool = True, html: bool = True) -> Path:
        """Write results.json, per-bond-type PNGs and report.html into ``out_dir``."""
        from bsct.report.writer import write_report

        return write_report(self, out_dir, plots=plots, html=html)


def _mean_of_scored(values) -> float:
    """Mean of the finite values (a scan with nothing evaluated has a NaN score); NaN if none."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def aggregate_scores(results: Sequence[BondResult], selection: BondSelection) -> tuple[float, dict[str, dict]]:
    """Per bond type: mean scan score; overall: mean over types (each type weighs the same).

    Scans with nothing evaluated (NaN score) are left out of the means; the report says the score
    is incomplete. v2 results also get ``weighted_score`` per type (the same means).
    """
    per_type: dict[str, dict] = {}
    for bond_type in sorted({r.curve.bond_type for r in results}):
        mine = [r for r in results if r.curve.bond_type == bond_type]
        kinds: dict[str, int] = {}
        for r in mine:
            for a in r.analysis.artifacts:
                kinds[a.kind] = kinds.get(a.kind, 0) + 1
        per_type[bond_type] = {
            "score": _mean_of_scored(r.analysis.score for r in mine),
            "n_scans": len(mine),
            "n_found": selection.counts_found.get(bond_type, len(mine)),
            **({"n_distinct": selection.counts_distinct.get(bond_type, len(mine))}
               if selection.counts_distinct is not None else {}),
            "n_artifacts": sum(kinds.values()),
            "artifact_kinds": dict(sorted(kinds.items())),
        }
        if all(isinstance(r.analysis, BondAnalysisV2) for r in mine):
            per_type[bond_type]["weighted_score"] = _mean_of_scored(r.analysis.weighted_score for r in mine)
    score = _mean_of_scored(v["score"] for v in per_type.values())
    return score, per_type


def weighted_overall(per_type: dict[str, dict]) -> float | None:
    """Mean over types of the weighted type scores (v2), None for v1."""
    if not per_type or any("weighted_score" not in v for v in per_type.values()):
        return None
    return _mean_of_scored(v["weighted_score"] for v in per_type.values())


def _load_structures(data) -> list[Atoms]:
    if isinstance(data, Atoms):
        return [data]
    if isinstance(data, (str, Path)):
        from bsct.data.io import read_structures

        return read_structures(data)
    return list(data)


def _run_manifest(config: BSCTConfig, model: str, identity: dict) -> dict:
    """What a saved run (run.json) and each of its curves must match to be resumed."""
    return {"model": model, "potential": identity, "config": config.fingerprint()}


def _check_run_dir(out_dir: Path, config: BSCTConfig, model: str, identity: dict, resume: bool) -> Path:
    """Curves live in out_dir/curves; a manifest makes sure a resumed run is the same run of the
    same potential (:func:`~bsct.registry.potential_identity`: a retrained checkpoint
    at the same path is another potential). Without ``resume`` nothing is deleted up front:
    each curve is replaced when its bond is scanned again (the CLI refuses such an --out unless
    --overwrite), and a curve of another run is never read (its ``run_fingerprint`` differs)."""
    curves_dir = out_dir / "curves"
    manifest = out_dir / "run.json"
    wanted = _run_manifest(config, model, identity)
    if manifest.exists() and resume:
        check_resume(json.loads(manifest.read_text()), wanted, out_dir, hint="use a new --out")
    elif manifest.exists() and any(curves_dir.glob("*.npz")) and not resume:
        log.info("%s already holds curves; each is replaced as its bond is scanned (resume=True / --resume "
                 "continues instead)", out_dir)
    curves_dir.mkdir(parents=True, exist_ok=True)
    write_json(manifest, wanted, indent=None)  # a kill mid-write must not leave a manifest resume cannot read
    return curves_dir


def run_bsct(
    model,
    data,
    config: BSCTConfig | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    **overrides,
) -> BSCTReport:
    """Run the Bond Smoothness Characterization Test.

    Args:
        model: a SPEC string (see :func:`bsct.registry.load_potential`), an ASE
            calculator, or a batched potential.
        data: a file (extxyz, ASE db), an ``Atoms`` or a list of them.
        config: a :class:`BSCTConfig`; keyword ``overrides`` replace single fields of it.
        out_dir: if given, each bond's raw curve is saved there as soon as it is scanned and the
            full report (JSON, PNGs, HTML) at the end; ``resume=True`` skips bonds already saved.
        Overrides include ``score_version="v2"`` and ``temperature_k`` (:class:`BSCTConfig`).
        Points whose evaluation failed are not scored: ``report.complete`` is then False.
    """
    t_start = time.perf_counter()
    config = dataclasses.replace(config or BSCTConfig(), **overrides)
    identity = potential_identity(model)
    potential: BatchedPotential = load_potential(model)
    name = model if isinstance(model, str) else getattr(potential, "name", type(potential).__name__)
    structures = _load_structures(data)
    validate_structures(structures, potential, source=data if isinstance(data, (str, Path)) else "<structures>",
                        need_a_pair=True, what="a bond scan")  # before any model call: bad input is refused, not scored
    selection = select_bonds(
        structures, config.max_per_type, config.seed, list(config.bond_types) if config.bond_types else None,
        distinct=config.distinct_bonds,
    )
    of = selection.counts_distinct or selection.counts_found
    log.info("model %s: %d bond(s) of %d type(s) to scan (%s%s)", name, len(selection.bonds), len(selection.counts_chosen),
             ", ".join(f"{t}: {n}/{of[t]}" for t, n in selection.counts_chosen.items()),
             " symmetry-distinct" if selection.counts_distinct else "")
    curves_dir = _check_run_dir(Path(out_dir), config, str(name), identity, resume) if out_dir is not None else None
    cutoff = potential.cutoff_angstrom
    image_range = config.image_range_angstrom or getattr(potential, "interaction_range_angstrom", None)
    v2 = config.score_version == "v2"
    results: list[BondResult] = []
    model_seconds, resumed_seconds, n_calls = 0.0, 0.0, 0
    run_fp = fingerprint(_run_manifest(config, str(name), identity))
    bar = tqdm(total=len(selection.bonds) * config.scan_range.n_points, desc=f"BSCT {name}", unit="point",
               disable=not progress)  # advances chunk by chunk within a bond
    for bond in selection.bonds:
        bar.set_postfix_str(bond.label, refresh=False)
        geometry = build_scan(structures[bond.structure_idx], bond, config.scan_range, cutoff, config.mode,
                              config.grow_cell, config.resolved_cell_rule, config.collision_fraction, image_range)
        path = curves_dir / f"{bond.label}.npz" if curves_dir is not None else None
        curve = ScanCurve.load(path) if path is not None and resume and path.exists() else None
        if curve is not None and curve.run_fingerprint != run_fp:
            log.warning("%s: saved by another run (fingerprint %r, not %r); scanning it again", path,
                        curve.run_fingerprint, run_fp)
            curve = None
        if curve is not None:
            resumed_seconds += curve.eval_seconds
            bar.update(len(curve.r_angstrom))
        else:
            skip_unscored = v2 and not config.evaluate_unscored
            curve = evaluate_scan(potential, geometry, config.max_atoms_per_call, record_collisions=v2,
                                  on_chunk=bar.update, guard_fraction=config.collision_fraction if skip_unscored else None)
            curve.run_fingerprint = run_fp
            if path is not None:
                curve.save(path)
        model_seconds += curve.eval_seconds
        n_calls += curve.n_model_calls
        refine = _Refiner(potential, geometry) if config.refine_jumps else None
        if v2:
            if curve.mode == "pair" and curve.closest_third_atom_angstrom is None:  # a curve saved without it
                curve.closest_third_atom_angstrom = geometry.closest_third_atom_angstrom()
            analysis = analyse_bond_v2(curve, len(geometry.atoms), cutoff, config.temperature_k,
                                       config.collision_fraction, config.floors, refine)
        else:
            analysis = analyse_curve(curve, config.tolerances, cutoff, refine)
        if refine is not None:
            model_seconds += refine.seconds
            n_calls += refine.calls
        results.append(BondResult(curve, analysis, geometry))
    bar.close()
    score, per_type = aggregate_scores(results, selection)
    report = BSCTReport(
        model=str(name), config=config, selection=selection, results=results, score=score, per_type=per_type,
        wall_seconds=time.perf_counter() - t_start, model_seconds=model_seconds, n_model_calls=n_calls,
        cutoff_angstrom=cutoff, versions=versions(), resumed_model_seconds=resumed_seconds,
        weighted_score=weighted_overall(per_type),
    )
    if not report.complete:
        log.warning("model %s: %d scan point(s) failed to evaluate; the score covers only the rest (incomplete). "
                    "First: %s", name, report.n_failed_points, (report.failed_evaluations(1) or ["?"])[0])
    if out_dir is not None:
        report.save(out_dir)
    return report


class _Refiner:
    """Evaluates extra bond lengths of one scan, counting calls and time for the cost report."""

    def __init__(self, potential: BatchedPotential, geometry: ScanGeometry):
        self.potential, self.geometry = potential, geometry
        self.calls, self.seconds = 0, 0.0

    def __call__(self, r_angstrom: np.ndarray):
        start = time.perf_counter()
        out = evaluate_points(self.potential, self.geometry, r_angstrom)
        self.calls += 1
        self.seconds += time.perf_counter() - start
        return out
