"""Markdown tables of a design-loop study (``OUT/ablation.md``), from its rows and correlation.

A *row* is one potential on one system, as ``bsct study`` writes it to ``row.json``; the
correlation is :func:`bsct.metrics.correlation.correlation_summary` of the rows. Every function
here is pure: it returns Markdown lines or text and writes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from bsct.metrics.correlation import MIN_PAIRS_FOR_INTERVAL

#: Table labels of the correlation subsets (``system_<name>`` reads "within <name>").
SUBSET_LABELS = {"all": "all potentials", "without_planted": "without the planted controls",
                 "same_protocol_without_planted": "without planted and third-party (one MD protocol)"}

#: (column, row key) of each step's wall time, in the order the study runs them.
STEP_SECONDS = (("train", "train_seconds"), ("errors", "errors_seconds"), ("BSCT", "bsct_seconds"),
                ("FSD", "fsd_seconds"), ("MD", "md_seconds"), ("elastic", "elastic_seconds"))

#: Correlation keys shown, per subset: (BSCT, FSD) x (stable fraction, time to failure fraction).
CORRELATION_KEYS = ("stable_fraction", "time_to_failure_fraction", "fsd_stable_fraction", "fsd_time_to_failure_fraction")


def fmt(value, digits: int = 3) -> str:
    """A number to ``digits`` significant digits; ``–`` for None, NaN and inf."""
    if value is None:
        return "–"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        return f"{value:.{digits}g}"
    return str(value)


def counts(kinds: dict | None) -> str:
    """``{"energy_jump": 2, ...}`` -> ``"energy jump 2, ..."`` (sorted by name)."""
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted((kinds or {}).items()))


def row_markdown(r: dict) -> str:
    """One potential's line of the ablation table (planted controls marked *(planted)*)."""
    artifacts = f"{fmt(r['bsct_score'])} ({r['bsct_artifacts']}" + (
        f": {counts(r.get('bsct_artifact_kinds'))})" if r["bsct_artifacts"] else ")")
    reasons = counts(r.get("md_failure_reasons"))
    md = f"{fmt(r['md_stable_fraction'], 2)} ({r['md_replicas']}" + (f"; {reasons})" if reasons else ")")
    cost = f"{fmt(r['bsct_seconds'])} / {fmt(r['md_seconds'])} = {fmt(r['cost_ratio_bsct_over_md'], 2)}"
    name = f"{r['potential']} *(planted)*" if r["kind"] == "planted" else r["potential"]
    return (f"| {name} | {r['kind'].replace('_', ' ')} | {fmt(r['test_energy_rmse_mev_per_atom'])} "
            f"| {fmt(r['test_force_rmse_mev_per_angstrom'])} | {fmt(r['unseen_force_rmse_mev_per_angstrom'])} "
            f"| {artifacts} | {fmt(r.get('fsd_per_angstrom'))} | {md} "
            f"| {fmt(r['md_mean_time_to_failure_ps'])} / {fmt(r['md_duration_ps'])} | {cost} "
            f"| {fmt(r.get('train_seconds'))} |")


def with_interval(value: float, ci95) -> str:
    """``-0.88 [-1.00, -0.64]``, or the value alone where too few potentials gave no interval."""
    lo, hi = ci95  # NaN in memory, None once through JSON
    if any(v is None or not math.isfinite(v) for v in (lo, hi)):
        return f"{value:.2f} (no interval: n < {MIN_PAIRS_FOR_INTERVAL})"
    return f"{value:.2f} [{lo:.2f}, {hi:.2f}]"


