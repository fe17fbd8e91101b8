"""Scored instruments, attendance, retention and the analysis frames on hand-built data.

PROMIS Anxiety 8a raw -> T values are the published table (docs/sources.md, Instruments) (raw 24 -> 62.5,
raw 9 -> 43.2, raw 16 -> 54.3); the OCS score is the mean of its three items.
"""

from __future__ import annotations

import pandas as pd
from outcome_factory import ANXIETY_ITEMS, dataset, form, opioid_panel, survey

from mindtrial.dataset import StudyDataset
from mindtrial.outcomes import (
    analysis_frame_periods,
    analysis_frame_scores,
    attendance_summary,
    incomplete_forms,
    retention,
    scored_instruments,
)
from mindtrial.protocols import load_protocol

PROTOCOL = load_protocol("mrocc-2025")
OCS = ("ocs_1", "ocs_2", "ocs_3")
ALL_USE = ("opioids", "benzodiazepines", "cocaine", "methamphetamine", "alcohol")


def scores_dataset() -> StudyDataset:
    responses = [
        # A: all items 3 -> raw 24 -> T 62.5; week 24 raw 9 (seven 1s and a 2) -> T 43.2.
        *form("A", 0, "promis_anxiety_8a", ANXIETY_ITEMS, [3] * 8),
        *form("A", 24, "promis_anxiety_8a", ANXIETY_ITEMS, [1] * 7 + [2]),
        # A: craving 3, 4, 8 -> 5.0 at baseline; 1, 1, 1 -> 1.0 at week 24.
        *form("A", 0, "ocs", OCS, [3, 4, 8]),
        *form("A", 24, "ocs", OCS, [1, 1, 1]),
        # B: 7 of 8 PROMIS items (all 3) -> not scored unless prorated:
        # raw = round(21 * 8 / 7) = 24 -> T 62.5.
        *form("B", 0, "promis_anxiety_8a", ANXIETY_ITEMS[:7], [3] * 7),
        # B: baseline raw 16 at week 8 (all 2s) -> T 54.3 (not in the anxiety subgroup's
        # baseline, which is week 0).
        *form("B", 8, "promis_anxiety_8a", ANXIETY_ITEMS, [2] * 8),
        # C: baseline raw 16 -> T 54.3 -> below the subgroup threshold 55.
        *form("C", 0, "promis_anxiety_8a", ANXIETY_ITEMS, [2] * 8),
        # C: a full weekly survey: opioids and cocaine yes -> any 1, count 2.
        *form("C", 5, "substance_use_7d", ALL_USE, [1, 0, 1, 0, 0]),
    ]
    return dataset(["A", "B", "C"], responses=responses)


def test_scored_instruments_long_frame() -> None:
    frame = scored_instruments(scores_dataset())
    assert list(frame.columns) == ["participant_id", "week", "instrument", "score", "value"]
    assert [str(t) for t in frame.dtypes] == ["string", "int64", "string", "string", "float64"]
    got = {(r.participant_id, r.week, r.instrument, r.score): r.value for r in frame.itertuples()}
    assert got == {
        ("A", 0, "ocs", "mean"): 5.0,
        ("A", 0, "promis_anxiety_8a", "raw"): 24.0,
        ("A", 0, "promis_anxiety_8a", "t_score"): 62.5,
        ("A", 24, "ocs", "mean"): 1.0,
        ("A", 24, "promis_anxiety_8a", "raw"): 9.0,
        ("A", 24, "promis_anxiety_8a", "t_score"): 43.2,
        ("B", 8, "promis_anxiety_8a", "raw"): 16.0,
        ("B", 8, "promis_anxiety_8a", "t_score"): 54.3,
        ("C", 0, "promis_anxiety_8a", "raw"): 16.0,
        ("C", 0, "promis_anxiety_8a", "t_score"): 54.3,
        ("C", 5, "substance_use_7d", "any"): 1.0,
        ("C", 5, "substance_use_7d", "count"): 2.0,
    }


def test_incomplete_forms_are_reported_not_scored() -> None:
    ds = scores_dataset()
    missing = incomplete_forms(ds)
    assert len(missing) == 1
    row = missing.iloc[0]
    assert (row["participant_id"], row["week"], row["instrument"]) == ("B", 0, "promis_anxiety_8a")
    assert (row["n_answered"], row["n_items"]) == (7, 8)
    assert "EDANX54" in row["reason"]
    # Opt-in proration scores it: round(21 * 8 / 7) = 24 -> T 62.5.
    prorated = scored_instruments(ds, prorate=True)
    b0 = prorated[(prorated["participant_id"] == "B") & (prorated["week"] == 0)]
    assert dict(zip(b0["score"], b0["value"], strict=True)) == {"raw": 24.0, "t_score": 62.5}
    assert incomplete_forms(ds, prorate=True).empty


