"""The design-loop study: a ci-sized study end to end on Cu, resume from cache, the Dask
executor on a local cluster, the CLI plugin, and the zoo / caching / correlation helpers."""

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from bsct.data import ci_path, read_structures
from bsct.runs import clean_json
from bsct.scan.runner import ScanCurve
from bsct.study import (
    CU_MORSE,
    KINDS,
    SIZES,
    STEP_SECONDS,
    StudyConfig,
    _cached_step,
    config_type_error_markdown,
    correlation_markdown,
    correlation_summary,
    elastic_markdown,
    plot_correlation,
    plot_correlation_by_system,
    potential_zoo,
    run_study,
)

# a representative slice of the zoo: two design steps, a weakened variant, the reference and a
# planted control (the whole Cu zoo at ci size takes ~3 min on 2 shared cores)
CI_POTENTIALS = ("baseline", "final", "hard-cutoff", "emt", "morse (control)", "planted energy step")


@pytest.fixture(scope="module")
def ci_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    cfg = StudyConfig(systems=("cu",), size="ci", out_dir=str(out), potentials=CI_POTENTIALS, progress=False,
                      n_bootstrap=200)
    return cfg, run_study(cfg)


def test_ci_study_runs_every_step_and_writes_its_outputs(ci_study):
    cfg, result = ci_study
    rows = {r["potential"]: r for r in result.rows}
    assert list(rows) == list(CI_POTENTIALS)
    for r in rows.values():
        for key in ("test_energy_rmse_mev_per_atom", "test_force_rmse_mev_per_angstrom",
                    "unseen_force_rmse_mev_per_angstrom", "bsct_score", "bsct_seconds", "md_stable_fraction",
                    "md_seconds", "cost_ratio_bsct_over_md", "fsd_per_angstrom", "fsd_seconds"):
            assert r[key] is not None and r[key] >= 0, (r["potential"], key)
        assert r["md_replicas"] == SIZES["ci"].md_replicas
    # known answers that do not depend on how well the tiny models trained
    assert rows["emt"]["test_force_rmse_mev_per_angstrom"] < 1e-3  # EMT labelled the data
    assert rows["emt"]["bsct_score"] == 0 and rows["emt"]["md_stable_fraction"] == 1.0
    assert rows["emt"]["fsd_per_angstrom"] < 1e-6  # the FSD set is labelled by EMT: model == reference
    assert rows["baseline"]["fsd_per_angstrom"] > 1e-3
    assert rows["planted energy step"]["bsct_score"] > 0.1 and rows["morse (control)"]["bsct_score"] == 0.0
    # the planted energy step breaks energy conservation; its smooth twin on the same starts does not
    assert rows["morse (control)"]["md_stable_fraction"] == 1.0
    assert rows["planted energy step"]["md_stable_fraction"] < 1.0
    assert rows["final"]["train_steps"] > 0 and (rows["final"]["checkpoint"]).endswith("model.pt")
    saved = json.loads((Path(cfg.out_dir) / "study.json").read_text())
    assert saved["schema"] == "bsct.study/1" and len(saved["rows"]) == len(CI_POTENTIALS)
    from scipy.stats import pearsonr, spearmanr

    # the correlation is that of the rows' own numbers (recomputed here with scipy)
    md = [rows[p]["md_stable_fraction"] for p in CI_POTENTIALS]
    for key, score in (("stable_fraction", "bsct_score"), ("fsd_stable_fraction", "fsd_per_angstrom")):
        corr = saved["correlation"]["all"][key]
        x = [rows[p][score] for p in CI_POTENTIALS]
        assert corr["n"] == len(CI_POTENTIALS)
        assert corr["spearman_rho"] == pytest.approx(spearmanr(x, md).statistic, abs=1e-12)
        assert corr["pearson_r"] == pytest.approx(pearsonr(x, md).statistic, abs=1e-12)
    assert "| planted energy step *(planted)* | planted |" in (Path(cfg.out_dir) / "ablation.md").read_text()
    # the floor of the FSD set: what a model that ignores the reference's force profile scores
    floor = saved["fsd_floor_per_angstrom"]["cu"]
    assert np.isfinite(floor) and floor > 1.0 > rows["emt"]["fsd_per_angstrom"]
    assert f"FSD floor of this FSD set: {floor:.3g} 1/Å" in (Path(cfg.out_dir) / "ablation.md").read_text()
    ratios = [r["cost_ratio_bsct_over_md"] for r in rows.values()]  # ci: no third-party rows
    assert (f"- cost ratio BSCT s / MD s (one MD protocol, n = {len(ratios)}): median {np.median(ratios):.2g}"
            in (Path(cfg.out_dir) / "ablation.md").read_text())
    # the study's cost: every step's wall time summed, in worker-hours
    step_h = [sum(r.get(k) or 0.0 for r in rows.values()) / 3600.0 for _, k in STEP_SECONDS]
    assert sum(step_h) > 0 and rows["final"]["train_seconds"] > 0
    all_row = next(line for line in (Path(cfg.out_dir) / "ablation.md").read_text().splitlines()
                   if line.startswith("| all | "))
    assert all_row == "| all | " + " | ".join(f"{h:.2f}" for h in step_h) + f" | {sum(step_h):.2f} |"
    # errors per structure type: the groups partition each split and recombine to the split's RMSE
    for r in rows.values():
        for split, groups in r["errors_by_config_type"].items():
            n_frames = np.array([g["n_frames"] for g in groups.values()])
            assert n_frames.sum() == len(read_structures(ci_path("cu", split)))
            e_rmse = np.array([g["energy_rmse_mev_per_atom"] for g in groups.values()])
            assert np.sqrt((n_frames * e_rmse**2).sum() / n_frames.sum()) == pytest.approx(
                r[f"{split}_energy_rmse_mev_per_atom"], rel=1e-9)
    assert all(abs(g["energy_mean_error_mev_per_atom"]) < 1e-3  # EMT labelled the data
               for groups in rows["emt"]["errors_by_config_type"].values() for g in groups.values())
    assert "Errors by structure type, cu:" in (Path(cfg.out_dir) / "ablation.md").read_text()


