"""Reading, building and writing study datasets: dtypes, round trips, atomic writes."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd
import pytest
from dataset_factory import META, full_dataset, write_folder

from mindtrial.dataset import DatasetError, build_dataset_from_frames, read_dataset, write_dataset
from mindtrial.protocols import load_protocol


def test_build_gives_documented_dtypes_and_canonical_values() -> None:
    ds = full_dataset()
    p = ds.participants
    assert dict(p.dtypes.astype(str)) == {
        "participant_id": "string",
        "arm": "string",
        "site": "string",
        "cohort": "string",
        "randomized_on": "datetime64[ns]",
        "withdrawn_week": "Int64",
        "withdrawal_reason": "string",
        "race": "string",
        "ethnicity": "string",
        "language": "string",
        "treatment_exit_week": "Int64",
        "bup_dose_mg": "float64",
        "cocaine_use_baseline": "boolean",
        "income_category": "string",
        "sex": "string",
        "age": "float64",
    }
    # Leading zeros survive: participant ids are strings, never numbers.
    assert p["participant_id"].tolist() == ["007", "012"]
    assert p["withdrawn_week"].tolist() == [pd.NA, 12]
    assert math.isnan(p["age"].iloc[1])
    assert ds.covariates == ("bup_dose_mg", "cocaine_use_baseline", "income_category", "sex", "age")
    # Answers are numbers; yes/no answers are 1.0/0.0.
    r = ds.responses
    assert str(r["value"].dtype) == "float64"
    assert r.loc[r["item"] == "ocs_1", "value"].item() == 3.0
    assert r.loc[r["item"] == "opioids", "value"].item() == 1.0
    assert str(r["week"].dtype) == "int64"
    assert str(ds.attendance["attended"].dtype) == "bool"
    assert ds.attendance["attended"].tolist() == [True, False, True]
    assert str(ds.screening["referred_on"].dtype) == "datetime64[ns]"
    assert ds.adverse_events["relatedness"].tolist() == ["possibly"]


def test_round_trip_write_then_read_is_equal(tmp_path: Path) -> None:
    ds = full_dataset()
    target = write_dataset(ds, tmp_path / "export")
    again = read_dataset(target)
    assert again.equals(ds)
    for name in (
        "participants",
        "responses",
        "toxicology",
        "attendance",
        "adverse_events",
        "screening",
        "ema",
        "medications",
    ):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(ds, name))
    # The folder holds exactly the nine documented files of format 2 and nothing else.
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
    meta = json.loads((target / "study.json").read_text())
    assert meta["protocol_id"] == "mrocc-2025"
    assert meta["exported_at"] == "2026-11-22T12:00:00+00:00"
    lines = (target / "participants.csv").read_text().splitlines()
    assert lines[0] == (
        "participant_id,arm,site,cohort,randomized_on,withdrawn_week,withdrawal_reason,"
        "race,ethnicity,language,treatment_exit_week,"
        "bup_dose_mg,cocaine_use_baseline,income_category,sex,age"
    )
    assert lines[1] == "007,mrocc,virtual,c01,2021-01-21,,,,,,,16,1,<10k,female,41"
    assert meta["format_version"] == 2


def test_read_hand_written_folder(tmp_path: Path) -> None:
    folder = write_folder(
        tmp_path / "ds",
        {
            "responses.csv": "participant_id,week,instrument,item,value\n"
            "007,0,ocs,ocs_1,7\n"
            "\n"  # blank lines are skipped
            "012, 5 ,substance_use_7d,cocaine,1\n",
        },
    )
    ds = read_dataset(folder)
    assert ds.meta == META.__class__(
        protocol_id="mrocc-2025",
        protocol_version="1.0",
        exported_at=META.exported_at,
        format_version=1,  # the folder is format version 1 and still read
    )
    assert ds.responses["week"].tolist() == [0, 5]
    assert ds.responses["value"].tolist() == [7.0, 1.0]
    assert ds.participants["cocaine_use_baseline"].tolist() == [True, False]


def test_protocol_can_be_given_explicitly(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "ds", {})
    ds = read_dataset(folder, protocol=load_protocol("mrocc-2025"))
    assert len(ds.participants) == 2


def test_masked_arms_are_opaque_codes(tmp_path: Path) -> None:
    study = (
        '{"format": "mindtrial-study-dataset", "format_version": 1, "protocol_id": "mrocc-2025",'
        ' "protocol_version": "1.0", "exported_at": "2026-11-22T12:00:00Z", "arms_masked": true}'
    )
    folder = write_folder(
        tmp_path / "ds",
        {
            "study.json": study,
            "participants.csv": "participant_id,arm,site,cohort,randomized_on,withdrawn_week,"
            "withdrawal_reason,bup_dose_mg,cocaine_use_baseline,income_category,sex,age\n"
            "007,A,,,2021-01-21,,,,,,,\n012,B,,,2021-01-21,,,,,,,\n",
        },
    )
    ds = read_dataset(folder)
    assert ds.meta.arms_masked
    assert ds.participants["arm"].tolist() == ["A", "B"]


# --------------------------------------------------------------------------- atomic writes


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


def test_invalid_dataset_is_not_written(tmp_path: Path) -> None:
    ds = full_dataset()
    extra = pd.DataFrame(
        {
            "participant_id": ["007"],
            "week": [0],
            "instrument": ["ocs"],
            "item": ["ocs_3"],
            "value": ["11"],
        }
    )  # OCS items run 0-10
    bad = pd.concat([ds.responses, extra], ignore_index=True)
    broken = type(ds)(**{**ds.__dict__, "responses": bad})
    with pytest.raises(DatasetError, match=r"responses.csv, row 14, column 'value'"):
        write_dataset(broken, tmp_path / "export")
    assert _leftovers(tmp_path) == []


def test_existing_target_needs_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "export"
    target.mkdir()
    (target / "keep.txt").write_text("old")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_dataset(full_dataset(), target)
    assert _leftovers(target) == ["keep.txt"]
    write_dataset(full_dataset(), target, overwrite=True)
    assert "keep.txt" not in _leftovers(target)
    assert read_dataset(target).equals(full_dataset())
    assert _leftovers(tmp_path) == ["export"]


def test_failing_rename_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fault injection at the operating-system boundary: the final rename fails (as it would
    # on a full disk or a vanished parent). Nothing may remain: no target, no temp folder.
    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="No space left"):
        write_dataset(full_dataset(), tmp_path / "export")
    assert _leftovers(tmp_path) == []


def test_failing_overwrite_keeps_the_old_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "export"
    target.mkdir()
    (target / "keep.txt").write_text("old")
    real_replace = os.replace
    calls: list[str] = []

    def second_call_fails(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls.append(str(dst))
        if len(calls) == 2:  # moving the new folder into place
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", second_call_fails)
    with pytest.raises(OSError, match="Input/output"):
        write_dataset(full_dataset(), target, overwrite=True)
    assert _leftovers(tmp_path) == ["export"]
    assert (target / "keep.txt").read_text() == "old"


def test_build_from_frames_by_file_name() -> None:
    ds = full_dataset()
    frames = {
        "participants.csv": ds.participants,
        "responses.csv": ds.responses,
        "toxicology.csv": ds.toxicology,
        "attendance.csv": ds.attendance,
        "adverse_events.csv": ds.adverse_events,
        "screening.csv": ds.screening,
    }
    assert build_dataset_from_frames(META, frames).equals(ds)
    # a file not given has no rows
    without = build_dataset_from_frames(META, {"participants.csv": ds.participants})
    assert without.participants.equals(ds.participants)
    assert len(without.responses) == 0 and len(without.screening) == 0
    with pytest.raises(ValueError, match=r"not study dataset files: participant\.csv"):
        build_dataset_from_frames(META, {"participant.csv": ds.participants})
