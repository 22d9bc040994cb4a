"""The validation's BSCT predictors of one potential: scores, model evaluations and wall time.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/validation/bench_v2_at_t.py [--spec SPEC]

Run it on two commits to compare (e.g. before/after v2-at-T re-weighting): the scores must agree
exactly; the evaluation counts say what the cost-matched short NVE is given.
"""

from __future__ import annotations

import argparse
import json

from bsct.data import ci_path
from bsct.data.io import read_structures
from bsct.validation.predictors import bsct_scores

PLANTED = "planted[kind=energy_step,size=0.01,r_star_angstrom=3.5,cutoff_angstrom=5.0,r0_angstrom=2.775]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=PLANTED)
    parser.add_argument("--points", type=int, default=60)
    args = parser.parse_args()
    bsct = {"points": args.points, "max_per_type": 1, "r_min_scale": 0.6, "r_max_scale": 2.0, "jump_refine": True}
    out = bsct_scores(args.spec, read_structures(ci_path("cu", "test")), bsct, [300.0, 1086.0])
    print(json.dumps({k: out[k] for k in ("bsct_v1", "bsct_v2", "bsct_v2_at_T")}), json.dumps(out["cost"]))


if __name__ == "__main__":
    main()
