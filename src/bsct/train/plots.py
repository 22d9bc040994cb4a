"""Learning curve with the BSCT score next to it (returns a figure; saving is the caller's job)."""

from __future__ import annotations

from typing import Sequence


def plot_history(history: Sequence[dict]):
    """Train/val loss (log scale, left axis) and BSCT score (right axis) against epoch.

    Uses ``matplotlib.figure.Figure`` directly, so no global pyplot state is touched.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    epochs = [h["epoch"] for h in history]
    ax.semilogy(epochs, [h["train_loss"] for h in history], label="train loss")
    ax.semilogy(epochs, [h["val_loss"] for h in history], label="val loss (EMA)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (eV² units)")
    scored = [h for h in history if "bsct_score" in h]
    handles, labels = ax.get_legend_handles_labels()
    if scored:
        ax2 = ax.twinx()
        line = ax2.plot([h["epoch"] for h in scored], [h["bsct_score"] for h in scored], "o-", color="C3", label="BSCT score")
        ax2.set_ylabel("BSCT score (lower = smoother)")
        handles, labels = handles + line, labels + ["BSCT score"]
    ax.legend(handles, labels, loc="upper right")
    return fig
