"""FSD of a model on BSCT-SPICE style scans.

Raw predictions first, metrics from them: every finished system is cached in
``OUT/predictions/<BOND>_<ID>.npz`` (model energies and forces plus the FSD curves), so
``resume`` skips it. Torch potentials see many frames of many scans in one batched call; ASE
calculators (one frame at a time by nature) get one system per call of their own. With
``workers > 1`` the systems fan out over worker processes: ASE calculators always (one system
per task, each with a fresh calculator), batched potentials when the model is a SPEC that each
worker loads itself (the same groups of systems per call as in one process), so the result does
not depend on the number of workers.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import pickle
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from bsct.data.bsct_spice import (
    BadSystemError,
    SpiceScan,
    TooFewFramesError,
    sample_root,
    system_dirs,
    system_label,
)
from bsct.data.spice_cache import load_system
from bsct.data.validate import InvalidInput, check_elements
from bsct.fsd.metric import (
    FLAT_KEYS,
    METRIC_KEYS,
    flat_floor_from_dforce,
    force_smoothness_deviation,
)
from bsct.potentials.ase_adapters import CalculatorPotential
from bsct.potentials.evaluate import MAX_ATOMS_PER_CALL, evaluate
from bsct.potentials.protocol import BatchedPotential
from bsct.registry import ModelByCharge, potential_identity
from bsct.runs import check_resume, init_worker_signals, terminate_pool, versions, write_json, write_npz

log = logging.getLogger(__name__)

SCHEMA = "bsct.fsd/2"
CURVE_KEYS = ("r_angstrom", "energy_model_profile_ev", "energy_ref_profile_ev", "dforce_sq_model", "dforce_sq_ref",
              "log_ratio")


# ---------------------------------------------------------------- evaluation


def evaluate_scans(potential: BatchedPotential, scans: list[SpiceScan], max_atoms_per_call: int = MAX_ATOMS_PER_CALL):
    """[(energy (n_frames,), forces (n_frames, n_atoms, 3))] per scan, frames of several scans per call,
    and the message of the first failed call (None when none failed).

    A failed call is not retried frame by frame: one failed frame fails its system anyway.
    """
    ev = evaluate(potential, [a for s in scans for a in s.frames], max_atoms_per_call,
                  retry_frames=False, mark_non_finite=False)  # system_outcome names non-finite frames
    out, frame0 = [], 0
    for s in scans:
        n_frames, n_atoms = len(s.frames), len(s.frames[0])
        atom0 = ev.atom_offsets[frame0]
        out.append((ev.energy_ev[frame0 : frame0 + n_frames],
                    ev.forces_ev_per_angstrom[atom0 : atom0 + n_frames * n_atoms].reshape(n_frames, n_atoms, 3)))
        frame0 += n_frames
    return out, next(iter(ev.failures.values()), None)


def system_outcome(scan: SpiceScan, energy_ev, forces_ev_per_angstrom, eps_ev_per_angstrom: float,
                   eval_seconds: float) -> dict:
    """Metrics row, FSD curves and raw predictions of one system (what the cache stores)."""
    finite = np.isfinite(energy_ev) & np.isfinite(forces_ev_per_angstrom).all(axis=(1, 2))
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(f"model gave non-finite output at frame(s) {bad.tolist()} "
                         f"(r = {', '.join(f'{x:.3f}' for x in scan.r_angstrom[bad])} Å)")
    res = force_smoothness_deviation(scan.r_angstrom, forces_ev_per_angstrom, scan.forces_ref_ev_per_angstrom,
                                     scan.energy_ref_ev, scan.positions_angstrom, eps_ev_per_angstrom)
    flat = flat_floor_from_dforce(scan.r_angstrom, res.dforce_sq_ref, res.eq_idx, eps_ev_per_angstrom)
    row = {**res.metrics(), **flat, "bond_type": scan.bond_type, "n_atoms": len(scan.frames[0]), "n_frames": len(scan.frames),
           "n_dropped": scan.n_dropped, "charge": scan.charge, "r_eq_angstrom": res.r_eq_angstrom,
           "eval_seconds": float(eval_seconds)}
    curves = {"r_angstrom": scan.r_angstrom} | {k: getattr(res, k) for k in CURVE_KEYS[1:]}
    return {"label": scan.label, "status": "ok", "row": row, "curves": curves, "eq_idx": res.eq_idx,
            "energy_model_ev": np.asarray(energy_ev), "forces_model_ev_per_angstrom": np.asarray(forces_ev_per_angstrom)}


def evaluate_group(models: ModelByCharge, paths: list[Path], eps_ev_per_angstrom: float,
                   max_atoms_per_call: int) -> list[dict]:
    """Read and evaluate systems; a bad folder or a failing model gives an error outcome, not an exception."""
    outcomes, scans = [], []
    for path in paths:
        try:
            scans.append(load_system(path))  # parsed once per file content, then from the cache
        except TooFewFramesError as exc:  # well formed, but its reference failed almost everywhere
            outcomes.append({"label": system_label(path), "status": "failed", "error": str(exc)})
        except BadSystemError as exc:
            outcomes.append({"label": system_label(path), "status": "bad", "error": str(exc)})
    by_charge: dict[int, list[SpiceScan]] = {}
    for s in scans:
        by_charge.setdefault(s.charge, []).append(s)
    for charge, group in by_charge.items():
        start = time.perf_counter()
        try:
            group = _supported(models.get(charge), group, outcomes)
            if not group:
                continue
            preds, error = evaluate_scans(models.get(charge), group, max_atoms_per_call)
        except Exception as exc:  # noqa: BLE001 - a model that cannot be loaded for this charge
            error = f"{type(exc).__name__}: {exc}"
        if error is not None:
            if len(group) > 1:  # retry one by one so one failing system does not sink the group
                for s in group:
                    outcomes += evaluate_group(models, [_path_of(s, paths)], eps_ev_per_angstrom, max_atoms_per_call)
                continue
            outcomes.append({"label": group[0].label, "status": "failed", "error": error})
            continue
        seconds = (time.perf_counter() - start) / len(group)
        for s, (e, f) in zip(group, preds):
            try:
                outcomes.append(system_outcome(s, e, f, eps_ev_per_angstrom, seconds))
            except ValueError as exc:
                outcomes.append({"label": s.label, "status": "failed", "error": str(exc)})
    return outcomes


def _supported(potential, scans: list[SpiceScan], outcomes: list[dict]) -> list[SpiceScan]:
    """The scans whose elements ``potential`` declares it supports; the others become failed
    outcomes naming the element, without a model call (undeclared: the model call decides)."""
    keep = []
    for s in scans:
        try:
            check_elements(s.frames[:1], potential, source=s.label, probe=False)
        except InvalidInput as exc:
            outcomes.append({"label": s.label, "status": "failed", "error": exc.problem})
            continue
        keep.append(s)
    return keep


def _path_of(scan: SpiceScan, paths: list[Path]) -> Path:
    return next(p for p in paths if system_label(p) == scan.label)


_WORKER: dict = {}


def _init_worker(model, eps_ev_per_angstrom: float, max_atoms_per_call: int) -> None:
    init_worker_signals()
    threads = os.environ.get("OMP_NUM_THREADS")  # set by the parent (runs.configure_threads)
    if threads and threads.isdigit():
        import torch

        torch.set_num_threads(int(threads))  # a forked child keeps the parent's pool size otherwise
    _WORKER.update(models=ModelByCharge(model), eps=eps_ev_per_angstrom, max_atoms=max_atoms_per_call)


def _worker_task(paths: list[Path]) -> list[dict]:
    return evaluate_group(_WORKER["models"], paths, _WORKER["eps"], _WORKER["max_atoms"])


def _start_method() -> str:
    """Fork (instant start) when OpenMP is pinned to one thread; otherwise spawn, because a forked
    child of a process whose OpenMP pool is running (torch, tblite) can hang in libgomp."""
    if os.environ.get("OMP_NUM_THREADS") == "1" and "fork" in multiprocessing.get_all_start_methods():
        return "fork"
    return "spawn"


def _groups(paths: list[Path], max_atoms_per_call: int) -> list[list[Path]]:
    """Consecutive systems whose frames together fit one call (size from frame 0, n from partition)."""
    groups, current, size = [], [], 0
    for p in paths:
        try:
            with np.load(p / "partition.npz", allow_pickle=False) as part:
                n_frames = int(part["perturb_range"][2])
            n_atoms = int((p / "atoms_0.xyz").read_text().split("\n", 1)[0])
            atoms = n_frames * n_atoms
        except Exception:  # noqa: BLE001 - the reader will name the problem; keep the folder on its own
            atoms = max_atoms_per_call
        if current and size + atoms > max_atoms_per_call:
            groups.append(current)
            current, size = [], 0
        current.append(p)
        size += atoms
    return groups + ([current] if current else [])


# ---------------------------------------------------------------- cache


def prediction_path(out_dir: Path, label: str) -> Path:
    return Path(out_dir) / "predictions" / f"{label.replace('/', '_')}.npz"


def _plot_path(prediction_file: Path) -> Path:
    return prediction_file.parent.parent / "plots" / prediction_file.with_suffix(".png").name


def save_prediction(path: Path, outcome: dict, model_name: str, eps_ev_per_angstrom: float, identity: dict) -> None:
    """Atomic write, so a killed run never leaves a half-written system behind. ``identity``
    (:func:`~bsct.registry.potential_identity`) lets a resume refuse another potential."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"model": model_name, "potential": identity, "label": outcome["label"], "eps_ev_per_angstrom": eps_ev_per_angstrom,
            "eq_idx": outcome["eq_idx"], "row": outcome["row"]}
    write_npz(path, energy_model_ev=outcome["energy_model_ev"],
              forces_model_ev_per_angstrom=outcome["forces_model_ev_per_angstrom"],
              meta=np.asarray(json.dumps(meta)), **outcome["curves"])


