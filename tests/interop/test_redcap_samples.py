"""Every REDCap sample project in tests/interop/data reads with the right counts and types.

Expected numbers come from the raw files, read here with the csv module / ElementTree, or are
worked out by hand from the files (the derivation is written beside each assertion).
"""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from mindtrial.interop.redcap import RedcapProject, read_project

SAMPLES = Path(__file__).resolve().parent / "data"
ODM = "{http://www.cdisc.org/ns/odm/v1.3}"
RC = "{https://projectredcap.org}"


def _read(name: str) -> RedcapProject:
    d = SAMPLES / name

    def opt(file: str) -> Path | None:
        return d / file if (d / file).exists() else None

    return read_project(
        records=d / "data.csv",
        dictionary=opt("dictionary.csv"),
        events=opt("event.csv"),
        arms=opt("arm.csv"),
        project_xml=opt("project.xml"),
    )


def _rows(name: str) -> list[dict[str, str]]:
    with (SAMPLES / name / "data.csv").open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _distinct_ids(name: str, column: str) -> list[str]:
    return list(dict.fromkeys(row[column] for row in _rows(name)))


ALL = sorted(p.name for p in SAMPLES.iterdir() if p.is_dir())


@pytest.mark.parametrize("name", ALL)
def test_every_sample_reads_and_counts_records(name: str) -> None:
    project = _read(name)
    first_column = next(iter(_rows(name)[0]))
    id_column = project.record_id if first_column == "" else first_column
    assert project.records == tuple(_distinct_ids(name, id_column))
    # every instrument of the dictionary has a table, all keyed by the record id
    assert set(project.tables) == set(project.dictionary.instruments)
    for table in project.tables.values():
        assert table[project.record_id].dtype == "string"


def test_clinical_trial_types_and_values_match_the_csv() -> None:
    project = _read("clinical-trial-1")
    rows = _rows("clinical-trial-1")
    table = project.table("demographics")
    assert len(rows) == 500 and len(table) == 500
    assert project.problems == ()
    assert str(table["dob"].dtype) == "datetime64[ns]"
    assert table["height"].dtype == "Float64"
    assert table["weight"].dtype == "Int64"
    assert isinstance(table["race"].dtype, pd.CategoricalDtype)
    # dictionary: "1, Asian | 2, (Not Used) | 3, Black | 4, White | 5, Other/Mixed | 6, Missing"
    assert list(table["race"].cat.categories) == [
        "Asian",
        "(Not Used)",
        "Black",
        "White",
        "Other/Mixed",
        "Missing",
    ]
    # row 1 of data.csv: 1,Cornel,Alice,...,1991-05-13,1,4,0,176.1,105,...,0
    first = table.iloc[0]
    assert first["name_last"] == "Cornel"
    assert first["dob"] == pd.Timestamp("1991-05-13")
    assert (first["ethnicity"], first["ethnicity_code"]) == ("Non-Latino", "1")
    assert (first["race"], first["race_code"]) == ("White", "4")
    assert first["gender"] == "Female"
    assert first["demographics_complete"] == "Incomplete"
    assert table["height"].tolist() == [float(r["height"]) for r in rows]
    assert table["weight"].tolist() == [int(r["weight"]) for r in rows]
    assert table["phone"].tolist() == [r["phone"] for r in rows]  # no validation: text


