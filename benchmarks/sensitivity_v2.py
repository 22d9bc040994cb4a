"""How much do BSCT v2's scores and rankings depend on its settings? (issue #19, item 8)

    python benchmarks/sensitivity_v2.py STUDY_OUT [--out docs/figures/sensitivity] [--workers N]

Takes the output folder of a ``bsct study`` (its cached v2 scan curves,
``STUDY_OUT/SYSTEM/POTENTIAL/bsct_v2/curves/*.npz``, and the model cutoff from ``bsct_v2.json``)
and re-scores every potential of the zoo with BSCT v2

* at the default settings (:class:`bsct.metrics.floors.FloorsV2`, collision fraction 0.5),
* with each setting multiplied by 0.3 and by 3 (every floor, k_σ, the resolution factor, the
  merge radius and the noise window in points, rounded, and the collision fraction), one at a time,
* with each detector dropped (its detections discarded before merging), one at a time.

The curves are re-scored without the model, so without v2's h/8 confirmation of steps and
kinks (the study's own ``bsct_v2.json`` scores have it; their column is shown for comparison).
The score of a potential is the study's: per bond type the mean over its scans, then the mean
over types. Per setting: the scores, and the rank order of the potentials within each system
compared with the default's by Kendall's τ and Spearman's ρ (scipy.stats; ties counted as
ties), each system's zoo on its own, then the mean over systems and the smallest.

Writes ``OUT/sensitivity.json`` (every score) and ``OUT/sensitivity.md`` (the tables) and prints
the tables.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

SCALED = ("k_sigma", "energy_floor_ev", "force_floor_ev_per_angstrom", "curvature_floor_ev_per_angstrom2",
          "roughness_energy_floor_ev", "roughness_force_floor_ev_per_angstrom", "resolution_factor",
          "merge_points", "noise_window_points", "collision_fraction")
DETECTORS = ("energy_jump", "force_jump", "curvature_jump", "roughness", "force_inconsistency", "spurious_minimum",
             "force_sign_flip", "tail_bump", "residual_force")
FACTORS = (0.3, 3.0)


def variants() -> list[tuple[str, dict]]:
    """(name, settings) of every re-scoring: default, each setting x0.3 and x3, each detector dropped."""
    from bsct.metrics.floors import FloorsV2

    base = FloorsV2()
    out = [("default", {"floors": base, "collision_fraction": 0.5, "drop": ()})]
    for name in SCALED:
        for factor in FACTORS:
            if name == "collision_fraction":
                out.append((f"{name} x{factor:g}", {"floors": base, "collision_fraction": 0.5 * factor, "drop": ()}))
                continue
            value = getattr(base, name) * factor
            if isinstance(getattr(base, name), int):
                value = max(1, int(round(value)))
                if name == "noise_window_points" and value % 2 == 0:
                    value += 1  # a centred window
            out.append((f"{name} x{factor:g}", {"floors": dataclasses.replace(base, **{name: value}),
                                                "collision_fraction": 0.5, "drop": ()}))
    for kind in DETECTORS:
        out.append((f"without {kind}", {"floors": base, "collision_fraction": 0.5, "drop": (kind,)}))
    return out


def jobs_of(study: Path) -> list[dict]:
    """Every potential of the study with v2 curves: system, potential, cutoff, curve paths, stored scores."""
    out = []
    for rec in sorted(study.glob("*/*/bsct_v2.json")):
        curves = sorted((rec.parent / "bsct_v2" / "curves").glob("*.npz"))
        if not curves:
            continue
        data = json.loads(rec.read_text())
        row = json.loads((rec.parent / "row.json").read_text()) if (rec.parent / "row.json").exists() else {}
        out.append({"system": rec.parent.parent.name, "potential": row.get("potential", rec.parent.name),
                    "cutoff": data.get("cutoff_angstrom"), "curves": [str(c) for c in curves],
                    "study_score": data["score"]})
    return out


def score_job(args) -> dict:
    """All variants' scores of one potential (one process: the curves are read once)."""
    job, names = args
    from bsct.scan.runner import ScanCurve
    from bsct.scan.score_v2 import analyse_bond_v2

    curves = [ScanCurve.load(p) for p in job["curves"]]
    settings = dict(variants())
    scores = {}
    for name in names:
        s = settings[name]
        per_type: dict[str, list[float]] = {}
        for c in curves:
            n_atoms = c.forces_ev_per_angstrom.shape[1]
            a = analyse_bond_v2(c, n_atoms, job["cutoff"], None, s["collision_fraction"], s["floors"], None, s["drop"])
            if np.isfinite(a.score):
                per_type.setdefault(c.bond_type, []).append(a.score)
        scores[name] = float(np.mean([np.mean(v) for v in per_type.values()])) if per_type else float("nan")
    return {k: job[k] for k in ("system", "potential", "study_score")} | {"scores": scores}


