"""Diatomic curves in MLIP Arena's convention, evaluated through the batched protocol.

Grid (MLIP Arena, ``mlip_arena/flows/diatomics.py``), per element X:
    r_min(X) = 0.9 · R_cov(X)                  ASE's covalent radii
    r_max(X) = 3.1 · R_vdW(X), or 6 Å          ASE's Alvarez table ``vdw_alvarez.vdw_radii``
    n = int((r_max - r_min) / 0.01),  r = linspace(r_min, r_max, n)    (step just above 0.01 Å)
Note the radii are one atom's, not the sum of two: H-H starts at 0.279 Å. A heteronuclear
pair A-B uses the means, r_min = (r_min(A) + r_min(B))/2 and likewise r_max, so A-A is exactly
Arena's grid. Geometry: atom A at (a/2 - r/2, a/2, a/2), B at (a/2 + r/2, a/2, a/2) in a box
of edges (a, a + 0.001, a + 0.002) Å, a = 5·r_max, pbc off (Arena's box). Recorded force: the
force on B along the A -> B axis (Arena's F; -dE/dr for a conservative model).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols, covalent_radii, vdw_alvarez

from bsct.data.validate import UnsupportedElement, declared_elements, describe_elements, unsupported_in
from bsct.metrics.arena import diatomic_metrics
from bsct.metrics.detectors import Tolerances
from bsct.metrics.scan_metrics import ScanAnalysis, analyse_curve
from bsct.potentials.protocol import BatchedPotential
from bsct.report.json_report import merged_artifact
from bsct.runs import check_resume, clean_json, versions, write_json
from bsct.scan.api import check_score_version
from bsct.scan.bonds import Bond, bond_type_of
from bsct.scan.geometry import ScanGeometry
from bsct.scan.runner import ScanCurve, evaluate_chunked, evaluate_points
from bsct.scan.score_v2 import BondAnalysisV2, analyse_bond_v2

log = logging.getLogger(__name__)

SCHEMA = "bsct.diatomics/1"

ALL_ELEMENTS = tuple(chemical_symbols[1:])
"""``--elements all``: H to Og, as MLIP Arena loops over ``chemical_symbols[1:]``."""


@dataclass(frozen=True)
class DiatomicGrid:
    """MLIP Arena's distance grid; every field in the module docstring's formula."""

    r_min_covalent_scale: float = 0.9
    r_max_vdw_scale: float = 3.1
    r_max_unknown_angstrom: float = 6.0
    step_angstrom: float = 0.01
    box_scale: float = 5.0

    def r_range_angstrom(self, symbol: str) -> tuple[float, float]:
        """(r_min, r_max) of the homonuclear X-X curve, exactly as Arena."""
        z = atomic_numbers[symbol]
        r_vdw = vdw_alvarez.vdw_radii[z] if z < len(vdw_alvarez.vdw_radii) else np.nan
        r_max = self.r_max_vdw_scale * r_vdw if np.isfinite(r_vdw) else self.r_max_unknown_angstrom
        return float(self.r_min_covalent_scale * covalent_radii[z]), float(r_max)

    def grid_angstrom(self, symbol_a: str, symbol_b: str) -> np.ndarray:
        """(n,) increasing distances for the pair; means of the two elements' ends."""
        lo_a, hi_a = self.r_range_angstrom(symbol_a)
        lo_b, hi_b = self.r_range_angstrom(symbol_b)
        r_min, r_max = (lo_a + lo_b) / 2, (hi_a + hi_b) / 2
        n_points = int((r_max - r_min) / self.step_angstrom)
        if n_points < 3:
            raise ValueError(f"{symbol_a}-{symbol_b}: step {self.step_angstrom} Å leaves {n_points} points")
        return np.linspace(r_min, r_max, n_points)

    def box_angstrom(self, r_grid_angstrom: np.ndarray) -> np.ndarray:
        """(3,) box edges: a = 5·r_max, slightly anisotropic as Arena (a, a+0.001, a+0.002)."""
        a = self.box_scale * float(np.max(r_grid_angstrom))
        return np.array([a, a + 0.001, a + 0.002])


