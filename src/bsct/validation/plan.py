"""The plan: timing runs, the projected cost of the whole protocol per family, and the protocol's
budget rule applied to it mechanically (``[budget]``).

A timing run is a few MD steps of one model on one system's starts, all replicas of a unit at
once where the engine batches them (torch), one replica where it does not (ASE calculators run
them one after another); trajectories are not looked at. A Transformer's cost does not depend on
its weights, so an untrained model of each zoo configuration is timed (training is not in the
projection: it is reported apart). The projection is MD only:

    hours(unit) = seconds per step x steps per replica x replicas / replicas per timed step / 3600

for every (potential, system, T) of a family, at the registered and at the primitive starts.
The rule: if the trained families project over ``aim_worker_hours`` at the registered starts,
the crystal starts become the primitive 2x2x2 cells; pretrained families run only where a GPU
is lent, else they are "not run" (dropped, never reassigned).
"""

from __future__ import annotations

import logging
from pathlib import Path

from bsct.runs import safe_name
from bsct.validation import steps
from bsct.validation.protocol import Protocol
from bsct.validation.zoo import Zoo, ZooPotential, size_key

log = logging.getLogger(__name__)

#: Families whose weights come pretrained (run only where a GPU is lent, by the budget rule).
PRETRAINED = ("chgnet", "sevennet")


def _timed_model(p: Protocol, z: ZooPotential, out: Path) -> tuple[str, str]:
    """(label, SPEC) of the model a potential's MD cost is timed with."""
    if not z.trained:
        return z.spec, z.spec
    t = z.training
    if t.arch != "transformer":
        return "", ""  # an external architecture: timed only once it is trained (not here)
    label = f"transformer-{t.config_name}-{'-'.join(f'{k}={v}' for k, v in t.model_overrides)}-{t.system}"
    return label, str(out / "plan" / "models" / f"{safe_name(label)}.pt")


def _untrained_checkpoint(p: Protocol, z: ZooPotential, path: Path) -> None:
    """An untrained Transformer of the potential's configuration and size, for timing only."""
    from bsct.model.checkpoint import save_checkpoint
    from bsct.model.config import named_config
    from bsct.model.transformer import build_model
    from bsct.study.config import SIZES

    if path.exists():
        return
    elements = sorted({int(n) for name in p.systems[z.system].starts
                       for n in steps.build_starts([name], z.system)[0].numbers})
    size = SIZES[size_key(z.training.model_size)]
    cfg = named_config(z.training.config_name, **{**size.model_overrides, **dict(z.training.model_overrides),
                                                   "elements": tuple(elements)})
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, build_model(cfg, seed=0))


def seconds_per_step(p: Protocol, spec: str, label: str, system: str, start_set: str, n_steps: int, out: Path) -> dict:
    """One timing run (cached): the per-step time of a unit's batch (torch) or of one replica (ASE)."""
    return steps.timing_step(p, spec, label, system, start_set, n_steps, out)


def steps_per_replica(p: Protocol, system: str) -> int:
    dt = p.systems[system].timestep_fs
    return int(round((p.md.equilibration_ps + p.md.nve_ps) * 1000.0 / dt)) + 1


