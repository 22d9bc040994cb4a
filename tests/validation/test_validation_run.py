"""`bsct validate` end to end: the ci tier into a temporary folder, its tables, and a rerun that
computes nothing; the full tier's refusals (uncommitted protocol, interim analysis)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from bsct.cli import main
from bsct.runs import BadInput, write_json
from bsct.validation.analysis import OUTCOME_COLUMNS, REPLICA_COLUMNS, UNIT_COLUMNS
from bsct.validation.protocol import DEFAULT_PROTOCOL
from bsct.validation.run import ValidateConfig, run_validation

PROTOCOL = Path(__file__).resolve().parents[2] / DEFAULT_PROTOCOL


@pytest.fixture
def count_calls(monkeypatch):
    """Counts of the expensive library calls the stages make (MD, training, BSCT, FSD)."""
    import bsct.fsd.run
    import bsct.md.run
    import bsct.scan.api
    import bsct.train.loop

    counts: dict[str, int] = {}

    def counted(module, name):
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            counts[name] = counts.get(name, 0) + 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    counted(bsct.md.run, "run_md_stability")
    counted(bsct.train.loop, "train")
    counted(bsct.scan.api, "run_bsct")
    counted(bsct.fsd.run, "run_fsd")
    return counts


def test_ci_references_and_plan_resume_without_recomputing(tmp_path, count_calls, one_thread):
    cfg = ValidateConfig(str(PROTOCOL), tier="ci", out_dir=str(tmp_path), progress=False)
    plan, refs = run_validation(cfg, "plan")[0], run_validation(cfg, "references")[0]
    assert plan.record["decision"]["start_set"] in ("registered", "primitive")
    assert refs.record["references"][0]["system"] == "cu" and refs.record["references"][0]["n_replicas"] == 4
    drift = next(c for c in refs.record["references"][0]["criteria"] if c["criterion"] == "energy_drift")
    assert drift["worst"] > 0 and drift["margin"] == pytest.approx(drift["threshold"] / drift["worst"])
    first = dict(count_calls)
    assert first["run_md_stability"] >= 2
    run_validation(cfg, "plan")
    run_validation(cfg, "references")
    assert count_calls == first  # everything came from the cache
    assert json.loads((tmp_path / "run.json").read_text())["ci_tier"] == "not evidence"


def test_the_full_tier_refuses_zoo_md_from_an_uncommitted_protocol(tmp_path, capsys):
    copy = tmp_path / "protocol.toml"
    shutil.copy(PROTOCOL, copy)  # outside any git repository: not the registered file
    code = main(["validate", "--protocol", str(copy), "--stage", "zoo", "--out", str(tmp_path / "out")])
    assert code == 2
    assert "uncommitted" in capsys.readouterr().out


def test_the_full_tier_refuses_an_interim_analysis(tmp_path):
    out = tmp_path / "out"
    (out / "plan").mkdir(parents=True)
    write_json(out / "plan" / "plan.json", {"decision": {"start_set": "primitive", "not_run": {}}})
    cfg = ValidateConfig(str(PROTOCOL), tier="full", out_dir=str(out), progress=False)
    with pytest.raises(BadInput, match="no interim analysis"):
        run_validation(cfg, "analysis")


def _read(path: Path) -> tuple[list[str], list[dict]]:
    with path.open() as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames), list(reader)


@pytest.mark.slow  # about 5 minutes on the shared 2-core machine (two trainings, 12 MD units, 6 BSCT scans)
def test_the_ci_tier_end_to_end_and_resumes(tmp_path, count_calls, one_thread):
    cfg = ValidateConfig(str(PROTOCOL), tier="ci", out_dir=str(tmp_path), progress=False)
    run_validation(cfg, "all")
    columns, units = _read(tmp_path / "units.csv")
    assert columns[:5] == list(UNIT_COLUMNS) and columns[-5:] == list(OUTCOME_COLUMNS)
    preds = [c for c in columns if c.startswith("pred:")]
    assert {"pred:bsct_v1", "pred:bsct_v2", "pred:bsct_v2_at_T", "pred:fsd", "pred:force_rmse",
            "pred:short_nve"} <= set(preds)
    assert {u["split"] for u in units} == {"calibration", "held_out", "constructed"}
    assert len(units) == 6 * 2  # 4 Transformers (2 configs x 2 checkpoints) + 2 planted twins, at 2 temperatures
    rep_columns, replicas = _read(tmp_path / "replicas.csv")
    assert rep_columns == list(REPLICA_COLUMNS)
    assert len(replicas) == sum(int(u["n_replicas"]) for u in units)
    assert all(r["failure_class"] in ("", "conservation", "structural") for r in replicas)
    first = dict(count_calls)
    assert first["train"] == 2
    run_validation(cfg, "all")
    assert count_calls == first


def test_zoo_md_waits_for_the_references_to_pass(tmp_path):
    from bsct.validation.protocol import load_protocol
    from bsct.validation.run import check_references_passed

    p = load_protocol(PROTOCOL)
    with pytest.raises(BadInput, match=r"has not passed for \['cu', 'si'\]"):
        check_references_passed(p, tmp_path, "primitive", ["cu", "si"])
    rows = [{"system": "cu", "start_set": "primitive", "passed": True},
            {"system": "si", "start_set": "primitive", "passed": False},
            {"system": "si", "start_set": "registered", "passed": True}]
    (tmp_path / "references").mkdir()
    write_json(tmp_path / "references" / "references.json", {"references": rows})
    with pytest.raises(BadInput, match=r"has not passed for \['si'\] from the primitive starts"):
        check_references_passed(p, tmp_path, "primitive", ["cu", "si"])
    check_references_passed(p, tmp_path, "registered", ["si"])  # passed there: no error


def test_an_unknown_reference_start_set_is_bad_input(tmp_path):
    cfg = ValidateConfig(str(PROTOCOL), tier="ci", out_dir=str(tmp_path), progress=False, reference_start_set="tiny")
    with pytest.raises(BadInput, match="--reference-starts"):
        run_validation(cfg, "references")
