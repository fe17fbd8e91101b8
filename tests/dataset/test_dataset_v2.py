"""Format version 2: EMA prompts, the medication list, demographics and treatment exit.

Version 1 folders are still read (see test_dataset_roundtrip.py for the version-1 files)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from dataset_factory import write_folder

from mindtrial.dataset import DatasetError, StudyMeta, build_dataset, read_dataset, write_dataset
from mindtrial.instruments.mme import regimen_mme

MMT = StudyMeta(
    protocol_id="more-mmt-2024",
    protocol_version="1.0",
    exported_at=datetime(2026, 12, 2, 12, 0, tzinfo=UTC),
    source="tests",
)


def _participants() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "participant_id": ["p1", "p2"],
            "arm": ["more", "usual_care"],
            "site": ["clinic_1", "clinic_4"],
            "cohort": ["g1", None],
            "randomized_on": ["2020-08-03", "2020-08-04"],
            "withdrawn_week": [None, None],
            "withdrawal_reason": [None, None],
            "race": ["black_or_african_american", None],
            "ethnicity": ["hispanic_or_latino", "not_hispanic_or_latino"],
            "language": ["spanish", "english"],
            "treatment_exit_week": [None, 9],
            "sex": ["female", "male"],
            "age": [44.0, 51.0],
            "methadone_dose_mg": [80.0, 95.0],
        }
    )


def _ema() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "participant_id": ["p1", "p1", "p2"],
            "week": [0, 0, 8],
            # Local clock times with their offsets (New Jersey is UTC-4 in August).
            "prompted_at": [
                "2020-08-01T09:12:00-04:00",
                "2020-08-01T14:47:30-04:00",
                "2020-10-01T20:03:00-04:00",
            ],
            "answered": [True, False, True],
            "craving": [6, None, 2],
            "pain": [7, None, 4],
        }
    )


def _medications() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "participant_id": ["p1", "p1", "p2"],
            "week": [1, 1, 1],
            "drug": ["methadone", "oxycodone", "methadone"],
            "daily_dose": [80, 10, 95],
            "days_scheduled": [7, None, 7],
            "days_taken": [6, None, 7],
        }
    )


def _responses() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "participant_id": ["p1", "p2"],
            "week": [3, 3],
            "instrument": ["drug_use_days", "drug_use_days"],
            "item": ["any_drug", "any_drug"],
            "value": [2, 0],
        }
    )


def _dataset(**frames: pd.DataFrame) -> object:
    given = {
        "participants": _participants(),
        "responses": _responses(),
        "ema": _ema(),
        "medications": _medications(),
    }
    given.update(frames)
    return build_dataset(MMT, **given)  # type: ignore[arg-type]


def test_version_2_round_trip_keeps_every_new_table(tmp_path: Path) -> None:
    ds = build_dataset(
        MMT,
        participants=_participants(),
        responses=_responses(),
        ema=_ema(),
        medications=_medications(),
    )
    assert ds.meta.format_version == 2
    assert ds.ema_items == ("craving", "pain")
    assert dict(ds.ema.dtypes.astype(str)) == {
        "participant_id": "string",
        "week": "int64",
        "prompted_at": "datetime64[ns, UTC]",
        "answered": "bool",
        "craving": "float64",
        "pain": "float64",
    }
    # 09:12 at UTC-4 is 13:12 UTC: the instant is kept, not the wall-clock text.
    assert ds.ema["prompted_at"].iloc[0] == pd.Timestamp("2020-08-01T13:12:00Z")
    assert ds.participants["treatment_exit_week"].tolist() == [pd.NA, 9]
    assert ds.participants["language"].tolist() == ["spanish", "english"]
    target = write_dataset(ds, tmp_path / "v2")
    assert sorted(f.name for f in target.iterdir()) == [
        "adverse_events.csv",
        "attendance.csv",
        "ema.csv",
        "medications.csv",
        "participants.csv",
        "responses.csv",
        "screening.csv",
        "study.json",
        "toxicology.csv",
    ]
    assert json.loads((target / "study.json").read_text())["format_version"] == 2
    ema_lines = (target / "ema.csv").read_text().splitlines()
    assert ema_lines[0] == "participant_id,week,prompted_at,answered,craving,pain"
    assert ema_lines[2] == "p1,0,2020-08-01T18:47:30+00:00,0,,"
    again = read_dataset(target)
    assert again.equals(ds)
    pd.testing.assert_frame_equal(again.ema, ds.ema)
    pd.testing.assert_frame_equal(again.medications, ds.medications)
    # The medication list feeds the instruments' MME calculator unchanged:
    # 80 mg methadone × 4.7 + 10 mg oxycodone × 1.5 = 391 MME/day (CDC 2022).
    p1 = again.medications[again.medications["participant_id"] == "p1"]
    regimen = list(zip(p1["drug"], p1["daily_dose"], strict=True))
    assert regimen_mme(regimen).total == pytest.approx(391.0)


def test_version_1_folder_is_read_and_written_back_as_version_1(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "v1", {})
    ds = read_dataset(folder)
    assert ds.meta.format_version == 1
    assert ds.ema.empty and ds.medications.empty
    assert list(ds.medications.columns) == [
        "participant_id",
        "week",
        "drug",
        "daily_dose",
        "days_scheduled",
        "days_taken",
    ]
    assert ds.participants["race"].isna().all()
    out = write_dataset(ds, tmp_path / "again")
    assert "ema.csv" not in {f.name for f in out.iterdir()}
    header = (out / "participants.csv").read_text().splitlines()[0]
    assert "race" not in header.split(",")
    assert read_dataset(out).equals(ds)


def _problems(**frames: pd.DataFrame) -> list[tuple[str, int | None, str | None, str]]:
    with pytest.raises(DatasetError) as info:
        _dataset(**frames)
    return [(p.file, p.row, p.column, p.message) for p in info.value.problems]


def test_ema_problems_name_file_row_and_column() -> None:
    ema = _ema()
    ema.loc[1, "craving"] = 3  # a missed prompt with an answer
    ema.loc[2, "pain"] = 11
    ema.loc[0, "prompted_at"] = "2020-08-01T09:12:00"  # no offset
    ema = pd.concat([ema, ema.iloc[[2]]], ignore_index=True)  # the same prompt twice
    problems = _problems(ema=ema)
    assert problems[0] == (
        "ema.csv",
        2,
        "prompted_at",
        "'2020-08-01T09:12:00' has no time-zone offset (write e.g. 2026-03-02T14:05:00-07:00)",
    )
    assert problems[1][:3] == ("ema.csv", 3, "craving")
    assert "not answered" in problems[1][3]
    assert problems[2][:3] == ("ema.csv", 4, "pain")
    assert "out of range" in problems[2][3]
    assert problems[-1][:3] == ("ema.csv", 5, None)
    assert problems[-1][3].startswith("duplicate prompt")
    assert "first given in row 4" in problems[-1][3]


def test_medication_and_attendance_problems() -> None:
    meds = _medications()
    meds.loc[0, "days_taken"] = 8
    meds.loc[1, "drug"] = "heroin"
    meds.loc[2, "days_taken"] = None
    attendance = pd.DataFrame({"participant_id": ["p2"], "week": [1], "attended": [True]})
    problems = _problems(medications=meds, attendance=attendance)
    assert ("attendance.csv", 2, "participant_id") in [p[:3] for p in problems]
    assert any("no group sessions" in p[3] for p in problems if p[0] == "attendance.csv")
    meds_problems = [p for p in problems if p[0] == "medications.csv"]
    assert [p[:3] for p in meds_problems] == [
        ("medications.csv", 2, "days_taken"),
        ("medications.csv", 2, "days_taken"),
        ("medications.csv", 3, "drug"),
        ("medications.csv", 4, "days_taken"),
    ]
    assert meds_problems[0][3] == "8 is outside 0..7 days of a week"
    assert meds_problems[1][3] == "8 doses taken but only 7 scheduled that week"
    assert meds_problems[2][3].startswith("unknown drug 'heroin'")


def test_version_1_cannot_hold_version_2_data() -> None:
    meta = StudyMeta(
        protocol_id="more-mmt-2024",
        protocol_version="1.0",
        exported_at=MMT.exported_at,
        format_version=1,
    )
    with pytest.raises(DatasetError) as info:
        build_dataset(meta, participants=_participants(), ema=_ema())
    messages = [(p.file, p.row, p.column) for p in info.value.problems]
    assert ("participants.csv", 2, "race") in messages
    assert ("participants.csv", 3, "treatment_exit_week") in messages
    assert ("ema.csv", None, None) in messages