def make_plan(p: Protocol, zoo: Zoo, out: Path, n_steps: int) -> dict:
    """Time every kind of model, project the protocol's MD cost per family, apply the budget rule."""
    import torch

    timings: dict[tuple, dict] = {}
    projection: dict[str, dict] = {}
    candidates = [(f"reference:{sp.reference}", sp.reference, system, "references") for system, sp in p.systems.items()]
    for z in zoo.potentials:
        label, spec = _timed_model(p, z, out)
        candidates.append((label, spec, z.system, z.family, z))
    for entry in candidates:
        label, spec, system, family = entry[:4]
        fam = projection.setdefault(family, {"units": 0, "registered_hours": 0.0, "primitive_hours": 0.0,
                                             "timed": True, "trained": False, "cannot_run": {}})
        z = entry[4] if len(entry) > 4 else None
        fam["trained"] = fam["trained"] or bool(z is not None and z.trained)
        if system not in p.systems:
            continue
        if not spec:
            fam["timed"] = False
            continue
        if z is not None and z.trained:
            _untrained_checkpoint(p, z, Path(spec))
        n_t = len(p.systems[system].temperatures_k)
        for start_set in steps.START_SETS:
            key = (label, system, start_set)
            if key not in timings:
                try:
                    timings[key] = seconds_per_step(p, spec, label, system, start_set, n_steps, out)
                except (ValueError, ImportError, RuntimeError) as exc:  # a model that cannot be built here
                    timings[key] = {"error": f"{type(exc).__name__}: {exc}"}
            t = timings[key]
            if "error" in t:
                fam["cannot_run"][label] = t["error"]
                break
            replicas = p.md.seeds_per_start * len(p.systems[system].starts)
            hours = t["seconds_per_step"] * steps_per_replica(p, system) * replicas / t["replicas_per_step"] / 3600.0
            fam[f"{start_set}_hours"] += n_t * hours
        else:
            fam["units"] += n_t
    trained = {f: v for f, v in projection.items() if v["trained"]}
    trained_registered = sum(v["registered_hours"] for v in trained.values())
    shrink = p.shrink_allowed and trained_registered > p.aim_worker_hours
    start_set = "primitive" if shrink else "registered"
    gpu = torch.cuda.is_available()
    not_run = {} if gpu else {f: "not run: no GPU lent here (budget rule: pretrained families run where a GPU is lent)"
                              for f in projection if f in PRETRAINED}
    decision = {
        "aim_worker_hours": p.aim_worker_hours, "trained_families": sorted(trained),
        "trained_registered_hours": trained_registered,
        "trained_primitive_hours": sum(v["primitive_hours"] for v in trained.values()),
        "shrink": shrink, "shrink_allowed": p.shrink_allowed, "start_set": start_set, "gpu": gpu, "not_run": not_run,
        "total_hours_as_decided": sum(v[f"{start_set}_hours"] for f, v in projection.items() if f not in not_run),
    }
    return {"timing_steps": n_steps, "projection": projection, "decision": decision, "dropped": zoo.dropped,
            "timings": [{"model": k[0], "system": k[1], "start_set": k[2], **v} for k, v in timings.items()],
            "note": "MD of the ground truth only: training, BSCT, FSD and the short NVE runs are not in the projection"}


def plan_lines(record: dict) -> list[str]:
    d = record["decision"]
    lines = ["projected worker-hours of the MD ground truth (registered starts / primitive starts):"]
    for family, v in record["projection"].items():
        hours = (f"{v['registered_hours']:8.3g} / {v['primitive_hours']:8.3g} h" if v["timed"]
                 else "not timed (no trained model here)")
        lines.append(f"  {family:24s} {v['units']:4d} units  {hours}")
    lines.append(f"trained families: {d['trained_registered_hours']:.1f} h at the registered starts vs the aim of "
                 f"{d['aim_worker_hours']:g} h -> {'SHRINK: crystal starts become primitive 2x2x2 cells' if d['shrink'] else 'no shrink (shrink rule withdrawn)' if not d.get('shrink_allowed', True) else 'no shrink'}"
                 f" ({d['trained_primitive_hours']:.1f} h at the primitive starts)")
    for family, v in record["projection"].items():
        for label, why in v["cannot_run"].items():
            lines.append(f"  {family}: {label} cannot run here ({why}); not in the projection")
    for family, why in d["not_run"].items():
        lines.append(f"  {family}: {why}")
    for family, why in record["dropped"].items():
        lines.append(f"  dropped {family}: {why}")
    lines.append(f"total as decided: {d['total_hours_as_decided']:.1f} worker-hours (MD only)")
    return lines
