"""Scatter plots of a design-loop study: a score (BSCT or the paper's FSD) against MD stability.

Each function returns a ``matplotlib.figure.Figure`` built with the object API: no pyplot
state, no global setting changed; saving (``fig.savefig``) is the caller's business.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from bsct.report.study_tables import with_interval

#: Marker of each kind of potential, colour of each system (planted controls are drawn hollow).
MARKERS = {"variant": "o", "weakened": "s", "reference": "*", "third_party": "D", "planted": "X"}
COLORS = {"cu": "tab:orange", "si": "tab:blue", "water": "tab:cyan", "molecules": "tab:green"}


def md_measure(r: dict, y_key: str) -> float:
    """The row's MD measure ``y_key``: a row key, or ``time_to_failure_fraction`` (mean t_fail / run length)."""
    if y_key == "time_to_failure_fraction":
        return r["md_mean_time_to_failure_ps"] / r["md_duration_ps"]
    return r[y_key]


def scatter_potentials(ax, rows: Sequence[dict], y_key: str, x_key: str, name_of: Callable[[dict], str],
                       label_width: int = 60) -> None:
    """Points (marker = kind, colour = system, planted hollow), potentials sharing a point in one label.

    Rows without MD (a scan-only reference) or without ``x_key`` are left out."""
    groups: dict[tuple, list[tuple[float, str]]] = {}  # (x bin, y) -> (x, name) of its points
    for r in rows:
        if r.get(x_key) is None or r.get("md_stable_fraction") is None:  # no MD (a scan-only reference)
            continue
        x, y = float(r[x_key]), float(md_measure(r, y_key))
        color = COLORS.get(r["system"], "k")
        ax.scatter([x], [y], marker=MARKERS.get(r["kind"], "o"), s=80, alpha=0.8,
                   facecolors="none" if r["kind"] == "planted" else color, edgecolors=color)
        # one label for the points of one bin: 0.1 in log10 x (a factor 1.26) above 0.1, 0.01 below
        x_bin = ("log", round(math.log10(x), 1)) if x > 0.1 else ("linear", round(x, 2))  # the symlog's two parts
        groups.setdefault((x_bin, round(y, 2)), []).append((x, name_of(r)))
    row_count: dict[float, int] = {}
    for (_, y), members in sorted(groups.items()):
        x, names = min(m[0] for m in members), [m[1] for m in members]
        ax.annotate(_wrap_label(names, label_width), (x, y), fontsize=5.5,
                    xytext=(3, _label_offset_points(y, row_count)), textcoords="offset points")
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlim(left=-0.02)
    ax.set_ylim(-0.08, 1.08)


def _wrap_label(names: list[str], label_width: int) -> str:
    """The names of one point, ``"N potentials: ..."`` past three, wrapped at ``label_width`` characters."""
    text = ", ".join(names) if len(names) <= 3 else f"{len(names)} potentials: " + ", ".join(names)
    if len(text) > label_width:
        words, lines, line = text.split(", "), [], ""
        for w in words:
            if len(line) + len(w) > label_width:
                lines.append(line)
                line = ""
            line += (", " if line else "") + w
        text = ",\n".join(lines + [line])
    return text


def _label_offset_points(y: float, row_count: dict[float, int]) -> float:
    """Vertical label offset that staggers the labels of points on the same row (below near y = 1)."""
    k = row_count[y] = row_count.get(y, -1) + 1
    return -(10 + 7 * (k % 3)) if y > 0.9 else 4 + 7 * (k % 3)


def axis_labels(x_key: str, y_key: str) -> tuple[str, str]:
    """(x label, y label) of a score ``x_key`` against an MD measure ``y_key``."""
    x = ("BSCT score (lower = smoother; symlog axis, 0 = no artifact)" if x_key == "bsct_score"
         else "FSD (1/Å, lower = smoother; symlog axis)")
    return x, "MD stable fraction" if y_key == "md_stable_fraction" else "mean time to failure / run length"


def _legend_handles(rows: Sequence[dict], systems: bool) -> list:
    """Grey markers of the kinds present (and, with ``systems``, a dot per system colour)."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker=m, ls="", color="gray", label=k) for k, m in MARKERS.items()
               if any(r["kind"] == k for r in rows)]
    if systems:
        handles += [Line2D([], [], marker="o", ls="", color=c, label=s) for s, c in COLORS.items()
                    if any(r["system"] == s for r in rows)]
    return handles


def plot_correlation(rows: Sequence[dict], y_key: str = "md_stable_fraction", x_key: str = "bsct_score"):
    """Scatter of BSCT score (``x_key="fsd_per_angstrom"``: the paper's FSD; symlog x, so 0 = clean
    shows) vs an MD stability measure (``md_stable_fraction`` or ``time_to_failure_fraction``);
    marker = kind of potential, colour = system, planted controls hollow. Potentials that share a
    point are listed in one label. Returns the figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.2, 4.8))
    ax = fig.subplots()
    scatter_potentials(ax, rows, y_key, x_key, lambda r: f"{r['system']}/{r['potential']}")
    x_label, y_label = axis_labels(x_key, y_key)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.legend(handles=_legend_handles(rows, systems=True), fontsize=7, loc="upper left",
              bbox_to_anchor=(1.01, 1.0))  # outside: no point hidden
    fig.tight_layout()
    return fig


def plot_correlation_by_system(rows: Sequence[dict], correlation: dict, y_key: str = "md_stable_fraction",
                               x_key: str = "bsct_score"):
    """The scatter of :func:`plot_correlation`, one panel per system, each titled with its own
    Pearson r and Spearman ρ (``correlation`` from
    :func:`bsct.metrics.correlation.correlation_summary`): how well the score ranks the
    potentials of one system, which pooled points hide. Returns the figure."""
    from matplotlib.figure import Figure

    systems = list(dict.fromkeys(r["system"] for r in rows))
    ncols = min(2, len(systems))
    nrows = math.ceil(len(systems) / ncols)
    fig = Figure(figsize=(6.2 * ncols, 3.9 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    key = ("fsd_" if x_key == "fsd_per_angstrom" else "") + y_key.removeprefix("md_")
    x_label, y_label = axis_labels(x_key, y_key)
    for ax, system in zip(axes.flat, systems):
        scatter_potentials(ax, [r for r in rows if r["system"] == system], y_key, x_key, lambda r: r["potential"],
                           label_width=40)
        subset = f"system_{system}" if len(systems) > 1 else "all"  # one system: its rows are "all"
        c = correlation.get(subset, {}).get(key, {})
        stats = (f": r = {with_interval(c['pearson_r'], c['pearson_ci95'])}, "
                 f"ρ = {c['spearman_rho']:.2f} (n = {c['n']})" if "pearson_r" in c else "")
        ax.set_title(system + stats, fontsize=9)
        ax.set_xlabel(x_label, fontsize=8)
        ax.set_ylabel(y_label, fontsize=8)
    for ax in list(axes.flat)[len(systems):]:
        ax.set_axis_off()
    handles = _legend_handles(rows, systems=False)
    fig.legend(handles=handles, fontsize=8, loc="lower center", ncol=len(handles), frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig
