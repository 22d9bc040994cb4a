"""The predictors of the validation study, per (potential, system), and what each cost.

BSCT v1 and v2 are computed from *one* set of scans (v2's, which record the third-atom distances
its collision guard needs): v1's detectors are re-run on the same curves, and v2 at each MD
temperature re-weights the scan's own v2 artifacts (detection does not depend on T), so the BSCT
cost is one scan set plus the jump refinements of v1 and v2. A counting
wrapper around the potential counts every evaluation (frames and atoms): the cost-matched short
NVE run gets as many atom evaluations as BSCT used (``[predictors.short_nve]``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np

from bsct.runs import cached_step
from bsct.validation.protocol import Protocol


class CountingPotential:
    """A batched potential that counts what it evaluates (calls, frames, atoms) and forwards
    everything else (cutoff, conservative, supported elements, ...) to the wrapped one."""

    def __init__(self, potential, name: str | None = None):
        self._inner = potential
        self._counts = {"calls": 0, "frames": 0, "atoms": 0}
        self.name = name or getattr(potential, "name", type(potential).__name__)

    def __call__(self, batch):
        self._counts["calls"] += 1
        self._counts["frames"] += int(batch.n_systems)
        self._counts["atoms"] += int(batch.n_atoms)
        return self._inner(batch)

    def __getattr__(self, name):
        return getattr(self._inner, name)

    @property
    def counts(self) -> dict:
        return dict(self._counts)


def short_nve_steps(budget_atom_evaluations: int, atoms_per_replica, equilibration_steps: int,
                    max_nve_steps: int) -> tuple[int, int]:
    """(equilibration steps, NVE steps) of the cost-matched short NVE run.

    One MD step of the run evaluates every replica once, ``sum(atoms_per_replica)`` atoms, plus one
    evaluation of the start: the run may take ``budget // sum(atoms)`` evaluations in all. The
    equilibration is fixed; NVE gets what is left, at least 1 step and at most the ground truth's
    ``max_nve_steps``."""
    per_step = int(sum(atoms_per_replica))
    total = budget_atom_evaluations // per_step if per_step else 0
    nve = total - 1 - equilibration_steps
    return equilibration_steps, int(min(max(nve, 1), max_nve_steps))


def short_nve_value(replicas: list[dict], drift_threshold: float, slope_threshold: float | None) -> float:
    """The short-NVE predictor: fraction of replicas failed + (1/n) x the mean over the stable ones
    of max(criterion value / threshold) over the conservation criteria tested (each < 1), so one
    more failed replica always outranks any drift of the stable ones. ``slope_threshold`` None:
    the run was shorter than the slope criterion's window (not tested)."""
    n = len(replicas)
    failed = sum(r["failed"] for r in replicas)
    ratios = []
    for r in replicas:
        if r["failed"]:
            continue
        values = [abs(r["max_abs_drift_mev_per_atom"] or 0.0) / drift_threshold]
        slope = r["drift_slope_mev_per_atom_per_ps"]
        if slope_threshold is not None and slope is not None and math.isfinite(slope):
            values.append(abs(slope) / slope_threshold)
        ratios.append(max(values))
    return failed / n + (float(np.mean(ratios)) / n if ratios else 0.0)


def _type_mean(bond_types: list[str], values: list[float]) -> float:
    """Mean over bond types of the mean over that type's scans (finite values), as BSCT's score."""
    per_type = []
    for t in sorted(set(bond_types)):
        vals = [v for bt, v in zip(bond_types, values) if bt == t and np.isfinite(v)]
        if vals:
            per_type.append(float(np.mean(vals)))
    return float(np.mean(per_type)) if per_type else float("nan")


