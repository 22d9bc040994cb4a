"""Figures of the validation study: ROC curves, survival split by verdict, predictor vs failures.

Inputs are the study's ``units`` and ``replicas`` tables (see :mod:`bsct.metrics.validation_stats`).
Each function returns a ``matplotlib.figure.Figure`` built with the object API: no pyplot state,
no global setting changed; saving is the caller's business.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bsct.metrics.validation_analysis import OUTCOMES, predictor_names
from bsct.metrics.validation_stats import UNIT_KEYS, auc
from bsct.runs import safe_name

OUTCOME_TITLES = {"any_failure": "any failure", "conservation_failure": "conservation failure",
                  "structural_failure": "structural failure"}


def _half(units: pd.DataFrame, split: str | None) -> pd.DataFrame:
    return units if split is None else units[units["split"] == split]


def plot_roc(units: pd.DataFrame, predictors: Sequence[str] | None = None, split: str | None = "held_out",
             outcomes: Sequence[str] = tuple(OUTCOMES)):
    """ROC curve of every predictor, one panel per binary outcome, on the units of ``split``.

    A predictor is drawn on the units where it is finite; the legend gives its AUC there. A
    panel whose outcome has a single class says so instead of drawing curves."""
    from matplotlib.figure import Figure
    from sklearn.metrics import roc_curve

    u = _half(units, split)
    predictors = list(predictors) if predictors is not None else predictor_names(u)
    fig = Figure(figsize=(4.6 * len(outcomes), 4.4), layout="constrained")
    axes = fig.subplots(1, len(outcomes), squeeze=False)[0]
    for ax, outcome in zip(axes, outcomes):
        ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", label="chance")
        for name in predictors:
            pred, label = u[f"pred:{name}"].to_numpy(float), u[outcome].to_numpy(bool)
            ok = np.isfinite(pred)
            value = auc(pred[ok], label[ok])
            if math.isnan(value):
                continue
            fpr, tpr, _ = roc_curve(label[ok], pred[ok])
            ax.plot(fpr, tpr, label=f"{name} (AUC {value:.2f}, n = {ok.sum()})")
        if len(ax.lines) == 1:
            ax.text(0.5, 0.5, "undefined: one class only", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"{OUTCOME_TITLES.get(outcome, outcome)} ({split or 'all units'})")
        ax.set_xlabel("false positive rate (stable units flagged)")
        ax.set_ylabel("true positive rate (failing units flagged)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=6.5, loc="lower right")
    return fig


def replicas_with_predictor(units: pd.DataFrame, replicas: pd.DataFrame, predictor: str,
                            split: str | None = "held_out") -> pd.DataFrame:
    """The replicas of ``split`` with their unit's value of ``predictor`` (column ``pred``)."""
    u = _half(units, split)[[*UNIT_KEYS, f"pred:{predictor}"]].rename(columns={f"pred:{predictor}": "pred"})
    return replicas.merge(u, on=list(UNIT_KEYS), how="inner", validate="many_to_one")


