"""The REDCap reader on hand-made exports: leading zeros, the API dictionary header, every
validation type with good and bad values, EAV records, and files that are not REDCap."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from mindtrial.interop.redcap import (
    Choice,
    RedcapFormatError,
    parse_choices,
    read_dictionary,
    read_project,
)

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "redcap_fixtures"
SAMPLES = HERE / "data"


def test_choices_split_on_the_first_comma_only() -> None:
    assert parse_choices("1, Yes, definitely | 2, No |3,Maybe, or not") == (
        Choice("1", "Yes, definitely"),
        Choice("2", "No"),
        Choice("3", "Maybe, or not"),
    )


def test_api_header_spelling_and_multiline_labels() -> None:
    dd = read_dictionary(FIXTURES / "zeros" / "dictionary.csv")
    assert dd.record_id == "participant"
    assert dd.fields[0].label == "Participant\nID (three digits, keep the zeros)"
    assert dd.fields[0].required
    assert dd.by_name["agree"].choices == (
        Choice("1", "Yes, completely"),
        Choice("2", "No, not at all"),
        Choice("3", "Partly"),
    )


def test_leading_zeros_are_kept_in_ids_and_text() -> None:
    d = FIXTURES / "zeros"
    project = read_project(dictionary=d / "dictionary.csv", records=d / "data.csv")
    table = project.table("intake")
    assert project.records == ("007", "010", "100")
    assert table["participant"].tolist() == ["007", "010", "100"]
    assert table["site_zip"].tolist() == ["02139", "00501", "10001"]
    assert table["dose_mg"].tolist() == [8, 150, 250]  # an integer field: 008 is eight
    assert table["agree"].tolist() == ["Yes, completely", "No, not at all", "Partly"]
    # 250 is above the dictionary's maximum 200: REDCap's range checks are soft, so the
    # value is kept and reported as a warning
    [warning] = project.problems
    assert (warning.record, warning.field, warning.value, warning.severity) == (
        "100",
        "dose_mg",
        "250",
        "warning",
    )


def test_every_validation_type_with_good_and_bad_values() -> None:
    project = read_project(
        dictionary=SAMPLES / "validation-types-1" / "dictionary.csv",
        records=FIXTURES / "validation-values" / "data.csv",
    )
    data = project.data.set_index("record_id")
    good, display = data.loc["001"], data.loc["002"]
    # raw exports write Y-M-D whatever the display order; the display order is read too
    end = pd.Timestamp("2020-12-31")
    for col in ("v_date_dmy", "v_date_mdy", "v_date_ymd"):
        assert good[col] == end
    for col in ("v_date_dmy", "v_date_mdy"):
        assert display[col] == end  # 31/12/2020 (D-M-Y), 12/31/2020 (M-D-Y)
    assert good["v_datetime_dmy"] == pd.Timestamp("2020-12-31 23:59")
    assert display["v_datetime_dmy"] == pd.Timestamp("2020-12-31 23:59")
    assert display["v_datetime_mdy"] == pd.Timestamp("2020-12-31 23:59")
    assert good["v_datetime_seconds_ymd"] == pd.Timestamp("2020-12-31 23:59:58")
    assert display["v_datetime_seconds_mdy"] == pd.Timestamp("2020-12-31 23:59:58")
    assert display["v_datetime_seconds_dmy"] == pd.Timestamp("2020-12-31 23:59:58")
    assert good["v_number_comma_decimal"] == 3.14
    assert good["v_number_2dp_comma_decimal"] == -0.5
    assert good["v_number_4dp_comma_decimal"] == 3.1416
    assert display["v_number_comma_decimal"] == 12.0
    assert display["v_number"] == -0.5  # "-.5"
    assert good["v_integer"] == 7 and display["v_integer"] == -42
    assert good["v_time_hh_mm"] == pd.Timedelta(hours=8, minutes=30)
    assert good["v_time_hh_mm_ss"] == pd.Timedelta(hours=8, minutes=30, seconds=15)
    assert good["v_time_mm_ss"] == pd.Timedelta(minutes=59, seconds=59)
    assert good["v_zipcode"] == "02139" and good["v_mrn_10d"] == "0123456789"
    assert good["f_calculated"] == 7.0 and good["f_slider"] == -1
    assert (good["f_radio"], good["f_radio_code"]) == ("Zero", "0")
    assert (good["f_dropdown"], good["f_dropdown_code"]) == ("Two", "2")
    assert [good[f"f_checkbox___{i}"] for i in range(3)] == [True, False, True]
    assert good["f_notes"] == "two\nlines"
    assert good["form_1_complete"] == "Complete" and display["form_1_complete"] == "Unverified"

    problems = {(p.record, p.field, p.value, p.severity) for p in project.problems}
    # record 003 holds one bad value per column below, each worked out by hand:
    expected_errors = {
        ("f_calculated", "abc"),  # not a number
        ("f_checkbox___0", "x"),  # checkbox options are 0/1
        ("f_radio", "3"),  # codes are 0, 1, 2
        ("f_true_false", "2"),
        ("f_yes_no", "yes"),  # raw exports hold 1/0
        ("v_alpha_only", "A1"),
        ("v_date_dmy", "12/31/2020"),  # month 31 read D-M-Y
        ("v_date_mdy", "31/12/2020"),  # month 31 read M-D-Y
        ("v_date_ymd", "2021-02-30"),  # no 30 February
        ("v_datetime_dmy", "2020-12-31"),  # no time
        ("v_datetime_mdy", "2020-12-31 25:00"),  # hour 25
        ("v_email", "not-an-email"),
        ("v_integer", "1.5"),
        ("v_number", "1,5"),  # decimal comma in a decimal-point field
        ("v_number_comma_decimal", "1.5"),  # decimal point in a decimal-comma field
        ("v_time_hh_mm", "25:00"),
        ("v_time_mm_ss", "60:00"),
        ("v_zipcode", "2139"),  # four digits
        ("form_1_complete", "3"),
    }
    # record 002 writes its D-M-Y / M-D-Y fields in display order, not the Y-M-D of a raw
    # export: read in the field's order, each with a warning (31 > 12: not ambiguous)
    display_order = {
        ("v_date_dmy", "31/12/2020"),
        ("v_date_mdy", "12/31/2020"),
        ("v_datetime_dmy", "31-12-2020 23:59"),
        ("v_datetime_mdy", "12-31-2020 23:59"),
        ("v_datetime_seconds_dmy", "31-12-2020 23:59:58"),
        ("v_datetime_seconds_mdy", "12/31/2020 23:59:58"),
    }
    assert problems == {("003", f, v, "error") for f, v in expected_errors} | {
        ("003", "f_slider", "150", "warning")  # slider max is 101 in the dictionary
    } | {("002", f, v, "warning") for f, v in display_order}
    bad = data.loc["003"]
    for field, _ in expected_errors:
        assert pd.isna(bad[field]), field
    assert bad["f_slider"] == 150  # a warning keeps its value


def _flat_to_eav(flat: Path, eav: Path, checkbox_fields: set[str]) -> None:
    """REDCap's EAV layout, written independently of the reader: one row per non-blank value,
    a checkbox as one row per checked option whose value is the option's code."""
    with flat.open(encoding="utf-8", newline="") as src, eav.open("w", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.writer(dst)
        writer.writerow(["record", "redcap_event_name", "field_name", "value"])
        for row in reader:
            record, event = row["study_id"], row["redcap_event_name"]
            for col, value in row.items():
                if col == "redcap_event_name" or value == "":
                    continue
                base, sep, code = col.partition("___")
                if sep and base in checkbox_fields:
                    if value == "1":
                        writer.writerow([record, event, base, code])
                    continue
                writer.writerow([record, event, col, value])


def test_eav_records_give_the_same_tables_as_flat(tmp_path: Path) -> None:
    d = SAMPLES / "longitudinal"
    dd = read_dictionary(d / "dictionary.csv")
    eav = tmp_path / "eav.csv"
    _flat_to_eav(d / "data.csv", eav, {f.name for f in dd.fields if f.field_type == "checkbox"})
    dictionary, events, arms = d / "dictionary.csv", d / "event.csv", d / "arm.csv"
    flat = read_project(records=d / "data.csv", dictionary=dictionary, events=events, arms=arms)
    from_eav = read_project(records=eav, dictionary=dictionary, events=events, arms=arms)
    assert from_eav.record_format == "eav"
    assert from_eav.records == flat.records
    assert set(from_eav.tables) == set(flat.tables)
    for name, table in flat.tables.items():
        pd.testing.assert_frame_equal(from_eav.tables[name], table, check_like=False)


def test_a_csv_that_is_not_redcap_records_is_rejected(tmp_path: Path) -> None:
    other = tmp_path / "sales.csv"
    other.write_text("region,amount\nnorth,10\n", encoding="utf-8")
    with pytest.raises(RedcapFormatError, match="no record id column 'participant'"):
        read_project(dictionary=FIXTURES / "zeros" / "dictionary.csv", records=other)
    with pytest.raises(RedcapFormatError, match="is not a REDCap data dictionary"):
        read_project(dictionary=other, records=FIXTURES / "zeros" / "data.csv")
    with pytest.raises(RedcapFormatError, match="data dictionary or a project XML"):
        read_project(records=FIXTURES / "zeros" / "data.csv")
    with pytest.raises(RedcapFormatError, match="not well-formed XML"):
        read_project(records=FIXTURES / "zeros" / "data.csv", project_xml=other)
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    # an empty answer is REDCap's zero-record export: empty tables, said in a note
    nothing = read_project(dictionary=FIXTURES / "zeros" / "dictionary.csv", records=empty)
    assert nothing.records == () and "holds no records" in " ".join(nothing.notes)


def test_repeating_events_and_instruments_in_a_longitudinal_project() -> None:
    d = FIXTURES / "repeating-events"
    project = read_project(
        dictionary=d / "dictionary.csv", records=d / "data.csv", events=d / "event.csv"
    )
    assert project.records == ("01", "02")
    assert project.data_access_groups == ("site_a", "site_b")
    enrol = project.table("enrolment")
    assert enrol["pid"].tolist() == ["01", "02"]
    assert "redcap_repeat_instance" not in enrol
    assert enrol["consent_date"].tolist() == [
        pd.Timestamp("2024-03-01"),
        pd.Timestamp("2024-03-04"),
    ]
    # the weekly session event repeats: one row per record x instance (the week_9 row is an
    # unknown event, reported, but its values are still typed)
    session = project.table("session")
    assert list(session.columns[:5]) == [
        "pid",
        "redcap_event_name",
        "redcap_arm",
        "redcap_repeat_instance",
        "redcap_data_access_group",
    ]
    assert session["pid"].tolist() == ["01", "01", "02", "02"]
    assert session["redcap_repeat_instance"].tolist() == [1, 2, 1, 1]
    assert session["weekly_minutes"].tolist() == [95, 120, -5, 30]
    assert session["felt___3"].tolist() == [True, False, False, False]
    medication = project.table("medication")
    assert project.repeating_instruments == ("medication",)
    assert medication["redcap_repeat_instance"].tolist() == [1, 2]
    assert medication["drug"].tolist() == ["Methadone", "Buprenorphine"]
    assert medication["dose"].tolist() == [80.5, 16.0]
    problems = {
        (p.record, p.event, p.instance, p.field, p.value, p.severity) for p in project.problems
    }
    assert problems == {
        ("02", "weekly_session_arm_1", 1, "weekly_minutes", "-5", "warning"),  # min 0
        ("02", "week_9_arm_1", 1, "redcap_event_name", "week_9_arm_1", "error"),
    }
