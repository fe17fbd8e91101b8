"""Free-text cells that a spreadsheet would run are written escaped and read back exactly."""

from __future__ import annotations

import csv
from pathlib import Path

from dataset_factory import META, full_dataset, participants

from mindtrial.dataset import build_dataset, read_dataset, write_dataset

REASON = '=HYPERLINK("http://evil.example","moved")'


def test_a_reason_typed_as_a_formula_is_text_in_the_csv_and_unchanged_on_reading(
    tmp_path: Path,
) -> None:
    ds = full_dataset()
    frame = participants(withdrawal_reason=[None, REASON])
    ds = build_dataset(
        META,
        participants=frame,
        responses=ds.responses,
        toxicology=ds.toxicology,
        attendance=ds.attendance,
        adverse_events=ds.adverse_events,
        screening=ds.screening,
    )
    target = write_dataset(ds, tmp_path / "export")
    with (target / "participants.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[1]["withdrawal_reason"] == "'" + REASON
    again = read_dataset(target)
    assert again.participants["withdrawal_reason"].tolist()[1] == REASON
    assert again.equals(ds)
