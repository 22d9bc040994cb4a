"""`bsct study`: arguments to a StudyConfig, the run, the figures and the printed tables."""

import argparse

import pytest

from bsct.study import command
from bsct.study.config import StudyConfig


def parse(argv):
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args(argv)


def test_arguments_become_the_study_config():
    args = parse(["--systems", "cu, si,", "--size", "small", "--out", "runs/x", "--seed", "3", "--potentials",
                  "final,emt", "--third-party", "--no-planted", "--threads", "2", "--no-fsd", "--cached-only",
                  "--no-progress"])
    assert command.config_from_args(args) == StudyConfig(
        systems=("cu", "si"), size="small", out_dir="runs/x", seed=3, potentials=("final", "emt"), third_party=True,
        planted=False, threads=2, progress=False, fsd=False, cached_only=True)
    defaults = command.config_from_args(parse(["--out", "o"]))
    assert defaults == StudyConfig(out_dir="o")


def test_unknown_size_fails_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="unknown study size"):
        command.run(parse(["--out", str(tmp_path / "o"), "--size", "huge"]))
    assert not (tmp_path / "o").exists()


def test_the_subcommand_is_registered_and_its_parser_loads_no_science():
    import subprocess
    import sys

    code = ("import argparse, sys, bsct.study.command as c; c.add_arguments(argparse.ArgumentParser()); "
            "print(sorted(m for m in ('torch', 'ase', 'numpy', 'bsct.study.run') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    from bsct.cli import SUBCOMMANDS

    assert SUBCOMMANDS["study"][0] == "bsct.study.command"


def test_cli_reuses_the_cache_and_draws_the_scatter(tmp_path, capsys, monkeypatch):
    """The command runs the study, draws the figures of the scores it has and prints the table."""
    from bsct.study import run as study_run
    from bsct.study.run import StudyResult

    rows = [{"system": "cu", "potential": f"p{i}", "kind": "variant", "bsct_score": float(i), "md_stable_fraction": f,
             "md_mean_time_to_failure_ps": f, "md_duration_ps": 1.0, "fsd_per_angstrom": 1.0 + i}
            for i, f in enumerate((1.0, 0.5, 0.0))]
    seen = {}

    def fake_run_study(cfg, executor, dask_address, n_workers):
        seen.update(cfg=cfg, executor=executor, n_workers=n_workers)
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "ablation.md").write_text("| p0 | variant |\n")
        return StudyResult(cfg, rows, {"all": {}}, 1.0)

    monkeypatch.setattr(study_run, "run_study", fake_run_study)
    args = parse(["--systems", "cu", "--out", str(tmp_path / "out"), "--figures", str(tmp_path / "fig"),
                  "--executor", "dask", "--workers", "3", "--no-progress"])
    assert command.run(args) == 0
    assert capsys.readouterr().out == "| p0 | variant |\n"
    assert seen["executor"] == "dask" and seen["n_workers"] == 3 and seen["cfg"].systems == ("cu",)
    names = sorted(p.name for p in (tmp_path / "fig").iterdir())
    assert names == sorted(name for *_, name in command.SCATTER_FIGURES + command.BY_SYSTEM_FIGURES)
    assert all((tmp_path / "fig" / n).stat().st_size > 5000 for n in names)
    # without FSD: only the BSCT figures
    paths = command.save_figures(StudyResult(seen["cfg"], rows, {}, 1.0), tmp_path / "bsct-only", fsd=False)
    assert sorted(p.name for p in paths) == ["study_bsct_vs_md.png", "study_bsct_vs_md_by_system.png",
                                             "study_bsct_vs_ttf.png"]


def test_failed_jobs_exit_with_3_and_name_them(tmp_path, capsys, monkeypatch):
    from bsct.study import run as study_run
    from bsct.study.executors import StudyJobsFailed

    def failing(cfg, **kwargs):
        raise StudyJobsFailed([("cu", "final", "RuntimeError: boom")], 2, cfg.out_dir)

    monkeypatch.setattr(study_run, "run_study", failing)
    assert command.run(parse(["--systems", "cu", "--out", str(tmp_path)])) == 3  # finished with failed evaluations
    assert "cu/final: RuntimeError: boom" in capsys.readouterr().err
