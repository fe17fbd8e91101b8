"""Result tables driven by each analysis' declared contrast (its effect measure), not by the
model that fitted it: yes/no outcomes (model-based % and an odds ratio or a difference in
percentage points), change in continuous outcomes (with Cohen d), time to event (events,
person-time and the hazard ratio) and counts (rates and their ratio). Every table has the
95% CI, P, the Benjamini–Hochberg adjusted P when the plan puts the analysis in a family, and
the protocol's published value beside the estimate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from mindtrial.analysis.results import AnalysisReport, AnalysisResult, Contrast
from mindtrial.protocols.schema import Protocol
from mindtrial.report.printer import MISSING, estimate_cells, fmt, fmt_estimate, fmt_p
from mindtrial.report.survival import KaplanMeier

MeasureKind = Literal["percent", "change", "hazard", "rate", "other"]

KIND_ORDER: tuple[MeasureKind, ...] = ("percent", "change", "hazard", "rate", "other")

KIND_HEADINGS: dict[MeasureKind, str] = {
    "percent": "Yes/no outcomes: model-based percentages by arm",
    "change": "Continuous outcomes: change from baseline by arm",
    "hazard": "Time to event: events, person-time and hazard ratios",
    "rate": "Counts: rates by arm and rate ratios",
    "other": "Other outcomes",
}

_DECLARED: dict[str, MeasureKind] = {  # the protocol's estimand measures (EffectMeasure)
    "odds_ratio": "percent",
    "difference_in_percentage_points": "percent",
    "difference_in_change": "change",
    "difference_in_means": "change",
    "hazard_ratio": "hazard",
    "rate_ratio": "rate",
    "ratio_of_means": "rate",
}


def kind_of_measure(measure: str) -> MeasureKind | None:
    """The table a contrast's ``measure`` text belongs in (``None`` when unrecognised)."""
    m = measure.lower()
    if "hazard" in m:
        return "hazard"
    if "odds ratio" in m or "percentage point" in m or "risk" in m:
        return "percent"
    if "rate ratio" in m or "ratio of means" in m or "incidence" in m:
        return "rate"
    if "change" in m or "difference in means" in m or "mean difference" in m:
        return "change"
    return None


def measure_kind(result: AnalysisResult, declared: str | None) -> MeasureKind:
    """The result's table: from its contrast's measure, else the protocol's estimand measure."""
    contrast = None if result.summary is None else result.summary.contrast
    if contrast is not None:
        found = kind_of_measure(contrast.measure)
        if found is not None:
            return found
    estimand_measure = _field(getattr(result, "estimand", None), "measure")
    if isinstance(estimand_measure, str):
        found = kind_of_measure(estimand_measure)
        if found is not None:
            return found
    if declared is not None and declared in _DECLARED:
        return _DECLARED[declared]
    return "other"


def is_ratio(measure: str) -> bool:
    return "ratio" in measure.lower()


def _digits(contrast: Contrast | None, kind: MeasureKind) -> int:
    if contrast is not None and is_ratio(contrast.measure):
        return 2
    return 1 if kind == "percent" else 2


# --------------------------------------------------------------------------- published


@dataclass(frozen=True)
class PublishedValue:
    estimate: float
    ci_lower: float | None
    ci_upper: float | None
    arms: Mapping[str, float]


def _field(obj: object, name: str) -> object:
    """``obj.name`` or ``obj[name]`` (results objects or their JSON form), else ``None``."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def published_value(
    result: AnalysisResult, protocol: Protocol, *, ratio: bool
) -> PublishedValue | None:
    """The published value of the analysis' estimand: the ``published`` entry the results
    carry (on the analysis, its summary or its contrast), else the protocol's published
    result with the analysis' id."""
    summary = result.summary
    contrast = None if summary is None else summary.contrast
    for holder in (result, summary, contrast):
        carried = _field(holder, "published") if holder is not None else None
        if carried is None:
            continue
        direct = _number(carried)
        if direct is not None:
            return PublishedValue(direct, None, None, {})
        estimate = _number(_field(carried, "estimate"))
        arms_field = _field(carried, "arms")
        arms = (
            {str(k): float(v) for k, v in arms_field.items() if _number(v) is not None}
            if isinstance(arms_field, Mapping)
            else {}
        )
        if estimate is not None:
            return PublishedValue(
                estimate,
                _number(_field(carried, "ci_lower")),
                _number(_field(carried, "ci_upper")),
                arms,
            )
    if result.kind != "analysis":
        return None
    for published in protocol.published.results:
        if published.id != result.id:
            continue
        first, second = (
            (published.ratio, published.ratio_ci)
            if ratio
            else (published.difference, published.difference_ci)
        )
        if first is None:
            first, second = (
                (published.difference, published.difference_ci)
                if ratio
                else (published.ratio, published.ratio_ci)
            )
        if first is None:
            return None
        return PublishedValue(
            first,
            None if second is None else second[0],
            None if second is None else second[1],
            dict(published.arms),
        )
    return None


