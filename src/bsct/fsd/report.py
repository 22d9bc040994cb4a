"""FSD report: one figure per system (plot functions return a Figure) and one self-contained HTML page."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from bsct.fsd.metric import METRIC_KEYS, PARTS
from bsct.report.writer import png_bytes


def plot_fsd_system(label: str, curves: dict, metrics: dict, model_name: str = "model",
                    linthresh_ev2_per_angstrom2: float = 10.0, dforce_sq_max: float = 1e4) -> Figure:
    """Top: reference energy and the model's force-integrated profile (both 0 at r_eq).
    Bottom: |dF|² of model and reference on a symlog axis; the log ratio L on a twin axis,
    whose steepest slope is the FSD (frames of the steepest step marked). Axis limits follow
    the official plots: energy -1..11 eV, |dF|² 0..1e4."""
    r = np.asarray(curves["r_angstrom"])
    eq = int(curves["eq_idx"])
    fig = Figure(figsize=(8, 6))  # fixed margins: constrained layout costs seconds per figure
    fig.subplots_adjust(left=0.1, right=0.9, top=0.93, bottom=0.09, hspace=0.08)
    ax_e, ax_f = fig.subplots(2, 1, sharex=True)
    ax_e.plot(r, curves["energy_ref_profile_ev"], "k--", lw=1.3, label="reference")
    ax_e.plot(r, curves["energy_model_profile_ev"], "C0", lw=1.3, label=f"{model_name} (integrated forces)")
    ax_e.axvline(r[eq], color="0.7", lw=0.8)
    ax_e.set_ylim(-1.0, 11.0)
    ax_e.set_ylabel("E − E(r_eq) (eV)")
    ax_e.legend(loc="upper right", fontsize=8)
    ax_e.set_title(f"{label}: FSD {metrics['full_smoothness']:.2f} 1/Å (compress {metrics['compress_smoothness']:.2f}, "
                   f"stretch {metrics['stretch_smoothness']:.2f}); E MAE {metrics['full_energy_mae']:.3g} eV, "
                   f"F MAE {metrics['full_forces_mae']:.3g} eV/Å", fontsize=9)
    ax_f.plot(r, curves["dforce_sq_ref"], "k--", lw=1.2, label="|dF_ref|²")
    ax_f.plot(r, curves["dforce_sq_model"], "C0", lw=1.2, label="|dF_model|²")
    ax_f.set_yscale("symlog", linthresh=linthresh_ev2_per_angstrom2)
    ax_f.set_ylim(0.0, dforce_sq_max)
    ax_f.set_ylabel("|dF|² ((eV/Å)²)")
    ax_f.set_xlabel("bond length r (Å)")
    ax_l = ax_f.twinx()
    log_ratio = np.asarray(curves["log_ratio"])
    ax_l.plot(r, log_ratio, "C1", lw=1.2, label="L = log ratio")
    ax_l.axhline(0.0, color="C1", ls=":", lw=0.8)
    if len(r) > 1:
        k = int(np.argmax(np.abs(np.diff(log_ratio) / np.diff(r))))
        ax_l.plot(r[k : k + 2], log_ratio[k : k + 2], "o", color="C3", ms=5, label="steepest step (FSD)")
    ax_l.set_ylabel("log ratio L", color="C1")
    handles = ax_f.get_legend_handles_labels()[0] + ax_l.get_legend_handles_labels()[0]
    ax_f.legend(handles, [h.get_label() for h in handles], loc="upper center", fontsize=8, ncol=4)
    return fig


def plot_file_name(label: str) -> str:
    return f"{label.replace('/', '_')}.png"


def write_fsd_report(result: dict, curves_by_label: dict[str, dict], out_dir: str | Path, plots: bool = True,
                     n_worst: int = 12) -> Path:
    """``plots/<BOND>_<ID>.png`` per system (an existing one is kept) and ``report.html``; returns its path.

    The page embeds the plots of the ``n_worst`` systems by full FSD and links the rest.
    """
    out = Path(out_dir)
    images: dict[str, bytes] = {}
    worst = sorted(result["systems"], key=lambda lab: -result["systems"][lab]["full_smoothness"])[:n_worst]
    if plots:
        (out / "plots").mkdir(parents=True, exist_ok=True)
        for label, curves in curves_by_label.items():
            path = out / "plots" / plot_file_name(label)
            if path.exists():  # written by an earlier (resumed) run from the same cached curves
                png = path.read_bytes() if label in worst else b""
            else:
                png = png_bytes(plot_fsd_system(label, curves, result["systems"][label], result["model"]))
                path.write_bytes(png)
            if label in worst:
                images[label] = png
    path = out / "report.html"
    path.write_text(render_fsd_html(result, images, worst, linked=plots))
    return path


def _metric_cells(values: dict) -> str:
    return "".join(f"<td>{values[k]:.3f}</td>" for k in METRIC_KEYS)


def render_fsd_html(result: dict, images: dict[str, bytes], worst: list[str], linked: bool = True) -> str:
    """Mean and per-bond tables, the worst systems ranked (with plots), skipped and failed systems."""
    esc = html.escape
    head = "".join(f"<th>{esc(k)}</th>" for k in METRIC_KEYS)
    per_bond = "".join(f"<tr><td>{esc(t)}</td><td>{v['n_systems']}</td>{_metric_cells(v)}</tr>"
                       for t, v in result["per_bond"].items())
    m = result["mean"]

    def link(lab: str) -> str:
        return f"<a href='plots/{esc(plot_file_name(lab))}'>{esc(lab)}</a>" if linked else esc(lab)

    ranked = "".join(
        f"<tr><td>{i + 1}</td><td>{link(lab)}</td><td>{result['systems'][lab]['n_atoms']}</td>"
        f"<td>{result['systems'][lab]['r_eq_angstrom']:.3f}</td>{_metric_cells(result['systems'][lab])}</tr>"
        for i, lab in enumerate(worst)
    )
    problems = "".join(f"<li>skipped (bad data) {esc(s['system'])}: {esc(s['error'])}</li>" for s in result["skipped"])
    problems += "".join(f"<li>model failed on {esc(s['system'])}: {esc(s['error'])}</li>" for s in result["failures"])
    figs = "".join(f"<h3>{esc(lab)}</h3><img alt='{esc(lab)}' src='data:image/png;base64,"
                   f"{base64.b64encode(images[lab]).decode()}'>" for lab in worst if lab in images)
    t = result["timings"]
    parts = ", ".join(f"{p} {m[f'{p}_smoothness']:.3f}" for p in PARTS)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>FSD: {esc(result['model'])}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto}}table{{border-collapse:collapse;font-size:90%}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:left}}img{{max-width:100%}}</style></head><body>
<h1>Force Smoothness Deviation: {esc(result['model'])}</h1>
<p><b>FSD (mean over {m['n_systems']} systems, 1/Å, lower is smoother): {parts}</b>; energy MAE
{m['full_energy_mae']:.3f} eV, force MAE {m['full_forces_mae']:.3f} eV/Å. Data {esc(result['data'])};
ε = {result['eps_ev_per_angstrom']} eV/Å; {t['n_systems_evaluated']} system(s) evaluated
({t['n_systems_from_cache']} from cache) in {t['wall_seconds']:.1f} s. Schema {esc(result['schema'])}.</p>
<h2>Per bond type (means over systems)</h2>
<table><tr><th>bond</th><th>n</th>{head}</tr>{per_bond}<tr><td><b>all</b></td><td>{m['n_systems']}</td>{_metric_cells(m)}</tr></table>
<h2>Worst systems (by full_smoothness)</h2>
<table><tr><th>#</th><th>system</th><th>atoms</th><th>r_eq (Å)</th>{head}</tr>{ranked}</table>
{f'<h2>Not scored</h2><ul>{problems}</ul>' if problems else ''}
<h2>Plots of the worst systems</h2>{figs or '<p>(plots not written)</p>'}
</body></html>"""
