"""Reference-only check of the budget rule's shrunk starts (no zoo potential involved): EMT through
the protocol's MD settings at 300 K from the registered Cu vacancy cell (31 atoms), the primitive
vacancy cell (7 atoms) and the primitive perfect cell (8 atoms); 4 replicas each, 1 ps of NVE
(shorter than the protocol's 5 ps: a quick look, not the reference validation itself).

    OMP_NUM_THREADS=1 python benchmarks/validation/reference_vacancy_check.py

prints, per start, each replica's (stable, reason, time to failure in ps, max |drift| in meV/atom).
"""

from __future__ import annotations

from bsct.md.run import run_md_stability
from bsct.validation import steps
from bsct.validation.protocol import DEFAULT_PROTOCOL, load_protocol
from bsct.validation.starts import build_start

STARTS = ("fcc_2x2x2_a3.59_vacancy", "fccprim_2x2x2_a3.59_vacancy", "fccprim_2x2x2_a3.59")


def main() -> None:
    import torch

    torch.set_num_threads(1)
    p = load_protocol(DEFAULT_PROTOCOL)
    for name in STARTS:
        cfg = steps.md_config(p, "cu", 300.0, replicas=4, nve_ps=1.0, n_starts=1)
        result = run_md_stability(p.systems["cu"].reference, [build_start(name, "cu")], cfg, steps.criteria_of(p),
                                  model_name="emt")
        print(name, [(r.stable, r.reason, r.time_to_failure_ps,
                      round(r.max_abs_drift_mev_per_atom, 4) if r.stable else None) for r in result.runs], flush=True)


if __name__ == "__main__":
    main()