def plot_survival_by_verdict(units: pd.DataFrame, replicas: pd.DataFrame, predictor: str, threshold: float,
                             split: str | None = "held_out"):
    """Kaplan-Meier survival of the replicas of ``split``, split by the predictor's verdict.

    The verdict (predicted to fail iff predictor >= ``threshold``) uses the threshold tuned on
    the calibration half; a NaN threshold (none beat chance there) draws all replicas as one
    curve. Shaded: lifelines' 95 % pointwise interval, which treats replicas as independent;
    replicas of one potential are not, so the band is narrower than the evidence. Replicas of
    units without the predictor are left out."""
    from lifelines import KaplanMeierFitter
    from matplotlib.figure import Figure

    r = replicas_with_predictor(units, replicas, predictor, split)
    r = r[np.isfinite(r["pred"].to_numpy(float))]
    if np.isfinite(threshold):
        flagged = r["pred"].to_numpy(float) >= threshold
        groups = [(f"predicted to fail (>= {threshold:.3g})", flagged, "tab:red"),
                  (f"predicted stable (< {threshold:.3g})", ~flagged, "tab:blue")]
    else:
        groups = [("all (no calibration threshold beats chance)", np.ones(len(r), bool), "0.3")]
    fig = Figure(figsize=(6.0, 4.2), layout="constrained")
    ax = fig.subplots()
    for label, rows, color in groups:
        if not rows.any():
            continue
        kmf = KaplanMeierFitter().fit(r["time_ps"].to_numpy(float)[rows], r["failed"].to_numpy(bool)[rows])
        survival = kmf.survival_function_.iloc[:, 0]
        band = kmf.confidence_interval_
        n_units = r[rows].drop_duplicates(list(UNIT_KEYS)).shape[0]
        ax.step(survival.index, survival.to_numpy(), where="post", color=color,
                label=f"{label}: {rows.sum()} replicas of {n_units} units")
        ax.fill_between(band.index, band.iloc[:, 0], band.iloc[:, 1], step="post", color=color, alpha=0.15)
    ax.set_xlabel("time from the start of the run (ps)")
    ax.set_ylabel("fraction of replicas not yet failed")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{predictor}: survival by verdict ({split or 'all units'})")
    ax.legend(fontsize=7, loc="lower left")
    return fig


def plot_predictor_vs_failure(units: pd.DataFrame, predictor: str, split: str | None = "held_out",
                              xscale: str = "linear"):
    """Failed fraction of each unit against ``predictor``, one panel per system, colour = family.

    Marker: circle at the lowest temperature of the system, triangle above it. ``xscale="symlog"``
    for scores that span decades (BSCT)."""
    from matplotlib.figure import Figure

    u = _half(units, split)
    u = u[np.isfinite(u[f"pred:{predictor}"].to_numpy(float))]
    systems = sorted(u["system"].unique())
    families = sorted(u["family"].unique())
    colors = {f: f"C{i % 10}" for i, f in enumerate(families)}
    fig = Figure(figsize=(4.4 * max(len(systems), 1), 4.0), layout="constrained")
    axes = fig.subplots(1, max(len(systems), 1), squeeze=False)[0]
    for ax, system in zip(axes, systems):
        s = u[u["system"] == system]
        low_t = s["temperature_k"].min()
        for family in families:
            f = s[s["family"] == family]
            if f.empty:
                continue
            low = (f["temperature_k"] == low_t).to_numpy()
            for rows, marker in ((low, "o"), (~low, "^")):
                if rows.any():
                    labelled = marker == "o" or not low.any()  # one legend entry per family
                    ax.scatter(f.loc[rows, f"pred:{predictor}"], f.loc[rows, "failure_fraction"], color=colors[family],
                               marker=marker, s=30, alpha=0.8, label=family if labelled else None)
        ax.set_title(f"{system} (circle {low_t:g} K, triangle higher T)")
        ax.set_xlabel(f"{predictor} (higher = predicted less stable)")
        ax.set_ylabel("failed fraction of replicas")
        ax.set_ylim(-0.05, 1.05)
        ax.set_xscale(xscale)
        ax.legend(fontsize=6.5)
    return fig


def validation_figures(units: pd.DataFrame, replicas: pd.DataFrame, thresholds: dict,
                       split: str = "held_out") -> dict[str, object]:
    """Every figure of docs/validation.md by file stem: ``roc``, then per predictor
    ``survival_<name>`` and ``scatter_<name>``. ``thresholds`` is the analysis dict's
    ``thresholds`` (calibration-tuned values); the caller saves them (``fig.savefig``)."""
    figures: dict[str, object] = {"roc": plot_roc(units, split=split)}
    for name in predictor_names(units):
        value = (thresholds.get(name) or {}).get("calibration", {}).get("value")
        safe = safe_name(name, keep="-_")
        figures[f"survival_{safe}"] = plot_survival_by_verdict(units, replicas, name,
                                                               math.nan if value is None else value, split)
        figures[f"scatter_{safe}"] = plot_predictor_vs_failure(units, name, split)
    return figures
