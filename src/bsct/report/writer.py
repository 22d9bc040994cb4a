"""Write a BSCT report to disk: results.json, one PNG per bond type, a self-contained report.html."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from bsct.runs import write_json

from bsct.report.json_report import report_to_dict
from bsct.report.plots import plot_bond_type


def png_bytes(fig) -> bytes:
    """A figure as PNG bytes at the resolution of every report figure (110 dpi)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def write_report(report, out_dir: str | Path, plots: bool = True, html: bool = True) -> Path:
    """Returns the path of results.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = report_to_dict(report)
    json_path = out / "results.json"
    write_json(json_path, data, indent=2)
    images: dict[str, bytes] = {}
    if plots:
        (out / "plots").mkdir(exist_ok=True)
        for bond_type in report.per_type:
            mine = [r for r in report.results if r.curve.bond_type == bond_type]
            fig = plot_bond_type(mine, f"{report.model}: {bond_type} (type score {report.per_type[bond_type]['score']:.3f})",
                                 report.cutoff_angstrom)
            images[bond_type] = png_bytes(fig)
            (out / "plots" / f"{bond_type}.png").write_bytes(images[bond_type])
    if html:
        (out / "report.html").write_text(render_html(data, images))
    return json_path


def _scanned(per_type: dict) -> str:
    """The "scanned/found" cell, with how many are symmetry-distinct when the choice was among those."""
    distinct = f" ({per_type['n_distinct']} distinct)" if "n_distinct" in per_type else ""
    return f"{per_type['n_scans']}/{per_type['n_found']}{distinct}"


def render_html(data: dict, images: dict[str, bytes]) -> str:
    """One self-contained page: score, per-type table, every artifact, the plots inline."""
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(t)}</td><td>{_num(v['score'])}</td><td>{_scanned(v)}</td>"
        f"<td>{v['n_artifacts']}</td><td>{esc(', '.join(f'{k}×{n}' for k, n in v['artifact_kinds'].items()))}</td></tr>"
        for t, v in data["per_type"].items()
    )
    arts = "".join(
        f"<tr><td>{esc(b['label'])}</td><td>{esc(a['kind'])}</td><td>{a['r_angstrom']:.3f}</td>"
        f"<td>{a['size']:.4g} {esc(a['unit'])}</td><td>{esc(a['detail'])}</td></tr>"
        for b in data["bonds"] for a in b["artifacts"]
    ) or "<tr><td colspan=5>none: every detector stayed quiet</td></tr>"
    errors = "".join(f"<li>{esc(b['label'])}: {esc(e)}</li>" for b in data["bonds"] for e in b["errors"])
    figs = "".join(
        f"<h3>{esc(t)}</h3><img alt='{esc(t)} scan' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
        for t, png in images.items()
    )
    banner = _failure_banner(data)
    bonds_v2 = _bonds_v2_table(data) if data.get("score_version") == "v2" else ""
    t = data["timings"]
    resumed = (f", {t['resumed_model_seconds']:.1f} s of it in curves resumed from an earlier run"
               if t.get("resumed_model_seconds") else "")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>BSCT: {esc(data['model'])}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}img{{max-width:100%}}</style></head><body>
<h1>BSCT report: {esc(data['model'])}</h1>{banner}
<p><b>BSCT score {_num(data['score'])}</b>{_weighted(data)} (lower is smoother; 0 means every detector was quiet) —
{data['n_artifacts']} artifact(s) in {len(data['bonds'])} scan(s), {t['n_points']} points,
{t['n_model_calls']} model calls, {t['wall_seconds']:.1f} s wall ({t['model_seconds']:.1f} s in the model{resumed}).
Schema {esc(data['schema'])}; bsct {esc(data['versions'].get('bsct', '?'))}.</p>
<h2>Per bond type</h2><table><tr><th>type</th><th>score</th><th>scanned/found</th><th>artifacts</th><th>kinds</th></tr>{rows}</table>
{bonds_v2}<h2>Artifacts</h2><table><tr><th>bond</th><th>kind</th><th>r (Å)</th><th>size</th><th>detail</th></tr>{arts}</table>
{f'<h2>Failed points</h2><ul>{errors}</ul>' if errors else ''}
<h2>Scans</h2>{figs}
</body></html>"""


def _num(value, fmt: str = ".3f") -> str:
    """A score for the page: a number, or "n/a" when nothing could be scored (null in the JSON)."""
    return "n/a" if value is None else format(value, fmt)


def _weighted(data: dict) -> str:
    if data.get("temperature_k") is None:
        return ""
    return f", weighted at {data['temperature_k']:g} K: <b>{_num(data['weighted_score'])}</b>"


def _failure_banner(data: dict) -> str:
    """A red box when evaluations failed: the score then covers only the points that ran."""
    if data.get("complete", True):
        return ""
    msgs = "".join(f"<li>{html.escape(m)}</li>" for m in data.get("failed_evaluations", []))
    return ("<div style='border:2px solid #c00;background:#fee;padding:0.5em 1em'><b>Incomplete: "
            f"{data['n_failed_points']} scan point(s) failed to evaluate</b> (the model raised or returned NaN/inf). "
            "Failed points are not scored: the score covers only the points that ran and is not a verdict "
            f"on the model.<ul>{msgs}</ul></div>")


def _bonds_v2_table(data: dict) -> str:
    """v2: per bond, both scores and the range actually scored (the collision guard may end it early)."""
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(b['label'])}</td><td>{esc(b['mode'])}</td><td>{_num(b['score'])}</td>"
        f"<td>{_num(b['weighted_score'])}</td><td>{_range(b['r_range_angstrom'])}</td>"
        f"<td>{_range(b['scored_range_angstrom'])}</td><td>{b['n_excluded_by_collision_guard']}</td>"
        f"<td>{b['n_failed_points']}</td></tr>"
        for b in data["bonds"])
    return ("<h2>Bonds (BSCT v2)</h2><table><tr><th>bond</th><th>mode</th><th>score</th><th>weighted</th>"
            "<th>scanned r (Å)</th><th>scored r (Å)</th><th>excluded (third atom)</th><th>failed</th></tr>"
            f"{rows}</table>")


def _range(pair) -> str:
    lo, hi = pair
    return "none" if lo is None else f"{lo:.3f}–{hi:.3f}"