def pair_label(symbol_a: str, symbol_b: str) -> str:
    return f"{symbol_a}-{symbol_b}"


def parse_pairs(elements: str | None, pairs: str | None) -> list[tuple[str, str]]:
    """``--elements H,C|all`` (homonuclear) plus ``--pairs C-O,Si-O`` -> unique (A, B), in order."""
    out: list[tuple[str, str]] = []
    symbols = ALL_ELEMENTS if elements and elements.strip().lower() == "all" else [
        s.strip() for s in (elements or "").split(",") if s.strip()]
    candidates = [(s, s) for s in symbols]
    for item in filter(None, (p.strip() for p in (pairs or "").split(","))):
        parts = item.split("-")
        if len(parts) != 2:
            raise ValueError(f"pair {item!r} must look like A-B, e.g. C-O")
        candidates.append((parts[0].strip(), parts[1].strip()))
    for a, b in candidates:
        for s in (a, b):
            if s not in atomic_numbers or s == "X":
                raise ValueError(f"unknown element {s!r}")
        if (a, b) not in out:
            out.append((a, b))
    if not out:
        raise ValueError("no pairs: give --elements and/or --pairs")
    return out


def dimer_geometry(symbol_a: str, symbol_b: str, r_grid_angstrom: np.ndarray, grid: DiatomicGrid = DiatomicGrid()) -> ScanGeometry:
    """The dimer as a pair-mode scan: reference length = covalent-radius sum (the expected bond,
    which anchors the detectors' physical minimum), displacement ±u/2 per Å along x."""
    z_a, z_b = atomic_numbers[symbol_a], atomic_numbers[symbol_b]
    r0 = float(covalent_radii[z_a] + covalent_radii[z_b])
    box = grid.box_angstrom(r_grid_angstrom)
    centre = box / 2
    u = np.array([1.0, 0.0, 0.0])
    atoms = Atoms(numbers=[z_a, z_b], positions=[centre - u * r0 / 2, centre + u * r0 / 2], cell=np.diag(box), pbc=False)
    bond = Bond(0, 0, 1, (0, 0, 0), r0, bond_type_of(z_a, z_b))
    dx_dr = np.stack([-u / 2, u / 2])
    return ScanGeometry(bond, atoms, 0, 1, np.asarray(r_grid_angstrom, float), dx_dr, "pair")


def evaluate_dimer(
    potential: BatchedPotential,
    geometry: ScanGeometry,
    points_per_call: int = 100,
    on_chunk: Callable[[int], None] | None = None,
) -> ScanCurve:
    """E and forces on the whole grid, ``points_per_call`` dimers per model call.

    A chunk that raises is retried point by point, so only the failing distances become NaN;
    failed and non-finite points are summarised in ``errors`` (one line per chunk) and the
    other points kept. ``on_chunk(n_points_done)`` drives a progress bar.
    """
    r = geometry.r_angstrom
    start = time.perf_counter()
    energy, forces, failures, n_calls = evaluate_chunked(potential, geometry, points_per_call, on_chunk)
    errors = []
    for lo in range(0, len(r), points_per_call):  # one line per chunk: a dimer fails in runs of distances
        bad = [k for k in failures if lo <= k < lo + points_per_call]
        if bad:
            first = next((failures[k] for k in bad if not failures[k].startswith("non-finite")), failures[bad[0]])
            errors.append(f"{len(bad)} point(s) failed in r={r[bad].min():.3f}-{r[bad].max():.3f} Å: {first}")
    bond = geometry.bond
    return ScanCurve(
        label=pair_label(*(chemical_symbols[z] for z in geometry.atoms.numbers)), bond_type=bond.bond_type,
        structure_idx=0, i=0, j=1, mode="pair", r_angstrom=r.copy(), energy_ev=energy,
        forces_ev_per_angstrom=forces, dx_dr=geometry.dx_dr.copy(), r0_angstrom=bond.r0_angstrom,
        min_cross_distance_angstrom=r.copy(), errors=errors,
        eval_seconds=time.perf_counter() - start, n_model_calls=n_calls,
    )


