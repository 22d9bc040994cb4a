"""Force Smoothness Deviation (FSD), the BSCT paper's headline metric, in one place.

    metric.py   the pure metric on one scan (no I/O)
    run.py      run_fsd: a model on a set of BSCT-SPICE style scans, prediction cache, resume
    sets.py     make-scans: build such sets from structures, or relabel one, with a reference SPEC
    report.py   per-system figures and report.html
    command.py  the `bsct fsd` and `bsct make-scans` subcommands

The reader of the BSCT-SPICE layout is :mod:`bsct.data.bsct_spice`.
"""
