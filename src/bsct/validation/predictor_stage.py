"""The predictors stage for one zoo potential: every predictor of ``[predictors]`` on its system,
and the cost of BSCT, of the short NVE runs and of the full MD protocol (records under
``OUT/predictors/SYSTEM/POTENTIAL/``)."""

from __future__ import annotations

import json
from pathlib import Path

from bsct.validation import predictors, steps
from bsct.validation.protocol import Protocol
from bsct.validation.zoo import ZooPotential, size_key


def fsd_set_root(p: Protocol, out: Path, system: str) -> Path:
    from bsct.study.config import SIZES

    size = SIZES[size_key(p.transformer.model_size)]
    return out / "predictors" / system / f"_fsd_set-{size.fsd_per_type}x{size.fsd_points}"


def make_fsd_sets(p: Protocol, systems, out: Path, progress: bool = False) -> dict:
    """The FSD set of each system (as the study makes it: ``make-scans`` of the test split, labelled by
    the reference method; sizes of the study size matching the Transformer's), made once before the tasks."""
    from bsct.data.reference import REFERENCES
    from bsct.fsd.sets import make_fsd_set
    from bsct.study.config import SIZES

    size = SIZES[size_key(p.transformer.model_size)]
    return {s: str(make_fsd_set(s, fsd_set_root(p, out, s), per_type=size.fsd_per_type, points=size.fsd_points,
                                seed=0, split="test", reference=REFERENCES[s], progress=progress))
            for s in systems}


def md_cost(out: Path, z: ZooPotential, temperatures_k) -> dict | None:
    """Summed cost of the potential's full MD protocol on its system (None until every unit ran)."""
    total = {"force_evaluations": 0, "atom_evaluations": 0, "wall_seconds": 0.0}
    for t in temperatures_k:
        path = steps.unit_dir(out, z, t) / "md.json"
        if not path.exists():
            return None
        for r in json.loads(path.read_text())["replicas"]:
            total["force_evaluations"] += r["n_force_calls"]
            total["atom_evaluations"] += r["n_atom_evaluations"]
            total["wall_seconds"] += r["wall_clock_s"]
    return total


def predictors_of(p: Protocol, z: ZooPotential, out: Path, start_set: str, fsd_roots: dict | None) -> dict:
    """Every predictor value of one potential on its system (v2 at T and short NVE per T), and costs."""
    spec, depends = steps.potential_ref_of(z, out)
    pred_dir = out / "predictors" / z.system / z.slug
    temps = p.systems[z.system].temperatures_k
    bsct = predictors.bsct_step(p, spec, depends, z.system, pred_dir)
    rmse = predictors.force_rmse_step(p, spec, depends, z.system, pred_dir)
    fsd = (predictors.fsd_step(p, spec, depends, Path(fsd_roots[z.system]), pred_dir)
           if fsd_roots and z.system in fsd_roots else {"fsd": None})
    budget = int(bsct["cost"]["atom_evaluations"])
    short = {f"{t:g}": predictors.short_nve_step(p, spec, depends, z.name, z.system, t, start_set, budget, pred_dir)
             for t in temps}
    return {"bsct": bsct, "force_rmse": rmse["force_rmse_ev_per_angstrom"], "fsd": fsd["fsd"],
            "short_nve": {t: s["short_nve"] for t, s in short.items()},
            "cost": {"bsct": bsct["cost"], "short_nve": {t: s["cost"] for t, s in short.items()},
                     "full_md": md_cost(out, z, temps)}}


def predictor_values(p: Protocol, record: dict, temperature_k: float) -> dict[str, float | None]:
    """The ``pred:<name>`` columns of one unit, in the order of ``[predictors] list`` (``*`` expanded)."""
    from bsct.metrics.merge import PRIORITY
    from bsct.metrics.scan_metrics import COMPONENTS

    b, t = record["bsct"], f"{temperature_k:g}"
    values: dict[str, float | None] = {}
    for name in p.predictors:
        if name == "bsct_v1_component:*":
            values.update({f"bsct_v1_component:{c}": b["bsct_v1_component"].get(c, 0.0) for c in COMPONENTS})
        elif name == "bsct_v2_component:*":
            values.update({f"bsct_v2_component:{k}": b["bsct_v2_component"].get(k, 0.0) for k in PRIORITY})
        elif name == "bsct_v2_at_T":
            values[name] = b["bsct_v2_at_T"][t]
        elif name in ("bsct_v1", "bsct_v2"):
            values[name] = b[name]
        elif name == "short_nve":
            values[name] = record["short_nve"][t]
        elif name in ("fsd", "force_rmse"):
            values[name] = record[name]
        else:
            raise ValueError(f"protocol: [predictors] list names {name!r}, which this runner does not compute")
    return values
