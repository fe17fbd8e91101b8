"""From a study dataset and one analysis spec to the rows a model is fitted to.

Outcome derivation itself lives in :mod:`mindtrial.outcomes`; this module picks the right
frame for each kind of analysis, names its columns for the formula, converts pandas'
nullable dtypes to what the formula engine reads (floats with NaN, object strings) and applies
the plan's subset and sensitivity restrictions. Problems raise
:class:`~mindtrial.analysis.errors.AnalysisError` with a message that names the analysis input
at fault; the runner records it on that analysis.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from mindtrial.analysis.errors import AnalysisError
from mindtrial.dataset import StudyDataset, follow_up_week
from mindtrial.instruments import get_instrument
from mindtrial.outcomes import (
    analysis_frame_periods,
    analysis_frame_scores,
    participant_frame,
    retention,
    scored_instruments,
    toxicology_tests,
)
from mindtrial.outcomes.drug_use import use_weeks
from mindtrial.protocols.schema import AnalysisSpec, Protocol

ID = "participant_id"
ARM = "arm"

# Sensitivity covariates that name a derived quantity rather than a column: the cohort a
# participant joined is the study's record of its COVID-era enrolment wave.
COVARIATE_ALIASES = {"cohort_wave": "cohort"}

_SUBSET = re.compile(r"^baseline_[a-z0-9]+_above_(?P<value>[0-9]+(?:_[0-9]+)?)$")


@dataclass(frozen=True, eq=False)
class ModelData:
    """Rows for one model plus how to read them.

    ``frame`` has ``participant_id``, ``arm`` (categorical: reference level first), the
    outcome column, the time column (if any) and the covariates, all as floats/objects.
    ``time_values`` are the time levels in the frame's units (weeks, months or periods).
    """

    frame: pd.DataFrame
    outcome: str
    covariates: tuple[str, ...]
    time: str | None = None
    time_values: tuple[int, ...] = ()
    exposure: str | None = None
    duration: str | None = None
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())


def plain_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Nullable pandas dtypes → float64 with NaN / object with NaN (the formula engine's diet)."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        dtype = series.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            continue
        if pd.api.types.is_integer_dtype(dtype) and not bool(series.isna().any()):
            out[column] = series.astype("int64")
        elif pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
            out[column] = series.astype("Float64").astype("float64")
        elif pd.api.types.is_float_dtype(dtype):
            out[column] = series.astype("float64")
        elif pd.api.types.is_string_dtype(dtype):
            out[column] = pd.Series(
                [None if pd.isna(v) else str(v) for v in series], index=series.index, dtype=object
            )
    return out


def set_arm_levels(frame: pd.DataFrame, levels: Sequence[str]) -> pd.DataFrame:
    """``arm`` as a categorical with ``levels`` (reference first); rows of other arms dropped."""
    out = frame[frame[ARM].isin(list(levels))].copy()
    out[ARM] = pd.Categorical(out[ARM].astype(str), categories=list(levels))
    return out


def order_categories(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    outcome: str,
    levels: Mapping[str, Sequence[str]],
) -> pd.DataFrame:
    """Text covariates as categoricals whose first level is the reference.

    The order is the protocol's (``levels``; the first listed level is the reference, e.g.
    the lowest income band) or alphabetical, restricted to the levels present in rows with an
    observed outcome so that an unused level never enters the design.
    """
    out = frame.copy()
    observed = out[out[outcome].notna()]
    for column in columns:
        series = out[column]
        if series.dtype != object:
            continue
        present = {str(v) for v in observed[column].dropna()}
        declared = [str(v) for v in levels.get(column, ())]
        order = [v for v in declared if v in present] + sorted(present - set(declared))
        out[column] = pd.Categorical(series, categories=order)
    return out


def resolve_covariates(
    frame: pd.DataFrame, names: Sequence[str], *, analysis_id: str
) -> tuple[pd.DataFrame, list[str]]:
    """The covariate columns for ``names`` (aliases applied), failing for unknown names."""
    out = frame.copy()
    resolved: list[str] = []
    for name in names:
        if name in out.columns:
            resolved.append(name)
            continue
        alias = COVARIATE_ALIASES.get(name)
        if alias is not None and alias in out.columns:
            out[name] = out[alias]
            resolved.append(name)
            continue
        raise AnalysisError(
            f"analysis {analysis_id!r}: covariate {name!r} is neither a participant column nor a "
            f"baseline covariate of the dataset (columns: {', '.join(map(str, frame.columns))})"
        )
    return out, resolved


def _instrument_score(outcome: str, *, analysis_id: str) -> tuple[str, str, str | None]:
    instrument_id, _, score = outcome.partition(".")
    try:
        instrument = get_instrument(instrument_id)
    except KeyError:
        raise AnalysisError(
            f"analysis {analysis_id!r}: outcome {outcome!r} names instrument {instrument_id!r}, "
            "which is not a shipped instrument"
        ) from None
    scores = instrument.score_ids
    if score in scores:
        return instrument_id, score, None
    if len(scores) == 1:
        note = (
            f"outcome {outcome!r}: instrument {instrument_id!r} has the single score "
            f"{scores[0]!r}, used as the outcome"
        )
        return instrument_id, scores[0], note
    raise AnalysisError(
        f"analysis {analysis_id!r}: instrument {instrument_id!r} has no score {score!r} "
        f"(scores: {', '.join(scores)})"
    )


def _assessment_weeks(protocol: Protocol, instrument: str) -> list[int]:
    weeks: set[int] = set()
    for assessment in protocol.assessments:
        if assessment.instrument == instrument:
            weeks.update(assessment.weeks)
            weeks.update(follow_up_week(m) for m in assessment.months)
    return sorted(weeks)


def _time_weeks(protocol: Protocol, spec: AnalysisSpec, instrument: str) -> dict[int, int]:
    """Map each time level of ``spec`` to the study week its data are recorded at."""
    levels = list(spec.time_levels)
    if spec.time == "month":
        scheduled = _assessment_weeks(protocol, instrument)
        mapping: dict[int, int] = {}
        for month in levels:
            target = month * 52 / 12
            if not scheduled:
                mapping[month] = follow_up_week(month)
            else:
                mapping[month] = min(scheduled, key=lambda w: (abs(w - target), w))
        return mapping
    return {level: level for level in levels}


def score_data(dataset: StudyDataset, protocol: Protocol, spec: AnalysisSpec) -> ModelData:
    """Rows for a mixed model of an instrument score over time (``outcome`` = ``inst.score``)."""
    instrument, score, note = _instrument_score(spec.outcome, analysis_id=spec.id)
    if not spec.time or not spec.time_levels:
        raise AnalysisError(f"analysis {spec.id!r}: a mixed model needs time and time_levels")
    to_week = _time_weeks(protocol, spec, instrument)
    weeks = list(to_week.values())
    if len(set(weeks)) != len(weeks):
        raise AnalysisError(
            f"analysis {spec.id!r}: time levels {spec.time_levels} map onto repeated study weeks "
            f"{weeks}"
        )
    frame = analysis_frame_scores(
        dataset,
        protocol,
        instrument=instrument,
        score=score,
        weeks=weeks,
        baseline_week=weeks[0],
        baseline_name="baseline_value",
    )
    outcome = f"{instrument}_{score}"
    frame = frame.rename(columns={"value": outcome})
    to_level = {w: level for level, w in to_week.items()}
    time = spec.time
    frame[time] = frame["week"].map(to_level).astype("int64")
    for name in spec.covariates:
        if name.startswith("baseline_") and name not in frame.columns:
            frame[name] = frame["baseline_value"]
    notes = [note] if note else []
    if spec.subset is not None:
        match = _SUBSET.match(spec.subset)
        if match is None:
            raise AnalysisError(
                f"analysis {spec.id!r}: unknown subset {spec.subset!r}; expected "
                "'baseline_<name>_above_<number>'"
            )
        threshold = float(match.group("value").replace("_", "."))
        keep = frame["baseline_value"] > threshold
        excluded = frame.loc[~keep.fillna(False).astype(bool), ID].nunique()
        frame = frame[keep.fillna(False).astype(bool)]
        notes.append(
            f"subset {spec.subset}: participants with a baseline {score} above "
            f"{threshold:g} ({excluded} participant(s) with data excluded, missing baseline "
            "included in that count)"
        )
    return ModelData(
        frame=plain_dtypes(frame),
        outcome=outcome,
        covariates=tuple(spec.covariates),
        time=time,
        time_values=tuple(spec.time_levels),
        notes=tuple(notes),
    )


def period_data(dataset: StudyDataset, protocol: Protocol, spec: AnalysisSpec) -> ModelData:
    """Rows for a GEE/logistic model of period abstinence for the substance ``spec.outcome``."""
    if protocol.toxicology is None or spec.outcome not in protocol.toxicology.substances:
        known = ", ".join(protocol.toxicology.substances) if protocol.toxicology else "none"
        raise AnalysisError(
            f"analysis {spec.id!r}: outcome {spec.outcome!r} is not a substance the protocol "
            f"derives period abstinence for (substances: {known})"
        )
    if spec.time not in (None, "period"):
        raise AnalysisError(
            f"analysis {spec.id!r}: substance outcomes are by 2-week period; time {spec.time!r} "
            "is not supported"
        )
    periods = list(spec.time_levels) or None
    try:
        frame = analysis_frame_periods(dataset, protocol, spec.outcome, periods=periods)
    except ValueError as exc:
        raise AnalysisError(f"analysis {spec.id!r}: {exc}") from None
    frame = frame.rename(columns={"non_abstinent": "non_abstinent"})
    values = tuple(int(p) for p in sorted(frame["period"].unique()))
    return ModelData(
        frame=plain_dtypes(frame),
        outcome="non_abstinent",
        covariates=tuple(spec.covariates),
        time="period",
        time_values=values,
    )


def adverse_event_data(dataset: StudyDataset, protocol: Protocol, spec: AnalysisSpec) -> ModelData:
    """One row per participant: adverse-event count and weeks of follow-up.

    Follow-up ends at the withdrawal week for withdrawn participants, else at the last week
    with any data (:func:`mindtrial.outcomes.retention`); participants with no follow-up time
    cannot contribute to a rate and are left out with a note.
    """
    people = participant_frame(dataset, protocol)
    kept = retention(dataset, protocol)
    counts = dataset.adverse_events.groupby(ID).size()
    frame = people.merge(kept[[ID, "last_week_with_data", "withdrawn_week"]], on=ID, how="left")
    frame["adverse_event_count"] = frame[ID].map(counts).fillna(0).astype("float64")
    end = (
        frame["withdrawn_week"]
        .astype("Float64")
        .fillna(frame["last_week_with_data"].astype("Float64"))
    )
    exposure = spec.exposure or "follow_up_weeks"
    frame[exposure] = end.fillna(0).astype("float64")
    zero = frame[exposure] <= 0
    notes = []
    if bool(zero.any()):
        notes.append(
            f"{int(zero.sum())} participant(s) with no follow-up time left out of the rate model"
        )
        frame = frame[~zero]
    return ModelData(
        frame=plain_dtypes(frame),
        outcome="adverse_event_count",
        covariates=tuple(spec.covariates),
        exposure=exposure,
        notes=tuple(notes),
    )


def drug_use_data(dataset: StudyDataset, protocol: Protocol, spec: AnalysisSpec) -> ModelData:
    """One row per participant: weeks with any drug use and weeks assessed (MORE-MMT
    ``days_of_use``), for a rate model with the assessed weeks as exposure.

    The study dataset has weekly yes/no past-7-day answers and weekly tests, not days, so
    the count is of use-weeks (:mod:`mindtrial.outcomes.drug_use` has the rule); the
    analysis notes say so. Participants with no assessed week are left out with a note.
    """
    people = participant_frame(dataset, protocol)
    try:
        counts = use_weeks(dataset, protocol)
    except ValueError as exc:
        raise AnalysisError(f"analysis {spec.id!r}: {exc}") from None
    exposure = spec.exposure or "follow_up_weeks"
    frame = people.merge(counts, on=ID, how="left")
    frame[exposure] = frame["weeks_assessed"].astype("float64")
    frame["use_weeks"] = frame["use_weeks"].astype("float64")
    groups = ", ".join(protocol.toxicology.substances) if protocol.toxicology else "none"
    notes = [
        f"{spec.outcome}: the dataset has weekly yes/no past-7-day answers, not days, so the "
        "count is of use-weeks: follow-up weeks with any drug item of substance_use_7d "
        f"answered yes (alcohol excluded) or a test positive for the protocol's substance "
        f"groups ({groups}); exposure ({exposure}) is the number of follow-up weeks with a "
        "survey answer or a valid test; the rate ratio compares use-weeks per assessed week"
    ]
    none = frame[exposure] <= 0
    if bool(none.any()):
        notes.append(
            f"{int(none.sum())} participant(s) with no assessed follow-up week left out of "
            "the rate model"
        )
        frame = frame[~none]
    return ModelData(
        frame=plain_dtypes(frame),
        outcome="use_weeks",
        covariates=tuple(spec.covariates),
        exposure=exposure,
        notes=tuple(notes),
    )


def _follow_up_end(dataset: StudyDataset, protocol: Protocol) -> pd.DataFrame:
    """``participant_id``, ``end`` (float: withdrawal week, else last week with data, else 0)
    and ``reason`` (withdrawal reason or NA)."""
    kept = retention(dataset, protocol)
    end = (
        kept["withdrawn_week"]
        .astype("Float64")
        .fillna(kept["last_week_with_data"].astype("Float64"))
    )
    reasons = dataset.participants.set_index(ID)["withdrawal_reason"]
    return pd.DataFrame(
        {
            ID: kept[ID],
            "end": end.fillna(0).astype("float64").to_numpy(),
            "withdrawn": kept["withdrawn"].to_numpy(),
            "reason": kept[ID].map(reasons).to_numpy(),
        }
    )


def time_to_event_data(dataset: StudyDataset, protocol: Protocol, spec: AnalysisSpec) -> ModelData:
    """One row per participant: weeks to the event and whether it happened (Cox models).

    * ``return_to_use``: the first study week ≥ 1 with self-reported use (the protocol's
      self-report item for its substance) or a positive test for the substance
      (:func:`mindtrial.outcomes.toxicology_tests`); otherwise censored at the end of
      follow-up;
    * ``treatment_dropout``: the withdrawal week when the withdrawal reason mentions leaving
      treatment ("treatment" in the reason); other withdrawals and completers are censored at
      the end of their follow-up.

    Follow-up ends at the withdrawal week, else at the last week with any data.
    """
    people = participant_frame(dataset, protocol)
    ends = _follow_up_end(dataset, protocol)
    frame = people.merge(ends, on=ID, how="left")
    notes: list[str] = []
    if spec.outcome == "return_to_use":
        plan = protocol.toxicology
        if plan is None or len(plan.substances) != 1:
            raise AnalysisError(
                f"analysis {spec.id!r}: return to use needs a protocol with exactly one "
                "toxicology substance group"
            )
        (substance,) = plan.substances
        weeks: list[pd.DataFrame] = []
        tests = toxicology_tests(dataset, protocol, substance)
        weeks.append(tests.loc[tests["status"] == "positive", [ID, "week"]])
        item = plan.self_report_items.get(substance)
        if item is not None:
            r = dataset.responses
            used = r[
                (r["instrument"] == "substance_use_7d") & (r["item"] == item) & (r["value"] == 1.0)
            ]
            weeks.append(used[[ID, "week"]])
        events = pd.concat(weeks, ignore_index=True)
        events = events[events["week"] >= 1]
        first = events.groupby(ID)["week"].min()
        event_week = frame[ID].map(first).astype("Float64")
        frame["event"] = event_week.notna().astype("float64").to_numpy()
        frame["weeks_to_event"] = event_week.fillna(frame["end"]).astype("float64").to_numpy()
        notes.append(f"return to use: first week with reported use or a positive {substance} test")
    elif spec.outcome == "treatment_dropout":
        left = frame["withdrawn"].astype(bool) & frame["reason"].fillna("").str.contains(
            "treatment", case=False
        )
        frame["event"] = left.astype("float64")
        frame["weeks_to_event"] = frame["end"].astype("float64")
        notes.append("treatment dropout: withdrawal with a reason that names leaving treatment")
    else:
        raise AnalysisError(
            f"analysis {spec.id!r}: no time-to-event derivation for {spec.outcome!r}"
        )
    unusable = frame["weeks_to_event"] <= 0
    if bool(unusable.any()):
        notes.append(f"{int(unusable.sum())} participant(s) without follow-up time left out")
        frame = frame[~unusable]
    return ModelData(
        frame=plain_dtypes(frame.drop(columns=["reason", "withdrawn", "end"])),
        outcome="event",
        covariates=tuple(spec.covariates),
        duration="weeks_to_event",
        notes=tuple(notes),
    )


def misuse_data(dataset: StudyDataset, protocol: Protocol, spec: AnalysisSpec) -> ModelData:
    """Opioid misuse (MORE): one row per participant and time level of ``spec``.

    Follows the protocol's ``misuse_rule`` ("any of"): misuse (1) when the COMM total is at
    or above ``comm_threshold`` or any toxicology test of that week is positive for one of
    the protocol's substance groups (an unexpected result); no misuse (0) when the COMM was
    answered below the threshold and no test was positive; missing otherwise. Interview-
    reported misuse is not part of the study dataset and so is not used (noted).
    """
    rule = protocol.outcomes.misuse_rule
    threshold = rule.get("comm_threshold")
    if not isinstance(threshold, int | float):
        raise AnalysisError(
            f"analysis {spec.id!r}: the protocol's misuse_rule has no comm_threshold"
        )
    if not spec.time or not spec.time_levels:
        raise AnalysisError(f"analysis {spec.id!r}: misuse over time needs time and time_levels")
    to_week = _time_weeks(protocol, spec, "comm")
    scores = scored_instruments(dataset)
    comm = scores[(scores["instrument"] == "comm") & (scores["score"] == "total")]
    comm_by = comm.set_index([ID, "week"])["value"]
    positive: set[tuple[str, int]] = set()
    for substance in protocol.toxicology.substances if protocol.toxicology else {}:
        tests = toxicology_tests(dataset, protocol, substance)
        hits = tests[tests["status"] == "positive"]
        positive.update(zip(hits[ID].astype(str), hits["week"].astype(int), strict=True))
    people = participant_frame(dataset, protocol)
    rows = []
    for pid in people[ID].astype(str):
        for level, week in to_week.items():
            score = comm_by.get((pid, week))
            if (pid, week) in positive or (score is not None and score >= threshold):
                value: float = 1.0
            elif score is not None:
                value = 0.0
            else:
                value = float("nan")
            rows.append((pid, level, value))
    long = pd.DataFrame(rows, columns=[ID, spec.time, "misuse"])
    frame = long.merge(people, on=ID, how="left")
    return ModelData(
        frame=plain_dtypes(frame),
        outcome="misuse",
        covariates=tuple(spec.covariates),
        time=spec.time,
        time_values=tuple(spec.time_levels),
        notes=(
            f"misuse: COMM total ≥ {threshold:g} or a positive test in the assessment week; "
            "interview-reported misuse is not in the study dataset",
        ),
    )


def model_data(dataset: StudyDataset, protocol: Protocol, spec: AnalysisSpec) -> ModelData:
    """The rows for ``spec``'s model, whatever its kind."""
    if spec.outcome == "misuse":
        return misuse_data(dataset, protocol, spec)
    if spec.outcome == "adverse_event_count":
        return adverse_event_data(dataset, protocol, spec)
    if spec.outcome == "days_of_use":
        return drug_use_data(dataset, protocol, spec)
    if spec.model == "cox":
        return time_to_event_data(dataset, protocol, spec)
    if (
        spec.model in ("gee_logistic", "logistic", "poisson_gee")
        and protocol.toxicology
        and (spec.outcome in protocol.toxicology.substances)
    ):
        return period_data(dataset, protocol, spec)
    if spec.model == "lmm" and "." in spec.outcome:
        return score_data(dataset, protocol, spec)
    raise AnalysisError(
        f"analysis {spec.id!r}: mindtrial.outcomes derives no {spec.model} outcome "
        f"{spec.outcome!r} yet; this analysis of the plan cannot be run from a study dataset"
    )