def published_text(
    result: AnalysisResult, protocol: Protocol, report: AnalysisReport, digits: int
) -> str:
    """``2.06 (1.17 to 3.61)``, with the published per-arm values when unmasked."""
    if report.arms_masked:
        return MISSING
    contrast = None if result.summary is None else result.summary.contrast
    ratio = is_ratio(contrast.measure) if contrast is not None else False
    value = published_value(result, protocol, ratio=ratio)
    if value is None:
        return MISSING
    text = fmt(value.estimate, digits) if value.ci_lower is None else fmt_estimate(value, digits)
    arms = [f"{report.arm_label(code)} {fmt(v, 1)}" for code, v in value.arms.items() if code]
    return text + (f"; {', '.join(arms)}" if arms else "")


# --------------------------------------------------------------------------- tables


def _arm_cells(result: AnalysisResult, report: AnalysisReport, digits: int) -> list[str]:
    summary = result.summary
    cells = []
    for arm in report.arms:
        found = (
            None if summary is None else next((a for a in summary.arms if a.arm == arm.code), None)
        )
        cells.append(MISSING if found is None else fmt_estimate(found, digits))
    return cells


def _notes(result: AnalysisResult) -> str:
    if result.status == "error":
        return f"not estimable: {result.error}"
    return "; ".join(result.warnings)


def _bh(contrast: Contrast | None, result: AnalysisResult) -> str:
    if result.multiplicity_family is None:
        return "not adjusted"
    if contrast is None:
        return MISSING
    family = _field(result.summary, "multiplicity")
    incomplete = family is not None and _field(family, "complete") is False
    failed = _field(family, "failed") if family is not None else None
    mark = (
        f" (family incomplete: {len(failed) if isinstance(failed, list | tuple) else 'some'} "
        "member(s) not estimable)"
        if incomplete
        else ""
    )
    return fmt_p(contrast.bh_p_value) + mark


# The columns every effect table ends with: _contrast_row's four, the published value, notes.
CONTRAST_COLUMNS = (
    "Effect measure",
    "Estimate (95% CI)",
    "P",
    "BH-adjusted P",
    "Published",
    "Notes",
)


def _contrast_row(contrast: Contrast | None, result: AnalysisResult, digits: int) -> list[str]:
    if contrast is None:
        return [MISSING, MISSING, MISSING, MISSING]
    measure = contrast.measure[:1].upper() + contrast.measure[1:]
    direction = _field(contrast, "direction")
    how = f"; {direction}" if isinstance(direction, str) and direction else ""
    return [
        f"{measure} ({contrast.label}{how})",
        *estimate_cells(contrast, digits),
        _bh(contrast, result),
    ]


def _main_results(
    report: AnalysisReport, protocol: Protocol, kind: MeasureKind
) -> list[AnalysisResult]:
    declared = {s.id: s.estimand.measure for s in protocol.analysis.analyses}
    return [
        r
        for r in report.analyses
        if r.kind == "analysis" and measure_kind(r, declared.get(r.id)) == kind
    ]


def _arm_headers(report: AnalysisReport, what: str) -> list[str]:
    return [f"{a.label} (n = {a.n_randomized}), {what}" for a in report.arms]


def percent_table(report: AnalysisReport, protocol: Protocol) -> pd.DataFrame:
    """Yes/no outcomes: model-based % per arm, the declared effect (odds ratio or difference
    in percentage points) and the other reported contrasts on their own rows."""
    rows = []
    blank = [""] * len(report.arms)
    for result in _main_results(report, protocol, "percent"):
        summary = result.summary
        contrast = None if summary is None else summary.contrast
        digits = _digits(contrast, "percent")
        rows.append(
            [
                result.title,
                *_arm_cells(result, report, 1),
                *_contrast_row(contrast, result, digits),
                published_text(result, protocol, report, digits),
                _notes(result),
            ]
        )
        for other in () if summary is None else summary.other_contrasts:
            rows.append(
                [
                    "",
                    *blank,
                    *_contrast_row(other, result, _digits(other, "percent"))[:3],
                    MISSING,
                    MISSING,
                    "",
                ]
            )
    columns = [
        "Outcome",
        *_arm_headers(report, "% (95% CI)"),
        *CONTRAST_COLUMNS,
    ]
    return pd.DataFrame(rows, columns=columns)


