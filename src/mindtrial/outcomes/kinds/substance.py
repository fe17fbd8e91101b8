"""Substance-use outcome kinds: ``period_abstinence``, ``misuse_index``, ``drug_use_count``."""

from __future__ import annotations

import pandas as pd

from mindtrial.dataset import StudyDataset
from mindtrial.outcomes.abstinence import toxicology_tests
from mindtrial.outcomes.drug_use import use_weeks
from mindtrial.outcomes.engagement import final_week
from mindtrial.outcomes.frames import analysis_frame_periods, participant_frame
from mindtrial.outcomes.kinds.common import (
    ID,
    OutcomeError,
    OutcomeFrame,
    Params,
    time_weeks,
)
from mindtrial.outcomes.scores import scored_instruments
from mindtrial.protocols.schema import AnalysisSpec, Protocol

# --------------------------------------------------------------------------- periods


class PeriodParams(Params):
    """``substance``: a substance group of the protocol's toxicology plan."""

    substance: str


def derive_periods(
    dataset: StudyDataset, protocol: Protocol, spec: AnalysisSpec, params: PeriodParams
) -> OutcomeFrame:
    """Non-abstinent (1) / abstinent (0) / missing per participant and period
    (:mod:`mindtrial.outcomes.abstinence`), over the analysis' ``time_levels`` (periods)."""
    plan = protocol.toxicology
    if plan is None or params.substance not in plan.substances:
        known = ", ".join(plan.substances) if plan else "none"
        raise OutcomeError(
            f"substance {params.substance!r} is not a substance group of the protocol's "
            f"toxicology plan (groups: {known})"
        )
    if spec.time not in (None, "period"):
        raise OutcomeError(
            f"period abstinence is by {protocol.outcomes.period_weeks}-week period; time "
            f"{spec.time!r} is not supported"
        )
    periods = list(spec.time_levels) or None
    frame = analysis_frame_periods(dataset, protocol, params.substance, periods=periods)
    values = tuple(int(p) for p in sorted(frame["period"].unique()))
    return OutcomeFrame(
        frame=frame,
        value="non_abstinent",
        time="period",
        time_values=values,
        event=f"period with {params.substance} use (non-abstinent period)",
    )


# --------------------------------------------------------------------------- misuse


class ScreenRule(Params):
    """A questionnaire score at or above ``at_least`` counts as misuse."""

    instrument: str
    score: str
    at_least: float


class MisuseParams(Params):
    """The Drug Misuse Index: misuse when any part is positive.

    ``screen``: a self-report score at or above a threshold (COMM ≥ 13); ``interview``: the
    interviewer-recorded behaviours (any reported); ``toxicology``: substance groups whose
    positive test at the assessment counts (unexpected results). ``one_is`` chooses which
    value is 1: ``misuse`` or ``no_misuse`` (the published estimand of reduced misuse).
    """

    screen: ScreenRule
    interview: ScreenRule | None = None
    toxicology: tuple[str, ...] = ()
    one_is: str = "misuse"


def _score_lookup(dataset: StudyDataset, rule: ScreenRule) -> pd.Series:
    scores = scored_instruments(dataset, instruments=[rule.instrument])
    picked = scores[(scores["instrument"] == rule.instrument) & (scores["score"] == rule.score)]
    return picked.set_index([ID, "week"])["value"]


