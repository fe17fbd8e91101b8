"""Hand-built M-ROCC datasets for the outcome tests (factories, not fixtures)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pandas as pd

from mindtrial.dataset import StudyDataset, StudyMeta, build_dataset

META = StudyMeta(
    protocol_id="mrocc-2025",
    protocol_version="1.0",
    exported_at=datetime(2026, 11, 22, 12, 0, tzinfo=UTC),
)

ANXIETY_ITEMS = (
    "EDANX01",
    "EDANX40",
    "EDANX41",
    "EDANX53",
    "EDANX46",
    "EDANX07",
    "EDANX05",
    "EDANX54",
)
OPIOID_ANALYTES = ("opiates", "oxycodone", "fentanyl", "methadone")

Row = tuple[str, int, str, str, object]


def participants(ids: Sequence[str], *, withdrawn: dict[str, int] | None = None) -> pd.DataFrame:
    withdrawn = withdrawn or {}
    n = len(ids)
    return pd.DataFrame(
        {
            "participant_id": list(ids),
            "arm": ["mrocc" if i % 2 == 0 else "recovery_support" for i in range(n)],
            "site": ["virtual"] * n,
            "cohort": [f"c{i // 4 + 1:02d}" for i in range(n)],
            "randomized_on": ["2021-02-01"] * n,
            "withdrawn_week": [withdrawn.get(pid) for pid in ids],
            "withdrawal_reason": ["lost to follow-up" if pid in withdrawn else None for pid in ids],
            "bup_dose_mg": [8.0 + 2 * (i % 20) for i in range(n)],
            "cocaine_use_baseline": [i % 3 == 0 for i in range(n)],
            "income_category": ["<10k"] * n,
            "sex": ["female" if i % 2 else "male" for i in range(n)],
            "age": [30.0 + i % 40 for i in range(n)],
        }
    )


def survey(pid: str, week: int, **answers: int) -> list[Row]:
    """Answers to substance_use_7d items, e.g. ``survey("P1", 13, opioids=0)``."""
    return [(pid, week, "substance_use_7d", item, value) for item, value in answers.items()]


def form(
    pid: str, week: int, instrument: str, items: Sequence[str], values: Sequence[int]
) -> list[Row]:
    return [(pid, week, instrument, item, v) for item, v in zip(items, values, strict=True)]


def tox(pid: str, week: int, **results: str) -> list[tuple[str, int, str, str]]:
    return [(pid, week, analyte, result) for analyte, result in results.items()]


def opioid_panel(
    pid: str, week: int, result: str = "negative", **override: str
) -> list[tuple[str, int, str, str]]:
    """All four opioid analytes with ``result``, except those given in ``override``."""
    return tox(pid, week, **{a: override.get(a, result) for a in OPIOID_ANALYTES})


def dataset(
    ids: Sequence[str],
    *,
    responses: Sequence[Row] = (),
    toxicology: Sequence[tuple[str, int, str, str]] = (),
    attendance: Sequence[tuple[str, int, bool]] = (),
    withdrawn: dict[str, int] | None = None,
) -> StudyDataset:
    return build_dataset(
        META,
        participants=participants(ids, withdrawn=withdrawn),
        responses=pd.DataFrame(
            list(responses), columns=["participant_id", "week", "instrument", "item", "value"]
        ),
        toxicology=pd.DataFrame(
            list(toxicology), columns=["participant_id", "week", "analyte", "result"]
        ),
        attendance=pd.DataFrame(list(attendance), columns=["participant_id", "week", "attended"]),
    )