def bsct_scores(spec: str, frames, bsct: dict, temperatures_k, seed: int = 0) -> dict:
    """BSCT v1, v2 (unweighted and at each T) and every component of each, from one scan set."""
    from bsct.metrics.bsct_v2 import artifact_strength, weighted_score_at
    from bsct.metrics.detectors import Tolerances
    from bsct.metrics.scan_metrics import COMPONENTS, analyse_curve
    from bsct.registry import load_potential
    from bsct.scan.api import BSCTConfig, run_bsct
    from bsct.scan.geometry import ScanRange
    from bsct.scan.runner import evaluate_points
    from bsct.study.steps import NO_CUTOFF_TERM_ANGSTROM

    t0 = time.perf_counter()
    potential = CountingPotential(load_potential(spec), spec)
    scan_range = ScanRange(n_points=bsct["points"], r_min_scale=bsct["r_min_scale"], r_max_scale=bsct["r_max_scale"],
                           past_cutoff_angstrom=NO_CUTOFF_TERM_ANGSTROM)
    # bond_symmetry="all": the protocol registered "v2 defaults at this commit", when v2 still chose
    # among all bonds; choosing among symmetry-distinct ones came later and would change which
    # bond of a vacancy start is scanned (the v1 re-run below uses the same bonds either way)
    # evaluate_unscored=True likewise, and because the v1 re-run below reads every point of the curve
    config = BSCTConfig(max_per_type=bsct["max_per_type"], seed=seed, scan_range=scan_range,
                        refine_jumps=bsct["jump_refine"], score_version="v2", bond_symmetry="all",
                        evaluate_unscored=True)
    report = run_bsct(potential, list(frames), config, progress=False)
    cutoff = report.cutoff_angstrom
    types = [res.curve.bond_type for res in report.results]
    v1_scores, v1_parts, v2_parts, at_t = [], {c: [] for c in COMPONENTS}, {}, {t: [] for t in temperatures_k}
    for res in report.results:
        def refine(r, geometry=res.geometry):
            return evaluate_points(potential, geometry, r)

        refine = refine if config.refine_jumps else None
        v1 = analyse_curve(res.curve, Tolerances(), cutoff, refine)
        v1_scores.append(v1.score)
        for c in COMPONENTS:
            v1_parts[c].append(float(np.log10(1.0 + max(v1.components.get(c, 0.0), 0.0))))
        for m in res.analysis.result.artifacts:
            v2_parts.setdefault(m.kind, [0.0] * len(report.results))
        for t in temperatures_k:  # the scan's own artifacts re-weighted: no second analysis, no model call
            at_t[t].append(weighted_score_at(res.analysis.result.artifacts, t))
    for i, res in enumerate(report.results):
        for m in res.analysis.result.artifacts:
            v2_parts[m.kind][i] += artifact_strength(m)
    counts = potential.counts
    return {"bsct_v1": _type_mean(types, v1_scores), "bsct_v2": report.score,
            "bsct_v2_at_T": {f"{t:g}": _type_mean(types, at_t[t]) for t in temperatures_k},
            "bsct_v1_component": {c: _type_mean(types, v) for c, v in v1_parts.items()},
            "bsct_v2_component": {k: _type_mean(types, v) for k, v in sorted(v2_parts.items())},
            "complete": report.complete, "n_scans": len(report.results),
            "cost": {"force_evaluations": counts["frames"], "atom_evaluations": counts["atoms"],
                     "model_calls": counts["calls"], "wall_seconds": time.perf_counter() - t0}}


def _test_frames(p: Protocol, system: str):
    from bsct.study.steps import study_frames

    return study_frames(system, "test", p.data_size)


def bsct_step(p: Protocol, spec: str, depends: str, system: str, pred_dir: Path) -> dict:
    from bsct.study.steps import bsct_frames

    temps = list(p.systems[system].temperatures_k)
    settings = {"potential": spec, "depends": depends, "bsct": p.bsct, "temperatures_k": temps, "data": p.data_size}
    return cached_step(pred_dir / "bsct.json", settings,
                       lambda: bsct_scores(spec, bsct_frames(_test_frames(p, system)), p.bsct, temps))


