"""Figures of bond scans. Functions return a matplotlib Figure; saving is the caller's choice."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

MARKERS = {
    "energy_jump": ("s", "tab:red"),
    "force_jump": ("D", "tab:orange"),
    "curvature_jump": ("^", "tab:purple"),
    "roughness": ("*", "tab:brown"),
    "force_inconsistency": ("x", "tab:pink"),
    "spurious_minimum": ("v", "tab:green"),
    "force_sign_flip": ("P", "tab:olive"),
    "residual_force": ("o", "tab:cyan"),
    "nonfinite": ("X", "black"),
    "tail_bump": ("h", "tab:blue"),
}


def _guarded(res, values: np.ndarray) -> np.ndarray:
    """The values the axis limits follow: v2's guarded points only (a collision's 100 eV would
    flatten the bond), every point otherwise."""
    guard = getattr(res.analysis, "guard", None)
    return values if guard is None or not guard.any() else values[guard]


def _plot_guarded(ax_e, ax_f, r, e, f, guard, label: str, label_excluded: bool) -> None:
    """A v2 scan whose collision guard excluded points: the scored part in colour, the rest grey
    (when evaluated at all: by default v2 does not evaluate them)."""
    on_e, on_f = np.where(guard, e, np.nan), np.where(guard, f, np.nan)
    (line,) = ax_e.plot(r, on_e, lw=1.2, label=label)
    ax_f.plot(r, on_f, lw=1.2, color=line.get_color())
    off = ~guard & np.isfinite(e)
    if not off.any():
        return
    ax_e.plot(r[off], e[off], ".", color="0.7", ms=3, label="not scored (third atom too close)" if label_excluded else None)
    ax_f.plot(r[off], f[off], ".", color="0.7", ms=3)


def plot_bond_type(bond_results, title: str = "", cutoff_angstrom: float | None = None) -> Figure:
    """E(r) - E(r_eq) and the scan force f_r = -dE/dr for every scanned instance of one bond type,
    with each artifact marked at its bond length (legend names the kind). v2 results also show
    the scored range (dashed lines) and the points the collision guard excluded (grey dots)."""
    fig = Figure(figsize=(9, 6.5), layout="constrained")
    ax_e, ax_f = fig.subplots(2, 1, sharex=True)
    seen = set()
    for res in bond_results:
        c, a = res.curve, res.analysis
        r = c.r_angstrom
        e = c.energy_ev - np.nanmin(c.energy_ev) if np.isfinite(c.energy_ev).any() else c.energy_ev
        f = c.scan_force_ev_per_angstrom
        guard = getattr(a, "guard", None)  # v2: points inside the collision guard's range
        if guard is None or guard.all():
            (line,) = ax_e.plot(r, e, lw=1.2, label=f"{c.label} (score {a.score:.2f})")
            ax_f.plot(r, f, lw=1.2, color=line.get_color())
        else:
            _plot_guarded(ax_e, ax_f, r, e, f, guard, f"{c.label} (score {a.score:.2f})", "excluded" not in seen)
            seen.add("excluded")
        scored = getattr(a, "scored_range_angstrom", None)
        if scored is not None and np.isfinite(scored).all():
            for ax in (ax_e, ax_f):
                for x in scored:
                    ax.axvline(x, color="0.35", ls="--", lw=0.8)
        for art in a.artifacts:
            marker, color = MARKERS.get(art.kind, ("o", "k"))
            k = int(np.argmin(np.abs(r - art.r_angstrom)))
            label = art.kind if art.kind not in seen else None
            seen.add(art.kind)
            ax_e.plot(art.r_angstrom, e[k], marker=marker, color=color, ms=9, ls="none", mfc="none", mew=2, label=label)
            ax_f.plot(art.r_angstrom, f[k], marker=marker, color=color, ms=9, ls="none", mfc="none", mew=2)
    finite_e = np.concatenate([_guarded(res, res.curve.energy_ev - np.nanmin(res.curve.energy_ev)) for res in bond_results
                               if np.isfinite(res.curve.energy_ev).any()] or [np.zeros(1)])
    finite_e = finite_e[np.isfinite(finite_e)]
    if finite_e.size:
        top = np.percentile(finite_e, 90)
        ax_e.set_ylim(-0.05 * max(top, 1e-3), 1.3 * max(top, 1e-3))
    fr = np.concatenate([_guarded(res, res.curve.scan_force_ev_per_angstrom) for res in bond_results])
    fr = fr[np.isfinite(fr)]
    if fr.size:
        lim = np.percentile(np.abs(fr), 85)
        ax_f.set_ylim(-1.5 * max(lim, 1e-3), 1.5 * max(lim, 1e-3))
    for ax in (ax_e, ax_f):
        if cutoff_angstrom is not None:
            ax.axvline(cutoff_angstrom, color="0.6", ls=":", lw=1)
        ax.grid(alpha=0.3)
    ax_f.axhline(0, color="0.3", lw=0.8)
    ax_e.set_ylabel("E − E_min (eV)")
    ax_f.set_ylabel("f_r = −dE/dr (eV/Å)")
    ax_f.set_xlabel("bond length r (Å)")
    ax_e.legend(fontsize=7, loc="upper right")
    fig.suptitle(title)
    return fig