def test_attendance_and_adherence() -> None:
    attendance = (
        [("A", w, True) for w in range(1, 16)]  # 15 of 24 -> adherent
        + [("B", w, True) for w in range(1, 15)]  # 14 ...
        + [("B", w, False) for w in range(15, 25)]  # ... and 10 recorded absences -> not adherent
    )
    ds = dataset(["A", "B", "C"], attendance=attendance)
    summary = attendance_summary(ds, PROTOCOL)
    assert summary.to_dict("list") == {
        "participant_id": ["A", "B", "C"],
        "sessions_attended": [15, 14, 0],
        "adherent": [True, False, False],
    }


def test_retention() -> None:
    ds = dataset(
        ["A", "B", "C", "D"],
        responses=[
            *form("A", 24, "ocs", OCS, [0, 0, 0]),
            *survey("B", 7, opioids=0),
        ],
        toxicology=opioid_panel("C", 24),
        attendance=[("B", 9, True), ("B", 10, False), ("D", 3, False)],
        withdrawn={"B": 10},
    )
    frame = retention(ds, PROTOCOL)
    assert frame["participant_id"].tolist() == ["A", "B", "C", "D"]
    # A answered at week 24; B's last data is the attended session of week 9 (week 10 was
    # an absence); C's only data is a week-24 test; D has a recorded absence only.
    assert frame["last_week_with_data"].tolist() == [24, 9, 24, pd.NA]
    assert frame["completed_final_week"].tolist() == [True, False, True, False]
    assert frame["withdrawn_week"].tolist() == [pd.NA, 10, pd.NA, pd.NA]
    assert frame["withdrawn"].tolist() == [False, True, False, False]


def test_anxiety_score_kind_with_subset() -> None:
    from mindtrial.outcomes.kinds import derive_outcome

    derived = derive_outcome(scores_dataset(), PROTOCOL, PROTOCOL.analysis_spec("anxiety"))
    frame = derived.frame
    assert derived.value == "promis_anxiety_8a_t_score" and derived.time == "week"
    assert "bup_dose_mg" in frame.columns and "adherent" in frame.columns
    rows = list(
        zip(
            frame["participant_id"],
            frame["arm"],
            frame["week"],
            frame[derived.value],
            frame["baseline_value"],
            strict=True,
        )
    )
    # B's week-0 form is incomplete, so B has no baseline and is not in the subgroup
    # (baseline T above 55); C's baseline 54.3 is not above 55. Only A remains.
    assert rows == [("A", "mrocc", 0, 62.5, 62.5), ("A", "mrocc", 24, 43.2, 62.5)]
    assert any("2 participant(s) with data excluded" in n for n in derived.notes)


def test_craving_frame_has_baseline_craving() -> None:
    frame = analysis_frame_scores(
        scores_dataset(), PROTOCOL, instrument="ocs", score="mean", baseline_name="baseline_craving"
    )
    assert frame[["participant_id", "week", "value", "baseline_craving"]].to_dict("list") == {
        "participant_id": ["A", "A"],
        "week": [0, 24],
        "value": [5.0, 1.0],
        "baseline_craving": [5.0, 5.0],
    }


def test_period_frame_keeps_primary_periods_and_joins_covariates() -> None:
    ds = dataset(
        ["A", "B"],
        responses=[*survey("A", 13, opioids=0), *survey("A", 14, opioids=0)],
        toxicology=opioid_panel("A", 13),
    )
    frame = analysis_frame_periods(ds, PROTOCOL, "opioids")
    # Periods 7-12 (weeks 13-24) for both participants.
    assert frame["period"].tolist() == [7, 8, 9, 10, 11, 12] * 2
    assert frame["arm"].tolist() == ["mrocc"] * 6 + ["recovery_support"] * 6
    assert frame["bup_dose_mg"].tolist() == [8.0] * 6 + [10.0] * 6
    assert frame["non_abstinent"].tolist() == [0] + [pd.NA] * 11
    observed = analysis_frame_periods(ds, PROTOCOL, "opioids", observed_only=True)
    assert observed[["participant_id", "period"]].to_dict("list") == {
        "participant_id": ["A"],
        "period": [7],
    }
