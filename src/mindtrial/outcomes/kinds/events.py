"""Event outcome kinds: ``event_count`` (counts over follow-up) and ``time_to_event``."""

from __future__ import annotations

import pandas as pd

from mindtrial.dataset import StudyDataset
from mindtrial.outcomes.abstinence import toxicology_tests
from mindtrial.outcomes.engagement import retention
from mindtrial.outcomes.frames import participant_frame
from mindtrial.outcomes.kinds.common import ID, OutcomeError, OutcomeFrame, Params
from mindtrial.protocols.schema import AnalysisSpec, Protocol


def _follow_up_end(dataset: StudyDataset, protocol: Protocol) -> pd.DataFrame:
    """``participant_id``, ``end`` (float: withdrawal week, else last week with data, else
    0), ``withdrawn`` and ``reason`` (withdrawal reason or NA)."""
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


# --------------------------------------------------------------------------- counts


class CountParams(Params):
    """``events``: which records are counted (``adverse_events``: rows of adverse_events.csv)."""

    events: str = "adverse_events"


def derive_count(
    dataset: StudyDataset, protocol: Protocol, spec: AnalysisSpec, params: CountParams
) -> OutcomeFrame:
    """One row per participant: the event count and the weeks of follow-up (withdrawal week
    for withdrawn participants, else the last week with any data). Participants without
    follow-up time cannot contribute to a rate and are left out with a note."""
    if params.events != "adverse_events":
        raise OutcomeError(f"events {params.events!r}: only 'adverse_events' can be counted")
    people = participant_frame(dataset, protocol)
    ends = _follow_up_end(dataset, protocol)
    counts = dataset.adverse_events.groupby(ID).size()
    frame = people.merge(ends[[ID, "end"]], on=ID, how="left")
    frame["event_count"] = frame[ID].map(counts).fillna(0).astype("float64")
    exposure = spec.exposure or "follow_up_weeks"
    frame[exposure] = frame["end"].astype("float64")
    frame = frame.drop(columns=["end"])
    zero = frame[exposure] <= 0
    notes = []
    if bool(zero.any()):
        notes.append(
            f"{int(zero.sum())} participant(s) with no follow-up time left out of the rate model"
        )
        frame = frame[~zero]
    return OutcomeFrame(
        frame=frame,
        value="event_count",
        exposure=exposure,
        event="adverse event",
        rate="adverse events per 100 participant-weeks of follow-up",
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------- time to event


class SelfReport(Params):
    """Self-reported use: ``items`` of ``instrument`` answered 1 (yes)."""

    instrument: str
    items: tuple[str, ...]


class TimeToEventParams(Params):
    """``event``: ``first_use`` (the first follow-up week with a positive test for one of
    ``substances`` or self-reported use), ``withdrawal`` (leaving the study with a
    withdrawal reason containing ``reason_contains``; other withdrawals are censored) or
    ``week_column`` (the week in the participants.csv ``column``, e.g.
    ``treatment_exit_week``; blank = censored at the end of follow-up)."""

    event: str
    substances: tuple[str, ...] = ()
    self_report: SelfReport | None = None
    reason_contains: str | None = None
    column: str | None = None


def derive_time_to_event(
    dataset: StudyDataset, protocol: Protocol, spec: AnalysisSpec, params: TimeToEventParams
) -> OutcomeFrame:
    """One row per participant: ``weeks_to_event`` and ``event`` (1 event, 0 censored at the
    end of follow-up: the withdrawal week, else the last week with data). Participants
    without follow-up time are left out with a note."""
    people = participant_frame(dataset, protocol)
    frame = people.merge(_follow_up_end(dataset, protocol), on=ID, how="left")
    notes: list[str] = []
    if params.event == "first_use":
        plan = protocol.toxicology
        unknown = [g for g in params.substances if plan is None or g not in plan.substances]
        if unknown:
            raise OutcomeError(
                f"substance group(s) {', '.join(unknown)} are not in the protocol's toxicology plan"
            )
        if not params.substances and params.self_report is None:
            raise OutcomeError("first_use needs substances, a self_report or both")
        weeks: list[pd.DataFrame] = []
        for group in params.substances:
            tests = toxicology_tests(dataset, protocol, group)
            weeks.append(tests.loc[tests["status"] == "positive", [ID, "week"]])
        if params.self_report is not None:
            r = dataset.responses
            used = r[
                (r["instrument"] == params.self_report.instrument)
                & r["item"].isin(params.self_report.items)
                & (r["value"] == 1.0)
            ]
            weeks.append(used[[ID, "week"]])
        events = pd.concat(weeks, ignore_index=True)
        events = events[events["week"] >= 1]
        first = events.groupby(ID)["week"].min()
        event_week = frame[ID].map(first).astype("Float64")
        frame["event"] = event_week.notna().astype("float64").to_numpy()
        frame["weeks_to_event"] = event_week.fillna(frame["end"]).astype("float64").to_numpy()
        sources = [f"a positive {g} test" for g in params.substances]
        if params.self_report is not None:
            sources.append(
                f"{params.self_report.instrument} {'/'.join(params.self_report.items)} answered yes"
            )
        notes.append("return to use: first follow-up week with " + " or ".join(sources))
        described = "return to use"
    elif params.event == "withdrawal":
        if not params.reason_contains:
            raise OutcomeError("withdrawal events need reason_contains")
        left = frame["withdrawn"].astype(bool) & frame["reason"].fillna("").str.contains(
            params.reason_contains, case=False, regex=False
        )
        frame["event"] = left.astype("float64")
        frame["weeks_to_event"] = frame["end"].astype("float64")
        notes.append(
            f"event: withdrawal with a reason containing {params.reason_contains!r}; other "
            "withdrawals and completers censored at the end of their follow-up"
        )
        described = f"withdrawal naming {params.reason_contains}"
    elif params.event == "week_column":
        column = params.column
        if column is None or column not in dataset.participants.columns:
            raise OutcomeError(
                f"week_column events need participants.csv column {column!r} (study dataset "
                "format version 2)"
            )
        exit_weeks = dataset.participants.set_index(ID)[column].astype("Float64")
        event_week = frame[ID].map(exit_weeks).astype("Float64")
        frame["event"] = event_week.notna().astype("float64").to_numpy()
        frame["weeks_to_event"] = event_week.fillna(frame["end"]).astype("float64").to_numpy()
        notes.append(
            f"event: the week in participants.csv {column}; participants without one censored "
            "at the end of follow-up (withdrawal week, else last week with data)"
        )
        described = column.removesuffix("_week").replace("_", " ")
    else:
        raise OutcomeError(
            f"event {params.event!r}: expected 'first_use', 'withdrawal' or 'week_column'"
        )
    unusable = frame["weeks_to_event"] <= 0
    if bool(unusable.any()):
        notes.append(f"{int(unusable.sum())} participant(s) without follow-up time left out")
        frame = frame[~unusable]
    return OutcomeFrame(
        frame=frame.drop(columns=["reason", "withdrawn", "end"]),
        value="event",
        duration="weeks_to_event",
        event=described,
        notes=tuple(notes),
    )
