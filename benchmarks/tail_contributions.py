"""The tail's share of the BSCT score per potential of a study, v1 against v2 (issue #19, done-when).

    python benchmarks/tail_contributions.py STUDY_OUT [--systems water,molecules]

v1: the ``force_sign_flip`` component of each scan, log10(1 + X_flip) (X summed over the scan's
sign-flip runs, docs/metrics.md), from ``SYSTEM/POTENTIAL/bsct/results.json``; v2: the
``tail_bump`` part of the score (``score_by_kind`` in ``bsct_v2.json``: the strengths of the
artifacts whose primary kind is ``tail_bump``). Both averaged as the score is (over a type's
scans, then over types), so each is the part of its score the tail is responsible for.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def v1_flip_share(results: dict) -> float:
    per_type: dict[str, list[float]] = {}
    for b in results["bonds"]:
        if b.get("score") is None:
            continue
        x = b["components"].get("force_sign_flip", 0.0)
        per_type.setdefault(b["bond_type"], []).append(float(np.log10(1.0 + x)))
    return float(np.mean([np.mean(v) for v in per_type.values()])) if per_type else float("nan")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("study")
    p.add_argument("--systems", default="water,molecules")
    args = p.parse_args(argv)
    lines = ["| system | potential | v1 score | v1 sign-flip part | v2 score | v2 tail-bump part | v2 artifacts (kinds) |",
             "|---|---|---|---|---|---|---|"]
    for system in args.systems.split(","):
        for job in sorted(Path(args.study, system).glob("*/bsct_v2.json")):
            v1_path = job.parent / "bsct" / "results.json"
            if not v1_path.exists():
                continue
            v1 = json.loads(v1_path.read_text())
            v2 = json.loads(job.read_text())
            row = json.loads((job.parent / "row.json").read_text()) if (job.parent / "row.json").exists() else {}
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(v2["artifact_kinds"].items())) or "none"
            lines.append(f"| {system} | {row.get('potential', job.parent.name)} | {v1['score']:.3g} | "
                         f"{v1_flip_share(v1):.3g} | {v2['score']:.3g} | {v2['score_by_kind'].get('tail_bump', 0.0):.3g} | "
                         f"{kinds} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