def force_on_second_ev_per_angstrom(forces_ev_per_angstrom: np.ndarray, positions_angstrom: np.ndarray) -> np.ndarray:
    """(n,) Arena's F: force on atom 2 projected on the unit vector from atom 1 to atom 2.

    Args: forces (n, 2, 3), positions (n, 2, 3).
    """
    vec = positions_angstrom[:, 1] - positions_angstrom[:, 0]
    u = vec / np.linalg.norm(vec, axis=1, keepdims=True)
    return np.einsum("kd,kd->k", forces_ev_per_angstrom[:, 1], u)


def curve_from_arrays(
    r_angstrom: np.ndarray, energy_ev: np.ndarray, force_ev_per_angstrom: np.ndarray, label: str = "A-B"
) -> ScanCurve:
    """A dimer ScanCurve from (n,) R, E and F on atom 2 (F on atom 1 = -F): feeds our detectors."""
    r = np.asarray(r_angstrom, float)
    order = np.argsort(r)
    r = r[order]
    f = np.asarray(force_ev_per_angstrom, float)[order]
    u = np.array([1.0, 0.0, 0.0])
    forces = np.stack([-f[:, None] * u, f[:, None] * u], axis=1)  # (n, 2, 3)
    kinds = label.split("-")
    bond_type = "-".join(sorted(kinds)) if len(kinds) == 2 else label
    return ScanCurve(label, bond_type, 0, 0, 1, "pair", r, np.asarray(energy_ev, float)[order], forces,
                     np.stack([-u / 2, u / 2]), None, r.copy())


@dataclass
class DiatomicScore:
    """MLIP Arena's numbers and ours on one curve.

    Attributes:
        metrics: {Arena name: value} (:func:`bsct.metrics.arena.diatomic_metrics`).
        analysis: our detectors' artifacts and the BSCT score of the same curve.
    """

    metrics: dict[str, float]
    analysis: ScanAnalysis | BondAnalysisV2


def score_diatomic_curve(
    r_angstrom: np.ndarray,
    energy_ev: np.ndarray,
    force_ev_per_angstrom: np.ndarray,
    label: str = "A-B",
    tolerances: Tolerances = Tolerances(),
    cutoff_angstrom: float | None = None,
    r0_angstrom: float | None = None,
) -> DiatomicScore:
    """Arena's metrics and our detectors + BSCT score on a curve you already have (no model).

    Args:
        r_angstrom, energy_ev, force_ev_per_angstrom: (n,) distance, energy, force on the
            second atom along the axis (positive = repulsive); any order.
        cutoff_angstrom: the model's cutoff, if known (enables the residual-force check).
        r0_angstrom: expected bond length (anchors the physical minimum); default: global minimum.
    Without the model, jumps are reported without the h/8 re-scan that confirms them in a model run.
    """
    curve = curve_from_arrays(r_angstrom, energy_ev, force_ev_per_angstrom, label)
    curve.r0_angstrom = r0_angstrom  # None: the detectors take the global minimum
    metrics = diatomic_metrics(r_angstrom, energy_ev, force_ev_per_angstrom)
    return DiatomicScore(metrics, analyse_curve(curve, tolerances, cutoff_angstrom))


