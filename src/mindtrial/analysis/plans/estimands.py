"""From a fitted model to the estimand the protocol declares.

The protocol's ``estimand`` of an analysis names the effect measure (odds ratio, hazard
ratio, ratio of means, difference in change, ...), which values of the outcome are better
and whether a difference is reported with improvement positive. This module picks the
summary for the measure, orients its sign, states the direction in words and attaches the
paper's value (``published``) where the protocol has one. Nothing here knows any outcome.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd

from mindtrial.analysis.errors import AnalysisError
from mindtrial.analysis.plans.frames import ModelData
from mindtrial.analysis.plans.summaries import (
    Arms,
    change_summary,
    hazard_summary,
    percent_summary,
    rate_summary,
)
from mindtrial.analysis.results import Contrast, EstimandInfo, ModelResult, Published, Summary
from mindtrial.protocols.model_names import ModelName
from mindtrial.protocols.schema import AnalysisSpec, Estimand, Protocol

MEASURE_WORDS = {
    "odds_ratio": "odds ratio",
    "hazard_ratio": "hazard ratio",
    "rate_ratio": "rate ratio",
    "ratio_of_means": "ratio of means",
    "difference_in_percentage_points": "difference in percentage points",
    "difference_in_change": "difference in change",
    "difference_in_means": "difference in means",
}

# The measures each model can give.
_MODEL_MEASURES: dict[ModelName, tuple[str, ...]] = {
    "gee_logistic": ("odds_ratio", "difference_in_percentage_points"),
    "glm_logistic": ("odds_ratio", "difference_in_percentage_points"),
    "lmm_gaussian": ("difference_in_change", "difference_in_means"),
    "glm_negative_binomial": ("rate_ratio", "ratio_of_means"),
    "gee_poisson": ("rate_ratio", "ratio_of_means"),
    "cox_ph": ("hazard_ratio",),
}


def estimand_info(spec: AnalysisSpec, *, masked: bool = False) -> EstimandInfo:
    """The estimand for results.json; with masked arms its label (which names the arms) is
    replaced by the measure and time point."""
    e = spec.estimand
    label = e.label
    if masked:
        when = f" at {e.time_point}" if e.time_point else ""
        label = f"{MEASURE_WORDS[e.measure]}{when}, between the masked arms"
    return EstimandInfo(
        label=label,
        measure=MEASURE_WORDS[e.measure],
        direction=e.direction,
        time_point=e.time_point,
        population=e.population,
    )


def check_measure(spec: AnalysisSpec) -> None:
    allowed = _MODEL_MEASURES[spec.model]
    if spec.estimand.measure not in allowed:
        raise AnalysisError(
            f"analysis {spec.id!r}: a {spec.model} model gives "
            f"{' or '.join(MEASURE_WORDS[m] for m in allowed)}, not the "
            f"{MEASURE_WORDS[spec.estimand.measure]} the estimand asks for"
        )


def summarize(
    spec: AnalysisSpec,
    result: ModelResult,
    arms: Arms,
    data: ModelData,
    *,
    observed: pd.DataFrame | None = None,
) -> Summary:
    """The summary whose main contrast is ``spec``'s estimand, oriented as declared."""
    check_measure(spec)
    measure = spec.estimand.measure
    summary: Summary
    if spec.model in ("gee_logistic", "glm_logistic"):
        summary = percent_summary(result, arms, odds_ratio=measure == "odds_ratio")
        if data.event:
            summary = replace(summary, measure=f"model-based % with a {data.event} (95% CI)")
    elif spec.model == "lmm_gaussian":
        summary = change_summary(result, arms, data, observed=observed)
        if measure == "difference_in_means" and summary.contrast is not None:
            main, other = summary.other_contrasts[0], summary.contrast
            summary = replace(summary, contrast=main, other_contrasts=(other,))
    elif spec.model in ("glm_negative_binomial", "gee_poisson"):
        summary = rate_summary(
            result, arms, per=100.0 if spec.model == "glm_negative_binomial" else 1.0
        )
        if data.rate and spec.model == "glm_negative_binomial":
            summary = replace(summary, measure=f"{data.rate} (95% CI)")
    else:
        summary = hazard_summary(result, arms, data.outcome, data.duration)
    return orient(summary, spec.estimand)


def _flip(c: Contrast) -> Contrast:
    return replace(
        c,
        estimate=-c.estimate,
        ci_lower=-c.ci_upper,
        ci_upper=-c.ci_lower,
        cohen_d=None if c.cohen_d is None else -c.cohen_d,
        label=f"{c.label} (sign reversed: improvement positive)",
    )


def orient(summary: Summary, estimand: Estimand) -> Summary:
    """Name the measure and direction of the main contrast; reverse the sign of differences
    when the estimand reports improvement positive on an outcome where lower is better."""
    if summary.contrast is None:
        return summary
    main = summary.contrast
    if estimand.measure == "ratio_of_means":
        main = replace(main, measure="ratio of means")
    others = summary.other_contrasts
    if estimand.flips_sign:
        main = _flip(main)
        others = tuple(_flip(c) if not c.measure.endswith("ratio") else c for c in others)
    main = replace(main, direction=estimand.direction)
    return replace(summary, contrast=main, other_contrasts=others)


def published_value(
    protocol: Protocol, spec: AnalysisSpec, *, masked: bool = False
) -> Published | None:
    """The protocol's published value of ``spec``'s estimand, if it names one (without the
    per-arm values, keyed by arm, when the arms are masked)."""
    ref = spec.estimand.published
    if ref is None:
        return None
    found = next(r for r in protocol.published.results if r.id == ref)
    ratio = spec.estimand.is_ratio
    estimate = found.ratio if ratio else found.difference
    ci = found.ratio_ci if ratio else found.difference_ci
    return Published(
        description=found.description,
        measure=MEASURE_WORDS[spec.estimand.measure],
        estimate=estimate,
        ci_lower=None if ci is None else ci[0],
        ci_upper=None if ci is None else ci[1],
        p_value=found.p_value,
        arms={} if masked else dict(found.arms),
    )


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