def change_table(report: AnalysisReport, protocol: Protocol) -> pd.DataFrame:
    """Continuous outcomes: within-arm change from the first to the last time level with
    Cohen d and % change, the between-arm difference in change, other contrasts and the
    arm × time interaction test."""
    rows = []
    for result in _main_results(report, protocol, "change"):
        summary = result.summary
        if summary is None:
            rows.append([result.title, MISSING, *[MISSING] * 8, _notes(result)])
            continue
        order = {a.code: i for i, a in enumerate(report.arms)}
        for arm in sorted(summary.arms, key=lambda a: order.get(a.arm, len(order))):
            rows.append(
                [
                    result.title,
                    report.arm_label(arm.arm),
                    fmt(arm.baseline, 2),
                    fmt(arm.final, 2),
                    fmt_estimate(arm, 2),
                    fmt(arm.cohen_d, 2),
                    fmt(arm.percent_change, 0),
                    MISSING,
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
                    f"{contrast.measure[:1].upper()}{contrast.measure[1:]} ({contrast.label})",
                    MISSING,
                    MISSING,
                    fmt_estimate(contrast, 2),
                    fmt(contrast.cohen_d, 2),
                    MISSING,
                    fmt_p(contrast.p_value),
                    _bh(contrast, result),
                    published_text(result, protocol, report, 2),
                    "",
                ]
            )
        for other in summary.other_contrasts:
            measure = other.measure[:1].upper() + other.measure[1:]
            rows.append(
                [
                    result.title,
                    measure,
                    MISSING,
                    MISSING,
                    fmt_estimate(other, 2),
                    fmt(other.cohen_d, 2),
                    MISSING,
                    fmt_p(other.p_value),
                    MISSING,
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
                    *[MISSING] * 5,
                    fmt_p(test.p_value),
                    MISSING,
                    MISSING,
                    "",
                ]
            )
        if result.warnings:
            rows[-1][-1] = _notes(result)
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
        "Published",
        "Notes",
    ]
    return pd.DataFrame(rows, columns=columns)


def hazard_table(
    report: AnalysisReport,
    protocol: Protocol,
    curves: Mapping[str, Sequence[KaplanMeier]],
) -> pd.DataFrame:
    """Time to event: per arm events / participants, person-weeks, events per 100
    person-weeks and the Kaplan–Meier median; the hazard ratio."""
    rows = []
    for result in _main_results(report, protocol, "hazard"):
        by_arm = {c.group: c for c in curves.get(result.id, ())}
        cells = []
        for arm in report.arms:
            km = by_arm.get(arm.code)
            if km is None:
                cells.append(MISSING)
                continue
            rate = 100 * km.events / km.person_time if km.person_time > 0 else None
            median = "not reached" if km.median is None else fmt(km.median, 0)
            cells.append(
                f"{km.events}/{km.n}; {fmt(km.person_time, 0)} person-weeks; "
                f"{fmt(rate, 2)} per 100 person-weeks; median {median}"
            )
        contrast = None if result.summary is None else result.summary.contrast
        rows.append(
            [
                result.title,
                *cells,
                *_contrast_row(contrast, result, 2),
                published_text(result, protocol, report, 2),
                _notes(result),
            ]
        )
    columns = [
        "Outcome",
        *_arm_headers(report, "events/participants; person-time; rate; median weeks"),
        *CONTRAST_COLUMNS,
    ]
    return pd.DataFrame(rows, columns=columns)


def rate_table(report: AnalysisReport, protocol: Protocol) -> pd.DataFrame:
    """Counts: the model-based rate (or mean) per arm and the rate ratio."""
    return _generic_table(report, protocol, "rate")


def other_table(report: AnalysisReport, protocol: Protocol) -> pd.DataFrame:
    """Analyses whose measure none of the other tables covers."""
    return _generic_table(report, protocol, "other")


def _generic_table(report: AnalysisReport, protocol: Protocol, kind: MeasureKind) -> pd.DataFrame:
    rows = []
    for result in _main_results(report, protocol, kind):
        summary = result.summary
        contrast = None if summary is None else summary.contrast
        digits = _digits(contrast, kind)
        what = MISSING if summary is None else summary.measure
        rows.append(
            [
                result.title,
                what[:1].upper() + what[1:],
                *_arm_cells(result, report, 2),
                *_contrast_row(contrast, result, digits),
                published_text(result, protocol, report, digits),
                _notes(result),
            ]
        )
    columns = [
        "Outcome",
        "Per-arm estimate",
        *[f"{a.label} (n = {a.n_randomized})" for a in report.arms],
        *CONTRAST_COLUMNS,
    ]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------- forest


@dataclass(frozen=True)
class ForestRow:
    label: str
    measure: str
    estimate: float
    ci_lower: float
    ci_upper: float
    ratio: bool
    published: float | None


def forest_rows(report: AnalysisReport, protocol: Protocol) -> list[ForestRow]:
    """Every main analysis' declared contrast with a finite estimate, in plan order."""
    rows = []
    for result in report.analyses:
        if result.kind != "analysis" or result.summary is None:
            continue
        contrast = result.summary.contrast
        if contrast is None or not all(
            math.isfinite(x) for x in (contrast.estimate, contrast.ci_lower, contrast.ci_upper)
        ):
            continue
        ratio = is_ratio(contrast.measure)
        if ratio and min(contrast.estimate, contrast.ci_lower) <= 0:
            continue
        published = None if report.arms_masked else published_value(result, protocol, ratio=ratio)
        rows.append(
            ForestRow(
                label=result.title,
                measure=contrast.measure,
                estimate=contrast.estimate,
                ci_lower=contrast.ci_lower,
                ci_upper=contrast.ci_upper,
                ratio=ratio,
                published=None if published is None else published.estimate,
            )
        )
    return rows
