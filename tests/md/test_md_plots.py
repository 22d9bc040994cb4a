"""The trace plot returns a figure with the energy and temperature panels."""

from __future__ import annotations

from bsct.md.run import MDConfig, run_md_stability
from bsct.potentials.pair import Morse
from bsct.report.md_plots import plot_md_traces


def test_plot_md_traces(cu4):
    result = run_md_stability(Morse(), [cu4], MDConfig(time_ps=0.02, timestep_fs=2.0, equilibration_ps=0.01, replicas=2))
    fig = plot_md_traces(result)
    axes = fig.get_axes()
    assert len(axes) == 2
    assert "meV/atom" in axes[0].get_ylabel() and "K" in axes[1].get_ylabel()
    assert len(axes[0].get_lines()) == 2
