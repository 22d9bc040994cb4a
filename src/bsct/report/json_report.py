"""Versioned JSON of a BSCT run: config, software versions, timings, scores and every artifact."""

from __future__ import annotations

import dataclasses

from bsct.metrics.bsct_v2 import artifact_strength
from bsct.runs import clean_json

SCHEMA = "bsct.report/1"
SCHEMA_V2 = "bsct.report/2"
N_FAILED_MESSAGES = 5
"""How many failure messages the top level of an incomplete report quotes (every bond keeps all)."""


def _bond_head(c, a) -> dict:
    """Which bond and how it was scanned (the first keys of every bond record, both versions)."""
    return {
        "label": c.label,
        "bond_type": c.bond_type,
        "structure_idx": c.structure_idx,
        "atoms": [c.i, c.j],
        "mode": c.mode,
        "r0_angstrom": c.r0_angstrom,
        "r_eq_angstrom": a.r_eq_angstrom,
        "r_range_angstrom": [float(c.r_angstrom[0]), float(c.r_angstrom[-1])],
        "n_points": len(c.r_angstrom),
    }


def _results(report) -> dict:
    """The middle of the top level, both versions: cutoff, per type, bonds found (and how many of
    them are symmetry-distinct, when the choice was made among those) and scanned."""
    distinct = report.selection.counts_distinct
    return {
        "cutoff_angstrom": report.cutoff_angstrom,
        "per_type": report.per_type,
        "bonds_found": report.selection.counts_found,
        **({"bonds_distinct": distinct} if distinct is not None else {}),
        "bonds_scanned": report.selection.counts_chosen,
        "n_artifacts": len(report.artifacts),
    }


def _run(report, bonds: list[dict]) -> dict:
    """The end of the top level, both versions: timings, config, versions and the bonds."""
    return {
        "timings": {
            "wall_seconds": report.wall_seconds,
            "model_seconds": report.model_seconds,
            "resumed_model_seconds": report.resumed_model_seconds,
            "n_model_calls": report.n_model_calls,
            "n_points": report.n_points,
        },
        "config": report.config.to_dict(),
        "versions": report.versions,
        "bonds": bonds,
    }


def report_to_dict(report) -> dict:
    """The stable, documented JSON form of a :class:`bsct.scan.api.BSCTReport` (docs/metrics.md).

    v1 (``bsct.report/1``): keys as they always were; a run with failed evaluations adds
    ``complete: false``, ``n_failed_points`` and ``failed_evaluations`` (top level) and
    ``n_failed_points`` per bond. v2: :func:`report_to_dict_v2`.
    """
    if report.config.score_version == "v2":
        return report_to_dict_v2(report)
    bonds = []
    for res in report.results:
        c, a = res.curve, res.analysis
        bonds.append({
            **_bond_head(c, a),
            "score": a.score,
            "components": a.components,
            "summary": a.summary,
            "mlip_arena": a.peer_metrics,
            "errors": c.errors,
            "eval_seconds": c.eval_seconds,
            "n_model_calls": c.n_model_calls,
            "artifacts": [dataclasses.asdict(x) for x in a.artifacts],
        })
        if not report.complete:
            bonds[-1]["n_failed_points"] = c.n_failed_points
    failed = {} if report.complete else {
        "complete": False,
        "n_failed_points": report.n_failed_points,
        "failed_evaluations": report.failed_evaluations(N_FAILED_MESSAGES),
    }
    return clean_json({
        "schema": SCHEMA,
        "model": report.model,
        "score": report.score,
        **_results(report),
        **failed,
        **_run(report, bonds),
    })


def _detection(d) -> dict:
    return {"kind": d.kind, "r_angstrom": d.r_angstrom, "size": d.size, "unit": d.unit, "threshold": d.threshold,
            "detail": d.detail}


def merged_artifact(m) -> dict:
    """One v2 artifact: the primary (v1's fields), its threshold, strength, severity and evidence."""
    return {**dataclasses.asdict(m.artifact), "threshold": m.primary.threshold, "strength": artifact_strength(m),
            "energy_above_min_ev": m.energy_above_min_ev, "weight": m.weight,
            "evidence": [_detection(d) for d in m.evidence]}


def _noise(analysis, r) -> list[dict]:
    return [{"r_range_angstrom": list(span), "energy_ev": n.energy_ev, "force_ev_per_angstrom": n.force_ev_per_angstrom,
             "energy_local_max_ev": float(n.energy_local_ev.max()),
             "force_local_max_ev_per_angstrom": float(n.force_local_ev_per_angstrom.max())}
            for span, n in zip(analysis.stretches(r), analysis.result.noise)]


def report_to_dict_v2(report) -> dict:
    """``bsct.report/2``: v1's layout with, per bond, both scores, the temperature, the scored range,
    the noise of each scored stretch, merged artifacts (primary kind and evidence) and failed
    points; at the top, both overall scores and whether every evaluation succeeded."""
    bonds = []
    for res in report.results:
        c, a = res.curve, res.analysis
        bonds.append({
            **_bond_head(c, a),
            "score_version": "v2",
            "score": a.score,
            "weighted_score": a.weighted_score,
            "temperature_k": a.temperature_k,
            "scored_range_angstrom": list(a.scored_range_angstrom),
            "n_scored_points": a.result.n_scored,
            "n_excluded_by_collision_guard": int((~a.guard).sum()),
            "n_failed_points": c.n_failed_points,
            "noise": _noise(a, c.r_angstrom),
            "mlip_arena": a.peer_metrics,
            "errors": c.errors,
            "eval_seconds": c.eval_seconds,
            "n_model_calls": c.n_model_calls,
            "artifacts": [merged_artifact(m) for m in a.merged],
        })
    return clean_json({
        "schema": SCHEMA_V2,
        "score_version": "v2",
        "model": report.model,
        "score": report.score,
        "weighted_score": report.weighted_score,
        "temperature_k": report.config.temperature_k,
        "complete": report.complete,
        "n_failed_points": report.n_failed_points,
        "failed_evaluations": report.failed_evaluations(N_FAILED_MESSAGES),
        **_results(report),
        **_run(report, bonds),
    })
