"""MD stability: batched integrators, failure criteria and seeded replica runs (the ground truth BSCT predicts).

Public API (imported lazily, so ``import bsct.md`` does not load torch)::

    from bsct.md import run_md_stability, MDConfig, StabilityCriteria
    result = run_md_stability("emt", structures, MDConfig(time_ps=10, replicas=8))
    result.stable_fraction, result.summary, result.runs
"""

from __future__ import annotations

from bsct.runs import lazy_exports

_EXPORTS = {
    "MDConfig": "bsct.md.run",
    "MDStabilityResult": "bsct.md.run",
    "run_md_stability": "bsct.md.run",
    "StabilityCriteria": "bsct.md.criteria",
    "StabilityMonitor": "bsct.md.criteria",
    "RunResult": "bsct.md.results",
    "summarize": "bsct.md.results",
    "MDState": "bsct.md.integrators",
    "init_state": "bsct.md.integrators",
    "velocity_verlet_step": "bsct.md.integrators",
    "langevin_baoab_step": "bsct.md.integrators",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