def rank_agreement(rows: list[dict], name: str) -> tuple[float, float, float, float]:
    """Mean and smallest Kendall τ and Spearman ρ over systems of the variant's ranking vs the default's."""
    from scipy.stats import kendalltau, spearmanr

    taus, rhos = [], []
    for system in sorted({r["system"] for r in rows}):
        mine = [r for r in rows if r["system"] == system]
        a = np.array([r["scores"]["default"] for r in mine])
        b = np.array([r["scores"][name] for r in mine])
        if len(mine) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
            same = np.array_equal(np.argsort(a, kind="stable"), np.argsort(b, kind="stable")) or np.ptp(a) == np.ptp(b) == 0
            taus.append(1.0 if same else float("nan"))
            rhos.append(1.0 if same else float("nan"))
            continue
        taus.append(float(kendalltau(a, b).statistic))
        rhos.append(float(spearmanr(a, b).statistic))
    return float(np.nanmean(taus)), float(np.nanmin(taus)), float(np.nanmean(rhos)), float(np.nanmin(rhos))


def tables(rows: list[dict], names: list[str]) -> str:
    lines = [f"{len(rows)} potentials in {len({r['system'] for r in rows})} systems; rank agreement with the default "
             "per system (each system's zoo ranked on its own), then the mean and the smallest over systems.", "",
             "| setting | Kendall τ mean | τ min | Spearman ρ mean | ρ min | potentials whose score changed | largest change |",
             "|---|---|---|---|---|---|---|"]
    for name in names[1:]:
        tau, tau_min, rho, rho_min = rank_agreement(rows, name)
        d = np.array([r["scores"][name] - r["scores"]["default"] for r in rows])
        changed = int(np.sum(np.abs(d) > 1e-9))
        k = int(np.nanargmax(np.abs(d))) if changed else 0
        big = f"{d[k]:+.3g} ({rows[k]['system']}/{rows[k]['potential']})" if changed else "0"
        lines.append(f"| {name} | {tau:.2f} | {tau_min:.2f} | {rho:.2f} | {rho_min:.2f} | {changed}/{len(rows)} | {big} |")
    lines += ["", "Scores (study: the study's `bsct_v2.json`, with h/8 confirmation; default: re-scored from the "
              "curves without it; then each setting x0.3 / x3 and each detector dropped):", ""]
    short = ["study", "default"] + [n.replace("_ev_per_angstrom2", "").replace("_ev_per_angstrom", "").replace("_ev", "")
                                    for n in names[1:]]
    lines.append("| system | potential | " + " | ".join(short) + " |")
    lines.append("|---|---|" + "---|" * len(short))
    for r in rows:
        vals = [r["study_score"]] + [r["scores"][n] for n in names]
        lines.append(f"| {r['system']} | {r['potential']} | " + " | ".join(f"{v:.3g}" for v in vals) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("study", help="output folder of bsct study (with bsct_v2 scans)")
    p.add_argument("--out", default=str(ROOT / "docs/figures/sensitivity"))
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args(argv)
    jobs = jobs_of(Path(args.study))
    if not jobs:
        print(f"no bsct_v2 scans under {args.study}", file=sys.stderr)
        return 2
    names = [n for n, _ in variants()]
    work = [(j, names) for j in jobs]
    if args.workers > 1:
        from multiprocessing import get_context

        with get_context("spawn").Pool(args.workers) as pool:
            rows = pool.map(score_job, work)
    else:
        rows = [score_job(w) for w in work]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sensitivity.json").write_text(json.dumps({"study": str(args.study), "variants": names, "rows": rows},
                                                     indent=1, default=float))
    text = tables(rows, names)
    (out / "sensitivity.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
