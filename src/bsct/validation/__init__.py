"""The pre-registered validation study (issue #20): does BSCT predict MD failure, beyond a short
NVE run of the same cost? ``bsct validate`` runs it from ``benchmarks/validation/protocol.toml``.

Orchestration only, at the study's layer: :mod:`~bsct.validation.protocol` (the protocol file as
frozen data, its git hash, the ci tier's overrides), :mod:`~bsct.validation.starts` (start
structures), :mod:`~bsct.validation.zoo` (the potentials and their split), :mod:`~bsct.validation.trainers`,
:mod:`~bsct.validation.steps` (MD: references, timing, ground truth), :mod:`~bsct.validation.plan`
(projected cost, budget rule), :mod:`~bsct.validation.predictors` and
:mod:`~bsct.validation.predictor_stage` (BSCT, FSD, force RMSE, short NVE, cost),
:mod:`~bsct.validation.analysis` (units.csv, replicas.csv, the analysis), :mod:`~bsct.validation.run`
(stages, Dask fan-out) and :mod:`~bsct.validation.command` (``bsct validate``). docs/validation.md.

Names are imported lazily, so ``import bsct.validation`` loads no torch.
"""

from __future__ import annotations

from bsct.runs import lazy_exports

_MODULE_EXPORTS = {
    "bsct.validation.protocol": ("CI_OVERRIDES", "Protocol", "load_protocol", "protocol_git_hash"),
    "bsct.validation.zoo": ("Zoo", "ZooPotential", "expand_zoo"),
    "bsct.validation.run": ("STAGES", "ValidateConfig", "run_validation"),
}
_EXPORTS = {name: module for module, names in _MODULE_EXPORTS.items() for name in names}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