def load_prediction(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        return {"label": meta["label"], "status": "ok", "row": meta["row"], "eq_idx": meta["eq_idx"],
                "model": meta["model"], "potential": meta.get("potential"), "eps_ev_per_angstrom": meta["eps_ev_per_angstrom"],
                "curves": {k: data[k] for k in CURVE_KEYS},
                "energy_model_ev": data["energy_model_ev"],
                "forces_model_ev_per_angstrom": data["forces_model_ev_per_angstrom"]}


def _cached(path: Path, system_path: Path, model_name: str, eps: float, identity: dict) -> dict:
    """A cached system; metrics recomputed from the cached forces when eps changed."""
    out = load_prediction(path)
    check_resume({"model": out["model"], "potential": out["potential"]}, {"model": model_name, "potential": identity},
                 path, f"written by another potential ({out['model']!r}, {out['potential']}), not {model_name!r} "
                       f"({identity}); use another --out or drop --resume")
    if out["eps_ev_per_angstrom"] != eps:
        scan = load_system(system_path)
        out = system_outcome(scan, out["energy_model_ev"], out["forces_model_ev_per_angstrom"], eps,
                             out["row"]["eval_seconds"])
        save_prediction(path, out, model_name, eps, identity)
        _plot_path(path).unlink(missing_ok=True)  # its curves changed
    return out


# ---------------------------------------------------------------- summary


def summarise(rows: dict[str, dict]) -> tuple[dict, dict]:
    """Means over systems of the nine official metrics (and the flat-model floor): per bond type and overall."""
    def means(rs: list[dict]) -> dict:
        keys = METRIC_KEYS + tuple(k for k in FLAT_KEYS if all(k in r for r in rs))  # caches before the floor lack it
        return {k: float(np.mean([r[k] for r in rs])) for k in keys} | {"n_systems": len(rs)}

    per_bond = {t: means([r for r in rows.values() if r["bond_type"] == t])
                for t in sorted({r["bond_type"] for r in rows.values()})}
    return per_bond, means(list(rows.values()))


def run_fsd(
    model,
    root: str | Path | None = None,
    out_dir: str | Path | None = None,
    *,
    bond_types: list[str] | None = None,
    limit_per_type: int | None = None,
    workers: int = 1,
    resume: bool = False,
    skip_bad: bool = False,
    eps_ev_per_angstrom: float = 1.0,
    max_atoms_per_call: int = MAX_ATOMS_PER_CALL,
    plots: bool = True,
    progress: bool = True,
    system_paths: list[str | Path] | None = None,
) -> dict:
    """FSD of ``model`` (SPEC, ASE calculator or batched potential) on the systems under ``root``.

    ``root`` defaults to the shipped subset (one system per bond type); ``system_paths`` names
    system folders explicitly instead (then ``root`` is only recorded). With ``out_dir``:
    ``fsd.json``, ``predictions/*.npz``, ``plots/*.png`` and ``report.html``. A malformed
    system raises :class:`BadSystemError` unless ``skip_bad``, which lists it under
    ``"skipped"``. Reference frames with a non-finite energy, force or coordinate are masked
    (``n_dropped`` per system); a system left with fewer than 3 frames, one holding an element the
    model declares it does not support, and one on which the model fails are listed under
    ``"failures"`` with the reason, and the others go on.
    Returns the content of fsd.json.
    """
    start = time.perf_counter()
    identity = potential_identity(model)
    models = ModelByCharge(model)
    probe = models.get(0)
    model_name = models.name
    if not isinstance(model, str) and hasattr(probe, "name"):
        model_name = str(probe.name)
    if system_paths is not None:
        dirs = [Path(p) for p in system_paths]
    else:
        dirs = system_dirs(root or sample_root(), bond_types, limit_per_type)
    out = Path(out_dir) if out_dir is not None else None
    outcomes: dict[str, dict] = {}
    pending: list[Path] = []
    for path in dirs:
        label = system_label(path)
        cache = prediction_path(out, label) if out is not None else None
        if resume and cache is not None and cache.exists():
            outcomes[label] = _cached(cache, path, model_name, eps_ev_per_angstrom, identity)
        else:
            pending.append(path)
    if resume and outcomes:
        log.info("resume: %d of %d system(s) already done in %s", len(outcomes), len(dirs), out)

    one_frame_calls = isinstance(probe, CalculatorPotential)
    # a batched potential reaches a worker only as its SPEC: a live model may hold threads or
    # state that does not survive pickling, and loading it per worker costs seconds, not minutes
    groups = [[p] for p in pending] if one_frame_calls else _groups(pending, max_atoms_per_call)
    use_pool = workers > 1 and len(groups) > 1 and (one_frame_calls or isinstance(model, str))
    if use_pool:
        try:
            pickle.dumps(model)
        except Exception:  # noqa: BLE001 - whatever pickling raises, evaluate here
            log.warning("model %s cannot be sent to worker processes; evaluating in this process", model_name)
            use_pool = False
    eval_start = time.perf_counter()
    bar = tqdm(total=len(pending), desc=f"FSD {model_name}", unit="system", disable=not progress)

    def handle(results: list[dict]) -> None:
        for o in results:
            if o["status"] == "bad" and not skip_bad:
                raise BadSystemError(f"{o['error']} (pass --skip-bad / skip_bad=True to skip it)")
            if o["status"] == "ok" and out is not None:
                cache = prediction_path(out, o["label"])
                save_prediction(cache, o, model_name, eps_ev_per_angstrom, identity)
                _plot_path(cache).unlink(missing_ok=True)  # a plot left from an earlier run is stale
            if o["status"] != "ok":
                log.error("%s: %s%s", o["label"], "skipped, " if o["status"] == "bad" else "", o["error"])
            outcomes[o["label"]] = o
            bar.update(1)

    try:
        if use_pool:
            ctx = multiprocessing.get_context(_start_method())
            with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                     initargs=(model, eps_ev_per_angstrom, max_atoms_per_call)) as pool:
                futures = [pool.submit(_worker_task, g) for g in groups]
                try:
                    for fut in as_completed(futures):
                        handle(fut.result())
                except BaseException:  # SIGINT/SIGTERM or an error: the workers must not outlive it
                    terminate_pool(pool)
                    raise
        else:
            for group in groups:
                handle(evaluate_group(models, group, eps_ev_per_angstrom, max_atoms_per_call))
    finally:
        bar.close()
    eval_seconds = time.perf_counter() - eval_start

    order = [system_label(p) for p in dirs]
    ok = {lab: outcomes[lab] for lab in order if outcomes[lab]["status"] == "ok"}
    if not ok:
        first = next((o["error"] for o in outcomes.values() if "error" in o), None)
        raise ValueError("FSD: no system could be evaluated" + (f" (first error: {first})" if first else ""))
    rows = {lab: o["row"] for lab, o in ok.items()}
    per_bond, mean = summarise(rows)
    n_new_frames = sum(outcomes[system_label(p)]["row"]["n_frames"] for p in pending
                       if outcomes[system_label(p)]["status"] == "ok")
    new_labels = {system_label(p) for p in pending}
    resumed_eval_seconds = sum(o["row"]["eval_seconds"] for lab, o in ok.items() if lab not in new_labels)
    result = {
        "schema": SCHEMA, "model": model_name, "data": str(root or sample_root()),
        "eps_ev_per_angstrom": eps_ev_per_angstrom,
        "systems": rows, "per_bond": per_bond, "mean": mean,
        "skipped": [{"system": lab, "error": outcomes[lab]["error"]} for lab in order if outcomes[lab]["status"] == "bad"],
        "failures": [{"system": lab, "error": outcomes[lab]["error"]} for lab in order
                     if outcomes[lab]["status"] == "failed"],
        "timings": {"wall_seconds": time.perf_counter() - start, "eval_seconds": eval_seconds,
                    "n_systems_evaluated": len(pending), "n_systems_from_cache": len(dirs) - len(pending),
                    "resumed_eval_seconds": resumed_eval_seconds,  # model time of the cached systems, when they ran
                    "n_frames_evaluated": n_new_frames, "workers": workers if use_pool else 1,
                    "frames_per_second": n_new_frames / eval_seconds if eval_seconds > 0 and n_new_frames else None},
        "versions": versions(),
    }
    if out is not None:
        from bsct.fsd.report import write_fsd_report

        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "fsd.json", result, indent=2)
        write_fsd_report(result, {lab: o["curves"] | {"eq_idx": o["eq_idx"]} for lab, o in ok.items()}, out,
                         plots=plots)
    return result