def force_rmse_step(p: Protocol, spec: str, depends: str, system: str, pred_dir: Path) -> dict:
    """Force RMSE (eV/Å) on the system's test split."""

    def compute() -> dict:
        from bsct.registry import load_potential
        from bsct.train.loss import errors_by_group

        t0 = time.perf_counter()
        errors, _ = errors_by_group(load_potential(spec), _test_frames(p, system))
        return {"force_rmse_ev_per_angstrom": errors["force_rmse_mev_per_angstrom"] / 1000.0,
                "energy_rmse_mev_per_atom": errors["energy_rmse_mev_per_atom"],
                "wall_seconds": time.perf_counter() - t0}

    return cached_step(pred_dir / "force_rmse.json", {"potential": spec, "depends": depends, "data": p.data_size},
                       compute)


def fsd_step(p: Protocol, spec: str, depends: str, fsd_root: Path, pred_dir: Path) -> dict:
    """Mean FSD on the system's FSD set (``bsct make-scans`` of the test split, reference-labelled)."""

    def compute() -> dict:
        from bsct.fsd.run import run_fsd

        t0 = time.perf_counter()
        result = run_fsd(spec, fsd_root, plots=False, progress=False)
        return {"fsd": result["mean"].get("full_smoothness"), "mean": result["mean"],
                "failures": result.get("failures", {}), "wall_seconds": time.perf_counter() - t0}

    return cached_step(pred_dir / "fsd.json", {"potential": spec, "depends": depends, "fsd_set": fsd_root.name},
                       compute)


def short_nve_step(p: Protocol, spec: str, depends: str, name: str, system: str, temperature_k: float,
                   start_set: str, budget_atoms: int, pred_dir: Path) -> dict:
    """The cost-matched short NVE run of one (potential, system, T) (``[predictors.short_nve]``)."""
    from bsct.validation import steps

    sn = p.short_nve
    names = steps.start_names(p, system, start_set)
    starts = steps.build_starts(names, system)
    dt = p.systems[system].timestep_fs
    atoms = [len(starts[k % len(starts)]) for k in range(sn.replicas)]
    eq_steps = int(round(sn.equilibration_ps * 1000.0 / dt))
    _, nve_steps = short_nve_steps(budget_atoms, atoms, eq_steps, int(round(p.md.nve_ps * 1000.0 / dt)))
    md_cfg = steps.md_config(p, system, temperature_k, replicas=sn.replicas, nve_ps=nve_steps * dt / 1000.0,
                             equilibration_ps=sn.equilibration_ps, seed=p.md.seed_base + sn.seed_offset,
                             n_starts=len(names))
    criteria = steps.criteria_of(p)
    settings = {"potential": spec, "depends": depends, "starts": list(names), "md": dataclasses.asdict(md_cfg),
                "criteria": criteria.to_dict(), "budget_atom_evaluations": budget_atoms}

    def compute() -> dict:
        t0 = time.perf_counter()
        result = steps.run_md(spec, starts, md_cfg, criteria, pred_dir / f"short_nve_T{temperature_k:g}", name)
        records = [steps.replica_record(r, p, criteria, temperature_k) for r in result.runs]
        slope = criteria.max_drift_slope_mev_per_atom_per_ps if md_cfg.time_ps >= criteria.min_slope_window_ps else None
        return {"short_nve": short_nve_value(records, criteria.max_energy_drift_mev_per_atom, slope),
                "nve_steps": nve_steps, "equilibration_steps": eq_steps, "replicas": records,
                "cost": {"force_evaluations": sum(r["n_force_calls"] for r in records),
                         "atom_evaluations": sum(r["n_atom_evaluations"] for r in records),
                         "wall_seconds": time.perf_counter() - t0}}

    return cached_step(pred_dir / f"short_nve_T{temperature_k:g}.json", settings, compute)
