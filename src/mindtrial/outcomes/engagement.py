"""Attendance, adherence and retention."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mindtrial.dataset import StudyDataset
from mindtrial.dataset.schema import ATTENDANCE, RESPONSES, TOXICOLOGY
from mindtrial.dataset.validate import Rules
from mindtrial.protocols.schema import Protocol


def final_week(protocol: Protocol) -> int:
    """The last scheduled week: the last session week or the last follow-up, if later.

    Follow-up months count at :func:`mindtrial.dataset.follow_up_week` (month 9 → week 39).
    """
    return Rules.from_protocol(protocol).max_week


def attendance_summary(ds: StudyDataset, protocol: Protocol) -> pd.DataFrame:
    """Sessions attended and the adherence flag, one row per participant.

    Columns: ``participant_id`` (string), ``sessions_attended`` (int64: sessions of weeks
    ``1..outcomes.total_sessions`` marked attended; no record counts as not attended),
    ``adherent`` (bool: ``sessions_attended >= outcomes.adherence_sessions``, M-ROCC 15 of 24).
    In participants.csv order.
    """
    total = protocol.outcomes.total_sessions
    att = ds.attendance
    attended = att[att["attended"] & (att["week"] >= 1) & (att["week"] <= total)]
    counts = attended.groupby("participant_id").size()
    ids = ds.participants["participant_id"]
    sessions = ids.map(counts).fillna(0).astype("int64")
    return pd.DataFrame(
        {
            "participant_id": ids.astype("string"),
            "sessions_attended": sessions,
            "adherent": (sessions >= protocol.outcomes.adherence_sessions).astype("bool"),
        }
    ).reset_index(drop=True)


def retention(ds: StudyDataset, protocol: Protocol) -> pd.DataFrame:
    """How long each participant stayed, one row per participant (participants.csv order).

    Columns: ``participant_id`` (string); ``last_week_with_data`` (Int64: the latest week
    with an answer in responses.csv, a toxicology result, or an attended session; NA when
    there is none); ``completed_final_week`` (bool: such data at the protocol's final week,
    week 24 for M-ROCC, or the last follow-up week when later); ``withdrawn_week`` (Int64,
    from participants.csv; NA when not withdrawn); ``withdrawn`` (bool).
    """
    last = final_week(protocol)
    ids = ds.participants["participant_id"]
    lookup = pd.Index(ids.to_numpy(dtype=object))
    latest = np.full(len(ids), -1, dtype="int64")
    at_final = np.zeros(len(ids), dtype=bool)
    att = ds.attendance
    sources = (
        (RESPONSES, ds.responses["week"], None),
        (TOXICOLOGY, ds.toxicology["week"], None),
        (ATTENDANCE, att["week"], att["attended"].to_numpy(dtype=bool)),
    )
    # by the dataset's integer codes of participant_id: no frame of every row's id and week
    for file, column, attended in sources:
        codes, values = ds.codes(file, "participant_id")
        person = lookup.get_indexer(values).take(codes)
        weeks = column.to_numpy(dtype="int64")
        kept = person >= 0 if attended is None else (person >= 0) & attended
        np.maximum.at(latest, person[kept], weeks[kept])
        at_final[person[kept & (weeks == last)]] = True
    withdrawn = ds.participants["withdrawn_week"]
    return pd.DataFrame(
        {
            "participant_id": ids.astype("string"),
            "last_week_with_data": pd.arrays.IntegerArray(latest, latest < 0),
            "completed_final_week": at_final,
            "withdrawn_week": withdrawn.astype("Int64"),
            "withdrawn": withdrawn.notna().astype("bool"),
        }
    ).reset_index(drop=True)
