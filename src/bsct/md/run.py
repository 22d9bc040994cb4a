"""MD stability test: seeded replicas, thermostatted equilibration, NVE production, failure criteria.

Protocol (docs/md.md): each replica starts from one of the given structures (replica k uses
structure k mod n_structures), draws Maxwell-Boltzmann velocities at T with its own seed
(``ase.md.velocitydistribution``; centre-of-mass motion removed, and rotation for free
molecules), runs ``equilibration_ps`` of Langevin dynamics at T, then ``time_ps`` of NVE.
The criteria of :mod:`bsct.md.criteria` are checked throughout; a failed replica stops there.

Two engines:
    ``torch``  all replicas (up to ``max_batch_replicas``) in one flat batch, one potential call per
               step (BAOAB Langevin, then velocity Verlet; :mod:`bsct.md.integrators`).
    ``ase``    one replica at a time through ``ase.md.langevin.Langevin`` and
               ``ase.md.verlet.VelocityVerlet``; the natural path for ASE calculators, which
               evaluate one configuration per call anyway.
``auto`` picks ``ase`` for a :class:`~bsct.potentials.ase_adapters.CalculatorPotential` and
``torch`` otherwise.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from ase import Atoms, units

from bsct.data.validate import validate_structures
from bsct.md.criteria import StabilityCriteria, StabilityMonitor
from bsct.md.integrators import (
    MDState,
    init_state,
    kinetic_energy_ev,
    langevin_baoab_step,
    temperature_k,
    velocities_from_atoms,
    velocity_verlet_step,
)
from bsct.md.results import SCHEMA, RunLog, RunResult, save_summary, summarize
from bsct.potentials.ase_adapters import CalculatorPotential, TorchCalculator
from bsct.potentials.evaluate import evaluate
from bsct.potentials.protocol import AtomsBatch, PotentialOutput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MDConfig:
    """MD settings of a stability test.

    Attributes:
        temperature_k: target temperature of the initial velocities and of the thermostat.
        time_ps: NVE production length per replica.
        timestep_fs: None = 0.5 fs when any structure contains hydrogen, 1.0 fs otherwise.
        equilibration_ps: Langevin equilibration before NVE (0 to skip).
        friction_per_fs: Langevin friction γ (1/fs); 0.01/fs is a 100 fs relaxation time.
        replicas: number of replicas; replica k starts from structure k mod n_structures.
        seed: base seed; replica k uses ``replica_seed(seed, k)``.
        engine: ``auto``, ``torch`` (batched) or ``ase``.
        max_batch_replicas: torch engine: replicas per batch (None = all at once).
        record_every_steps: trace sampling (None = about 400 points per run).
        dtype: torch engine precision, ``float64`` or ``float32``.
        device: torch device of the batched engine.
    """

    temperature_k: float = 300.0
    time_ps: float = 10.0
    timestep_fs: float | None = None
    equilibration_ps: float = 0.5
    friction_per_fs: float = 0.01
    replicas: int = 8
    seed: int = 0
    engine: str = "auto"
    max_batch_replicas: int | None = None
    record_every_steps: int | None = None
    dtype: str = "float64"
    device: str = "cpu"

    def resolved_timestep_fs(self, structures: Sequence[Atoms]) -> float:
        if self.timestep_fs is not None:
            return float(self.timestep_fs)
        has_h = any(bool(np.any(a.numbers == 1)) for a in structures)
        return 0.5 if has_h else 1.0


@dataclass
class MDStabilityResult:
    """Everything one stability test produced.

    Attributes:
        model: the model's name (or SPEC).
        runs: one :class:`RunResult` per replica, ordered by replica.
        summary: see :func:`bsct.md.results.summarize`, plus ``n_model_calls`` of this session.
        protocol: the settings (MD config with the resolved timestep, criteria, structures).
    """

    model: str
    runs: list[RunResult]
    summary: dict
    protocol: dict = field(default_factory=dict)

    @property
    def stable_fraction(self) -> float:
        return self.summary["stable_fraction"]

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "model": self.model,
            "protocol": self.protocol,
            "summary": self.summary,
            "runs": [r.to_dict() for r in self.runs],
        }

    def save(self, out_dir: str | Path, data: str | Path | None = None, plot: bool = True) -> Path:
        """``md_summary.json`` and ``md_traces.png`` into ``out_dir``, as ``bsct md`` writes them
        (:func:`bsct.md.results.save_summary`); the replicas are already in ``md_runs.jsonl``."""
        return save_summary(self, out_dir, data, plot)


def replica_seed(seed: int, replica: int) -> int:
    """A 32-bit seed for replica k that differs between (seed, k) pairs even when seed + k agree."""
    return int(np.random.SeedSequence([int(seed), int(replica)]).generate_state(1)[0])


def structures_fingerprint(structures: Sequence[Atoms]) -> str:
    """Short hash of numbers, positions, cells and pbc (to refuse resuming on other data)."""
    h = hashlib.sha1()
    for a in structures:
        h.update(np.asarray(a.numbers, dtype=np.int64).tobytes())
        h.update(np.round(a.get_positions(), 6).tobytes())
        h.update(np.round(a.cell.array, 6).tobytes())
        h.update(np.asarray(a.pbc, dtype=bool).tobytes())
    return h.hexdigest()[:16]


def initial_structure(atoms: Atoms, temperature_k_: float, seed: int) -> Atoms:
    """A copy of ``atoms`` with seeded Maxwell-Boltzmann momenta at T (no COM drift; no rotation if free)."""
    from ase.md import velocitydistribution as vd

    out = Atoms(numbers=atoms.numbers, positions=atoms.get_positions(), cell=atoms.cell, pbc=atoms.pbc)
    rng = np.random.default_rng(seed)
    if hasattr(vd, "thermalize_momenta"):  # ase >= 3.29
        vd.thermalize_momenta(out, temperature_k_, rng=rng)
    else:  # pragma: no cover - older ase
        vd.MaxwellBoltzmannDistribution(out, temperature_K=temperature_k_, rng=rng)
    vd.Stationary(out)
    if not out.pbc.any() and len(out) > 2:
        vd.ZeroRotation(out)
    return out


# ------------------------------------------------------------------ force evaluation with guards


class _GuardedPotential:
    """Calls the potential on the systems that can be evaluated; the others get NaN.

    A system is skipped when its positions are non-finite or spread over more than
    ``max_span_angstrom`` (an exploded free molecule would make the neighbour search allocate
    a huge grid). If the batched call raises, each system is retried alone so only the
    offending one is marked (NaN energy, which the monitor reports as ``non_finite``).
    """

    def __init__(self, potential, max_span_angstrom: float = 500.0):
        self.potential = potential
        self.max_span_angstrom = max_span_angstrom
        self.n_model_calls = 0
        self.errors: dict[int, str] = {}  # row -> message, for the last call

    def __call__(self, batch: AtomsBatch) -> PotentialOutput:
        self.errors = {}
        pos, idx, n_sys = batch.positions_angstrom, batch.system_idx, batch.n_systems
        bad_atoms = (~torch.isfinite(pos).all(dim=1)).to(torch.int64)
        finite = torch.zeros(n_sys, dtype=torch.int64, device=pos.device).index_add(0, idx, bad_atoms) == 0
        lo = torch.full((n_sys, 3), math.inf, dtype=pos.dtype, device=pos.device).scatter_reduce(
            0, idx[:, None].expand(-1, 3), pos, reduce="amin")
        hi = torch.full((n_sys, 3), -math.inf, dtype=pos.dtype, device=pos.device).scatter_reduce(
            0, idx[:, None].expand(-1, 3), pos, reduce="amax")
        ok = finite & ((hi - lo).amax(dim=1) < self.max_span_angstrom)
        for s in torch.nonzero(~ok).flatten().tolist():
            self.errors[s] = "positions non-finite or exploded"
        energy = torch.full((n_sys,), math.nan, dtype=pos.dtype, device=pos.device)
        forces = torch.full_like(pos, math.nan)
        good = torch.nonzero(ok).flatten().tolist()
        if not good:
            return PotentialOutput(energy, forces)
        # one call for all; if it raises, each system alone. Non-finite output is left to the monitor.
        ev = evaluate(self.potential, batch if len(good) == n_sys else batch.select(good), None,
                      mark_non_finite=False)  # any model failure is a recorded MD failure
        self.n_model_calls += ev.n_model_calls
        for row, message in ev.failures.items():
            self.errors[good[row]] = f"potential raised {message}"
        sel = torch.as_tensor(good, dtype=torch.int64, device=pos.device)
        energy[sel] = torch.as_tensor(ev.energy_ev, dtype=pos.dtype, device=pos.device)
        forces[torch.isin(idx, sel)] = torch.as_tensor(ev.forces_ev_per_angstrom, dtype=pos.dtype, device=pos.device)
        return PotentialOutput(energy, forces)


# ------------------------------------------------------------------ engines


@dataclass
class _Plan:
    timestep_fs: float
    n_equilibration_steps: int
    n_production_steps: int
    record_every_steps: int

    @property
    def n_steps(self) -> int:
        return self.n_equilibration_steps + self.n_production_steps


class _Trace:
    def __init__(self):
        self.time_ps: list[float] = []
        self.total_energy_ev: list[float] = []
        self.potential_energy_ev: list[float] = []
        self.temperature_k: list[float] = []

    def add(self, time_ps, epot, ekin, temp):
        self.time_ps.append(round(float(time_ps), 9))
        self.total_energy_ev.append(float(epot) + float(ekin))
        self.potential_energy_ev.append(float(epot))
        self.temperature_k.append(float(temp))

    def to_dict(self):
        return {"time_ps": self.time_ps, "total_energy_ev": self.total_energy_ev,
                "potential_energy_ev": self.potential_energy_ev, "temperature_k": self.temperature_k}


def _finish(k_local, replica, structure_index, seed, atoms, monitor, plan, trace, wall, calls, engine, t_now_ps):
    failure = monitor.failures.get(k_local)
    drift = monitor.drift_summary(k_local)
    prod_start = plan.n_equilibration_steps * plan.timestep_fs / 1000.0
    return RunResult(
        replica=replica,
        structure_index=structure_index,
        seed=seed,
        n_atoms=len(atoms),
        formula=atoms.get_chemical_formula(),
        stable=failure is None,
        reason=failure.reason if failure else None,
        time_to_failure_ps=failure.time_ps if failure else None,
        detail=failure.detail if failure else "",
        simulated_ps=float(t_now_ps),
        drift_mev_per_atom=drift["drift_mev_per_atom"],
        max_abs_drift_mev_per_atom=drift["max_abs_drift_mev_per_atom"],
        drift_slope_mev_per_atom_per_ps=drift["drift_slope_mev_per_atom_per_ps"],
        wall_clock_s=float(wall),
        n_force_calls=int(calls),
        engine=engine,
        production_start_ps=prod_start,
        trace=trace.to_dict(),
    )


def _run_torch_chunk(potential, jobs, config: MDConfig, criteria: StabilityCriteria, plan: _Plan, emit, counters):
    """Advance the replicas of ``jobs`` [(replica, structure_index, seed, atoms_with_momenta)] together."""
    dtype = {"float64": torch.float64, "float32": torch.float32}[config.dtype]
    structures = [j[3] for j in jobs]
    monitor = StabilityMonitor(structures, criteria, config.temperature_k)
    guarded = _GuardedPotential(potential)
    traces = [_Trace() for _ in jobs]
    wall = np.zeros(len(jobs))
    calls = np.zeros(len(jobs), dtype=np.int64)
    generators = [torch.Generator(device="cpu").manual_seed(seed) for (_, _, seed, _) in jobs]
    active = list(range(len(jobs)))  # rows of the state -> local replica index

    t_start = time.perf_counter()
    batch = AtomsBatch.from_atoms(structures, dtype=dtype, device=config.device)
    masses = torch.as_tensor(np.concatenate([a.get_masses() for a in structures]), dtype=dtype, device=config.device)
    vel = torch.as_tensor(velocities_from_atoms(structures), dtype=dtype, device=config.device)
    state = init_state(batch, vel, masses, guarded)
    calls[active] += 1
    dt = plan.timestep_fs

    def observe(state: MDState, step: int, elapsed: float) -> MDState:
        nonlocal active
        t_obs = time.perf_counter()
        t_ps = step * dt / 1000.0
        production = step > plan.n_equilibration_steps
        epot = state.energy_ev.cpu().numpy()
        ekin = kinetic_energy_ev(state).cpu().numpy()
        temp = temperature_k(state).cpu().numpy()
        bad_atoms = (~torch.isfinite(state.forces_ev_per_angstrom).all(dim=1)).to(torch.int64)
        forces_finite = torch.zeros(state.n_systems, dtype=torch.int64).index_add(
            0, state.batch.system_idx.cpu(), bad_atoms.cpu()).numpy() == 0
        for row, err in guarded.errors.items():
            monitor.record_failure(active[row], "non_finite", t_ps, err)
        failed = set(monitor.check_step(active, t_ps, epot, ekin, forces_finite, temp, production))
        if step % criteria.check_every_steps == 0 or step == plan.n_steps:
            pos = state.batch.positions_angstrom.detach().cpu().numpy()
            sys_idx = state.batch.system_idx.cpu().numpy()
            for row, k in enumerate(active):
                if k not in failed and monitor.check_geometry(k, t_ps, pos[sys_idx == row]):
                    failed.add(k)
        if step == plan.n_equilibration_steps:
            for row, k in enumerate(active):
                if k not in failed:
                    monitor.start_production(k, t_ps, float(epot[row] + ekin[row]))
        for row, k in enumerate(active):
            if step % plan.record_every_steps == 0 or k in failed or step == plan.n_steps:
                traces[k].add(t_ps, epot[row], ekin[row], temp[row])
        # This step's cost (the model call and these checks), shared by the replicas it advanced.
        wall[active] += (elapsed + time.perf_counter() - t_obs) / max(len(active), 1)
        if failed:
            for k in sorted(failed):
                rep, sidx, seed, atoms = jobs[k]
                emit(_finish(k, rep, sidx, seed, atoms, monitor, plan, traces[k], wall[k], calls[k], "torch", t_ps))
            keep_rows = [row for row, k in enumerate(active) if k not in failed]
            active = [active[row] for row in keep_rows]
            if active:
                state = state.select(keep_rows)
        return state

    state = observe(state, 0, time.perf_counter() - t_start)
    for step in range(1, plan.n_steps + 1):
        if not active:
            break
        t0 = time.perf_counter()
        if step <= plan.n_equilibration_steps:
            noise = torch.cat([
                torch.randn((len(jobs[k][3]), 3), generator=generators[k], dtype=dtype) for k in active
            ]).to(config.device)
            state = langevin_baoab_step(state, guarded, dt, config.temperature_k, config.friction_per_fs, noise)
        else:
            state = velocity_verlet_step(state, guarded, dt)
        calls[active] += 1
        state = observe(state, step, time.perf_counter() - t0)
        if step % max(1, plan.n_steps // 10) == 0 and active:
            log.info("%.2f / %.2f ps, %d of %d replicas running", step * dt / 1000.0, plan.n_steps * dt / 1000.0,
                     len(active), len(jobs))
    for k in list(active):
        rep, sidx, seed, atoms = jobs[k]
        emit(_finish(k, rep, sidx, seed, atoms, monitor, plan, traces[k], wall[k], calls[k], "torch",
                     plan.n_steps * dt / 1000.0))
    counters["n_model_calls"] += guarded.n_model_calls


class _StopRun(Exception):
    pass


def _ase_calculator(potential):
    if isinstance(potential, CalculatorPotential):
        return potential._get_calculator()
    return TorchCalculator(potential)


def _run_ase_one(potential, job, config: MDConfig, criteria: StabilityCriteria, plan: _Plan, emit, counters):
    """One replica through ASE's Langevin (equilibration) and VelocityVerlet (NVE)."""
    from ase.md.langevin import Langevin
    from ase.md.verlet import VelocityVerlet

    replica, structure_index, seed, start = job
    atoms = start.copy()
    atoms.set_momenta(start.get_momenta())
    monitor = StabilityMonitor([start], criteria, config.temperature_k)
    trace = _Trace()
    dt = plan.timestep_fs
    clock = {"step": -1}  # last step fully observed
    t_start = time.perf_counter()

    def observe(step: int) -> None:
        t_ps = step * dt / 1000.0
        epot = atoms.get_potential_energy()
        forces = atoms.get_forces()
        ekin = atoms.get_kinetic_energy()
        temp = atoms.get_temperature()
        production = step > plan.n_equilibration_steps
        failed = monitor.check_step([0], t_ps, np.array([epot]), np.array([ekin]),
                                    np.array([bool(np.all(np.isfinite(forces)))]), np.array([temp]), production)
        if not failed and (step % criteria.check_every_steps == 0 or step == plan.n_steps):
            if monitor.check_geometry(0, t_ps, atoms.get_positions()):
                failed = [0]
        if step == plan.n_equilibration_steps and not failed:
            monitor.start_production(0, t_ps, epot + ekin)
        if step % plan.record_every_steps == 0 or failed or step == plan.n_steps:
            trace.add(t_ps, epot, ekin, temp)
        clock["step"] = step
        if failed:
            raise _StopRun

    def attach(dyn, offset: int) -> None:
        # ASE also calls observers once before the first step (nsteps == 0): that state was seen already.
        dyn.attach(lambda: dyn.nsteps and observe(offset + dyn.nsteps), interval=1)

    atoms.calc = _ase_calculator(potential)
    try:
        observe(0)
        if plan.n_equilibration_steps:
            dyn = Langevin(atoms, dt * units.fs, temperature_K=config.temperature_k,
                           friction=config.friction_per_fs / units.fs, fixcm=False,
                           rng=np.random.default_rng(seed))
            attach(dyn, 0)
            dyn.run(plan.n_equilibration_steps)
        if plan.n_production_steps:
            dyn = VelocityVerlet(atoms, dt * units.fs)
            attach(dyn, plan.n_equilibration_steps)
            dyn.run(plan.n_production_steps)
    except _StopRun:
        pass
    except Exception as exc:  # noqa: BLE001 - a crashing calculator is a recorded failure
        t_ps = (clock["step"] + 1) * dt / 1000.0
        monitor.record_failure(0, "non_finite", t_ps, f"potential raised {type(exc).__name__}: {exc}")
        trace.add(t_ps, math.nan, math.nan, math.nan)
    failure = monitor.failures.get(0)
    t_end = failure.time_ps if failure else plan.n_steps * dt / 1000.0
    n_calls = int(round(t_end * 1000.0 / dt)) + 1
    emit(_finish(0, replica, structure_index, seed, start, monitor, plan, trace, time.perf_counter() - t_start,
                 n_calls, "ase", t_end))
    counters["n_model_calls"] += n_calls


