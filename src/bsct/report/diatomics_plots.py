"""Figures and the HTML page of a diatomics run. Plot functions return a Figure; saving is the caller's."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path

import numpy as np
from ase.data import atomic_numbers, chemical_symbols
from matplotlib import colormaps
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from bsct.report.plots import MARKERS

# Last atomic number of each period: 2, 10, 18, 36, 54, 86, 118.
_PERIOD_ENDS = (2, 10, 18, 36, 54, 86, 118)


def periodic_table_position(symbol: str) -> tuple[int, int]:
    """(row, column), 1-based, of the usual 18-column table; La-Lu in row 8, Ac-Lr in row 9.

    Built from the period lengths alone (no pymatgen): periods 1-3 skip the d-block gap,
    periods 6-7 send their f-block to the rows below, columns 3-17.
    """
    z = atomic_numbers[symbol]
    if not 1 <= z <= 118:
        raise ValueError(f"no periodic-table position for {symbol!r}")
    period = next(p for p, end in enumerate(_PERIOD_ENDS, start=1) if z <= end)
    k = z - (_PERIOD_ENDS[period - 2] if period > 1 else 0) - 1  # 0-based index within the period
    if period == 1:
        return 1, 1 if k == 0 else 18
    if period in (2, 3):
        return period, k + 1 if k < 2 else k + 11
    if period in (4, 5):
        return period, k + 1
    if 2 <= k <= 16:  # La-Lu, Ac-Lr
        return period + 2, k + 1
    return period, k + 1 if k < 2 else k - 13


def plot_periodic_table(
    values: dict[str, float], metric: str, log_scale: bool = False, cmap: str = "viridis", title: str = ""
) -> Figure:
    """Heat map of one number per element on the periodic table (grey: not run or not finite)."""
    fig = Figure(figsize=(11, 5.6), layout="constrained")
    ax = fig.subplots()
    finite = {s: float(v) for s, v in values.items() if v is not None and math.isfinite(float(v))}
    positive = [v for v in finite.values() if v > 0]
    if log_scale and positive:
        norm = LogNorm(vmin=min(positive), vmax=max(max(positive), min(positive) * 10))
    else:
        lo, hi = (min(finite.values()), max(finite.values())) if finite else (0.0, 1.0)
        norm = Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1.0)
    colour = colormaps[cmap]
    for z in range(1, 119):
        symbol = chemical_symbols[z]
        row, col = periodic_table_position(symbol)
        y = row + (0.4 if row >= 8 else 0.0)
        value = finite.get(symbol)
        shown = value is not None and not (log_scale and value <= 0)
        face = colour(norm(value)) if shown else ((0.93, 0.93, 0.93) if symbol not in values else (0.75, 0.75, 0.75))
        ax.add_patch(_box(col, y, face))
        dark = shown and sum(face[:3]) < 1.5
        ax.text(col, y - 0.12, symbol, ha="center", va="center", fontsize=9, weight="bold" if symbol in values else None,
                color="white" if dark else "black")
        if symbol in values:
            label = f"{value:.3g}" if value is not None else "n/a"
            ax.text(col, y + 0.25, label, ha="center", va="center", fontsize=6, color="white" if dark else "black")
    ax.set_xlim(0.4, 18.6)
    ax.set_ylim(9.9, 0.4)
    ax.set_aspect("equal")
    ax.axis("off")
    mappable = fig.colorbar(_scalar_mappable(norm, colour), ax=ax, shrink=0.6, pad=0.01)
    mappable.set_label(metric)
    fig.suptitle(title or f"{metric} per element (homonuclear dimers)")
    return fig


def _box(col: float, y: float, face):
    from matplotlib.patches import Rectangle

    return Rectangle((col - 0.47, y - 0.47), 0.94, 0.94, facecolor=face, edgecolor="white", lw=1)


def _scalar_mappable(norm, cmap):
    from matplotlib.cm import ScalarMappable

    return ScalarMappable(norm=norm, cmap=cmap)


def plot_diatomic_curve(record: dict, title: str = "", cutoff_angstrom: float | None = None) -> Figure:
    """E(r) - E(r_max) and Arena's F(r) of one pair, each of our artifacts marked where it was found.

    The energy axis shows the well and a few well depths above it (Arena's plots clip the same
    way): short-range energies of hundreds of eV would otherwise flatten everything.
    """
    r = np.asarray(record["r_angstrom"], float)
    e = np.asarray([np.nan if v is None else v for v in record["energy_ev"]], float)
    f = np.asarray([np.nan if v is None else v for v in record["force_ev_per_angstrom"]], float)
    finite = np.isfinite(e)
    e_far = e[finite][np.argmax(r[finite])] if finite.any() else 0.0
    e = e - e_far
    fig = Figure(figsize=(7, 5.5), layout="constrained")
    ax_e, ax_f = fig.subplots(2, 1, sharex=True)
    ax_e.plot(r, e, lw=1.3, color="tab:blue")
    ax_f.plot(r, f, lw=1.3, color="tab:red")
    seen: set[str] = set()
    for art in record.get("artifacts", []):
        marker, colour = MARKERS.get(art["kind"], ("o", "k"))
        k = int(np.argmin(np.abs(r - art["r_angstrom"])))
        ax_e.plot(r[k], e[k], marker=marker, color=colour, ms=9, ls="none", mfc="none", mew=2,
                  label=None if art["kind"] in seen else art["kind"])
        ax_f.plot(r[k], f[k], marker=marker, color=colour, ms=9, ls="none", mfc="none", mew=2)
        seen.add(art["kind"])
    if finite.any():
        depth = max(-np.nanmin(e), 0.5)
        ax_e.set_ylim(-1.3 * depth, 3.0 * depth)
        outside = finite & np.isfinite(f) & (r > r[finite][np.nanargmin(e[finite])])  # attractive branch
        f_lim = max(np.abs(f[outside]).max() if outside.any() else 1.0, 0.1)
        ax_f.set_ylim(-2.0 * f_lim, 4.0 * f_lim)
    for ax in (ax_e, ax_f):
        ax.axhline(0, color="0.3", lw=0.8)
        if cutoff_angstrom is not None and cutoff_angstrom < r.max():
            ax.axvline(cutoff_angstrom, color="0.6", ls=":", lw=1)
        ax.grid(alpha=0.3)
    ax_e.set_ylabel("E − E(r_max) (eV)")
    ax_f.set_ylabel("F on atom 2 (eV/Å)")
    ax_f.set_xlabel("r (Å)")
    if seen:
        ax_e.legend(fontsize=7, loc="upper right")
    score = record.get("bsct_score")
    default = f"{record['pair']}  (BSCT score {score:.2f})" if score is not None else record["pair"]
    fig.suptitle(title or default)
    return fig


def png_bytes(fig: Figure, dpi: int = 90) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


HTML_METRICS = ("force-flip-times", "energy-diff-flip-times", "tortuosity", "energy-jump", "force-jump",
                "conservation-deviation", "spearman-repulsion-energy", "spearman-descending-force")
"""Columns of the HTML table: Arena's leaderboard columns plus the two jumps."""


