"""The report of a BSCT run: the versioned JSON, the bond-type figure with its artifact markers and
the self-contained HTML page (what `bsct scan` writes)."""

import base64
import json

import pytest
from ase import Atoms

from bsct import run_bsct
from bsct.report.json_report import SCHEMA, report_to_dict
from bsct.report.plots import MARKERS, plot_bond_type
from bsct.report.writer import render_html, write_report

R_STAR = 3.2


@pytest.fixture(scope="module")
def planted_report():
    """A Cu dimer scanned on a Morse with an energy step planted at R_STAR (the demo's case)."""
    dimer = Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])
    return run_bsct(f"planted[kind=energy_step,size=0.005,r_star_angstrom={R_STAR}]", [dimer], progress=False)


def test_json_holds_schema_score_timings_and_each_artifact(planted_report):
    data = report_to_dict(planted_report)
    assert data["schema"] == SCHEMA == "bsct.report/1"
    assert data["score"] == planted_report.score > 0
    assert data["bonds_found"] == {"Cu-Cu": 1} and data["bonds_scanned"] == {"Cu-Cu": 1}
    (bond,) = data["bonds"]
    assert bond["atoms"] == [0, 1] and bond["n_points"] == len(planted_report.results[0].curve.r_angstrom)
    kinds = {a["kind"]: a["r_angstrom"] for a in bond["artifacts"]}
    assert kinds["energy_jump"] == pytest.approx(R_STAR, abs=0.05)
    assert data["n_artifacts"] == len(planted_report.artifacts) == len(bond["artifacts"])
    assert set(data["timings"]) == {"wall_seconds", "model_seconds", "resumed_model_seconds", "n_model_calls", "n_points"}
    json.dumps(data, allow_nan=False)  # clean JSON: no NaN or numpy scalars left


def test_figure_marks_each_artifact_kind_once_at_its_bond_length(planted_report):
    fig = plot_bond_type(planted_report.results, "planted", cutoff_angstrom=5.0)
    ax_e, ax_f = fig.get_axes()
    labels = [t.get_text() for t in ax_e.get_legend().get_texts()]
    assert labels[0].startswith("Cu-Cu") and "energy_jump" in labels
    assert len(labels) == 1 + len({a.kind for a in planted_report.artifacts})
    marker, colour = MARKERS["energy_jump"]
    (mark,) = [line for line in ax_e.get_lines() if line.get_label() == "energy_jump"]
    assert mark.get_marker() == marker and mark.get_xdata()[0] == pytest.approx(R_STAR, abs=0.05)
    assert any(list(line.get_xdata()) == [5.0, 5.0] for line in ax_f.get_lines())  # the cutoff line
    assert fig._suptitle.get_text() == "planted"


def test_written_report_has_json_png_per_type_and_html_with_the_plot_inline(planted_report, tmp_path):
    path = write_report(planted_report, tmp_path)
    assert path == tmp_path / "results.json"
    assert json.loads(path.read_text()) == json.loads(json.dumps(report_to_dict(planted_report)))
    png = (tmp_path / "plots" / "Cu-Cu.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    page = (tmp_path / "report.html").read_text()
    assert f"BSCT score {planted_report.score:.3f}" in page and "energy_jump" in page
    assert base64.b64encode(png).decode() in page
    write_report(planted_report, tmp_path / "bare", plots=False, html=False)
    assert sorted(p.name for p in (tmp_path / "bare").iterdir()) == ["results.json"]


def test_html_escapes_names_and_says_when_nothing_was_found():
    data = {"model": "<script>", "schema": SCHEMA, "score": 0.0, "n_artifacts": 0, "versions": {},
            "per_type": {"A-B": {"score": 0.0, "n_scans": 1, "n_found": 2, "n_artifacts": 0, "artifact_kinds": {}}},
            "bonds": [{"label": "A-B s0", "artifacts": [], "errors": ["point 3 at r=1.0: <boom>"]}],
            "timings": {"n_points": 10, "n_model_calls": 1, "wall_seconds": 0.5, "model_seconds": 0.25}}
    page = render_html(data, {})
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "none: every detector stayed quiet" in page
    assert "<h2>Failed points</h2>" in page and "&lt;boom&gt;" in page
    assert "bsct ?" in page
