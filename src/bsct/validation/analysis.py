"""The analysis stage: the study's two tables (the data contract of
:mod:`bsct.metrics.validation_stats`), the costs, then the pre-registered analysis and its report.

``units.csv``: potential, family, split, system, temperature_k, ``pred:<name>`` (higher = less
stable), any_failure, conservation_failure, structural_failure, failure_fraction, n_replicas.
``replicas.csv``: potential, system, temperature_k, replica, time_ps, failed, reason, failure_class.

No interim analysis (``[budget] interim_analysis``): the full tier refuses while zoo units are
missing unless the run is declared stopped (``--stopped``); then the missing units are reported
by family.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from bsct.runs import BadInput, NotCached, cached_only, reset_cached_only, write_json
from bsct.validation import steps
from bsct.validation.predictor_stage import fsd_set_root, predictor_values, predictors_of
from bsct.validation.protocol import Protocol
from bsct.validation.zoo import Zoo


UNIT_COLUMNS = ("potential", "family", "split", "system", "temperature_k")
OUTCOME_COLUMNS = ("any_failure", "conservation_failure", "structural_failure", "failure_fraction", "n_replicas")
REPLICA_COLUMNS = ("potential", "system", "temperature_k", "replica", "time_ps", "failed", "reason", "failure_class")


def unit_outcomes(replicas: list[dict]) -> dict:
    """The protocol's ``[outcomes]`` of one unit from its replica records."""
    n = len(replicas)
    return {"any_failure": any(r["failed"] for r in replicas),
            "conservation_failure": any(r["failure_class"] == "conservation" for r in replicas),
            "structural_failure": any(r["failure_class"] == "structural" for r in replicas),
            "failure_fraction": sum(r["failed"] for r in replicas) / n if n else float("nan"), "n_replicas": n}


def _write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows([{k: ("" if r.get(k) is None else r.get(k)) for k in columns} for r in rows])
    tmp.replace(path)


def collect(p: Protocol, zoo: Zoo, out: Path, start_set: str, not_run: dict) -> dict:
    """Units, replicas and costs of every finished potential; the missing units by family."""
    units, replicas, costs, missing = [], [], [], {}
    fsd_roots = {s: str(fsd_set_root(p, out, s)) for s in p.systems}
    token = cached_only(True)  # read what the stages wrote, compute nothing
    try:
        for z in (z for z in zoo.potentials if z.family not in not_run):
            temps = p.systems[z.system].temperatures_k
            paths = [steps.unit_dir(out, z, t) / "md.json" for t in temps]
            try:
                record = predictors_of(p, z, out, start_set, fsd_roots)
            except NotCached:
                record = None
            if record is None or not all(path.exists() for path in paths):
                missing.setdefault(z.family, []).append(f"{z.system}/{z.name}")
                continue
            costs.append({"potential": z.name, "system": z.system, **record["cost"]})
            for t, path in zip(temps, paths):
                reps = json.loads(path.read_text())["replicas"]
                units.append({"potential": z.name, "family": z.family, "split": z.split, "system": z.system,
                              "temperature_k": t, **{f"pred:{k}": v for k, v in predictor_values(p, record, t).items()},
                              **unit_outcomes(reps)})
                replicas += [{"potential": z.name, "system": z.system, "temperature_k": t, **r} for r in reps]
    finally:
        reset_cached_only(token)
    return {"units": units, "replicas": replicas, "costs": costs, "missing": missing}


def _read_tables(units_csv: Path, replicas_csv: Path):
    import pandas as pd

    units = pd.read_csv(units_csv)
    replicas = pd.read_csv(replicas_csv, keep_default_na=False, na_values={"time_ps": [""]})
    for col in ("any_failure", "conservation_failure", "structural_failure"):
        units[col] = units[col].astype(bool)
    replicas["failed"] = replicas["failed"].astype(str) == "True"
    return units, replicas


def _analyse(units, replicas, p: Protocol):
    """The pre-registered analysis (bsct.metrics.validation_analysis.analyse) of the two tables."""
    from bsct.metrics.validation_analysis import analyse

    return analyse(units, replicas, p.raw), "done"


