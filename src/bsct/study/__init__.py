"""The design-loop study: ablation table, BSCT-vs-MD correlation and cost, one command.

Orchestration only; the science lives in the modules it calls:

=========  ===============================================================  ==========================
step       what it does                                                     done by
=========  ===============================================================  ==========================
train      train a Transformer variant (or reuse its cached checkpoint)      :func:`bsct.train.loop.train`
errors     energy / force errors on ``test``/``unseen``, per config_type    :func:`bsct.train.loss.errors_by_group`
bsct       BSCT score of the potential on a held-out structure              :func:`bsct.scan.api.run_bsct`
fsd        the paper's FSD on the system's FSD set                          :func:`bsct.fsd.run.run_fsd`
md         MD stability from the ``test`` structures                        :func:`bsct.md.run.run_md_stability`
elastic    a0, C11, C12, C44 of the crystal (``final`` and references)      :func:`bsct.metrics.elastic.elastic_constants_at_equilibrium`
=========  ===============================================================  ==========================

Modules: :mod:`~bsct.study.config` (sizes, the zoo, :class:`StudyConfig`), :mod:`~bsct.study.steps`
(one function per step), :mod:`~bsct.study.executors` (local, Dask), :mod:`~bsct.study.run`
(:func:`run_job`, :func:`run_study`) and :mod:`~bsct.study.command` (``bsct study``). The
tables and figures are :mod:`bsct.report.study_tables` and :mod:`bsct.report.study_plots`, the
correlation :func:`bsct.metrics.correlation.correlation_summary`.

A *job* is one potential on one system; it runs its steps in order. Each step writes
``OUT/SYSTEM/POTENTIAL/STEP.json`` with the settings that produced it (a fingerprint); a step
whose JSON exists with the same fingerprint is skipped, so a killed study resumes where it
stopped, and the MD step resumes replica by replica. Jobs run in-process one after the other,
or fan out over a Dask cluster (``executor="dask"``: an existing scheduler address, or a
``LocalCluster``).

>>> from bsct.study import StudyConfig, run_study
>>> result = run_study(StudyConfig(systems=("cu",), size="ci", out_dir="runs/study-ci"))
>>> result.rows[0]["bsct_score"], result.correlation

Names are imported lazily, so ``import bsct.study`` (and ``bsct --help``) loads no torch.
"""

from __future__ import annotations

from bsct.runs import lazy_exports

_MODULE_EXPORTS = {
    "bsct.study.config": ("CU_MORSE", "KINDS", "SIZES", "STEPS", "VARIANTS", "PotentialJob", "StudyConfig",
                          "StudySize", "potential_zoo"),
    "bsct.study.executors": ("StudyJobsFailed", "bounded_dask_map", "local_dask_cluster"),
    "bsct.study.run": ("StudyResult", "load_study", "prepare_datasets", "run_job", "run_study"),
}
_EXPORTS = {name: module for module, names in _MODULE_EXPORTS.items() for name in names}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
