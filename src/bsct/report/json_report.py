"""Versioned JSON of a BSCT run: config, software versions, timings, scores and every artifact."""

from __future__ import annotations

import dataclasses

from bsct.runs import clean_json

SCHEMA = "bsct.report/1"


def report_to_dict(report) -> dict:
    """The stable, documented JSON form of a :class:`bsct.scan.api.BSCTReport` (docs/metrics.md)."""
    bonds = []
    for res in report.results:
        c, a = res.curve, res.analysis
        bonds.append({
            "label": c.label,
            "bond_type": c.bond_type,
            "structure_idx": c.structure_idx,
            "atoms": [c.i, c.j],
            "mode": c.mode,
            "r0_angstrom": c.r0_angstrom,
            "r_eq_angstrom": a.r_eq_angstrom,
            "r_range_angstrom": [float(c.r_angstrom[0]), float(c.r_angstrom[-1])],
            "n_points": len(c.r_angstrom),
            "score": a.score,
            "components": a.components,
            "summary": a.summary,
            "mlip_arena": a.peer_metrics,
            "errors": c.errors,
            "eval_seconds": c.eval_seconds,
            "n_model_calls": c.n_model_calls,
            "artifacts": [dataclasses.asdict(x) for x in a.artifacts],
        })
    return clean_json({
        "schema": SCHEMA,
        "model": report.model,
        "score": report.score,
        "cutoff_angstrom": report.cutoff_angstrom,
        "per_type": report.per_type,
        "bonds_found": report.selection.counts_found,
        "bonds_scanned": report.selection.counts_chosen,
        "n_artifacts": len(report.artifacts),
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
    })