def test_longitudinal_events_arms_and_rows_per_instrument() -> None:
    project = _read("longitudinal")
    assert project.longitudinal
    assert [a.name for a in project.arms] == ["Drug A", "Drug B"]
    assert len(project.events) == 12
    assert {e.unique_name: e.arm for e in project.events}["deadline_to_opt_ou_arm_2"] == 2
    assert project.records == ("100", "220", "304")  # 100, 220 in arm 1; 304 in arm 2
    # rows = sum over records of the events (in the record's arm) that designate the form,
    # from project.xml's FormRefs: e.g. patient_morale_questionnaire is on dose_1, visit_1,
    # dose_2, visit_2 (arm 1) and first_dose, first_visit (arm 2): 2 x 4 + 1 x 2 = 10.
    expected = {
        "demographics": 3,  # enrollment in both arms
        "contact_info": 5,  # enrollment (3) + deadline_to_opt_ou_arm_2 + deadline_to_return_arm_2
        "baseline_data": 3,
        "visit_lab_data": 4,  # visit_1, visit_2 of arm 1, two records
        "patient_morale_questionnaire": 10,
        "visit_blood_workup": 4,
        "visit_observed_behavior": 6,  # 2 x 2 (arm 1) + first_visit, final_visit (arm 2)
        "completion_data": 2,  # final_visit_arm_1 only
        "completion_project_questionnaire": 3,  # final_visit in both arms
    }
    assert {k: len(v) for k, v in project.tables.items()} == expected
    pmq = project.table("patient_morale_questionnaire")
    assert pmq["redcap_arm"].tolist() == [1] * 8 + [2] * 2
    assert list(pmq.columns[:3]) == ["study_id", "redcap_event_name", "redcap_arm"]
    assert project.table("demographics")["bmi"].dtype == "Float64"  # calc field
    assert project.table("demographics")["specify_mood"].dtype == "Int64"  # slider


def test_longitudinal_checkbox_not_shown_is_missing_and_unchecked_is_false() -> None:
    project = _read("longitudinal")
    rows = _rows("longitudinal")
    seen: set[object] = set()
    for col in [c for c in rows[0] if "___" in c]:
        typed = project.data[col]
        assert typed.dtype == "boolean"
        for raw, value in zip((r[col] for r in rows), typed, strict=True):
            expected = {"": pd.NA, "0": False, "1": True}[raw]
            assert (value is pd.NA) if expected is pd.NA else (value == expected)
            seen.add(raw)
    assert seen == {"", "0", "1"}
    # gym is on demographics, designated only on enrollment events: not shown elsewhere
    gym = project.data.set_index(["study_id", "redcap_event_name"])["gym___0"]
    assert gym[("100", "dose_1_arm_1")] is pd.NA
    assert bool(gym[("100", "enrollment_arm_1")]) is True  # raw "1"
    # meds___1 of record 100 at enrollment is raw "0": unchecked, not missing
    meds = project.data.set_index(["study_id", "redcap_event_name"])["meds___1"]
    value = meds[("100", "enrollment_arm_1")]
    assert value is not pd.NA and not value


def test_checkboxes_sample_keeps_zero_as_unchecked() -> None:
    project = _read("checkboxes-1")
    form = project.table("form_2")
    assert len(form) == 4
    # record 1: check_one___1 = 1, ___2..4 = 0; check_two___a and ___c = 1
    r1 = form.iloc[0]
    assert [bool(r1[f"check_one___{i}"]) for i in range(1, 5)] == [True, False, False, False]
    assert [bool(r1[f"check_two___{c}"]) for c in "abcde"] == [True, False, True, False, False]
    # record 4: every option 0 -> False (unchecked), never missing
    r4 = form.iloc[3]
    assert not r4[[f"check_one___{i}" for i in range(1, 5)]].isna().any()
    assert not r4[[f"check_one___{i}" for i in range(1, 5)]].any()
    assert form["form_2_complete"].tolist() == ["Complete", "Incomplete", "Complete", "Incomplete"]
    assert form["form_2_complete"].cat.ordered


def test_repeating_instruments_are_reshaped_by_instance() -> None:
    project = _read("repeating-instruments")
    assert project.repeating_instruments == ("bp",)
    demo = project.table("demographics")
    assert demo["record_id"].tolist() == ["1", "2"]
    assert "redcap_repeat_instance" not in demo
    bp = project.table("bp")
    assert bp["record_id"].tolist() == ["1", "1", "1", "2"]
    assert bp["redcap_repeat_instance"].tolist() == [1, 2, 3, 1]
    assert bp["redcap_repeat_instance"].dtype == "Int64"
    assert bp["bp_systolic"].tolist() == [110, 111, 112, 114]
    assert bp["bp_diastolic"].tolist() == [100, 101, 102, 104]
    assert bp["date_bp"].tolist() == [pd.Timestamp("2019-10-14")] * 3 + [pd.Timestamp("2004-04-04")]
    assert demo["age"].tolist() == ["8.9", "9.6"]  # no validation: text, as written