@dataclass
class DiatomicResult:
    """One pair: raw curve, Arena's force, both sets of numbers.

    Attributes:
        pair: "A-B" as requested (A is the first atom, B the second).
        curve: raw energies and forces (n, 2, 3) on the grid, NaN where the model failed.
        force_ev_per_angstrom: (n,) Arena's F (force on B along A -> B).
        score: Arena's metrics and our analysis; None when no point was finite.
    """

    pair: str
    curve: ScanCurve
    force_ev_per_angstrom: np.ndarray
    score: DiatomicScore | None
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def run_pair(
    potential: BatchedPotential,
    symbol_a: str,
    symbol_b: str,
    grid: DiatomicGrid = DiatomicGrid(),
    tolerances: Tolerances = Tolerances(),
    points_per_call: int = 100,
    refine_jumps: bool = True,
    on_chunk: Callable[[int], None] | None = None,
    score_version: str = "v1",
    temperature_k: float | None = None,
) -> DiatomicResult:
    """Evaluate one pair on Arena's grid and score it both ways (BSCT ``score_version`` v1 or v2,
    v2 also weighted at ``temperature_k``)."""
    start = time.perf_counter()
    geometry = dimer_geometry(symbol_a, symbol_b, grid.grid_angstrom(symbol_a, symbol_b), grid)
    curve = evaluate_dimer(potential, geometry, points_per_call, on_chunk)
    f_arena = force_on_second_ev_per_angstrom(curve.forces_ev_per_angstrom, geometry.positions_angstrom())
    score = None
    if np.isfinite(curve.energy_ev).sum() >= 3:

        def refine(r_angstrom: np.ndarray):  # one model call per candidate jump, counted in the cost
            t = time.perf_counter()
            out = evaluate_points(potential, geometry, r_angstrom)
            curve.n_model_calls += 1
            curve.eval_seconds += time.perf_counter() - t
            return out

        if score_version == "v2":
            analysis = analyse_bond_v2(curve, 2, potential.cutoff_angstrom, temperature_k,
                                       refine=refine if refine_jumps else None)
        else:
            analysis = analyse_curve(curve, tolerances, potential.cutoff_angstrom, refine if refine_jumps else None)
        score = DiatomicScore(diatomic_metrics(curve.r_angstrom, curve.energy_ev, f_arena), analysis)
    return DiatomicResult(pair_label(symbol_a, symbol_b), curve, f_arena, score, time.perf_counter() - start)


def pair_record(result: DiatomicResult) -> dict:
    """JSON-ready record of one pair (NaN -> None by the writer).

    A pair with failed points (the model raised or returned NaN/inf) has ``complete: false``: its
    failed points are not artifacts, ``bsct_score`` covers the points that ran (None if fewer
    than 3 did) and ``errors`` names the failures.
    """
    c, s = result.curve, result.score
    record = {
        "pair": result.pair,
        "elements": result.pair.split("-"),
        "n_points": len(c.r_angstrom),
        "r_angstrom": c.r_angstrom.tolist(),
        "energy_ev": c.energy_ev.tolist(),
        "force_ev_per_angstrom": result.force_ev_per_angstrom.tolist(),
        "errors": list(c.errors),
        "n_failed_points": int((~np.isfinite(c.energy_ev)).sum()),
        "metrics": s.metrics if s else {},
        "bsct_score": s.analysis.score if s else None,
        "bsct_components": getattr(s.analysis, "components", {}) if s else {},
        "r_eq_angstrom": s.analysis.r_eq_angstrom if s else None,
        "summary": s.analysis.summary if s else {},
        "artifacts": [
            {"kind": a.kind, "r_angstrom": a.r_angstrom, "size": a.size, "unit": a.unit, "excess": a.excess,
             "detail": a.detail}
            for a in (s.analysis.artifacts if s else [])
        ],
        "seconds": result.seconds,
        "model_seconds": c.eval_seconds,
        "n_model_calls": c.n_model_calls,
    }
    if s and isinstance(s.analysis, BondAnalysisV2):  # v2: both scores and each artifact's evidence, as bsct scan's
        a2 = s.analysis
        record.update(score_version="v2", bsct_weighted_score=a2.weighted_score, temperature_k=a2.temperature_k,
                      artifacts=[merged_artifact(m) for m in a2.merged])
    if c.n_failed_points:  # failed points are not scored; the score (if any) covers the rest only
        record["complete"] = False
    return record


