"""Results of MD stability runs: one record per replica, the per-potential summary, and the
append-only JSONL file that makes a killed run resumable.

File layout (``md_runs.jsonl``): the first line is a header
``{"type": "header", "schema": SCHEMA, "protocol": {...}}`` describing everything that must
match for a resume (MD settings, criteria, model, structures); every further line is one
finished replica ``{"type": "run", ...}``, appended and flushed the moment it finishes.
:func:`save_summary` writes ``md_summary.json`` (and ``md_traces.png``) once all have finished.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bsct.runs import ResumeMismatchError, check_resume, clean_json, write_json

SCHEMA = "bsct.md/1"


@dataclass
class RunResult:
    """One replica.

    Attributes:
        replica: replica number (0..replicas-1); with the base seed it fixes the run.
        structure_index: index of the starting structure in the input list.
        seed: the seed of this replica's velocities and thermostat noise.
        n_atoms, formula: the system.
        stable: True when no criterion fired during the whole run.
        reason: the criterion that fired first (see ``bsct.md.criteria.REASONS``) or None.
        time_to_failure_ps: when it fired, from the start of the run (equilibration included), or None.
        detail: a human-readable account of the failure.
        simulated_ps: simulated time reached (the full duration for stable runs).
        drift_mev_per_atom: (E_tot(end) - E_tot(t0)) / N over the NVE part.
        max_abs_drift_mev_per_atom: max |E_tot(t) - E_tot(t0)| / N over the NVE part.
        drift_slope_mev_per_atom_per_ps: least-squares slope of E_tot/N over the NVE part.
        wall_clock_s: this replica's share of the wall-clock time (a batched step is split evenly
            among the replicas it advanced).
        n_force_calls: configurations evaluated for this replica (one per step, plus the start).
        engine: ``torch`` (batched) or ``ase``.
        trace: ``time_ps``, ``total_energy_ev``, ``potential_energy_ev``, ``temperature_k`` lists,
            sampled every ``record_every_steps`` and at the failure.
        production_start_ps: when NVE production began.
    """

    replica: int
    structure_index: int
    seed: int
    n_atoms: int
    formula: str
    stable: bool
    reason: str | None
    time_to_failure_ps: float | None
    detail: str
    simulated_ps: float
    drift_mev_per_atom: float
    max_abs_drift_mev_per_atom: float
    drift_slope_mev_per_atom_per_ps: float
    wall_clock_s: float
    n_force_calls: int
    engine: str
    production_start_ps: float
    trace: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return clean_json(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> "RunResult":
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("drift_mev_per_atom", "max_abs_drift_mev_per_atom", "drift_slope_mev_per_atom_per_ps"):
            if fields.get(key) is None:
                fields[key] = float("nan")
        return cls(**fields)


def summarize(runs: list[RunResult], duration_ps: float) -> dict:
    """Per-potential numbers from the runs.

    stable_fraction = n_stable / n_runs.
    mean_time_to_failure_ps: mean over all runs of the time to failure, a stable run counting as
        the full ``duration_ps`` (so 1.0 stable fraction gives exactly the duration).
    mean_time_to_failure_failed_ps: the same over failed runs only (None if none failed).
    mean_abs_drift_mev_per_atom / mean_abs_drift_slope_mev_per_atom_per_ps: mean of |drift| and
        |slope| over the runs that have an NVE part with finite values.
    wall_clock_s and n_force_calls: totals, for the BSCT/MD cost ratio.
    """
    n = len(runs)
    failed = [r for r in runs if not r.stable]
    reasons: dict[str, int] = {}
    for r in failed:
        reasons[r.reason] = reasons.get(r.reason, 0) + 1

    def _mean(values):
        vals = [abs(v) for v in values if v is not None and math.isfinite(v)]
        return float(np.mean(vals)) if vals else None

    ttf = [duration_ps if r.stable else r.time_to_failure_ps for r in runs]
    wall = float(sum(r.wall_clock_s for r in runs))
    calls = int(sum(r.n_force_calls for r in runs))
    return clean_json({
        "n_runs": n,
        "n_stable": n - len(failed),
        "stable_fraction": (n - len(failed)) / n if n else None,
        "mean_time_to_failure_ps": float(np.mean(ttf)) if n else None,
        "mean_time_to_failure_failed_ps": _mean([r.time_to_failure_ps for r in failed]),
        "mean_abs_drift_mev_per_atom": _mean([r.drift_mev_per_atom for r in runs]),
        "mean_abs_drift_slope_mev_per_atom_per_ps": _mean([r.drift_slope_mev_per_atom_per_ps for r in runs]),
        "failure_reasons": dict(sorted(reasons.items())),
        "duration_ps": duration_ps,
        "simulated_ps": float(sum(r.simulated_ps for r in runs)),
        "wall_clock_s": wall,
        "n_force_calls": calls,
        "force_calls_per_s": calls / wall if wall > 0 else None,
    })


class RunLog:
    """The append-only JSONL file of one MD stability study (see the module docstring)."""

    def __init__(self, path: str | Path, protocol: dict, resume: bool):
        self.path = Path(path)
        self.protocol = clean_json(protocol)
        self.done: dict[int, RunResult] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume and self.path.exists() and self.path.stat().st_size > 0:
            self._load()
        else:
            with self.path.open("w") as fh:
                fh.write(json.dumps({"type": "header", "schema": SCHEMA, "protocol": self.protocol}) + "\n")

    def _load(self) -> None:
        lines = self.path.read_text().splitlines()
        header = json.loads(lines[0])
        if header.get("schema") != SCHEMA or header.get("type") != "header":
            raise ResumeMismatchError(f"{self.path}: not a {SCHEMA} run log")
        check_resume(header["protocol"], self.protocol, self.path)
        good = [lines[0]]
        for line in lines[1:]:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by the kill; that replica simply runs again
            if record.get("type") == "run":
                run = RunResult.from_dict(record)
                self.done[run.replica] = run
                good.append(line)
        # Rewrite without the broken tail so appends start on a clean line.
        self.path.write_text("\n".join(good) + "\n")

    def append(self, run: RunResult) -> None:
        with self.path.open("a") as fh:
            fh.write(json.dumps({"type": "run", **run.to_dict()}) + "\n")
            fh.flush()
        self.done[run.replica] = run


def save_summary(result, out_dir: str | Path, data: str | Path | None = None, plot: bool = True) -> Path:
    """Write ``md_summary.json`` (the result without the per-replica traces, which live in
    ``md_runs.jsonl``; ``data`` recorded as where the structures came from) and, with ``plot``,
    ``md_traces.png``. ``result`` is a :class:`bsct.md.run.MDStabilityResult`. Returns the JSON path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = result.to_dict()
    for run_doc in doc["runs"]:
        run_doc.pop("trace", None)
    if data is not None:
        doc["data"] = str(data)
    path = write_json(out / "md_summary.json", doc, indent=2, newline=True)
    if plot:
        from bsct.report.md_plots import plot_md_traces

        plot_md_traces(result).savefig(out / "md_traces.png", dpi=120)
    return path