def derive_misuse(
    dataset: StudyDataset, protocol: Protocol, spec: AnalysisSpec, params: MisuseParams
) -> OutcomeFrame:
    """One row per participant and time level: misuse (1) when the screen score is at or
    above its threshold, the interview reports any behaviour or a test of the assessment
    week is positive for a listed group; no misuse (0) when the screen was answered below
    the threshold and neither other part is positive; missing otherwise (a missing interview
    or test is not evidence of misuse). ``one_is: no_misuse`` reverses 1 and 0."""
    if params.one_is not in ("misuse", "no_misuse"):
        raise OutcomeError(f"one_is {params.one_is!r}: expected 'misuse' or 'no_misuse'")
    if not spec.time or not spec.time_levels:
        raise OutcomeError("misuse at assessments needs time and time_levels")
    to_week = time_weeks(protocol, spec, params.screen.instrument)
    screen = _score_lookup(dataset, params.screen)
    interview = _score_lookup(dataset, params.interview) if params.interview is not None else None
    plan = protocol.toxicology
    unknown = [g for g in params.toxicology if plan is None or g not in plan.substances]
    if unknown:
        raise OutcomeError(
            f"toxicology group(s) {', '.join(unknown)} are not in the protocol's toxicology plan"
        )
    positive: set[tuple[str, int]] = set()
    for group in params.toxicology:
        tests = toxicology_tests(dataset, protocol, group)
        hits = tests[tests["status"] == "positive"]
        positive.update(zip(hits[ID].astype(str), hits["week"].astype(int), strict=True))
    people = participant_frame(dataset, protocol)
    rows = []
    flip = params.one_is == "no_misuse"
    interview_at = params.interview.at_least if params.interview is not None else 0.0
    column = params.one_is
    for pid in people[ID].astype(str):
        for level, week in to_week.items():
            key = (pid, week)
            score = screen.get(key)
            said = interview.get(key) if interview is not None else None
            hit = (
                key in positive
                or (score is not None and score >= params.screen.at_least)
                or (said is not None and said >= interview_at)
            )
            if hit:
                value = 1.0
            elif score is not None:
                value = 0.0
            else:
                rows.append((pid, level, float("nan")))
                continue
            rows.append((pid, level, 1.0 - value if flip else value))
    long = pd.DataFrame(rows, columns=[ID, spec.time, column])
    frame = long.merge(people, on=ID, how="left")
    parts = [f"{params.screen.instrument} {params.screen.score} ≥ {params.screen.at_least:g}"]
    notes = []
    if params.interview is not None:
        parts.append(f"any behaviour reported in the {params.interview.instrument} interview")
        if interview is not None and interview.empty:
            notes.append(
                f"no {params.interview.instrument} interview in the dataset: misuse judged "
                "from the questionnaire and toxicology only"
            )
    if params.toxicology:
        parts.append(f"a positive test for {', '.join(params.toxicology)}")
    notes.insert(0, "misuse: " + " or ".join(parts) + " at the assessment")
    return OutcomeFrame(
        frame=frame,
        value=column,
        time=spec.time,
        time_values=tuple(spec.time_levels),
        event="assessment without opioid misuse" if flip else "assessment with opioid misuse",
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------- use counts


class DaysItem(Params):
    """A weekly "on how many of the past 7 days" item."""

    instrument: str
    item: str


class UseCountParams(Params):
    """``days``: count days from a weekly days item (the published "days of use"); without
    it, use-weeks from the yes/no survey and tests: ``substances`` (toxicology groups whose
    positive test counts as use) and ``items`` (default every drug item but alcohol)."""

    days: DaysItem | None = None
    substances: tuple[str, ...] | None = None
    items: tuple[str, ...] | None = None


def _use_days(
    dataset: StudyDataset, protocol: Protocol, spec: AnalysisSpec, days: DaysItem
) -> OutcomeFrame:
    """Days of use over follow-up weeks 1..final week: the sum of the weekly answers of
    ``days``; exposure = 7 × weeks answered (days assessed)."""
    last = final_week(protocol)
    r = dataset.responses
    answers = r[
        (r["instrument"] == days.instrument)
        & (r["item"] == days.item)
        & r["value"].notna()
        & (r["week"] >= 1)
        & (r["week"] <= last)
    ]
    per = answers.groupby(ID)["value"].agg(["sum", "size"])
    people = participant_frame(dataset, protocol)
    exposure = spec.exposure or "days_assessed"
    ids = people[ID].astype(str)
    people["use_days"] = ids.map(per["sum"]).fillna(0).astype("float64").to_numpy()
    people[exposure] = (7 * ids.map(per["size"]).fillna(0)).astype("float64").to_numpy()
    notes = [
        f"days of use: sum over follow-up weeks 1-{last} of {days.instrument} {days.item} "
        f"(days in the past 7); exposure ({exposure}) = 7 × weeks answered; the ratio "
        "compares mean days of use per assessed day"
    ]
    none = people[exposure] <= 0
    if bool(none.any()):
        notes.append(f"{int(none.sum())} participant(s) with no answered week left out")
        people = people[~none]
    return OutcomeFrame(
        frame=people,
        value="use_days",
        exposure=exposure,
        event="day of drug use",
        rate="days of any drug use per 100 assessed days",
        notes=tuple(notes),
    )


def derive_use_count(
    dataset: StudyDataset, protocol: Protocol, spec: AnalysisSpec, params: UseCountParams
) -> OutcomeFrame:
    """Weeks with any drug use over follow-up per participant, with the assessed weeks as
    exposure (:mod:`mindtrial.outcomes.drug_use`); days when ``params.days`` is given."""
    if params.days is not None:
        return _use_days(dataset, protocol, spec, params.days)
    people = participant_frame(dataset, protocol)
    try:
        counts = use_weeks(dataset, protocol, items=params.items, substances=params.substances)
    except ValueError as exc:
        raise OutcomeError(str(exc)) from None
    exposure = spec.exposure or "follow_up_weeks"
    frame = people.merge(counts, on=ID, how="left")
    frame[exposure] = frame["weeks_assessed"].astype("float64")
    frame["use_weeks"] = frame["use_weeks"].astype("float64")
    groups = ", ".join(
        params.substances or (protocol.toxicology.substances if protocol.toxicology else [])
    )
    notes = [
        "the dataset has weekly yes/no past-7-day answers, not days, so the count is of "
        "use-weeks: follow-up weeks with any drug item of substance_use_7d answered yes "
        f"(alcohol excluded) or a test positive for {groups or 'no substance group'}; "
        f"exposure ({exposure}) is the number of follow-up weeks with a survey answer or a "
        "valid test; the ratio compares use-weeks per assessed week"
    ]
    none = frame[exposure] <= 0
    if bool(none.any()):
        notes.append(
            f"{int(none.sum())} participant(s) with no assessed follow-up week left out of "
            "the rate model"
        )
        frame = frame[~none]
    return OutcomeFrame(
        frame=frame,
        value="use_weeks",
        exposure=exposure,
        event="week with drug use",
        rate="weeks with any drug use per 100 assessed participant-weeks",
        notes=tuple(notes),
    )