def test_rerun_resumes_from_the_cache(ci_study):
    cfg, first = ci_study
    again = run_study(cfg)
    for a, b in zip(first.rows, again.rows):
        for key in ("bsct_score", "md_stable_fraction", "test_force_rmse_mev_per_angstrom", "bsct_seconds"):
            assert a[key] == b[key]
    assert again.wall_seconds < 0.5 * first.wall_seconds  # nothing recomputed


def test_a_stopped_bsct_or_fsd_step_keeps_its_finished_scans(ci_study, tmp_path):
    """A study stopped inside its BSCT or FSD step resumes the bonds and systems it had saved, and
    the step's cost still counts what they took; another potential's leftovers start it afresh."""
    import shutil

    cfg, first = ci_study
    out = tmp_path / "study"
    shutil.copytree(cfg.out_dir, out)
    job_dir = out / "cu" / "emt"
    before = next(r for r in first.rows if r["potential"] == "emt")
    # what a stop inside both steps leaves behind: the first half of their saved scans (at ci size
    # BSCT scans one Cu-Cu bond: the stop came after it, before the report)
    for step, saved in (("bsct", "curves"), ("fsd", "predictions")):
        (job_dir / f"{step}.json").unlink()
        files = sorted((job_dir / step / saved).glob("*.npz"))
        for f in files[max(1, len(files) // 2):]:
            f.unlink()
    kept = {f: f.stat().st_mtime_ns for f in (job_dir / "bsct" / "curves").glob("*.npz")}
    kept_seconds = sum(ScanCurve.load(f).eval_seconds for f in kept)
    row = run_study(dataclasses.replace(cfg, out_dir=str(out), potentials=("emt",))).rows[0]
    bsct = json.loads((job_dir / "bsct.json").read_text())
    assert {f: f.stat().st_mtime_ns for f in kept} == kept  # loaded, not scanned again
    assert bsct["score"] == before["bsct_score"] and bsct["n_points"] == before["bsct_points"]
    assert bsct["resumed_model_seconds"] == pytest.approx(kept_seconds) and kept_seconds > 0
    assert row["bsct_seconds"] == pytest.approx(bsct["wall_seconds"]) and row["bsct_seconds"] > kept_seconds
    fsd = json.loads((job_dir / "fsd.json").read_text())
    assert fsd["resumed_eval_seconds"] > 0 and row["fsd_per_angstrom"] == before["fsd_per_angstrom"]
    # leftovers of another potential: the step reruns from scratch, to the same result
    (job_dir / "bsct.json").unlink()
    manifest = json.loads((job_dir / "bsct" / "run.json").read_text())
    (job_dir / "bsct" / "run.json").write_text(json.dumps({**manifest, "potential": {"spec": "lj"}}))
    row = run_study(dataclasses.replace(cfg, out_dir=str(out), potentials=("emt",))).rows[0]
    assert json.loads((job_dir / "bsct.json").read_text())["resumed_model_seconds"] == 0
    assert row["bsct_score"] == before["bsct_score"]
    assert all(f.stat().st_mtime_ns != t for f, t in kept.items())


def test_dask_local_cluster_runs_jobs(tmp_path):
    import dask.distributed  # noqa: F401  (a test dependency: fail, do not skip, when missing)
    cfg = StudyConfig(systems=("cu",), size="ci", out_dir=str(tmp_path), potentials=("morse (control)", "emt"),
                      progress=False, n_bootstrap=50)
    result = run_study(cfg, executor="dask", n_workers=1, processes=False)
    rows = {r["potential"]: r for r in result.rows}
    assert set(rows) == {"morse (control)", "emt"}
    assert rows["morse (control)"]["bsct_score"] == 0.0 and rows["emt"]["md_stable_fraction"] == 1.0
    assert len(list((tmp_path / "cu").glob("*/row.json"))) == 2


def _busy_task(item: int) -> tuple[int, str, int]:
    import time

    from dask.distributed import get_worker

    time.sleep(0.2)
    waiting_here = len(get_worker().state.ready)  # tasks this worker holds but cannot start yet
    if item == 3:
        raise RuntimeError("item 3 is broken")
    return item, get_worker().address, waiting_here


def test_dask_jobs_go_to_whichever_worker_is_free_one_per_thread():
    """Every worker gets work and no worker holds a task it cannot start (the full study once
    queued 36 jobs on one worker while the other sat idle); order is priority; a broken item is
    reported and the rest still run."""
    from dask.distributed import Client

    from bsct.study import bounded_dask_map, local_dask_cluster

    done, failed = [], []
    with local_dask_cluster(2, processes=False) as cluster, Client(cluster) as client:
        bounded_dask_map(client, _busy_task, list(range(8)), key=lambda i: f"busy-{i}",
                         on_result=lambda i, r: done.append(r), on_error=lambda i, e: failed.append((i, str(e))))
    assert failed == [(3, "item 3 is broken")]
    assert sorted(r[0] for r in done) == [0, 1, 2, 4, 5, 6, 7]
    assert len({r[1] for r in done}) == 2  # both workers used
    assert all(r[2] == 0 for r in done)  # no worker is handed a backlog the other cannot take
    assert [r[0] for r in done][:2] in ([0, 1], [1, 0])  # the first two items start first


def test_study_dask_workers_keep_the_default_malloc_tuning():
    import os

    import dask
    from dask.distributed import Client

    from bsct.study import local_dask_cluster

    # the premise: Dask's nanny would export this variable to every worker process
    assert "MALLOC_TRIM_THRESHOLD_" in dask.config.get("distributed.nanny.pre-spawn-environ")
    with local_dask_cluster(1, processes=True) as cluster, Client(cluster) as client:
        worker_env = client.run(lambda: dict(os.environ))
    (env,) = worker_env.values()
    assert "MALLOC_TRIM_THRESHOLD_" not in env
    assert env.get("OMP_NUM_THREADS") == "1"  # Dask's other worker settings are kept


def test_a_failing_job_does_not_stop_the_others_and_a_rerun_finishes_it(tmp_path, monkeypatch):
    import bsct.study as study

    cfg = StudyConfig(systems=("cu",), size="ci", out_dir=str(tmp_path), potentials=("morse (control)", "emt"),
                      progress=False, n_bootstrap=50, fsd=False)
    real_md_step = study._md_step

    def md_crashes_for_morse(job, *args, **kwargs):  # stands in for any crash mid-job (OOM, a bug)
        if job.name == "morse (control)":
            raise RuntimeError("worker died")
        return real_md_step(job, *args, **kwargs)

    monkeypatch.setattr(study, "_md_step", md_crashes_for_morse)
    with pytest.raises(study.StudyJobsFailed, match=r"1 of 2 study jobs failed:\n  cu/morse \(control\): RuntimeError: worker died") as info:
        run_study(cfg)
    assert info.value.failures == [("cu", "morse (control)", "RuntimeError: worker died")]
    assert (tmp_path / "cu" / "emt" / "row.json").exists()  # the other job ran to the end
    morse_dir = next(p for p in (tmp_path / "cu").iterdir() if p.name.startswith("morse"))
    bsct_before = json.loads((morse_dir / "bsct.json").read_text())  # steps before the crash are kept

    monkeypatch.setattr(study, "_md_step", real_md_step)
    result = run_study(cfg)
    assert {r["potential"] for r in result.rows} == {"morse (control)", "emt"}
    assert json.loads((morse_dir / "bsct.json").read_text()) == bsct_before  # cached, not recomputed


def test_cached_only_reports_finished_potentials_and_computes_nothing(ci_study):
    cfg, first = ci_study
    # the finished six plus one never run: reported as pending, not computed
    partial = dataclasses.replace(cfg, potentials=CI_POTENTIALS + ("under-trained",), cached_only=True)
    fsd_manifest = next((Path(cfg.out_dir) / "cu").glob("_fsd_set-*/make_scans.json"))
    before = fsd_manifest.stat().st_mtime_ns
    result = run_study(partial, executor="dask")  # cached_only never starts workers
    assert fsd_manifest.stat().st_mtime_ns == before  # the shared FSD set is read, not rewritten
    assert [r["potential"] for r in result.rows] == list(CI_POTENTIALS)
    assert [r["bsct_score"] for r in result.rows] == [r["bsct_score"] for r in first.rows]
    assert result.pending == ["cu/under-trained"]
    assert not list((Path(cfg.out_dir) / "cu").glob("under*/*.json"))  # nothing computed for it
    md = (Path(cfg.out_dir) / "ablation.cached.md").read_text()
    assert "1 potential not finished yet (cu/under-trained)" in md and "| baseline | variant |" in md


def test_cli_plugin_reuses_the_cache_and_draws_the_scatter(ci_study, tmp_path, capsys):
    from bsct import study_command

    cfg, _ = ci_study
    parser = argparse.ArgumentParser()
    study_command.add_arguments(parser)
    args = parser.parse_args(["--systems", "cu", "--size", "ci", "--out", cfg.out_dir, "--potentials",
                              ",".join(CI_POTENTIALS), "--figures", str(tmp_path), "--no-progress"])
    assert study_command.run(args) == 0
    assert "| baseline | variant |" in capsys.readouterr().out
    assert (tmp_path / "study_bsct_vs_md.png").stat().st_size > 5000
    assert (tmp_path / "study_fsd_vs_md.png").stat().st_size > 5000
    assert (tmp_path / "study_bsct_vs_md_by_system.png").stat().st_size > 5000


def test_a_slow_reference_is_scanned_at_reduced_settings_and_skips_md(tmp_path, monkeypatch):
    import bsct.study as study

    size = dataclasses.replace(SIZES["ci"], name="ci-slow-ref", slow_reference_systems=("cu",))
    monkeypatch.setitem(study.SIZES, "ci-slow-ref", size)
    cfg = StudyConfig(systems=("cu",), size="ci-slow-ref", out_dir=str(tmp_path), potentials=("emt", "morse (control)"),
                      progress=False, n_bootstrap=50, fsd=False)
    rows = {r["potential"]: r for r in run_study(cfg).rows}
    emt, morse = rows["emt"], rows["morse (control)"]
    assert emt["md_stable_fraction"] is None and emt["md_seconds"] is None and emt["cost_ratio_bsct_over_md"] is None
    assert not (tmp_path / "cu" / "emt" / "md.json").exists()
    assert emt["bsct_points"] < morse["bsct_points"]  # third-party scan settings: 60 points, not 120
    assert morse["md_stable_fraction"] == 1.0
    table = (tmp_path / "ablation.md").read_text()
    assert "| emt | reference |" in table and "| – (0) |" in table
    plot_correlation(list(rows.values()))  # the row without MD is left out, not an error


def test_zoo_has_twelve_potentials_of_every_kind_on_cu_and_si():
    zoo = potential_zoo("cu", SIZES["ci"], third_party=True) + potential_zoo("si", SIZES["ci"], third_party=True)
    assert len(zoo) >= 12
    assert {j.kind for j in zoo} == set(KINDS)
    assert all(j.system == "cu" for j in zoo if j.kind == "planted")  # planted controls are labelled, Cu only
    assert len({(j.system, j.slug) for j in zoo}) == len(zoo)  # one folder per job


def test_cu_planted_controls_hold_fcc_copper_at_the_data_lattice_constant():
    """The smooth control must be a stable crystal, or MD fails it (and its twin) for another reason."""
    from ase import units
    from ase.build import bulk

    from bsct.metrics.elastic import elastic_constants_cubic
    from bsct.potentials import TorchCalculator
    from bsct.registry import load_potential

    specs = {job.name: job.spec for job in potential_zoo("cu", SIZES["ci"], third_party=False) if job.kind == "planted"}
    control = load_potential(specs["morse (control)"])
    cell = bulk("Cu", "fcc", a=3.59, cubic=True)
    cell.calc = TorchCalculator(control)
    assert abs(cell.get_stress()[:3].mean() / units.GPa) < 0.5
    c = elastic_constants_cubic(cell, control, relax_internal=False)
    assert c["C11"] - c["C12"] > 20 and c["C11"] + 2 * c["C12"] > 100 and c["C44"] > 20  # Born criteria, with room
    assert CU_MORSE in specs["planted energy step"]  # the twin differs by the planted step only


def test_unknown_size_or_potential_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="study size"):
        StudyConfig(size="huge").jobs()
    with pytest.raises(ValueError, match="unknown potentials"):
        StudyConfig(systems=("cu",), potentials=("nope",)).jobs()


def test_cached_step_recomputes_only_when_settings_change(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"value": len(calls)}

    path = tmp_path / "step.json"
    assert _cached_step(path, {"a": 1}, compute)["value"] == 1
    assert _cached_step(path, {"a": 1}, compute)["cached"] is True
    assert _cached_step(path, {"a": 2}, compute)["value"] == 2
    assert len(calls) == 2


def test_elastic_table_gives_each_constant_and_its_deviation_from_the_reference():
    reference = {"a0_angstrom": 3.59, "C11": 172.6, "C12": 115.4, "C44": 89.9, "bulk_modulus_gpa_eos": 134.4}
    model = {"a0_angstrom": 3.61, "C11": 158.5, "C12": 82.7, "C44": 75.8, "bulk_modulus_gpa_eos": 108.2}
    rows = [{"system": "cu", "potential": "final", "kind": "variant", "elastic": model},
            {"system": "cu", "potential": "emt", "kind": "reference", "elastic": reference},
            {"system": "cu", "potential": "baseline", "kind": "variant"}]
    lines = elastic_markdown(rows)
    final = next(line for line in lines if "| final |" in line)
    for key in ("C11", "C12", "C44", "bulk_modulus_gpa_eos"):
        assert f"{model[key]:.1f} ({100 * (model[key] - reference[key]) / reference[key]:+.0f} %)" in final
    assert "| cu | emt | 3.590 | 172.6 | 115.4 | 89.9 | 134.4 |" in lines
    assert not any("baseline" in line for line in lines)
    assert elastic_markdown(rows[2:]) == []


def test_config_type_table_gives_each_variant_its_energy_offset_and_force_rmse_per_type():
    def group(mean, f_rmse, n):
        return {"energy_mean_error_mev_per_atom": mean, "force_rmse_mev_per_angstrom": f_rmse, "n_frames": n}

    final = {"test": {"bulk": group(7.24, 15.6, 12), "slab": group(-18.6, 20.2, 5)}, "unseen": {"bcc": group(40.0, 52.7, 4)}}
    baseline = {"test": {"bulk": group(1.8, 33.0, 12)}}
    rows = [{"system": "cu", "potential": "baseline", "kind": "variant", "errors_by_config_type": baseline},
            {"system": "cu", "potential": "final", "kind": "variant", "errors_by_config_type": final},
            {"system": "cu", "potential": "emt", "kind": "reference", "errors_by_config_type": baseline},
            {"system": "si", "potential": "final", "kind": "variant"}]
    lines = config_type_error_markdown(rows)
    assert "| split | config_type | frames | baseline | final |" in lines  # the reference is not a variant
    assert "| test | bulk | 12 | +1.8 · 33 | +7.2 · 16 |" in lines
    assert "| test | slab | 5 | – | -18.6 · 20 |" in lines  # a type one potential was not measured on
    assert "| unseen | bcc | 4 | – | +40.0 · 53 |" in lines
    assert not any(line.startswith("Errors by structure type, si") for line in lines)  # no si row has it
    assert config_type_error_markdown(rows[3:]) == []


def test_correlation_summary_sign_and_planted_subset():
    rows = [{"system": "cu", "potential": f"p{i}", "kind": "planted" if i == 0 else "variant",
             "bsct_score": float(s), "md_stable_fraction": f, "md_mean_time_to_failure_ps": f, "md_duration_ps": 1.0}
            for i, (s, f) in enumerate([(3.0, 0.0), (1.0, 0.25), (0.5, 0.5), (0.2, 0.75), (0.0, 1.0)])]
    c = correlation_summary(rows, n_bootstrap=100)
    assert c["all"]["stable_fraction"]["spearman_rho"] == pytest.approx(-1.0)
    assert c["without_planted"]["n"] == 4
    assert not any(key.startswith("system_") for key in c)  # one system: nothing to split
    # a second system whose ranking is the reverse: pooled, the two cancel; within each, they do not
    si = [{**r, "system": "si", "kind": "variant", "bsct_score": 3.0 - r["bsct_score"]} for r in rows]
    c = correlation_summary(rows + si, n_bootstrap=100)
    assert c["system_cu"]["n"] == c["system_si"]["n"] == 5
    assert c["system_cu"]["stable_fraction"]["spearman_rho"] == pytest.approx(-1.0)
    assert c["system_si"]["stable_fraction"]["spearman_rho"] == pytest.approx(1.0)
    assert abs(c["all"]["stable_fraction"]["spearman_rho"]) < 0.5
    # one panel per system, titled with that system's own correlation
    fig = plot_correlation_by_system(rows + si, c)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    cu = c["system_cu"]["stable_fraction"]
    assert len(titles) == 2 and titles[0] == (
        f"cu: r = {cu['pearson_r']:.2f} [{cu['pearson_ci95'][0]:.2f}, {cu['pearson_ci95'][1]:.2f}], ρ = -1.00 (n = 5)")
    assert titles[1].startswith("si: r = ") and titles[1].endswith("ρ = 1.00 (n = 5)")
    assert sum(len(ax.collections) for ax in fig.axes) == 10  # every potential drawn once
    fig = plot_correlation(rows)
    assert len(fig.axes) == 1


def test_correlation_table_gives_each_subset_score_and_measure_its_row():
    rows = [{"system": "cu", "potential": f"p{i}", "kind": "variant", "bsct_score": float(s), "md_stable_fraction": f,
             "md_mean_time_to_failure_ps": f, "md_duration_ps": 1.0, "fsd_per_angstrom": float(i)}
            for i, (s, f) in enumerate([(3.0, 0.0), (1.0, 0.25), (0.5, 0.5), (0.2, 0.75), (0.0, 1.0)])]
    water = [{**r, "system": "water"} for r in rows[:2]]  # too few to correlate on their own
    si = [{**r, "system": "si"} for r in rows[:4]]  # a correlation, but too few for an interval
    c = correlation_summary(rows + water + si, n_bootstrap=100)
    table = correlation_markdown(c)
    assert table[0].startswith("| potentials | n | score | MD measure | Pearson r [95 % CI]")
    fsd = c["system_cu"]["fsd_time_to_failure_fraction"]
    assert (f"| within cu | 5 | FSD | time to failure fraction | {fsd['pearson_r']:.2f} [{fsd['pearson_ci95'][0]:.2f}, "
            f"{fsd['pearson_ci95'][1]:.2f}] | {fsd['spearman_rho']:.2f} [{fsd['spearman_ci95'][0]:.2f}, "
            f"{fsd['spearman_ci95'][1]:.2f}] |") in table
    assert "| all potentials | 11 | BSCT | stable fraction | -" in "\n".join(table)
    si_r = c["system_si"]["stable_fraction"]
    assert (f"| within si | 4 | BSCT | stable fraction | {si_r['pearson_r']:.2f} (no interval: n < 5) "
            f"| {si_r['spearman_rho']:.2f} (no interval: n < 5) |") in table
    assert "| within water | 2 | BSCT | stable fraction | need at least 3 finite pairs to correlate, got 2 | |" in table
    assert correlation_markdown(json.loads(json.dumps(clean_json(c)))) == table  # as read back from study.json
    assert len([line for line in table if line.startswith("| within cu |")]) == 4  # 2 scores x 2 MD measures


def test_full_size_trains_on_the_full_datasets():
    from bsct.study import _data_settings, _frames

    assert SIZES["full"].data_size == "full" and SIZES["small"].data_size == "ci"
    assert _data_settings(SIZES["small"]) == {}  # caches of the ci-data sizes keep their fingerprints
    assert _data_settings(SIZES["full"]) == {"data": "full"}
    # the full molecules set ships with the package; the other full sets are generated on first use
    assert len(_frames("molecules", "test", "full")) > 2 * len(_frames("molecules", "test", "ci"))


def test_md_starts_skip_distorted_frames_and_cycle_compositions():
    from ase.build import molecule
    from ase.calculators.singlepoint import SinglePointCalculator

    from bsct.study import _md_frames

    def frame(name, kind, fmax):
        a = molecule(name)
        a.calc = SinglePointCalculator(a, energy=0.0, forces=np.full((len(a), 3), fmax / np.sqrt(3)))
        a.info["config_type"] = kind
        return a

    frames = [frame("CH4", "md_300K", 2.0), frame("CH4", "rattled", 0.1), frame("CH4", "md_1000K", 1.0),
              frame("NH3", "stretched", 0.1), frame("NH3", "md_300K", 1.5), frame("H2O", "liquid_1700K", 0.1)]
    starts = _md_frames(frames)
    assert [(a.get_chemical_formula(), a.info["config_type"]) for a in starts] == [
        ("CH4", "md_1000K"), ("H3N", "md_300K"), ("CH4", "md_300K")]  # lowest force first, then round-robin
