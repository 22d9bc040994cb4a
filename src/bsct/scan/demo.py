"""`bsct demo`: BSCT on built-in potentials whose answer is known.

Planted artifacts of each kind sit at a known bond length on a smooth Morse pair potential;
smooth references (Morse, EMT, Stillinger-Weber) must come out clean; ASE-style shifted
Lennard-Jones has a real force step at its cutoff. The demo writes one report per potential
and an index saying, for each, whether BSCT found what was planted and where.
"""

from __future__ import annotations

import argparse
import html
from dataclasses import dataclass
from pathlib import Path

from bsct.runs import write_json


@dataclass(frozen=True)
class DemoCase:
    name: str
    spec: str
    structure: str  # "cu-dimer", "cu-fcc", "si-diamond"
    expect_kind: str | None  # None: must be clean
    expect_r_angstrom: float | None = None


R_STAR = 3.3
CASES = (
    DemoCase("morse", "morse", "cu-dimer", None),
    DemoCase("emt-dimer", "emt", "cu-dimer", None),
    DemoCase("emt-fcc", "emt", "cu-fcc", None),
    DemoCase("sw-si-diamond", "sw-si", "si-diamond", None),
    DemoCase("lj-shifted-cutoff", "lj[sigma_angstrom=2.3,epsilon_ev=0.3,cutoff_angstrom=5.0]", "cu-dimer", "force_jump", 5.0),
    DemoCase("planted-energy-step", f"planted[kind=energy_step,size=0.005,r_star_angstrom={R_STAR}]", "cu-dimer", "energy_jump", R_STAR),
    DemoCase("planted-force-step", f"planted[kind=force_step,size=0.05,r_star_angstrom={R_STAR}]", "cu-dimer", "force_jump", R_STAR),
    DemoCase("planted-curvature-step", f"planted[kind=curvature_step,size=2.0,r_star_angstrom={R_STAR}]", "cu-dimer", "curvature_jump", R_STAR),
    DemoCase("planted-spurious-well", "planted[kind=spurious_well,size=0.03,r_star_angstrom=4.0]", "cu-dimer", "spurious_minimum", 4.0),
    DemoCase("planted-noise", f"planted[kind=noise,size=0.002,r_star_angstrom={R_STAR}]", "cu-dimer", "roughness", None),
    DemoCase("planted-nonconservative", f"planted[kind=nonconservative,size=0.1,r_star_angstrom={R_STAR}]", "cu-dimer", "force_inconsistency", R_STAR),
)

#: what the demo writes into --out (the CLI owns --out for the run: bsct.runs.RunDir)
OUTPUTS = ("summary.json", "index.html", *(case.name for case in CASES))


def demo_structure(name: str):
    from ase import Atoms
    from ase.build import bulk

    if name == "cu-dimer":
        return Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])
    if name == "cu-fcc":
        return bulk("Cu", "fcc", a=3.61)
    if name == "si-diamond":
        return bulk("Si", "diamond", a=5.431)
    raise ValueError(f"unknown demo structure {name!r}")


def check_case(case: DemoCase, artifacts, h_angstrom: float) -> tuple[bool, str]:
    """Did BSCT find what was planted (within 2 grid steps), and nothing on smooth references?"""
    if case.expect_kind is None:
        return (not artifacts), "clean" if not artifacts else f"{len(artifacts)} unexpected artifact(s)"
    hits = [a for a in artifacts if a.kind == case.expect_kind]
    if case.expect_r_angstrom is not None:
        hits = [a for a in hits if abs(a.r_angstrom - case.expect_r_angstrom) <= 2 * h_angstrom + 1e-9]
    where = f" at {case.expect_r_angstrom} Å" if case.expect_r_angstrom is not None else ""
    return bool(hits), (f"found {case.expect_kind}{where}" if hits else f"MISSED {case.expect_kind}{where}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="reports/demo", help="output directory (default reports/demo)")
    parser.add_argument("--only", default=None, help="comma-separated case names to run")


def run(args: argparse.Namespace) -> int:
    from bsct.runs import BadInput
    from bsct.scan.api import run_bsct

    out = Path(args.out)
    only = {name.strip() for name in args.only.split(",") if name.strip()} if args.only else None
    unknown = sorted(only - {case.name for case in CASES}) if only is not None else []
    if unknown or only == set():
        raise BadInput(f"--only {args.only!r}: no demo case {', '.join(unknown) or '(empty)'}; the cases are "
                       f"{', '.join(case.name for case in CASES)}")
    rows = []
    for case in CASES:
        if only and case.name not in only:
            continue
        report = run_bsct(case.spec, [demo_structure(case.structure)], out_dir=out / case.name, max_per_type=1, progress=False)
        r = report.results[0].curve.r_angstrom
        ok, verdict = check_case(case, report.artifacts, float(r[1] - r[0]))
        found = "; ".join(f"{a.kind} @ {a.r_angstrom:.3f} Å ({a.size:.3g} {a.unit})" for a in report.artifacts) or "none"
        rows.append({"case": case.name, "model": case.spec, "structure": case.structure, "score": report.score,
                     "expected": case.expect_kind or "clean", "found": found, "ok": ok, "verdict": verdict})
        print(f"{'ok  ' if ok else 'FAIL'} {case.name:<26s} score {report.score:7.3f}  {verdict}; found: {found}")
    write_json(out / "summary.json", rows, indent=2)
    (out / "index.html").write_text(_index_html(rows))
    n_ok = sum(r["ok"] for r in rows)
    print(f"{n_ok}/{len(rows)} demo cases as expected; open {out}/index.html")
    return 0 if n_ok == len(rows) else 1


def _index_html(rows) -> str:
    esc = html.escape
    body = "".join(
        f"<tr><td><a href='{esc(r['case'])}/report.html'>{esc(r['case'])}</a></td><td>{esc(r['structure'])}</td>"
        f"<td>{r['score']:.3f}</td><td>{esc(r['expected'])}</td><td>{esc(r['found'])}</td>"
        f"<td>{'✔' if r['ok'] else '✘'} {esc(r['verdict'])}</td></tr>" for r in rows)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>BSCT demo</title><style>body{font-family:sans-serif;"
        "margin:2em}td,th{border:1px solid #ccc;padding:3px 8px}table{border-collapse:collapse}</style></head><body>"
        "<h1>BSCT demo: planted artifacts vs smooth references</h1><table><tr><th>case</th><th>structure</th>"
        f"<th>score</th><th>expected</th><th>found</th><th>verdict</th></tr>{body}</table></body></html>"
    )
