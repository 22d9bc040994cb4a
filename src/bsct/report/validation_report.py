"""Markdown of the validation study (docs/validation.md) from the analysis' JSON.

The input is :meth:`bsct.metrics.validation_analysis.ValidationAnalysis.to_dict` (or the same
dict read back from the study's JSON), so the page regenerates from the saved result without
rerunning anything. The first paragraph answers the issue's question with the numbers, whatever
they are; "undetermined" is said as plainly as "yes" or "no". Pure functions: they return text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bsct.report.study_tables import fmt

OUTCOME_LABELS = {"any_failure": "any", "conservation_failure": "conservation", "structural_failure": "structural"}

_BEATS = {
    "yes": "**yes**: the interval of the difference lies above 0",
    "no": "**no**: the interval of the difference lies at or below 0, so BSCT does no better than the short run",
    "undetermined": "**undetermined**: the interval of the difference includes 0, so these data cannot tell "
                    "which of the two predicts better",
}
_PREDICTS = {
    "yes": "**yes**: its AUC interval lies above chance (0.5)",
    "no": "**no**: its AUC interval lies at or below chance (0.5)",
    "undetermined": "**undetermined**: its AUC interval includes chance (0.5)",
}


def interval(b: Mapping | None, digits: int = 2) -> str:
    """``0.62 [0.48, 0.77]`` of a bootstrapped statistic; ``–`` when undefined."""
    if not b or b.get("estimate") is None:
        return "–"
    if b.get("lo") is None or b.get("hi") is None:
        return f"{b['estimate']:.{digits}f} [–]"
    return f"{b['estimate']:.{digits}f} [{b['lo']:.{digits}f}, {b['hi']:.{digits}f}]"


def overall_answer(answer: Mapping[str, str]) -> str:
    """One word for the issue's two-part question: yes only if both parts are yes, no if either is no."""
    parts = (answer.get("predicts", "undetermined"), answer.get("beats_short_nve", "undetermined"))
    return "no" if "no" in parts else "yes" if parts == ("yes", "yes") else "undetermined"


def answer_paragraph(d: Mapping) -> str:
    """The first paragraph: the primary contrast and both AUCs with intervals, n, and the answer."""
    p, held = d["primary"], d["held_out"]
    families = ", ".join(held["families"])
    head = (f"**Answer: {overall_answer(d['answer'])}.** On the held-out half ({held['n_units']} units = "
            f"potential x system x temperature, {held['n_potentials']} potentials of {len(held['families'])} "
            f"architecture families: {families}; {held['n_replicas']} MD replicas), ")
    if p.get("difference") is None:
        bsct = held["predictors"].get(p["a"])
        bsct_text = (f"BSCT (`{p['a']}`) predicts any MD failure with AUC "
                     f"{interval(bsct['outcomes']['any_failure']['auc'])}: {_PREDICTS[d['answer']['predicts']]}. "
                     if bsct else f"BSCT (`{p['a']}`) was not computed. ")
        return head + bsct_text + (
            f"The pre-registered primary contrast, AUC(any failure) of `{p['a']}` minus that of `{p['b']}`, could "
            f"not be computed ({p.get('missing') or 'undefined'}), so whether BSCT beats a short NVE run of equal "
            "cost is **undetermined**.")
    diff = p["difference"]
    text = (head + f"BSCT v2 at the MD temperature (`{p['a']}`) predicts any MD failure with AUC "
            f"{interval(p['auc_a'])} and the cost-matched short NVE run (`{p['b']}`) with AUC {interval(p['auc_b'])} "
            f"(both on the {p['n_units']} units that have both). The pre-registered primary contrast, the difference "
            f"of the two AUCs, is {interval(diff)} (95 % percentile interval of a paired bootstrap over families). "
            f"Does BSCT predict MD failure? {_PREDICTS[d['answer']['predicts']]}. Does it beat a short NVE run of "
            f"the same cost? {_BEATS[d['answer']['beats_short_nve']]}.")
    if diff.get("coarse"):
        text += (f" The intervals are coarse: with {diff['n_families']} held-out families a bootstrap can draw only "
                 f"{diff['n_distinct_resamples']} different sets of families, so they are a rough guide, not a "
                 "95 % guarantee.")
    if diff.get("n_degenerate"):
        text += f" {diff['n_degenerate']} of {diff['n_resamples']} resamples were undefined and are left out."
    return text


