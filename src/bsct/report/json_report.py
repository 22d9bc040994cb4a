"""Versioned JSON of a BSCT run: config, software versions, timings, scores and every artifact."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

SCHEMA = "bsct.report/1"


def clean_json(value):
    """Strict-JSON copy: NaN/inf -> None, numpy and 0-d torch scalars -> Python numbers, keys -> str.

    The one converter every writer of the project uses (reports, study, MD, diatomics)."""
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | Path, data, indent: int | None = 1, newline: bool = False) -> Path:
    """Write ``data`` as JSON atomically: to a process-unique temporary file, then renamed, so a
    kill mid-write leaves the previous file and two processes writing the same file never mix."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=indent) + ("\n" if newline else ""))
    tmp.replace(path)
    return path


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