def _amendment_notes(p: Protocol) -> list[str]:
    return [f"{a.get('number', i + 1)} ({a.get('date', '?')}): " + "; ".join(a.get("changes", ()))
            for i, a in enumerate(p.amendments)]


def _report(result, units, replicas, out: Path, meta: dict, p: Protocol) -> list[str]:
    """validation.md and its figures (bsct.report.validation_report / validation_plots); the lines to print."""
    from bsct.report.validation_plots import validation_figures
    from bsct.report.validation_report import validation_markdown

    d = result.to_dict()
    figures_dir = out / "figures"
    figures_dir.mkdir(exist_ok=True)
    captions = {}
    for stem, fig in validation_figures(units, replicas, d["thresholds"]).items():
        fig.savefig(figures_dir / f"{stem}.png", dpi=110)
        captions[stem] = f"figures/{stem}.png"
    md = validation_markdown(d, protocol_commit=meta["protocol_hash"], amendments=_amendment_notes(p),
                             command=f"bsct validate --tier {meta['tier']} --out {out}", figures=captions)
    (out / "validation.md").write_text(_header(meta) + md)
    return [f"validation report: {out / 'validation.md'}, figures in {figures_dir}"]


def _header(meta: dict) -> str:
    lines = [f"Protocol {meta['protocol']} at commit `{meta['protocol_hash']}`, tier {meta['tier']}."]
    if meta["tier"] == "ci":
        lines.append("**ci tier: not evidence** (the protocol with the ci override table, for CI and smoke runs).")
    if meta["missing"]:
        lines.append("Run declared stopped; missing units by family: "
                     + "; ".join(f"{f}: {len(v)}" for f, v in meta["missing"].items()))
    return "\n\n".join(lines) + "\n\n"


def stage_analysis(p: Protocol, cfg, zoo: Zoo, protocol_hash: str):
    from bsct.validation.run import StageResult, runnable_potentials, start_set_in_force

    out = Path(cfg.out_dir)
    start_set = start_set_in_force(out)
    if start_set is None:
        raise BadInput(f"{out}: no plan yet (run --stage plan, zoo and predictors first)")
    _, not_run = runnable_potentials(zoo, out)
    data = collect(p, zoo, out, start_set, not_run)
    if data["missing"] and p.tier == "full" and not cfg.stopped:
        counts = ", ".join(f"{f}: {len(v)}" for f, v in data["missing"].items())
        raise BadInput(f"zoo units are missing ({counts}); the protocol allows no interim analysis: finish the "
                       "zoo and predictors stages, or declare the run stopped with --stopped")
    pred_cols = sorted({k for u in data["units"] for k in u if k.startswith("pred:")},
                       key=lambda k: list(data["units"][0]).index(k))
    _write_csv(out / "units.csv", data["units"], list(UNIT_COLUMNS) + pred_cols + list(OUTCOME_COLUMNS))
    _write_csv(out / "replicas.csv", data["replicas"], list(REPLICA_COLUMNS))
    meta = {"protocol": p.path, "protocol_hash": protocol_hash, "tier": p.tier, "dropped": zoo.dropped,
            "not_run": not_run, "missing": data["missing"], "n_units": len(data["units"]),
            "ci_tier": "not evidence" if p.tier == "ci" else None}
    if data["units"]:
        units, replicas = _read_tables(out / "units.csv", out / "replicas.csv")
        result, status = _analyse(units, replicas, p)
    else:
        result, status = None, "no units"
    write_json(out / "validation.json", {**meta, "analysis_status": status, "cost": data["costs"],
                                         "analysis": result.to_dict() if result is not None else None})
    lines = [f"analysis: {len(data['units'])} units, {len(data['replicas'])} replicas -> {out / 'units.csv'}, "
             f"{out / 'replicas.csv'}; analysis {status}"]
    if result is not None:
        lines += _report(result, units, replicas, out, meta, p)
    return StageResult("analysis", meta, lines)