def predictor_table(half: Mapping, outcomes: Sequence[str] = tuple(OUTCOME_LABELS)) -> list[str]:
    """One row per predictor: AUC and C-index per outcome with intervals, Spearman, permutation p."""
    auc_cols = " | ".join(f"AUC {OUTCOME_LABELS[o]}" for o in outcomes)
    c_cols = " | ".join(f"C {OUTCOME_LABELS[o]}" for o in outcomes)
    lines = [f"| predictor | units | {auc_cols} | {c_cols} | ρ within system x T (strata) | p (AUC any) |",
             "|---|---:|" + "---:|" * (2 * len(outcomes) + 2)]
    for name, m in sorted(half["predictors"].items()):
        aucs = " | ".join(interval(m["outcomes"][o]["auc"]) for o in outcomes)
        cs = " | ".join(interval(m["outcomes"][o]["c_index"]) for o in outcomes)
        p = m["outcomes"]["any_failure"]["permutation_p"]
        lines.append(f"| `{name}` | {m['n_units']} | {aucs} | {cs} | {interval(m['spearman'])} "
                     f"({m['spearman_n_strata']}) | {fmt(p, 2)} |")
    return lines


def threshold_table(thresholds: Mapping, split: str = "held_out") -> list[str]:
    """Each predictor's calibration-tuned threshold and its confusion counts on ``split``."""
    lines = [f"| predictor | threshold (calibration) | Youden J (calibration) | {split}: TP | FP | TN | FN | "
             "missing | sensitivity | specificity |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, t in sorted(thresholds.items()):
        cal, c = t["calibration"], t["applied"].get(split)
        if c is None:
            counts = "– | – | – | – | – | – | –"
        else:
            counts = " | ".join(fmt(c[k], 2) for k in ("tp", "fp", "tn", "fn", "n_missing", "sensitivity",
                                                       "specificity"))
        lines.append(f"| `{name}` | {fmt(cal['value'])} | {fmt(cal['youden_j'], 2)} | {counts} |")
    return lines


def half_summary(half: Mapping) -> str:
    """One sentence: what a half holds."""
    positives = ", ".join(f"{OUTCOME_LABELS[o]} {n}" for o, n in half["n_positive"].items())
    return (f"{half['n_units']} units of {half['n_potentials']} potentials in {len(half['families'])} families "
            f"({', '.join(half['families'])}), {half['n_replicas']} replicas; units with a failure: {positives}.")


def figure_lines(figures: Mapping[str, str]) -> list[str]:
    """Markdown images, ``figures`` mapping a caption to the image's path relative to the page."""
    return [line for caption, path in figures.items() for line in (f"![{caption}]({path})", "")]


def validation_markdown(d: Mapping, *, protocol_commit: str | None = None, amendments: Sequence[str] = (),
                        command: str = "bsct validate", extra_sections: Sequence[str] = (),
                        figures: Mapping[str, str] | None = None) -> str:
    """The whole analysis part of docs/validation.md: answer, primary contrast, tables, constructed units.

    ``extra_sections`` (Markdown, e.g. cost and reference validation written by the study) go
    after the held-out tables; ``figures`` (caption -> relative path) in a section of their own
    after them."""
    s = d["settings"]
    lines = ["# Validation: does BSCT predict MD failure, beyond a short MD run of the same cost?", "",
             answer_paragraph(d), "",
             f"Regenerate: `{command}`. Protocol: `benchmarks/validation/protocol.toml`"
             + (f" at commit `{protocol_commit}`" if protocol_commit else "") + "; "
             + (f"amendments: {'; '.join(amendments)}." if amendments else "no amendments."), "",
             f"Intervals: percentile 95 % of {s['n_bootstrap']} bootstrap resamples of families (seed "
             f"{s['bootstrap_seed']}); p: one-sided permutation test of AUC(any failure), predictor shuffled within "
             f"{' x '.join(s['permutation_within'])} ({s['n_permutations']} permutations, seed "
             f"{s['permutation_seed']}). Predictors: higher = predicted less stable. C: Harrell's C on the "
             "replicas' times to failure, censored at the end of the run; for a failure class, failures of the "
             "other class count as censored. ρ: Spearman of predictor vs failed fraction within each system x T, "
             "mean over strata.", "",
             "## Held-out half (every headline number)", "", half_summary(d["held_out"]), "",
             *predictor_table(d["held_out"]), ""]
    if d.get("default_score"):
        lines += [f"Default score rule (pre-registered): `bsct scan` defaults to **{d['default_score']}** "
                  "(v2 iff its held-out AUC(any failure), unweighted, is at least v1's).", ""]
    lines += ["## Verdict thresholds tuned on the calibration half, applied to the held-out half", "",
              "Predicted to fail iff predictor >= threshold; the threshold maximises Youden's J on the calibration "
              "half's any-failure labels and is not touched afterwards (– = no threshold beats chance there).", "",
              *threshold_table(d["thresholds"]), ""]
    for section in extra_sections:
        lines += [section.rstrip(), ""]
    if figures:
        lines += ["## Figures (held-out half)", "", *figure_lines(figures)]
    constructed = d.get("constructed")
    lines += ["## Constructed to fail (analysed apart, never pooled)", ""]
    if constructed:
        lines += [half_summary(constructed), "", *predictor_table(constructed), "",
                  *threshold_table(d["thresholds"], "constructed"), ""]
    else:
        lines += ["No constructed-to-fail unit in this run.", ""]
    return "\n".join(lines)
