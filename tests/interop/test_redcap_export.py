"""Protocol -> REDCap design, study dataset -> REDCap records, and the round trip back.

The round trip goes through files and the real REDCap reader: protocol -> dictionary.csv +
event.csv + records CSV -> read_project -> import_redcap (the shipped M-ROCC mapping) -> the
same study dataset, compared value by value.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from mindtrial.dataset import StudyDataset, StudyMeta, build_dataset
from mindtrial.interop.redcap import read_dictionary, read_project
from mindtrial.interop.redcap_export import (
    RedcapExportError,
    design_files,
    redcap_design,
    redcap_records,
    redcap_records_csv,
)
from mindtrial.interop.redcap_mapping import RedcapMapping, import_redcap, shipped_mapping
from mindtrial.protocols import load_protocol

STAMP = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
KEYS = {
    "participants": ["participant_id"],
    "responses": ["participant_id", "week", "instrument", "item"],
    "toxicology": ["participant_id", "week", "analyte"],
    "attendance": ["participant_id", "week"],
    "adverse_events": ["participant_id", "onset_week"],
    "screening": ["referral_id"],
}


def mrocc_dataset(source: str = "redcap") -> StudyDataset:
    """Three participants and one screening-only referral, every table and column used."""
    meta = StudyMeta("mrocc-2025", "1.0", STAMP, source=source)
    participants = pd.DataFrame(
        [
            {"participant_id": "007", "arm": "mrocc", "site": "boston", "cohort": "c1",
                 "randomized_on": "2021-02-01", "withdrawn_week": None, "withdrawal_reason": None,
                 "bup_dose_mg": 16, "cocaine_use_baseline": False, "income_category": "<10k",
                 "sex": "female", "age": 41.5},
            {"participant_id": "012", "arm": "recovery_support", "site": "worcester", "cohort": "c1",
                 "randomized_on": "2021-02-02", "withdrawn_week": 9, "withdrawal_reason": "moved away",
                 "bup_dose_mg": 8.5, "cocaine_use_baseline": True, "income_category": ">30k",
                 "sex": "male", "age": 30},
            {"participant_id": "020", "arm": "mrocc", "site": None, "cohort": None,
                 "randomized_on": "2021-03-15", "withdrawn_week": None, "withdrawal_reason": None,
                 "bup_dose_mg": None, "cocaine_use_baseline": None, "income_category": "10k-30k",
                 "sex": "nonbinary", "age": None},
        ]
    )  # fmt: skip
    responses = pd.DataFrame(
        [
            ("007", 0, "ocs", "ocs_1", 3), ("007", 0, "ocs", "ocs_2", 0),
            ("007", 3, "ocs", "ocs_3", 10), ("007", 0, "promis_anxiety_8a", "EDANX01", 5),
            ("007", 24, "promis_anxiety_8a", "EDANX54", 1),
            ("012", 8, "substance_use_7d", "opioids", 1),
            ("012", 8, "substance_use_7d", "alcohol", 0),
            ("012", 2, "home_practice", "formal_minutes", 120),
            ("020", 13, "substance_use_7d", "cocaine", 1),
        ],
        columns=["participant_id", "week", "instrument", "item", "value"],
    )  # fmt: skip
    toxicology = pd.DataFrame(
        [("007", 2, "fentanyl", "positive"), ("007", 2, "opiates", "negative"),
         ("012", 24, "thc", "invalid"), ("020", 0, "cocaine", "positive")],
        columns=["participant_id", "week", "analyte", "result"],
    )  # fmt: skip
    attendance = pd.DataFrame(
        [("007", 1, True), ("007", 2, False), ("012", 24, True)],
        columns=["participant_id", "week", "attended"],
    )
    adverse = pd.DataFrame(
        [
            {"participant_id": "007", "onset_week": 5, "severity": "mild", "serious": False,
                 "related": True, "expected": True, "ae_id": "AE-1", "relatedness": "possibly",
                 "outcome": "recovered"},
            {"participant_id": "007", "onset_week": 9, "severity": "severe", "serious": True,
                 "related": False, "expected": False, "ae_id": "AE-2", "relatedness": "not_related",
                 "outcome": None},
        ]
    )  # fmt: skip
    screening = pd.DataFrame(
        [
            {"referral_id": "R1", "participant_id": "007", "referred_on": "2021-01-10",
                 "stage": "randomized", "exclusion_reason": None},
            {"referral_id": "R2", "participant_id": "012", "referred_on": "2021-01-11",
                 "stage": "randomized", "exclusion_reason": None},
            {"referral_id": "R3", "participant_id": None, "referred_on": "2021-01-12",
                 "stage": "screened", "exclusion_reason": "psychosis"},
            {"referral_id": "R4", "participant_id": "020", "referred_on": "2021-03-01",
                 "stage": "randomized", "exclusion_reason": None},
        ]
    )  # fmt: skip
    return build_dataset(
        meta,
        participants=participants,
        responses=responses,
        toxicology=toxicology,
        attendance=attendance,
        adverse_events=adverse,
        screening=screening,
    )


def assert_same_dataset(a: StudyDataset, b: StudyDataset) -> None:
    """Same metadata and the same rows and values in every table (row order aside)."""
    assert a.meta == b.meta
    assert a.covariates == b.covariates
    for name, keys in KEYS.items():
        x, y = getattr(a, name), getattr(b, name)
        assert list(x.columns) == list(y.columns), name
        assert list(x.dtypes) == list(y.dtypes), name
        xs = x.sort_values(keys).reset_index(drop=True)
        ys = y.sort_values(keys).reset_index(drop=True)
        pd.testing.assert_frame_equal(xs, ys, obj=name)


def write_project(folder: Path, ds: StudyDataset, protocol_id: str) -> None:
    design = redcap_design(load_protocol(protocol_id))
    for name, text in design_files(design).items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "data.csv").write_text(redcap_records_csv(ds, design), encoding="utf-8")


# --------------------------------------------------------------------------- design


def test_dictionary_has_redcaps_18_column_header_and_reads_back() -> None:
    design = redcap_design(load_protocol("mrocc-2025"))
    header = next(csv.reader(io.StringIO(design.dictionary_csv())))
    assert header == [
        "Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
        "Choices, Calculations, OR Slider Labels", "Field Note",
        "Text Validation Type OR Show Slider Number", "Text Validation Min",
        "Text Validation Max", "Identifier?", "Branching Logic (Show field only if...)",
        "Required Field?", "Custom Alignment", "Question Number (surveys only)",
        "Matrix Group Name", "Matrix Ranking?", "Field Annotation",
    ]  # fmt: skip


def test_dictionary_fields_follow_the_instruments(tmp_path: Path) -> None:
    design = redcap_design(load_protocol("mrocc-2025"))
    (tmp_path / "dd.csv").write_text(design.dictionary_csv(), encoding="utf-8")
    dd = read_dictionary(tmp_path / "dd.csv")
    f = dd.by_name
    assert dd.record_id == "record_id"
    # OCS items: 0-10 integers (ocs.yaml), labels only at the ends -> validated text box
    assert (f["ocs_2"].field_type, f["ocs_2"].validation) == ("text", "integer")
    assert (f["ocs_2"].validation_min, f["ocs_2"].validation_max) == ("0", "10")
    # PROMIS items: every value 1..5 labelled Never..Always -> radio with those codes
    promis = f["promis_anxiety_8a_edanx01"]
    assert promis.field_type == "radio"
    assert [(c.code, c.label) for c in promis.choices] == [
        ("1", "Never"), ("2", "Rarely"), ("3", "Sometimes"), ("4", "Often"), ("5", "Always"),
    ]  # fmt: skip
    assert f["substance_use_7d_opioids"].field_type == "yesno"
    assert [c.label for c in f["arm"].choices] == ["M-ROCC (mindfulness)", "Recovery support group"]
    assert [c.label for c in f["income_category"].choices] == ["<10k", "10k-30k", ">30k"]
    assert f["bup_dose_mg"].validation == "number" and f["bup_dose_mg"].validation_max == "64"
    assert [c.code for c in f["tox_fentanyl"].choices] == ["1", "0", "2"]
    # 14 analytes in the M-ROCC panel, one field each
    assert len([n for n in f if n.startswith("tox_")]) == 14
    assert dd.instruments[:2] == ("participant", "screening")


def test_events_and_designations_follow_the_schedule() -> None:
    design = redcap_design(load_protocol("mrocc-2025"))
    names = [e.unique_name for e in design.events]
    # week 0 + weeks 1..24 + the adverse-event log
    assert names[0] == "baseline_arm_1" and names[1] == "week_1_arm_1"
    assert names[24] == "week_24_arm_1" and names[-1] == "adverse_events_arm_1"
    assert len(names) == 26
    rows = list(csv.DictReader(io.StringIO(design.instrument_events_csv())))
    promis = [r["unique_event_name"] for r in rows if r["form"] == "promis_anxiety_8a"]
    assert promis == ["baseline_arm_1", "week_8_arm_1", "week_16_arm_1", "week_24_arm_1"]
    attendance = [r["unique_event_name"] for r in rows if r["form"] == "attendance"]
    assert len(attendance) == 24 and "baseline_arm_1" not in attendance
    substance = [r for r in rows if r["form"] == "substance_use_7d"]
    assert len(substance) == 24  # weeks 1-24, not baseline
    events = list(csv.DictReader(io.StringIO(design.events_csv())))
    assert events[8]["unique_event_name"] == "week_8_arm_1" and events[8]["day_offset"] == "56"
    assert design.repeating == (("adverse_events_arm_1", "adverse_events"),)


def test_follow_up_months_become_month_events() -> None:
    design = redcap_design(load_protocol("more-ltot-2022"))
    by_name = {e.unique_name: e for e in design.events}
    # month m is recorded at week round(m * 52 / 12): 3 -> 13, 6 -> 26, 9 -> 39
    assert [by_name[f"month_{m}_arm_1"].week for m in (3, 6, 9)] == [13, 26, 39]
    assert "comm" in by_name["month_3_arm_1"].forms
    assert "attendance" not in by_name["month_3_arm_1"].forms
    assert design.mapping.weeks.week_of("month_6_arm_1") == 26
    assert design.mapping.weeks.week_of("week_7_arm_1") == 7


def test_shipped_mrocc_mapping_is_the_designs_mapping() -> None:
    design = redcap_design(load_protocol("mrocc-2025"))
    assert shipped_mapping("mrocc-redcap") == design.mapping


# --------------------------------------------------------------------------- records


def test_records_are_flat_rows_per_record_and_event() -> None:
    ds = mrocc_dataset()
    frame = redcap_records(ds, redcap_design(load_protocol("mrocc-2025")))
    assert list(frame.columns[:5]) == [
        "record_id", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance",
        "redcap_data_access_group",
    ]  # fmt: skip
    row = frame[(frame.record_id == "012") & (frame.redcap_event_name == "baseline_arm_1")]
    assert row.iloc[0]["arm"] == "2" and row.iloc[0]["income_category"] == "3"
    assert row.iloc[0]["redcap_data_access_group"] == "worcester"
    assert row.iloc[0]["bup_dose_mg"] == "8.5" and row.iloc[0]["cocaine_use_baseline"] == "1"
    w2 = frame[(frame.record_id == "007") & (frame.redcap_event_name == "week_2_arm_1")].iloc[0]
    assert (w2["tox_fentanyl"], w2["tox_opiates"], w2["attended"]) == ("1", "0", "0")
    ae = frame[frame.redcap_repeat_instrument == "adverse_events"]
    assert ae["redcap_repeat_instance"].tolist() == ["1", "2"]
    assert ae["ae_severity"].tolist() == ["mild", "severe"]
    # the screening-only referral is a record of its own, keyed by its referral id
    r3 = frame[frame.record_id == "R3"].iloc[0]
    assert (r3["screening_stage"], r3["arm"], r3["exclusion_reason"]) == ("2", "", "psychosis")


def test_round_trip_through_redcap_files_with_the_shipped_mapping(tmp_path: Path) -> None:
    ds = mrocc_dataset()
    write_project(tmp_path, ds, "mrocc-2025")
    project = read_project(
        records=tmp_path / "data.csv",
        dictionary=tmp_path / "dictionary.csv",
        events=tmp_path / "event.csv",
    )
    assert [p for p in project.problems if p.severity == "error"] == []
    result = import_redcap(
        project,
        shipped_mapping("mrocc-redcap"),
        protocol=load_protocol("mrocc-2025"),
        exported_at=STAMP,
    )
    assert_same_dataset(result.dataset, ds)
    assert result.dataset.responses["value"].tolist()[:1] == [3.0]  # 007 week 0 ocs_1


def test_round_trip_more_ltot_with_follow_up_months(tmp_path: Path) -> None:
    meta = StudyMeta(
        "more-ltot-2022", load_protocol("more-ltot-2022").version, STAMP, source="redcap"
    )
    ds = build_dataset(
        meta,
        participants=pd.DataFrame(
            [{"participant_id": "A1", "arm": "more", "site": None, "cohort": "1",
                  "randomized_on": "2016-02-01", "withdrawn_week": None, "withdrawal_reason": None,
                  "sex": "female", "age": 52, "baseline_mme": 90.0}]
        ),
        responses=pd.DataFrame(
            [("A1", 0, "comm", "comm_01", 2), ("A1", 39, "comm", "comm_01", 0),
             ("A1", 13, "bpi_sf", "worst", 7)],
            columns=["participant_id", "week", "instrument", "item", "value"],
        ),
        attendance=pd.DataFrame([("A1", 8, True)], columns=["participant_id", "week", "attended"]),
    )  # fmt: skip
    write_project(tmp_path, ds, "more-ltot-2022")
    project = read_project(
        records=tmp_path / "data.csv",
        dictionary=tmp_path / "dictionary.csv",
        events=tmp_path / "event.csv",
    )
    data = pd.read_csv(tmp_path / "data.csv", dtype=str, keep_default_na=False)
    assert "month_9_arm_1" in data["redcap_event_name"].tolist()
    design = redcap_design(load_protocol("more-ltot-2022"))
    back = import_redcap(
        project, design.mapping, protocol=load_protocol("more-ltot-2022"), exported_at=STAMP
    )
    assert_same_dataset(back.dataset, ds)


def test_rows_the_design_cannot_hold_are_all_listed() -> None:
    protocol = load_protocol("more-ltot-2022")
    meta = StudyMeta("more-ltot-2022", protocol.version, STAMP)
    ds = build_dataset(
        meta,
        participants=pd.DataFrame(
            [{"participant_id": "A1", "arm": "more", "site": "Salt Lake", "cohort": None,
                  "randomized_on": "2016-02-01", "withdrawn_week": None, "withdrawal_reason": None,
                  "sex": None, "age": None, "baseline_mme": None}]
        ),
        responses=pd.DataFrame(
            [("A1", 10, "comm", "comm_01", 2), ("A1", 8, "home_practice", "days_practised", 3)],
            columns=["participant_id", "week", "instrument", "item", "value"],
        ),
    )  # fmt: skip
    with pytest.raises(RedcapExportError) as err:
        redcap_records(ds, redcap_design(protocol))
    text = str(err.value)
    assert "2 problems" in text
    assert "participants.csv row 2: site 'Salt Lake' is not a REDCap data access group" in text
    assert "responses.csv row 2: no REDCap event holds comm at week 10" in text


def test_mapping_type_is_checked() -> None:
    assert isinstance(shipped_mapping("mrocc-redcap"), RedcapMapping)