# ------------------------------------------------------------------ public API


def run_md_stability(
    potential,
    structures: Sequence[Atoms],
    config: MDConfig = MDConfig(),
    criteria: StabilityCriteria = StabilityCriteria(),
    out_dir: str | Path | None = None,
    resume: bool = False,
    model_name: str | None = None,
    on_run_finished: Callable[[RunResult], None] | None = None,
) -> MDStabilityResult:
    """Run the MD stability test of ``potential`` from ``structures``.

    Args:
        potential: a batched potential or an ASE calculator (anything ``load_potential`` accepts).
        structures: starting structures (held-out frames); they are not modified.
        config: MD settings (:class:`MDConfig`).
        criteria: failure thresholds (:class:`~bsct.md.criteria.StabilityCriteria`).
        out_dir: if given, each finished replica is appended to ``out_dir/md_runs.jsonl`` at once.
        resume: keep the replicas already in ``md_runs.jsonl`` (same protocol and same potential,
            :func:`~bsct.registry.potential_identity`, required) and run only the
            missing ones.
        model_name: recorded in the results and the resume header.
        on_run_finished: called with each :class:`RunResult` as it finishes (after it is saved).

    Returns:
        :class:`MDStabilityResult` with the runs ordered by replica and the summary.
    """
    from bsct.registry import load_potential, potential_identity

    if len(structures) == 0:
        raise ValueError("need at least one starting structure")
    if config.replicas < 1:
        raise ValueError("replicas must be >= 1")
    identity = potential_identity(potential)  # before loading: a SPEC names the potential best
    potential = load_potential(potential)
    # the structures the replicas start from; a bad one is an input error, not a model failure
    validate_structures(list(structures)[: config.replicas], potential, source="starting structures", min_atoms=2,
                        what="MD")
    name = model_name or getattr(potential, "name", None) or type(potential).__name__
    timestep_fs = config.resolved_timestep_fs(structures)
    n_eq = int(round(config.equilibration_ps * 1000.0 / timestep_fs))
    n_prod = int(round(config.time_ps * 1000.0 / timestep_fs))
    if n_prod < 1:
        raise ValueError("time_ps must cover at least one timestep")
    record = config.record_every_steps or max(1, (n_eq + n_prod) // 400)
    plan = _Plan(timestep_fs, n_eq, n_prod, record)
    engine = config.engine
    if engine == "auto":
        engine = "ase" if isinstance(potential, CalculatorPotential) else "torch"
    if engine not in ("torch", "ase"):
        raise ValueError(f"engine must be auto, torch or ase, got {config.engine!r}")

    md_settings = {k: v for k, v in asdict(config).items()
                   if k not in ("replicas", "engine", "max_batch_replicas", "device")}
    md_settings["timestep_fs"] = timestep_fs
    protocol = {
        "model": name,
        "potential": identity,
        "md": md_settings,
        "criteria": criteria.to_dict(),
        "n_structures": len(structures),
        "structures_sha1": structures_fingerprint(structures),
    }
    runlog = RunLog(Path(out_dir) / "md_runs.jsonl", protocol, resume) if out_dir is not None else None
    done = dict(runlog.done) if runlog else {}
    done = {k: v for k, v in done.items() if k < config.replicas}
    if done:
        log.info("resuming: %d of %d replicas already done", len(done), config.replicas)

    results: dict[int, RunResult] = dict(done)

    def emit(run: RunResult) -> None:
        results[run.replica] = run
        if runlog is not None:
            runlog.append(run)
        status = "stable" if run.stable else f"FAILED ({run.reason} at {run.time_to_failure_ps:.3f} ps: {run.detail})"
        log.info("replica %d (%s): %s, drift %.3g meV/atom", run.replica, run.formula, status,
                 run.drift_mev_per_atom)
        if on_run_finished is not None:
            on_run_finished(run)

    todo = [k for k in range(config.replicas) if k not in done]
    jobs = []
    for k in todo:
        s_idx = k % len(structures)
        seed = replica_seed(config.seed, k)
        jobs.append((k, s_idx, seed, initial_structure(structures[s_idx], config.temperature_k, seed)))

    counters = {"n_model_calls": 0}
    if engine == "ase":
        for job in jobs:
            _run_ase_one(potential, job, config, criteria, plan, emit, counters)
    else:
        size = config.max_batch_replicas or max(len(jobs), 1)
        for start in range(0, len(jobs), size):
            _run_torch_chunk(potential, jobs[start:start + size], config, criteria, plan, emit, counters)

    runs = [results[k] for k in sorted(results)]
    duration_ps = (n_eq + n_prod) * timestep_fs / 1000.0
    summary = summarize(runs, duration_ps)
    summary["engine"] = engine
    summary["n_model_calls_this_session"] = counters["n_model_calls"]
    protocol["md"]["replicas"] = config.replicas
    return MDStabilityResult(model=name, runs=runs, summary=summary, protocol=protocol)
