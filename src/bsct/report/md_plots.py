"""Plots of MD stability runs: E_total(t) drift and T(t) per replica. Functions return figures;
saving (and the backend) is the caller's business, and no global matplotlib setting is touched.
"""

from __future__ import annotations

import numpy as np


def plot_md_traces(result, max_replicas: int = 16):
    """Two panels: (E_total(t) - E_total(t₀)) / N in meV/atom and T(t) in K, one line per replica.

    ``t₀`` is the start of NVE production (shaded region before it is the thermostatted
    equilibration, where E_total is not conserved). Failed replicas are drawn dashed and their
    failure marked with an ×. ``result`` is a :class:`bsct.md.run.MDStabilityResult` (or anything
    with ``.runs`` of :class:`bsct.md.results.RunResult`, and ``.model``).
    Returns a ``matplotlib.figure.Figure``.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 6), layout="constrained")
    ax_e, ax_t = fig.subplots(2, 1, sharex=True)
    runs = list(result.runs)[:max_replicas]
    colors = [f"C{i % 10}" for i in range(len(runs))]
    prod_start = runs[0].production_start_ps if runs else 0.0
    for run, color in zip(runs, colors):
        t = np.asarray(run.trace.get("time_ps", []), dtype=float)
        e = np.asarray([np.nan if v is None else v for v in run.trace.get("total_energy_ev", [])], dtype=float)
        temp = np.asarray([np.nan if v is None else v for v in run.trace.get("temperature_k", [])], dtype=float)
        if len(t) == 0:
            continue
        prod = t >= run.production_start_ps - 1e-12
        e0 = e[prod][0] if prod.any() and np.isfinite(e[prod][0]) else np.nan
        de = (e - e0) / run.n_atoms * 1e3
        style = "-" if run.stable else "--"
        label = f"replica {run.replica}" + ("" if run.stable else f" ({run.reason})")
        ax_e.plot(t[prod], de[prod], style, color=color, lw=1, label=label)
        ax_t.plot(t, temp, style, color=color, lw=1)
        if not run.stable and run.time_to_failure_ps is not None:
            ax_t.plot([t[-1]], [temp[-1]], "x", color=color, ms=8)
            if prod.any():
                ax_e.plot([t[prod][-1]], [de[prod][-1]], "x", color=color, ms=8)
    for ax in (ax_e, ax_t):
        if prod_start > 0:
            ax.axvspan(0, prod_start, color="0.9", zorder=0)
    ax_e.set_ylabel("E_total(t) - E_total(t0)  [meV/atom]")
    ax_t.set_ylabel("T  [K]")
    ax_t.set_xlabel("time [ps]  (grey: Langevin equilibration, then NVE)")
    s = getattr(result, "summary", {}) or {}
    title = f"{getattr(result, 'model', '')}: MD stability"
    if s.get("stable_fraction") is not None:
        title += f" — stable fraction {s['stable_fraction']:.2f} ({s['n_stable']}/{s['n_runs']})"
    ax_e.set_title(title)
    if runs:
        ax_e.legend(fontsize=7, ncol=2, loc="best")
    return fig