def drop_constant_covariates(
    data: ModelData, covariates: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Covariates that vary among rows with an observed outcome, and a warning for each one
    that does not (it is removed from the model rather than making the fit fail)."""
    observed = data.frame[data.frame[data.outcome].notna()]
    kept: list[str] = []
    warnings: list[str] = []
    for name in covariates:
        values = observed[name].dropna().unique()
        if len(values) <= 1:
            shown = "no observed value" if len(values) == 0 else f"the single value {values[0]!r}"
            warnings.append(
                f"covariate {name!r} has {shown} among the analysed rows; it was removed "
                "from the model"
            )
        else:
            kept.append(name)
    return kept, warnings


def wide_outcomes(data: ModelData) -> tuple[pd.DataFrame, list[str]]:
    """One row per participant with one outcome column per time level (for imputation)."""
    if data.time is None:
        raise AnalysisError("imputation needs repeated outcomes over time")
    frame = data.frame
    columns = [f"y_{t}" for t in data.time_values]
    wide = frame.pivot_table(
        index=ID, columns=data.time, values=data.outcome, aggfunc="first", dropna=False
    )
    wide = wide.reindex(columns=list(data.time_values))
    wide.columns = columns
    return wide.astype("float64"), columns


def long_from_wide(
    wide: pd.DataFrame, people: pd.DataFrame, data: ModelData, columns: Sequence[str]
) -> pd.DataFrame:
    """Back to one row per participant and time level (imputed outcomes filled in)."""
    assert data.time is not None
    parts = []
    for level, column in zip(data.time_values, columns, strict=True):
        part = pd.DataFrame(
            {ID: wide.index.to_numpy(), data.time: level, data.outcome: wide[column].to_numpy()}
        )
        parts.append(part)
    long = pd.concat(parts, ignore_index=True)
    long = long.merge(people, on=ID, how="left")
    return long.sort_values([ID, data.time], kind="stable").reset_index(drop=True)


def participant_rows(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The first row per participant of participant-level ``columns``."""
    present = [c for c in columns if c in frame.columns]
    return frame.drop_duplicates(ID)[[ID, *[c for c in present if c != ID]]].reset_index(drop=True)