def unsupported_pairs(potential: BatchedPotential, pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """{pair label: its elements the potential declares it does not support} (``supported_elements``;
    an undeclared potential is not asked: its curve records what it does)."""
    supported = declared_elements(potential)
    if not isinstance(supported, frozenset):
        return {}
    out = {pair_label(a, b): unsupported_in({a, b}, supported) for a, b in pairs}
    return {label: missing for label, missing in out.items() if missing}


def refuse_unsupported_pairs(potential: BatchedPotential, pairs: Sequence[tuple[str, str]], name: str) -> None:
    """Raise :class:`~bsct.data.validate.UnsupportedElement` naming every pair with an element the model
    does not support (a model must not score a curve of elements it was never built for)."""
    bad = unsupported_pairs(potential, pairs)
    if bad:
        elements = sorted({s for missing in bad.values() for s in missing}, key=lambda s: atomic_numbers[s])
        raise UnsupportedElement(
            "--elements/--pairs", None, f"model {name} does not support {', '.join(elements)} (pair{'s' if len(bad) > 1 else ''} "
                               f"{', '.join(bad)}); it supports {describe_elements(declared_elements(potential))}",
            elements)


def run_diatomics(
    potential: BatchedPotential,
    pairs: Sequence[tuple[str, str]],
    done: dict[str, dict] | None = None,
    grid: DiatomicGrid = DiatomicGrid(),
    tolerances: Tolerances = Tolerances(),
    points_per_call: int = 100,
    refine_jumps: bool = True,
    progress: bool = True,
    on_pair: Callable[[dict], None] | None = None,
    name: str = "model",
    score_version: str = "v1",
    temperature_k: float | None = None,
) -> dict[str, dict]:
    """Every pair's record (:func:`pair_record`), reusing ``done`` records that have no error.

    ``on_pair(record)`` is called after each new pair (the command saves the JSON there, so a
    killed run resumes). A pair whose model call raises keeps its error; the others go on. A
    pair with an element the potential declares it does not support is refused before any call
    (:class:`~bsct.data.validate.UnsupportedElement`).
    """
    from tqdm.auto import tqdm

    refuse_unsupported_pairs(potential, pairs, getattr(potential, "name", name))

    done = dict(done or {})
    todo = [(a, b) for a, b in pairs if pair_label(a, b) not in done or done[pair_label(a, b)].get("errors")]
    records = {pair_label(a, b): done[pair_label(a, b)] for a, b in pairs if pair_label(a, b) in done}
    if todo:
        total = sum(len(grid.grid_angstrom(a, b)) for a, b in todo)
        with tqdm(total=total, desc=f"diatomics {name}", unit="pt", disable=not progress) as bar:
            for a, b in todo:
                bar.set_postfix_str(pair_label(a, b))
                result = run_pair(potential, a, b, grid, tolerances, points_per_call, refine_jumps, bar.update,
                                  score_version, temperature_k)
                record = clean_json(pair_record(result))
                if record["errors"]:
                    log.warning("%s: %s", record["pair"], record["errors"][0])
                records[record["pair"]] = record
                if on_pair is not None:
                    on_pair(record)
    return {pair_label(a, b): records[pair_label(a, b)] for a, b in pairs}


def run_diatomics_to(
    out_dir: str | Path,
    model: str,
    pairs: Sequence[tuple[str, str]],
    grid: DiatomicGrid = DiatomicGrid(),
    points_per_call: int = 100,
    refine_jumps: bool = True,
    progress: bool = True,
    resume: bool = False,
    report_metric: str | None = "force-flip-times",
    skip_unsupported: bool | None = None,
    score_version: str = "v1",
    temperature_k: float | None = None,
) -> dict:
    """``bsct diatomics`` as a library call: every pair of ``model`` (a SPEC) into
    ``out_dir/diatomics.json``, saved after each pair, then (``report_metric``, an MLIP Arena
    metric name or ``bsct_score`` for the heat map) ``plots/`` and ``report.html``.

    ``resume=True`` keeps the pairs of a saved ``diatomics.json`` of the same model, potential
    (:func:`~bsct.registry.potential_identity`) and grid, retries its failed pairs, and refuses
    (:class:`~bsct.runs.ResumeMismatchError`) one of another. Pairs with an element the model
    declares it does not support are refused (:class:`~bsct.data.validate.UnsupportedElement`),
    or, with ``skip_unsupported`` (default: when ``pairs`` sweep the whole periodic table, as
    ``--elements all``), left out and listed under ``unsupported_pairs``. ``score_version="v2"``
    scores each curve with BSCT v2 (docs/metrics_v2.md; a dimer: every point scored, forces past
    the cutoff tested), also weighted at ``temperature_k``; the file then says ``score_version``
    (a v1 file is what it always was). Returns the document written.
    """
    from bsct.metrics.arena import METRIC_NAMES
    from bsct.registry import load_potential, potential_identity

    if report_metric is not None and report_metric not in METRIC_NAMES + ("bsct_score",):
        raise ValueError(f"--metric {report_metric!r}: choose from {', '.join(METRIC_NAMES)}, bsct_score")
    check_score_version(score_version, temperature_k)
    v2 = {"score_version": score_version, "temperature_k": temperature_k} if score_version == "v2" else {}
    t_start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "diatomics.json"
    identity = potential_identity(model)  # a retrained checkpoint at one path differs
    done: dict = {}
    if resume and json_path.exists():
        old = json.loads(json_path.read_text())
        check_resume({"model": old.get("model"), "potential": old.get("potential"), "grid": old.get("grid"),
                      "score_version": old.get("score_version", "v1"), "temperature_k": old.get("temperature_k")},
                     {"model": model, "potential": identity, "grid": clean_json(vars(grid)),
                      "score_version": score_version, "temperature_k": temperature_k}, json_path,
                     hint="use another --out or the same --model and --step")
        done = old["pairs"]
    potential = load_potential(model)
    if skip_unsupported is None:
        skip_unsupported = set(ALL_ELEMENTS) <= {a for a, b in pairs if a == b}
    skipped = unsupported_pairs(potential, pairs) if skip_unsupported else {}
    if skipped:
        log.warning("%s: %d pair(s) left out, model does not support their elements", model, len(skipped))
        pairs = [(a, b) for a, b in pairs if pair_label(a, b) not in skipped]
        if not pairs:
            raise UnsupportedElement("--elements/--pairs", None, f"model {model} supports none of the requested elements",
                                     sorted({s for missing in skipped.values() for s in missing}))
    data = {"schema": SCHEMA, "model": model, "potential": identity, "model_name": getattr(potential, "name", model),
            "cutoff_angstrom": potential.cutoff_angstrom, "grid": clean_json(vars(grid)), "versions": versions(),
            **v2, "pairs": dict(done)}
    if skipped:
        data["unsupported_pairs"] = skipped

    def save(record: dict | None = None) -> None:
        if record is not None:
            data["pairs"][record["pair"]] = record
        write_json(json_path, clean_json(data), indent=None)

    records = run_diatomics(potential, pairs, done, grid, points_per_call=points_per_call, refine_jumps=refine_jumps,
                            progress=progress, on_pair=save, name=model, **v2)
    data["pairs"] = records
    n_failed = sum(r["n_failed_points"] for r in records.values())
    if n_failed:  # only then, so a clean run's file is what it always was
        data["complete"] = False
        data["n_failed_points"] = n_failed
    data["timings"] = {"wall_seconds": time.perf_counter() - t_start,
                       "model_seconds": sum(r["model_seconds"] for r in records.values()),
                       "n_model_calls": sum(r["n_model_calls"] for r in records.values()),
                       "n_points": sum(r["n_points"] for r in records.values())}
    save()
    if report_metric is not None:
        from bsct.report.diatomics_plots import write_diatomics_report

        write_diatomics_report(data, out, report_metric)
    return data
