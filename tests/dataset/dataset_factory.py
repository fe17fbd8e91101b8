"""Small hand-built M-ROCC datasets for the dataset tests (factories, not fixtures)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from mindtrial.dataset import StudyDataset, StudyMeta, build_dataset, write_dataset

META = StudyMeta(
    protocol_id="mrocc-2025",
    protocol_version="1.0",
    exported_at=datetime(2026, 11, 22, 12, 0, tzinfo=UTC),
    source="tests",
)

PARTICIPANT_HEADER = (
    "participant_id,arm,site,cohort,randomized_on,withdrawn_week,withdrawal_reason,"
    "bup_dose_mg,cocaine_use_baseline,income_category,sex,age"
)


def participants(**overrides: list[Any]) -> pd.DataFrame:
    data: dict[str, list[Any]] = {
        "participant_id": ["007", "012"],
        "arm": ["mrocc", "recovery_support"],
        "site": ["virtual", "virtual"],
        "cohort": ["c01", "c01"],
        "randomized_on": ["2021-01-21", "2021-01-22"],
        "withdrawn_week": [None, 12],
        "withdrawal_reason": [None, "moved away"],
        "bup_dose_mg": [16.0, 24.5],
        "cocaine_use_baseline": [True, False],
        "income_category": ["<10k", ">30k"],
        "sex": ["female", "male"],
        "age": [41.0, None],
    }
    data.update(overrides)
    return pd.DataFrame(data)


def full_dataset() -> StudyDataset:
    """Two participants with at least one row in every file and every column kind."""
    anxiety = {f"EDANX{n}": 3 for n in ("01", "40", "41", "53", "46", "07", "05", "54")}
    rows: list[tuple[str, int, str, str, object]] = [
        ("007", 0, "promis_anxiety_8a", item, value) for item, value in anxiety.items()
    ]
    rows += [("007", 0, "ocs", "ocs_1", 3), ("007", 0, "ocs", "ocs_2", 4.0)]
    rows += [("012", 3, "substance_use_7d", "opioids", True)]
    rows += [("012", 3, "home_practice", "formal_minutes", 45)]
    responses = pd.DataFrame(
        rows, columns=["participant_id", "week", "instrument", "item", "value"]
    )
    toxicology = pd.DataFrame(
        {
            "participant_id": ["007", "007", "012"],
            "week": [2, 2, 4],
            "analyte": ["fentanyl", "cocaine", "benzodiazepines"],
            "result": ["negative", "positive", "invalid"],
        }
    )
    attendance = pd.DataFrame(
        {
            "participant_id": ["007", "007", "012"],
            "week": [1, 2, 1],
            "attended": [True, False, True],
        }
    )
    adverse_events = pd.DataFrame(
        {
            "participant_id": ["012"],
            "onset_week": [5],
            "severity": ["mild"],
            "serious": [False],
            "related": [True],
            "expected": [True],
            "ae_id": ["AE-1"],
            "relatedness": ["possibly"],
            "outcome": ["recovered"],
        }
    )
    screening = pd.DataFrame(
        {
            "referral_id": ["R1", "R2", "R3"],
            "participant_id": ["007", "012", None],
            "referred_on": ["2021-01-02", "2021-01-03", "2021-01-04"],
            "stage": ["randomized", "randomized", "screened"],
            "exclusion_reason": [None, None, "psychosis"],
        }
    )
    return build_dataset(
        META,
        participants=participants(),
        responses=responses,
        toxicology=toxicology,
        attendance=attendance,
        adverse_events=adverse_events,
        screening=screening,
    )


def write_folder(folder: Path, files: dict[str, str]) -> Path:
    """Write a valid minimal dataset, then replace or delete files as ``files`` says.

    A value of ``""`` deletes the file; any other value is the file's full text.
    """
    folder.mkdir(parents=True, exist_ok=True)
    base = {
        "study.json": (
            '{"format": "mindtrial-study-dataset", "format_version": 1, '
            '"protocol_id": "mrocc-2025", "protocol_version": "1.0", '
            '"exported_at": "2026-11-22T12:00:00+00:00", "arms_masked": false}\n'
        ),
        "participants.csv": PARTICIPANT_HEADER
        + "\n007,mrocc,virtual,c01,2021-01-21,,,16,1,<10k,female,41\n"
        + "012,recovery_support,virtual,c01,2021-01-22,12,moved away,24.5,0,>30k,male,\n",
        "responses.csv": "participant_id,week,instrument,item,value\n",
        "toxicology.csv": "participant_id,week,analyte,result\n",
        "attendance.csv": "participant_id,week,attended\n",
        "adverse_events.csv": "participant_id,onset_week,severity,serious,related,expected\n",
        "screening.csv": "referral_id,participant_id,referred_on,stage,exclusion_reason\n",
    }
    base.update(files)
    for name, text in base.items():
        if text:
            (folder / name).write_text(text, encoding="utf-8")
    return folder


__all__ = ["META", "full_dataset", "participants", "write_dataset", "write_folder"]
