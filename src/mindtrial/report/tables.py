"""The report's tables as pandas DataFrames of display text (also written as CSV).

Numbers are formatted here, once, so the HTML and the CSV files show the same text. The
unformatted numbers are in ``results.json``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from mindtrial.analysis.plans.types import AnalysisReport, AnalysisResult, ArmEstimate, Contrast
from mindtrial.dataset import StudyDataset
from mindtrial.instruments import get_instrument
from mindtrial.outcomes import participant_frame, retention, scored_instruments
from mindtrial.protocols.schema import Protocol

MISSING = "—"


def fmt(x: float | None, digits: int = 1) -> str:
    """A number with ``digits`` decimals; a dash for missing or non-finite values."""
    if x is None or not math.isfinite(x):
        return MISSING
    text = f"{x:.{digits}f}"
    return "0." + "0" * digits if text == "-0." + "0" * digits else text


def fmt_p(p: float | None) -> str:
    """A p-value as journals print it: three decimals, ``<0.001`` below that."""
    if p is None or not math.isfinite(p):
        return MISSING
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}"


def fmt_ci(estimate: float | None, low: float | None, high: float | None, digits: int = 1) -> str:
    """``estimate (low to high)``."""
    if estimate is None or not math.isfinite(estimate):
        return MISSING
    return f"{fmt(estimate, digits)} ({fmt(low, digits)} to {fmt(high, digits)})"


def _arm_columns(report: AnalysisReport) -> list[tuple[str, str]]:
    return [(a.code, f"{a.label} (n = {a.n_randomized})") for a in report.arms]


# --------------------------------------------------------------------------- Table 1


def _numeric_rows(
    name: str, values: pd.Series, arms: pd.Series, report: AnalysisReport, digits: int = 1
) -> list[list[str]]:
    row = [name, "mean (SD)"]
    missing_row = [f"{name}, missing", "n"]
    any_missing = False
    for code, _ in _arm_columns(report):
        x = values[arms == code].astype("float64")
        observed = x.dropna()
        sd = float(observed.std(ddof=1)) if len(observed) > 1 else float("nan")
        row.append(
            f"{fmt(float(observed.mean()) if len(observed) else None, digits)} ({fmt(sd, digits)})"
        )
        n_missing = int(x.isna().sum())
        any_missing = any_missing or n_missing > 0
        missing_row.append(str(n_missing))
    all_values = values.astype("float64").dropna()
    sd_all = float(all_values.std(ddof=1)) if len(all_values) > 1 else float("nan")
    row.append(
        f"{fmt(float(all_values.mean()) if len(all_values) else None, digits)} ({fmt(sd_all, digits)})"
    )
    missing_row.append(str(int(values.isna().sum())))
    return [row, missing_row] if any_missing else [row]


def _count_rows(
    name: str, values: pd.Series, arms: pd.Series, levels: Sequence[str], report: AnalysisReport
) -> list[list[str]]:
    rows = []
    text = values.astype("string")
    extra = ["missing"] if bool(text.isna().any()) else []
    for level in [*levels, *extra]:
        row = [name, f"{level}, n (%)"]
        groups = [text[arms == code] for code, _ in _arm_columns(report)] + [text]
        for group in groups:
            hit = group.isna() if level == "missing" else (group == level).fillna(False)
            n = int(hit.sum())
            row.append(f"{n} ({fmt(100 * n / len(group) if len(group) else None)}%)")
        rows.append(row)
    return rows


def baseline_table(
    dataset: StudyDataset, protocol: Protocol, report: AnalysisReport
) -> pd.DataFrame:
    """Table 1: baseline characteristics by arm (covariates, then the baseline values of the
    scored outcomes of the plan)."""
    people = participant_frame(dataset, protocol)
    arms = people["arm"].astype("string")
    rows: list[list[str]] = []
    for cov in protocol.baseline_covariates:
        if cov.name not in people.columns:
            continue
        label = cov.label + (f" ({cov.unit})" if cov.unit else "")
        column = people[cov.name]
        if cov.type in ("number", "integer"):
            rows += _numeric_rows(label, column, arms, report)
        elif cov.type == "boolean":
            as_text = column.astype("boolean").map(
                lambda v: pd.NA if pd.isna(v) else ("yes" if v else "no")
            )
            rows += _count_rows(label, as_text, arms, ["yes"], report)
        else:
            rows += _count_rows(label, column, arms, list(cov.levels), report)
    scores = scored_instruments(dataset)
    seen: set[tuple[str, str]] = set()
    for spec in protocol.analysis.analyses:
        if "." not in spec.outcome or spec.model != "lmm":
            continue
        instrument, score = spec.outcome.split(".", 1)
        picked = scores[(scores["instrument"] == instrument) & (scores["week"] == 0)]
        available = picked["score"].unique().tolist()
        if score not in available and len(available) == 1:
            score = str(available[0])
        if (instrument, score) in seen or score not in available:
            continue
        seen.add((instrument, score))
        values = people[["participant_id"]].merge(
            picked.loc[picked["score"] == score, ["participant_id", "value"]],
            on="participant_id",
            how="left",
        )["value"]
        try:
            name = get_instrument(instrument).name
        except KeyError:
            name = instrument
        rows += _numeric_rows(f"Baseline {name} ({score.replace('_', ' ')})", values, arms, report)
    columns = ["Characteristic", "Statistic", *[c for _, c in _arm_columns(report)], "Overall"]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------- results


def _in_report_order(arms: Sequence[ArmEstimate], report: AnalysisReport) -> list[ArmEstimate]:
    order = {a.code: i for i, a in enumerate(report.arms)}
    return sorted(arms, key=lambda a: order.get(a.arm, len(order)))


def _contrast_cells(contrast: Contrast | None, digits: int = 1) -> list[str]:
    if contrast is None:
        return [MISSING, MISSING, MISSING]
    return [
        fmt_ci(contrast.estimate, contrast.ci_lower, contrast.ci_upper, digits),
        fmt_p(contrast.p_value),
        fmt_p(contrast.bh_p_value),
    ]


def _problem_text(result: AnalysisResult) -> str:
    if result.status == "error":
        return f"not estimable: {result.error}"
    return "; ".join(result.warnings)


def substance_use_table(report: AnalysisReport) -> pd.DataFrame:
    """Percentage of non-abstinent periods per arm (model-based, 95% CI) and the difference."""
    rows = []
    for result in report.analyses:
        if result.kind != "analysis" or result.model not in ("gee_logistic", "logistic"):
            continue
        summary = result.summary
        row = [result.title]
        for code, _ in _arm_columns(report):
            arm = (
                None if summary is None else next((a for a in summary.arms if a.arm == code), None)
            )
            row.append(MISSING if arm is None else fmt_ci(arm.estimate, arm.ci_lower, arm.ci_upper))
        contrast = None if summary is None else summary.contrast
        row += _contrast_cells(contrast)
        row.append(_problem_text(result))
        rows.append(row)
    measure = "Difference (95% CI)"
    columns = [
        "Outcome",
        *[f"{label}, % (95% CI)" for _, label in _arm_columns(report)],
        measure,
        "P",
        "BH-adjusted P",
        "Notes",
    ]
    return pd.DataFrame(rows, columns=columns)


def change_table(report: AnalysisReport) -> pd.DataFrame:
    """Craving and anxiety (every mixed model of the plan): within-arm change from the first
    to the last time level, Cohen d, % change, the between-arm difference in change and the
    arm × time interaction test."""
    rows = []
    for result in report.analyses:
        if result.kind != "analysis" or result.model != "lmm":
            continue
        summary = result.summary
        if summary is None:
            rows.append([result.title, MISSING, *[MISSING] * 7, _problem_text(result)])
            continue
        for arm in _in_report_order(summary.arms, report):
            rows.append(
                [
                    result.title,
                    report.arm_label(arm.arm),
                    fmt(arm.baseline, 2),
                    fmt(arm.final, 2),
                    fmt_ci(arm.estimate, arm.ci_lower, arm.ci_upper, 2),
                    fmt(arm.cohen_d, 2),
                    fmt(arm.percent_change, 0),
                    MISSING,
                    MISSING,
                    "",
                ]
            )
        contrast = summary.contrast
        if contrast is not None:
            rows.append(
                [
                    result.title,
                    f"Difference in change ({contrast.label})",
                    MISSING,
                    MISSING,
                    fmt_ci(contrast.estimate, contrast.ci_lower, contrast.ci_upper, 2),
                    fmt(contrast.cohen_d, 2),
                    MISSING,
                    fmt_p(contrast.p_value),
                    fmt_p(contrast.bh_p_value),
                    "",
                ]
            )
        for other in summary.other_contrasts:
            rows.append(
                [
                    result.title,
                    other.measure,
                    MISSING,
                    MISSING,
                    fmt_ci(other.estimate, other.ci_lower, other.ci_upper, 2),
                    MISSING,
                    MISSING,
                    fmt_p(other.p_value),
                    MISSING,
                    "",
                ]
            )
        if summary.interaction is not None:
            test = summary.interaction
            rows.append(
                [
                    result.title,
                    f"Arm × time interaction, χ²({test.df}) = {fmt(test.chi2, 1)}",
                    MISSING,
                    MISSING,
                    MISSING,
                    MISSING,
                    MISSING,
                    fmt_p(test.p_value),
                    MISSING,
                    "",
                ]
            )
        if result.warnings:
            rows[-1][-1] = _problem_text(result)
    columns = [
        "Outcome",
        "Arm / comparison",
        "Baseline mean",
        "Final mean",
        "Change (95% CI)",
        "Cohen d",
        "% change",
        "P",
        "BH-adjusted P",
        "Notes",
    ]
    return pd.DataFrame(rows, columns=columns)


def sensitivity_table(report: AnalysisReport) -> pd.DataFrame:
    """Each sensitivity analysis beside the main analysis it repeats."""
    rows = []
    main = {r.id: r for r in report.analyses if r.kind == "analysis"}
    for result in report.analyses:
        if result.kind != "sensitivity" or result.applies_to is None:
            continue
        base = main.get(result.applies_to)
        base_contrast = None if base is None or base.summary is None else base.summary.contrast
        contrast = None if result.summary is None else result.summary.contrast
        digits = 2 if result.model == "lmm" else 1
        rows.append(
            [
                base.title if base is not None else result.applies_to,
                result.title.removesuffix(f": {base.title}") if base is not None else result.title,
                str(result.n_participants),
                MISSING if contrast is None else contrast.measure,
                MISSING
                if base_contrast is None
                else fmt_ci(
                    base_contrast.estimate, base_contrast.ci_lower, base_contrast.ci_upper, digits
                ),
                MISSING
                if contrast is None
                else fmt_ci(contrast.estimate, contrast.ci_lower, contrast.ci_upper, digits),
                fmt_p(None if contrast is None else contrast.p_value),
                _problem_text(result),
            ]
        )
    columns = [
        "Analysis",
        "Sensitivity analysis",
        "Participants",
        "Measure",
        "Main analysis (95% CI)",
        "Sensitivity (95% CI)",
        "P",
        "Notes",
    ]
    return pd.DataFrame(rows, columns=columns)


def adverse_event_table(
    dataset: StudyDataset, protocol: Protocol, report: AnalysisReport
) -> pd.DataFrame:
    """Adverse events by arm: participants with any event, events by seriousness, relatedness
    and severity; the negative binomial rate ratio when the plan has one."""
    ae = dataset.adverse_events.merge(
        dataset.participants[["participant_id", "arm"]], on="participant_id", how="left"
    )
    kept = retention(dataset, protocol)
    people = dataset.participants[["participant_id", "arm"]].merge(kept, on="participant_id")
    arm_cols = _arm_columns(report)
    severities = sorted({str(s) for s in ae["severity"].dropna()})

    def per_arm(count: object) -> list[str]:
        cells = []
        for code, _ in arm_cols:
            cells.append(str(count(code)))  # type: ignore[operator]
        return cells

    rows: list[list[str]] = []
    rows.append(["Participants", *per_arm(lambda c: int((people["arm"] == c).sum()))])

    def with_any(code: str) -> str:
        n = int((people["arm"] == code).sum())
        k = int(ae.loc[ae["arm"] == code, "participant_id"].nunique())
        return f"{k} ({fmt(100 * k / n if n else None)}%)"

    rows.append(["Participants with ≥ 1 adverse event, n (%)", *per_arm(with_any)])
    rows.append(["Adverse events", *per_arm(lambda c: int((ae["arm"] == c).sum()))])
    rows.append(
        [
            "Serious adverse events",
            *per_arm(lambda c: int(((ae["arm"] == c) & ae["serious"]).sum())),
        ]
    )
    rows.append(
        [
            "Related to the intervention",
            *per_arm(lambda c: int(((ae["arm"] == c) & ae["related"]).sum())),
        ]
    )
    for severity in severities:
        rows.append(
            [
                f"Severity: {severity}",
                *per_arm(
                    lambda c, s=severity: int(((ae["arm"] == c) & (ae["severity"] == s)).sum())
                ),
            ]
        )
    for result in report.analyses:
        if result.kind != "analysis" or result.outcome != "adverse_event_count":
            continue
        summary = result.summary
        if summary is not None:
            rows.append(
                [
                    "Events per 100 participant-weeks (model-based, 95% CI)",
                    *[
                        next(
                            (
                                fmt_ci(a.estimate, a.ci_lower, a.ci_upper, 2)
                                for a in summary.arms
                                if a.arm == code
                            ),
                            MISSING,
                        )
                        for code, _ in arm_cols
                    ],
                ]
            )
        contrast = None if summary is None else summary.contrast
        text = (
            f"not estimable: {result.error}"
            if contrast is None
            else f"{fmt_ci(contrast.estimate, contrast.ci_lower, contrast.ci_upper, 2)}, P = {fmt_p(contrast.p_value)}"
        )
        label = "Rate ratio, negative binomial" + (
            f" ({contrast.label})" if contrast is not None else ""
        )
        rows.append([label, text, *[""] * (len(arm_cols) - 1)])
    return pd.DataFrame(rows, columns=["", *[label for _, label in arm_cols]])


def coefficient_table(result: AnalysisResult) -> pd.DataFrame:
    """The full coefficient table of one analysis, formatted."""
    return pd.DataFrame(
        [
            [
                c.term,
                fmt(c.estimate, 4),
                fmt(c.std_error, 4),
                f"{fmt(c.ci_lower, 4)} to {fmt(c.ci_upper, 4)}",
                fmt_p(c.p_value),
            ]
            for c in result.coefficients
        ],
        columns=["Term", "Estimate", "SE", "95% CI", "P"],
    )