def element_values(data: dict, metric: str) -> dict[str, float | None]:
    """{element: metric} over homonuclear pairs; metric is an Arena name or ``bsct_score``."""
    out = {}
    for rec in data["pairs"].values():
        a, b = rec["elements"]
        if a == b:
            out[a] = rec.get("bsct_score") if metric == "bsct_score" else rec["metrics"].get(metric)
    return out


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{value:.3g}"


def _incomplete(rec: dict) -> str:
    """Beside the score of a pair whose evaluation failed: the score covers only the points that ran."""
    if rec.get("complete", True):
        return ""
    return f" <span style='color:#c00'>incomplete: {rec['n_failed_points']} point(s) failed</span>"


def render_diatomics_html(data: dict, images: dict[str, bytes]) -> str:
    """One self-contained page: per pair Arena's numbers beside ours, every artifact, the plots."""
    esc = html.escape
    head = "".join(f"<th>{esc(m)}</th>" for m in HTML_METRICS)
    rows = "".join(
        f"<tr><td>{esc(p)}</td><td>{rec['n_points']}</td>"
        + "".join(f"<td>{_fmt(rec['metrics'].get(m))}</td>" for m in HTML_METRICS)
        + f"<td><b>{_fmt(rec['bsct_score'])}</b>{_incomplete(rec)}</td><td>{len(rec['artifacts'])}</td>"
        f"<td>{esc('; '.join(rec['errors']))}</td></tr>"
        for p, rec in data["pairs"].items()
    )
    arts = "".join(
        f"<tr><td>{esc(p)}</td><td>{esc(a['kind'])}</td><td>{a['r_angstrom']:.3f}</td>"
        f"<td>{a['size']:.4g} {esc(a['unit'])}</td><td>{esc(a['detail'])}</td></tr>"
        for p, rec in data["pairs"].items() for a in rec["artifacts"]
    ) or "<tr><td colspan=5>none: every detector stayed quiet</td></tr>"
    figs = "".join(
        f"<figure><img alt='{esc(name)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
        f"<figcaption>{esc(name)}</figcaption></figure>"
        for name, png in images.items()
    )
    t = data.get("timings", {})
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Diatomics: {esc(data['model'])}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse;font-size:90%}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:left}}img{{max-width:100%}}figure{{margin:1em 0}}</style></head><body>
<h1>Diatomics: {esc(data['model'])}</h1>
<p>{len(data['pairs'])} pair(s) on MLIP Arena's grid (0.9·R_cov to 3.1·R_vdW, ~0.01 Å), {t.get('n_points', '?')} points,
{t.get('wall_seconds', 0):.1f} s wall. Left: MLIP Arena's metrics (their names and definitions); right: the BSCT
score and our localised artifacts on the same curve (0 = every detector quiet). Schema {esc(data['schema'])}.</p>
<h2>Diatomics section</h2>
<table><tr><th>pair</th><th>points</th>{head}<th>BSCT score</th><th>artifacts</th><th>errors</th></tr>{rows}</table>
<h2>Artifacts</h2><table><tr><th>pair</th><th>kind</th><th>r (Å)</th><th>size</th><th>detail</th></tr>{arts}</table>
<h2>Plots</h2>{figs}
</body></html>"""


def write_diatomics_report(data: dict, out_dir: str | Path, metric: str = "force-flip-times") -> Path:
    """plots/<pair>.png, periodic-table heat maps (``metric`` and BSCT score) and report.html."""
    out = Path(out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    images: dict[str, bytes] = {}
    if any(a == b for a, b in (rec["elements"] for rec in data["pairs"].values())):
        for name in dict.fromkeys((metric, "bsct_score")):
            fig = plot_periodic_table(element_values(data, name), name, title=f"{data['model']}: {name} per element")
            images[f"periodic table: {name}"] = png_bytes(fig)
            (out / "plots" / f"ptable_{name}.png").write_bytes(images[f"periodic table: {name}"])
    for pair, rec in data["pairs"].items():
        if rec["bsct_score"] is None:
            continue
        png = png_bytes(plot_diatomic_curve(rec, cutoff_angstrom=data.get("cutoff_angstrom")))
        images[pair] = png
        (out / "plots" / f"{pair}.png").write_bytes(png)
    path = out / "report.html"
    path.write_text(render_diatomics_html(data, images))
    return path


def load_diatomics(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def plot_models_overlay(curves: dict[str, dict], pair: str, energy_window_ev: float | None = None) -> Figure:
    """E(r) - E(r_max) of one pair for several models ({model label: pair record}), one axis.

    The energy window defaults to the deepest well and three times its depth above zero.
    """
    fig = Figure(figsize=(5.5, 3.6), layout="constrained")
    ax = fig.subplots()
    depth = 0.5
    for label, rec in curves.items():
        r = np.asarray(rec["r_angstrom"], float)
        e = np.asarray([np.nan if v is None else v for v in rec["energy_ev"]], float)
        ok = np.isfinite(e)
        if not ok.any():
            continue
        e = e - e[ok][np.argmax(r[ok])]
        depth = max(depth, -np.nanmin(e))
        ax.plot(r, e, lw=1.2, label=f"{label} (BSCT {rec['bsct_score']:.2f})")
    window = energy_window_ev or 3.0 * depth
    ax.set_ylim(-1.2 * depth, window)
    ax.axhline(0, color="0.3", lw=0.8)
    ax.grid(alpha=0.3)
    ax.set_xlabel("r (Å)")
    ax.set_ylabel("E − E(r_max) (eV)")
    ax.set_title(pair)
    ax.legend(fontsize=7)
    return fig