def test_potentially_problematic_values_are_reported_not_coerced() -> None:
    project = _read("potentially-problematic-values")
    # date_before_validation (date_ymd) and integer_before_validation (integer) hold text in
    # both records; time_1 has no validation, so "2010-01-02" and "55:02" are fine as text.
    got = {(p.record, p.field, p.value) for p in project.problems}
    assert got == {
        ("1", "date_before_validation", "before validation 1"),
        ("2", "date_before_validation", "before validation 2"),
        ("1", "integer_before_validation", "before validation 1"),
        ("2", "integer_before_validation", "before validation 1"),
    }
    assert all(p.severity == "error" and p.event is None for p in project.problems)
    form = project.table("form_1")
    assert form["date_before_validation"].isna().all()
    assert form["integer_before_validation"].isna().all()
    assert form["time_1"].tolist() == ["2010-01-02", "55:02"]


def test_validation_types_sample_gives_each_validation_its_dtype() -> None:
    project = _read("validation-types-1")
    assert project.problems == ()
    data = project.data
    expected = {
        "f_calculated": "Float64",
        "f_slider": "Int64",
        "f_true_false": "boolean",
        "f_yes_no": "boolean",
        "f_checkbox___0": "boolean",
        "v_integer": "Int64",
        "v_number": "Float64",
        "v_number_2dp": "Float64",
        "v_number_comma_decimal": "Float64",
        "v_number_4dp_comma_decimal": "Float64",
        "v_date_dmy": "datetime64[ns]",
        "v_date_mdy": "datetime64[ns]",
        "v_datetime_seconds_mdy": "datetime64[ns]",
        "v_time_hh_mm": "timedelta64[ns]",
        "v_time_mm_ss": "timedelta64[ns]",
        "v_email": "string",
        "v_zipcode": "string",
        "f_file_upload": "string",
        "f_sql": "string",
    }
    assert {k: str(data[k].dtype) for k in expected} == expected
    assert "f_descriptive" not in data
    # the one record has only zeros in the checkbox and the status: unchecked, Incomplete
    assert data[["f_checkbox___0", "f_checkbox___1", "f_checkbox___2"]].iloc[0].tolist() == [
        False,
        False,
        False,
    ]
    assert project.field_types()["v_datetime_seconds_dmy"] == "datetime_seconds_dmy"
    assert project.field_types()["f_radio"] == "radio"


def test_survey_timestamps_and_not_completed() -> None:
    project = _read("survey")
    assert project.problems == ()
    pre = project.table("prescreening_survey")
    assert pre["prescreening_survey_timestamp"].tolist() == [
        pd.Timestamp("2018-03-06 15:52:43"),
        pd.Timestamp("2018-03-06 15:53:15"),
    ]
    assert pre["has_diabetes"].tolist() == [True, False]  # truefalse
    assert pre["consent___1"].tolist() == [True, False]
    # "[not completed]" is REDCap's marker for a survey never submitted: missing, no problem
    morale = project.data["participant_morale_questionnaire_timestamp"]
    assert morale.isna().all()
    assert project.data["prescreening_survey_complete"].tolist() == ["Complete", "Complete"]


def test_dag_sample_keeps_data_access_groups() -> None:
    project = _read("dag")
    assert project.data_access_groups == ("daga", "dagb")
    assert project.dag_labels == ("dag-a", "dag-b")  # as project.xml names them
    table = project.table("demographics")
    assert table["record_id"].tolist() == ["331-1", "331-2", "332-3"]
    assert table["redcap_data_access_group"].tolist() == ["daga", "daga", "dagb"]