def correlation_markdown(correlation: dict) -> list[str]:
    """A table, one row per (subset, score, MD measure): Pearson and Spearman with bootstrap 95 % CIs."""
    lines = ["| potentials | n | score | MD measure | Pearson r [95 % CI] | Spearman ρ [95 % CI] |",
             "|---|---|---|---|---|---|"]
    for subset, c in correlation.items():
        label = SUBSET_LABELS.get(subset) or f"within {subset.removeprefix('system_')}"
        for key in CORRELATION_KEYS:
            s = c.get(key, {})
            score_name = "FSD" if key.startswith("fsd_") else "BSCT"
            measure = key.removeprefix("fsd_").replace("_", " ")
            if "pearson_r" in s:
                lines.append(
                    f"| {label} | {s['n']} | {score_name} | {measure} "
                    f"| {with_interval(s['pearson_r'], s['pearson_ci95'])} "
                    f"| {with_interval(s['spearman_rho'], s['spearman_ci95'])} |")
            elif s:
                lines.append(f"| {label} | {c['n']} | {score_name} | {measure} | {s.get('error')} | |")
    return lines + [""]


def ablation_markdown(
    rows: Sequence[dict],
    correlation: dict,
    *,
    systems: Sequence[str],
    size: str,
    seed: int,
    wall_seconds: float,
    fsd_floor_per_angstrom: dict[str, float] | None = None,
    pending: Sequence[str] = (),
) -> str:
    """One table per system in the paper's format, plus the correlation (Markdown).

    Columns: errors on ``test`` (and the force error on ``unseen``), BSCT score with the artifacts
    found, the paper's FSD on the system's FSD set, MD stable fraction with the failure reasons,
    mean time to failure over the run length, cost = BSCT wall time / MD wall time, training time.
    ``pending`` lists the potentials not finished yet (a report of cached results only);
    ``fsd_floor_per_angstrom`` the FSD floor of each system's FSD set.
    """
    floors = fsd_floor_per_angstrom or {}
    lines = [(f"Study size `{size}`, seed {seed}, {len(rows)} potentials, "
              f"{wall_seconds:.0f} s this invocation."), ""]
    if pending:
        n = len(pending)
        lines += [f"Cached results only: {n} potential{'s' if n > 1 else ''} not finished yet "
                  f"({', '.join(pending)}).", ""]
    for system in systems:
        lines += [f"### {system}", "",
                  ("| potential | kind | E RMSE test (meV/atom) | F RMSE test (meV/Å) | F RMSE unseen (meV/Å) "
                   "| BSCT score ↓ (artifacts) | FSD (1/Å) ↓ | MD stable fraction ↑ (replicas; failures) "
                   "| mean t_fail / run (ps) | cost: BSCT s / MD s = ratio | train s |"),
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        lines += [row_markdown(r) for r in rows if r["system"] == system]
        lines.append("")
        if system in floors:
            lines += [(f"FSD floor of this FSD set: {floors[system]:.3g} 1/Å (a model whose force deviation stays "
                       "under ε scores this; from the reference labels alone, docs/fsd.md)."), ""]
    lines += correlation_markdown(correlation)
    lines += cost_markdown(rows)
    lines += ["", *step_time_markdown(rows)]
    elastic = elastic_markdown(rows)
    if elastic:
        lines += ["", *elastic]
    by_type = config_type_error_markdown(rows)
    if by_type:
        lines += ["", *by_type]
    return "\n".join(lines) + "\n"


def elastic_markdown(rows: Sequence[dict]) -> list[str]:
    """C11, C12, C44 (GPa), a0 and the EOS bulk modulus of every row that has them, with each
    constant's deviation from the system's reference potential in %. Empty without elastic rows."""
    with_elastic = [r for r in rows if r.get("elastic")]
    if not with_elastic:
        return []
    reference = {r["system"]: r["elastic"] for r in with_elastic if r["kind"] == "reference"}
    lines = ["Elastic constants (GPa) at each potential's own lattice constant a0; in brackets the deviation "
             "from the reference potential:", "",
             "| system | potential | a0 (Å) | C11 | C12 | C44 | B from EOS |", "|---|---|---|---|---|---|---|"]
    for r in with_elastic:
        el = r["elastic"]
        ref = None if r["kind"] == "reference" else reference.get(r["system"])
        cells = [f"{el[k]:.1f}" + ("" if ref is None else f" ({100.0 * (el[k] - ref[k]) / ref[k]:+.0f} %)")
                 for k in ("C11", "C12", "C44", "bulk_modulus_gpa_eos")]
        lines.append(f"| {r['system']} | {r['potential']} | {el['a0_angstrom']:.3f} | " + " | ".join(cells) + " |")
    return lines


def config_type_error_markdown(rows: Sequence[dict], kinds: tuple[str, ...] = ("variant",)) -> list[str]:
    """Per system, the errors of each structure type (``atoms.info["config_type"]``) for the rows of
    the given kinds: signed mean energy error (prediction − reference, meV/atom) · force RMSE (meV/Å).

    A model can fit forces well and still put whole structure types at the wrong energy (a
    surface, a vacancy, a strained cell): that shows here as an offset shared by a type, and it
    is what moves lattice constants, elastic constants and formation energies.
    """
    lines: list[str] = []
    for system in dict.fromkeys(r["system"] for r in rows):
        chosen = [r for r in rows if r["system"] == system and r["kind"] in kinds and r.get("errors_by_config_type")]
        if not chosen:
            continue
        types = list(dict.fromkeys((split, name) for r in chosen
                                   for split, groups in r["errors_by_config_type"].items() for name in groups))
        lines += [(f"Errors by structure type, {system}: mean energy error (meV/atom, prediction − reference) · "
                   "force RMSE (meV/Å):"), "",
                  "| split | config_type | frames | " + " | ".join(r["potential"] for r in chosen) + " |",
                  "|---" * (len(chosen) + 3) + "|"]
        for split, name in types:
            cells, n_frames = [], None
            for r in chosen:
                g = r["errors_by_config_type"].get(split, {}).get(name)
                if g is None:
                    cells.append("–")
                    continue
                n_frames = g["n_frames"]
                cells.append(f"{g['energy_mean_error_mev_per_atom']:+.1f} · {g['force_rmse_mev_per_angstrom']:.0f}")
            lines.append(f"| {split} | {name} | {n_frames} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def step_time_markdown(rows: Sequence[dict]) -> list[str]:
    """Summed wall time of every step, per system, in worker-hours: the study's cost.

    This total does not depend on how many workers ran the study or on how many sessions it
    was spread over. Wall time on W workers is at least total / W.
    """
    systems = list(dict.fromkeys(r["system"] for r in rows))
    lines = ["Summed step times (worker-hours; each step's own wall time, cached steps count what they cost "
             "when they ran):", "",
             "| system | " + " | ".join(name for name, _ in STEP_SECONDS) + " | total |",
             "|---" * (len(STEP_SECONDS) + 2) + "|"]
    hours = {system: np.array([sum(r.get(key) or 0.0 for r in rows if r["system"] == system)
                               for _, key in STEP_SECONDS]) / 3600.0 for system in systems}
    hours["all"] = sum(hours.values(), np.zeros(len(STEP_SECONDS)))
    lines += [f"| {system} | " + " | ".join(f"{h:.2f}" for h in per_step) + f" | {per_step.sum():.2f} |"
              for system, per_step in hours.items()]
    return lines


def cost_markdown(rows: Sequence[dict]) -> list[str]:
    """Median and range of the BSCT/MD cost ratio over the potentials that share one MD protocol
    (third-party models run a shorter one), and over those whose MD ran to the end (a failing
    run stops early, which inflates its ratio)."""
    same = [r for r in rows if r["kind"] != "third_party" and r.get("cost_ratio_bsct_over_md") is not None]
    lines = []
    for label, group in (("one MD protocol", same),
                         ("MD ran to the end", [r for r in same if r["md_stable_fraction"] == 1.0])):
        ratios = [r["cost_ratio_bsct_over_md"] for r in group]
        if ratios:
            lines.append(f"- cost ratio BSCT s / MD s ({label}, n = {len(ratios)}): median {np.median(ratios):.2g}, "
                         f"range {min(ratios):.2g}–{max(ratios):.2g}")
    return lines
