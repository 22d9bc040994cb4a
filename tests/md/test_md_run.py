"""The stability harness end to end: smooth references conserve energy, planted artifacts fail,
blow-ups are recorded (not raised), results stream to JSONL and a killed run resumes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from bsct.md.criteria import StabilityCriteria
from bsct.md.run import MDConfig, run_md_stability
from bsct.potentials.ase_adapters import CalculatorPotential
from bsct.potentials.pair import Morse, PlantedArtifact
from bsct.potentials.protocol import PotentialOutput
from bsct.runs import ResumeMismatchError

# Documented tolerance (docs/md.md): a smooth reference keeps |E_tot(t) - E_tot(0)| below
# 0.2 meV/atom over 1 ps of NVE at 300 K (measured: EMT Cu ~0.02 at 2 fs, SW Si ~0.08 at 1 fs).
NVE_TOLERANCE_MEV_PER_ATOM = 0.2


def _strict_json(text: str):
    def reject(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=reject)


@pytest.mark.slow
def test_emt_cu_conserves_energy_over_1ps(cu32):
    cfg = MDConfig(time_ps=1.0, timestep_fs=2.0, equilibration_ps=0.0, replicas=1, temperature_k=300.0)
    result = run_md_stability("emt", [cu32], cfg)
    run = result.runs[0]
    assert run.engine == "ase" and run.stable, run.detail
    assert run.max_abs_drift_mev_per_atom < NVE_TOLERANCE_MEV_PER_ATOM
    assert run.n_force_calls == 501
    assert result.summary["stable_fraction"] == 1.0


@pytest.mark.slow
def test_sw_si_conserves_energy_over_1ps(si8):
    cfg = MDConfig(time_ps=1.0, timestep_fs=1.0, equilibration_ps=0.0, replicas=1, temperature_k=300.0)
    run = run_md_stability("sw-si", [si8], cfg).runs[0]
    assert run.stable, run.detail
    assert run.max_abs_drift_mev_per_atom < NVE_TOLERANCE_MEV_PER_ATOM


def test_planted_energy_step_is_unstable_and_its_smooth_twin_is_not(cu4):
    cell = cu4.repeat((2, 1, 1))
    cfg = MDConfig(time_ps=0.3, timestep_fs=2.0, equilibration_ps=0.05, replicas=4, seed=1)
    smooth = run_md_stability(Morse(), [cell], cfg)
    planted = run_md_stability(PlantedArtifact("energy_step", 0.05, 3.5), [cell], cfg)
    assert smooth.stable_fraction == 1.0
    assert smooth.summary["mean_abs_drift_mev_per_atom"] < 0.1
    assert planted.stable_fraction < 1.0
    assert set(planted.summary["failure_reasons"]) <= {"energy_drift", "drift_slope"}
    failed = [r for r in planted.runs if not r.stable]
    assert all(0 < r.time_to_failure_ps <= 0.35 for r in failed)
    assert planted.summary["mean_time_to_failure_ps"] < smooth.summary["mean_time_to_failure_ps"]
    assert planted.runs[0].engine == "torch"


class _BlowUp(torch.nn.Module):
    """Morse, but systems with ``n_bad_atoms`` atoms get NaN (or an exception) after ``after_calls`` calls."""

    cutoff_angstrom = 6.0
    conservative = True
    supported_elements = None  # a Morse: any element (declared, so validation does not probe and shift the count)

    def __init__(self, n_bad_atoms: int, after_calls: int, mode: str = "nan"):
        super().__init__()
        self.inner = Morse()
        self.n_bad_atoms, self.after_calls, self.mode = n_bad_atoms, after_calls, mode
        self.calls = 0

    def forward(self, batch, compute_stress=False):
        self.calls += 1
        bad = batch.n_atoms_per_system == self.n_bad_atoms
        if self.calls > self.after_calls and bool(bad.any()):
            if self.mode == "raise":
                raise RuntimeError("model exploded")
            out = self.inner(batch)
            energy = torch.where(bad, torch.nan, out.energy_ev)
            forces = torch.where(bad[batch.system_idx][:, None], torch.nan, out.forces_ev_per_angstrom)
            return PotentialOutput(energy, forces)
        return self.inner(batch)


@pytest.mark.parametrize("mode", ["nan", "raise"])
def test_blow_up_is_a_recorded_failure_not_a_crash(cu4, mode, tmp_path):
    structures = [cu4.repeat((2, 1, 1)), cu4]  # replicas 0, 2 start from the 8-atom cell
    cfg = MDConfig(time_ps=0.1, timestep_fs=2.0, equilibration_ps=0.0, replicas=4)
    result = run_md_stability(_BlowUp(8, after_calls=20, mode=mode), structures, cfg, out_dir=tmp_path)
    by_replica = {r.replica: r for r in result.runs}
    for k in (0, 2):
        assert not by_replica[k].stable
        assert by_replica[k].reason == "non_finite"
        assert by_replica[k].time_to_failure_ps == pytest.approx(0.040)  # call 21 = step 20 at 2 fs
        assert by_replica[k].detail == ("potential raised RuntimeError: model exploded" if mode == "raise"
                                        else "E_pot=nan, forces finite=False")
    assert by_replica[1].stable and by_replica[3].stable
    assert result.stable_fraction == 0.5
    for line in (tmp_path / "md_runs.jsonl").read_text().splitlines():
        _strict_json(line)  # NaN drifts are written as null


class _NaNAfter(Calculator):
    implemented_properties = ["energy", "forces"]

    def __init__(self, after_calls: int):
        super().__init__()
        self.emt, self.after_calls, self.calls = EMT(), after_calls, 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        self.emt.calculate(atoms, ["energy", "forces"], system_changes)
        self.results = dict(self.emt.results)
        if self.calls > self.after_calls:
            self.results["forces"] = np.full((len(atoms), 3), np.nan)


def test_blow_up_in_ase_engine_is_recorded(cu4):
    cfg = MDConfig(time_ps=0.1, timestep_fs=2.0, equilibration_ps=0.02, replicas=1)
    # declared elements: validation does not probe the calculator (which would shift its call count)
    result = run_md_stability(CalculatorPotential(_NaNAfter(after_calls=30), supported_elements={"Cu"}), [cu4], cfg)
    run = result.runs[0]
    assert run.engine == "ase" and not run.stable and run.reason == "non_finite"
    assert run.time_to_failure_ps == pytest.approx(0.060)


def test_batched_equals_one_replica_at_a_time(cu4):
    cfg = MDConfig(time_ps=0.1, timestep_fs=2.0, equilibration_ps=0.04, replicas=3)
    batched = run_md_stability(Morse(), [cu4], cfg)
    single = run_md_stability(Morse(), [cu4], MDConfig(**{**cfg.__dict__, "max_batch_replicas": 1}))
    for a, b in zip(batched.runs, single.runs):
        assert a.replica == b.replica and a.stable == b.stable
        assert np.allclose(a.trace["total_energy_ev"], b.trace["total_energy_ev"], atol=1e-9)
    assert batched.summary["n_force_calls"] == single.summary["n_force_calls"] == 3 * 71


def test_results_stream_and_a_killed_run_resumes(cu4, tmp_path):
    cfg = MDConfig(time_ps=0.06, timestep_fs=2.0, equilibration_ps=0.02, replicas=4, max_batch_replicas=1)
    reference = run_md_stability(Morse(), [cu4], cfg)

    seen = []

    def die_after_two(run):
        seen.append(run.replica)
        if len(seen) == 2:
            raise KeyboardInterrupt  # as if the job were killed right after the second replica

    with pytest.raises(KeyboardInterrupt):
        run_md_stability(Morse(), [cu4], cfg, out_dir=tmp_path, on_run_finished=die_after_two)
    log_path = tmp_path / "md_runs.jsonl"
    lines = log_path.read_text().splitlines()
    assert len(lines) == 3  # header + the two runs that finished before the kill
    with log_path.open("a") as fh:
        fh.write('{"type": "run", "replica": 2, "stab')  # a line cut off by the kill

    resumed_runs = []
    result = run_md_stability(Morse(), [cu4], cfg, out_dir=tmp_path, resume=True,
                              on_run_finished=lambda r: resumed_runs.append(r.replica))
    assert resumed_runs == [2, 3]
    assert [r.replica for r in result.runs] == [0, 1, 2, 3]
    for a, b in zip(result.runs, reference.runs):
        assert a.trace["total_energy_ev"] == pytest.approx(b.trace["total_energy_ev"], abs=1e-9)
    records = [_strict_json(x) for x in log_path.read_text().splitlines()]
    assert records[0]["type"] == "header" and len(records) == 5
    # Nothing to do on a second resume; more replicas extend the study.
    again = run_md_stability(Morse(), [cu4], cfg, out_dir=tmp_path, resume=True,
                             on_run_finished=lambda r: pytest.fail("should not rerun"))
    assert again.summary["n_runs"] == 4


def test_resume_refuses_a_different_protocol(cu4, tmp_path):
    cfg = MDConfig(time_ps=0.01, timestep_fs=2.0, equilibration_ps=0.0, replicas=1)
    run_md_stability(Morse(), [cu4], cfg, out_dir=tmp_path)
    with pytest.raises(ResumeMismatchError, match=r"settings differ in \[.(md|criteria).\]"):
        run_md_stability(Morse(), [cu4], MDConfig(**{**cfg.__dict__, "temperature_k": 500.0}),
                         out_dir=tmp_path, resume=True)
    with pytest.raises(ResumeMismatchError, match=r"settings differ in \[.(md|criteria).\]"):
        run_md_stability(Morse(), [cu4], cfg, criteria=StabilityCriteria(max_energy_drift_mev_per_atom=9.0),
                         out_dir=tmp_path, resume=True)


def test_resume_refuses_the_replicas_of_another_potential(cu4, tmp_path):
    """The same protocol under the same display name is not enough: the potential itself must match."""
    cfg = MDConfig(time_ps=0.01, timestep_fs=2.0, equilibration_ps=0.0, replicas=1)
    run_md_stability("morse", [cu4], cfg, out_dir=tmp_path / "spec", model_name="control")
    with pytest.raises(ResumeMismatchError, match="potential"):
        run_md_stability("morse[r0_angstrom=2.775]", [cu4], cfg, out_dir=tmp_path / "spec", resume=True,
                         model_name="control")
    run_md_stability(Morse(), [cu4], cfg, out_dir=tmp_path / "object")
    with pytest.raises(ResumeMismatchError, match="potential"):
        run_md_stability(Morse(r0_angstrom=2.775), [cu4], cfg, out_dir=tmp_path / "object", resume=True)
    assert len(run_md_stability(Morse(), [cu4], cfg, out_dir=tmp_path / "object", resume=True).runs) == 1


def test_resume_refuses_a_retrained_checkpoint_at_the_same_path(cu4, tmp_path):
    from bsct.model import ModelConfig, build_model
    from bsct.model.checkpoint import save_checkpoint

    path = tmp_path / "model.pt"
    cfg = MDConfig(time_ps=0.01, timestep_fs=2.0, equilibration_ps=0.0, replicas=1)
    tiny = ModelConfig(elements=(29,), hidden_dim=8, n_layers=1, n_heads=2, n_vector_channels=2, n_rbf=4,
                       r_cut_angstrom=4.0, k_neighbors=8)
    save_checkpoint(path, build_model(tiny, seed=0))
    run_md_stability(str(path), [cu4], cfg, out_dir=tmp_path / "md")
    save_checkpoint(path, build_model(tiny, seed=1))  # "retrained": other weights, same file name
    with pytest.raises(ResumeMismatchError, match="potential"):
        run_md_stability(str(path), [cu4], cfg, out_dir=tmp_path / "md", resume=True)


def test_summary_numbers(cu4):
    cfg = MDConfig(time_ps=0.1, timestep_fs=2.0, equilibration_ps=0.0, replicas=4)
    structures = [cu4.repeat((2, 1, 1)), cu4]
    result = run_md_stability(_BlowUp(8, after_calls=25), structures, cfg)
    s = result.summary
    assert s["n_runs"] == 4 and s["n_stable"] == 2 and s["stable_fraction"] == 0.5
    assert s["duration_ps"] == pytest.approx(0.1)
    # stable runs count the full duration, failed ones their time to failure (step 25 = 0.05 ps)
    assert s["mean_time_to_failure_ps"] == pytest.approx((0.1 + 0.1 + 0.05 + 0.05) / 4)
    assert s["mean_time_to_failure_failed_ps"] == pytest.approx(0.05)
    assert s["failure_reasons"] == {"non_finite": 2}
    assert s["n_force_calls"] == 2 * 51 + 2 * 26
    assert s["wall_clock_s"] > 0 and math.isfinite(s["force_calls_per_s"])
    assert result.to_dict()["schema"] == "bsct.md/1"


def test_default_timestep_depends_on_hydrogen(cu4):
    from ase.build import molecule

    assert MDConfig().resolved_timestep_fs([cu4]) == 1.0
    assert MDConfig().resolved_timestep_fs([cu4, molecule("H2O")]) == 0.5
    assert MDConfig(timestep_fs=2.0).resolved_timestep_fs([molecule("H2O")]) == 2.0


def test_bad_arguments(cu4):
    with pytest.raises(ValueError):
        run_md_stability(Morse(), [], MDConfig())
    with pytest.raises(ValueError):
        run_md_stability(Morse(), [cu4], MDConfig(engine="gromacs", time_ps=0.01))


def test_dissociating_molecule_fails_on_bond_length():
    """End to end through the torch engine: a purely repulsive potential blows a molecule apart."""
    from ase.build import molecule

    from bsct.potentials.pair import PairPotential

    class Repulsive(PairPotential):
        def pair_energy_ev(self, r_angstrom):
            return 0.5 * torch.exp(-1.0 * r_angstrom)

    ethane = molecule("C2H6")
    cfg = MDConfig(time_ps=0.2, equilibration_ps=0.0, replicas=2)  # 0.5 fs steps: it has hydrogen
    criteria = StabilityCriteria(temperature_blowup_factor=100.0)  # isolate the geometric criterion
    result = run_md_stability(Repulsive(cutoff_angstrom=5.0, switch_on_angstrom=4.0), [ethane], cfg, criteria)
    assert result.stable_fraction == 0.0
    assert {r.reason for r in result.runs} == {"bond_length"}
    assert all("deviates" in r.detail for r in result.runs)