def test_decimal_comma_numbers_are_parsed() -> None:
    project = _read("decimal-comma")
    rows = _rows("decimal-comma")
    table = project.table("demographics")
    assert project.problems == ()
    for col in ("height", "weight"):
        assert table[col].dtype == "Float64"
        assert table[col].tolist() == [float(r[col].replace(",", ".")) for r in rows]
    assert table["height"].tolist() == [1.54, 1.84, 1.95, 1.61]
    assert table["bmi"].tolist() == [22.1, 27.3, 32.5, 17.7]  # calc: decimal point


def test_russian_sample_reads_from_project_xml_alone() -> None:
    project = _read("russian")
    root = ET.parse(SAMPLES / "russian" / "project.xml").getroot()
    forms = [f.get(f"{RC}FormName") for f in root.iter(f"{ODM}FormDef")]
    variables = {
        d.get(f"{RC}Variable")
        for d in root.iter(f"{ODM}ItemDef")
        if not str(d.get(f"{RC}Variable")).endswith("_complete")
    }
    assert list(project.instruments) == forms and len(forms) == 14
    assert set(project.field_types()) == variables
    assert project.records == ("AAAA", "BBBB", "CCCC")
    assert project.problems == ()
    assert any("write.csv" in n for n in project.notes)
    screening = project.table("screening")
    assert screening["age"].tolist() == [33.0, 18.0, 22.0]  # validation float -> number
    assert screening["date_interview"].tolist() == [pd.Timestamp("2015-03-17")] * 3
    # "NA" (R's missing) is missing, and the code 999 has its label from the XML code list
    assert screening["refuse"].isna().all()
    assert screening["randomization_code"].tolist() == ["1", "999", "2"]


# REDCapR's own expected column types for its "longitudinal" test project
# (OuhscBbmc/REDCapR, inst/test-data/specific-redcapr/metadata-coltypes/longitudinal.R):
# readr collectors date, logical, integer and double. Radio fields and form status, which
# REDCapR reads as character or integer codes, are categorical here and left out.
REDCAPR_LONGITUDINAL = {
    "date": "date_enrolled dob withdraw_date date_visit_4 creat_4 discharge_date_4 cpq1 cpq9",
    "boolean": "given_birth",
    "checkbox": "gym aerobics eat drink meds",
    "integer": "num_children specify_mood weight weight2 npcr_4 chol_4 cpq2 cpq3 cpq4 cpq5",
    "number": "height height2 prealb_b creat_b npcr_b chol_b transferrin_b vld1 vld2 vld3 "
    "vld4 vld5 vbw1 vbw2 vbw3 vbw4 vbw5 alb_4 prealb_4",
}


def test_longitudinal_types_agree_with_redcapr() -> None:
    project = _read("longitudinal")
    kinds = project.summary()["field_details"]
    for kind, names in REDCAPR_LONGITUDINAL.items():
        for name in names.split():
            assert kinds[name]["kind"] == kind, name
    data = project.data
    assert pd.api.types.is_datetime64_any_dtype(data["dob"])
    assert str(data["num_children"].dtype) == "Int64"
    assert str(data["height"].dtype) == "Float64"
    assert str(data["gym___0"].dtype) == "boolean"


def test_held_out_decimal_comma_and_dot() -> None:
    """A REDCapR project not used while writing the reader: each comma field equals its
    point twin, calculated fields included (data.csv: 1.54 / "1,54", 22.1 / "22,1" ...)."""
    project = _read("decimal-comma-and-dot")
    data = project.data
    assert project.records == ("1", "2", "3", "4")
    assert not project.problems
    for dot, comma in (("height_dot", "height_comma"), ("weight_dot", "weight_comma")):
        assert data[dot].tolist() == data[comma].tolist()
    assert data["bmi"].tolist() == [22.1, 27.3, 32.5, 17.7]
    assert data["bmi_comma"].tolist() == data["bmi"].tolist()


def test_held_out_nonnumeric_record_ids() -> None:
    project = _read("nonnumeric-record-id")
    assert project.records == ("a", "b", "c")
    assert project.table("demographics")["name"].tolist() == ["Amanda", "Bob", "Charlie"]
    assert project.table("demographics")["demographics_complete"].tolist() == [
        "Incomplete",
        "Complete",
        "Incomplete",
    ]
