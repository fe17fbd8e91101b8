"""Each finding of issue 14, reproduced on a REDCap export before it was fixed.

Expected values are worked out by hand from the files (the working is beside each assertion)
or read from the sample files with the csv module, never from the reader's earlier output.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import stat
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest
from typer.testing import CliRunner

from mindtrial.cli.main import app
from mindtrial.interop.redcap import RedcapFormatError, read_dictionary, read_project
from mindtrial.interop.redcap_mapping import ImportProblem, RedcapImportError

HERE = Path(__file__).resolve().parent
SAMPLES = HERE / "data"
runner = CliRunner()

HEADER = (
    '"Variable / Field Name","Form Name","Section Header","Field Type","Field Label",'
    '"Choices, Calculations, OR Slider Labels","Field Note",'
    '"Text Validation Type OR Show Slider Number","Text Validation Min","Text Validation Max",'
    'Identifier?,"Branching Logic (Show field only if...)","Required Field?",'
    '"Custom Alignment","Question Number (surveys only)","Matrix Group Name",'
    '"Matrix Ranking?","Field Annotation"\n'
)


def _row(name: str, ftype: str, label: str, choices: str = "", validation: str = "") -> str:
    cells = [name, "visit", "", ftype, label, choices, "", validation] + [""] * 10
    return ",".join(f'"{c}"' for c in cells) + "\n"


def _dictionary(tmp: Path, *rows: str) -> Path:
    path = tmp / "dictionary.csv"
    path.write_text(HEADER + _row("pid", "text", "ID") + "".join(rows), encoding="utf-8")
    return path


def test_eav_with_an_event_id_column_keeps_every_record_event(tmp_path: Path) -> None:
    """The API's EAV export names the event in ``event_id``; it was read as classic and
    each record kept only its last event."""
    d = SAMPLES / "longitudinal"
    dd = read_dictionary(d / "dictionary.csv")
    checkboxes = {f.name for f in dd.fields if f.field_type == "checkbox"}
    with (d / "event.csv").open(encoding="utf-8", newline="") as handle:
        event_id = {r["unique_event_name"]: r["event_id"] for r in csv.DictReader(handle)}
    eav = tmp_path / "eav.csv"
    with (
        (d / "data.csv").open(encoding="utf-8", newline="") as src,
        eav.open("w", newline="", encoding="utf-8") as dst,
    ):
        writer = csv.writer(dst)
        writer.writerow(["record", "event_id", "field_name", "value"])
        rows = list(csv.DictReader(src))
        for row in rows:
            for col, value in row.items():
                if col == "redcap_event_name" or value == "":
                    continue
                base, sep, code = col.partition("___")
                if sep and base in checkboxes:
                    if value == "1":
                        writer.writerow(
                            [row["study_id"], event_id[row["redcap_event_name"]], base, code]
                        )
                    continue
                writer.writerow([row["study_id"], event_id[row["redcap_event_name"]], col, value])
    events = d / "event.csv"
    flat = read_project(records=d / "data.csv", dictionary=d / "dictionary.csv", events=events)
    got = read_project(records=eav, dictionary=d / "dictionary.csv", events=events)
    assert got.record_format == "eav"
    assert len(got.raw) == len(rows) == 18  # 18 record x event rows in data.csv
    assert got.raw["redcap_event_name"].tolist() == [r["redcap_event_name"] for r in rows]
    for name, table in flat.tables.items():
        pd.testing.assert_frame_equal(got.tables[name], table)


def test_eav_without_an_event_column_but_two_values_is_refused(tmp_path: Path) -> None:
    dictionary = _dictionary(tmp_path, _row("weight", "text", "Weight", validation="number"))
    eav = tmp_path / "eav.csv"
    eav.write_text("record,field_name,value\n1,weight,70\n1,weight,72\n", encoding="utf-8")
    with pytest.raises(RedcapFormatError, match="two values"):
        read_project(records=eav, dictionary=dictionary)


@pytest.mark.parametrize(
    ("drop", "named"),
    [
        ("Text Validation Type OR Show Slider Number", "Text Validation Type"),
        ("Choices, Calculations, OR Slider Labels", "Choices, Calculations"),
    ],
)
def test_a_dictionary_missing_a_typing_column_is_refused(
    tmp_path: Path, drop: str, named: str
) -> None:
    src = SAMPLES / "validation-types-1" / "dictionary.csv"
    with src.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    at = rows[0].index(drop)
    path = tmp_path / "dictionary.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([r[:at] + r[at + 1 :] for r in rows])
    with pytest.raises(RedcapFormatError, match=named):
        read_dictionary(path)


@pytest.mark.parametrize("name", ["dag", "survey"])
def test_project_xml_does_not_double_dag_or_timestamp_columns(name: str, tmp_path: Path) -> None:
    d = SAMPLES / name
    project = read_project(records=d / "data.csv", project_xml=d / "project.xml")
    assert not project.data.columns.duplicated().any()
    for table in project.tables.values():
        assert not table.columns.duplicated().any()
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["redcap", "export", "--records", str(d / "data.csv"), "--project-xml",
         str(d / "project.xml"), "--to", "parquet", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def test_project_xml_survey_timestamps_are_typed() -> None:
    d = SAMPLES / "survey"
    project = read_project(records=d / "data.csv", project_xml=d / "project.xml")
    stamp = project.data["prescreening_survey_timestamp"]
    assert pd.api.types.is_datetime64_any_dtype(stamp)
    # data.csv row 1: "2018-03-06 15:52:43"
    assert stamp.iloc[0] == pd.Timestamp("2018-03-06 15:52:43")
    # row 1 participant_morale_questionnaire_timestamp is "[not completed]": missing, no problem
    assert pd.isna(project.data["participant_morale_questionnaire_timestamp"].iloc[0])
    assert not project.problems


@pytest.mark.parametrize("text", ["\n", ""])
def test_a_zero_record_export_reads_as_empty_tables(tmp_path: Path, text: str) -> None:
    d = SAMPLES / "clinical-trial-1"
    records = tmp_path / "data.csv"
    records.write_text(text, encoding="utf-8")
    project = read_project(records=records, dictionary=d / "dictionary.csv")
    assert project.records == ()
    assert all(len(t) == 0 for t in project.tables.values())
    assert pd.api.types.is_float_dtype(project.table("demographics")["height"])


def test_numbers_with_spaces_are_read_and_overflow_is_a_problem(tmp_path: Path) -> None:
    dictionary = _dictionary(
        tmp_path,
        _row("score", "text", "Score", validation="number"),
        _row("n", "text", "Count", validation="integer"),
    )
    records = tmp_path / "data.csv"
    records.write_text('pid,score,n\n1," -0.119"," 7 "\n2,1e400,3\n3,2.5E-1,\n', encoding="utf-8")
    project = read_project(records=records, dictionary=dictionary)
    score = project.data["score"].tolist()
    assert score[0] == -0.119 and pd.isna(score[1]) and score[2] == 0.25
    assert project.data["n"].tolist()[:2] == [7, 3]
    assert [(p.record, p.field, p.value) for p in project.problems] == [("2", "score", "1e400")]
    assert "too large" in project.problems[0].reason


def test_display_order_dates_follow_the_field_and_warn(tmp_path: Path) -> None:
    dictionary = _dictionary(
        tmp_path,
        _row("d_dmy", "text", "DMY", validation="date_dmy"),
        _row("d_mdy", "text", "MDY", validation="date_mdy"),
        _row("d_ymd", "text", "YMD", validation="date_ymd"),
    )
    records = tmp_path / "data.csv"
    records.write_text(
        "pid,d_dmy,d_mdy,d_ymd\n1,03/04/2021,03/04/2021,2021-04-03\n2,2021-04-03,25/12/2021,\n"
        "3,25/12/2021,12/25/2021,03/04/2021\n",
        encoding="utf-8",
    )
    project = read_project(records=records, dictionary=dictionary)
    data = project.data
    # 03/04/2021 is 3 April as D-M-Y and 4 March as M-D-Y
    assert data["d_dmy"].tolist()[:3] == [pd.Timestamp(2021, 4, 3)] * 2 + [
        pd.Timestamp(2021, 12, 25)
    ]
    assert data["d_mdy"].iloc[0] == pd.Timestamp(2021, 3, 4)
    assert data["d_mdy"].iloc[2] == pd.Timestamp(2021, 12, 25)
    found = {(p.record, p.field, p.severity, "ambiguous" in p.reason) for p in project.problems}
    assert found == {
        ("1", "d_dmy", "warning", True),
        ("1", "d_mdy", "warning", True),
        ("2", "d_mdy", "error", False),  # 25/12/2021 has no month 25
        ("3", "d_dmy", "warning", False),
        ("3", "d_mdy", "warning", False),
        ("3", "d_ymd", "error", False),  # a Y-M-D field has no other order
    }


def test_dates_are_written_as_dates(tmp_path: Path) -> None:
    d = SAMPLES / "clinical-trial-1"
    base = ["redcap", "export", "--records", str(d / "data.csv"), "--dictionary",
            str(d / "dictionary.csv")]  # fmt: skip
    with (d / "data.csv").open(encoding="utf-8", newline="") as handle:
        first_dob = next(csv.DictReader(handle))["dob"]
    expected = dt.date.fromisoformat(first_dob)
    for fmt in ("stata", "spss", "parquet"):
        out = tmp_path / fmt
        result = runner.invoke(app, [*base, "--to", fmt, "--out", str(out)])
        assert result.exit_code == 0, result.output
        if fmt == "parquet":
            table = pq.read_table(out / "demographics.parquet")
            assert str(table.schema.field("dob").type) == "date32[day]"
            assert table.column("dob")[0].as_py() == expected
        else:
            reader = pyreadstat.read_dta if fmt == "stata" else pyreadstat.read_sav
            frame, meta = reader(str(out / f"demographics.{'dta' if fmt == 'stata' else 'sav'}"))
            assert meta.original_variable_types["dob"] == ("%td" if fmt == "stata" else "DATE11")
            assert frame["dob"].iloc[0] == expected
        assert stat.S_IMODE(os.stat(out / "problems.csv").st_mode) == stat.S_IMODE(
            os.stat(next(out.glob("demographics.*"))).st_mode
        )


def test_exported_files_are_not_private_to_the_owner(tmp_path: Path) -> None:
    d = SAMPLES / "checkboxes-1"
    out = tmp_path / "out"
    old = os.umask(0o022)
    try:
        result = runner.invoke(
            app,
            ["redcap", "export", "--records", str(d / "data.csv"), "--dictionary",
             str(d / "dictionary.csv"), "--to", "stata", "--out", str(out)],
        )  # fmt: skip
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name


def _stata_export(tmp_path: Path, dictionary: Path, records: Path) -> Path:
    out = tmp_path / "stata"
    result = runner.invoke(
        app,
        ["redcap", "export", "--records", str(records), "--dictionary", str(dictionary),
         "--to", "stata", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out / "visit.dta"


def test_stata_labels_long_text_and_non_integer_codes(tmp_path: Path) -> None:
    dictionary = _dictionary(
        tmp_path,
        _row("dose", "radio", "<b>Dose</b> &amp; route", "0.5, Half <i>dose</i> | 1, Full"),
        _row("smoker", "yesno", "Smokes?"),
        _row("sym", "checkbox", "Symptoms", "1, Cough | 2, Fever"),
        _row("story", "notes", "Story"),
    )
    long_text = "word " * 1000  # 5,000 bytes: more than a fixed Stata str holds (2,045)
    records = tmp_path / "data.csv"
    records.write_text(
        "pid,dose,smoker,sym___1,sym___2,story,visit_complete\n"
        f"1,0.5,1,1,0,{long_text},2\n2,1,0,0,1,short,0\n",
        encoding="utf-8",
    )
    frame, meta = pyreadstat.read_dta(str(_stata_export(tmp_path, dictionary, records)))
    assert frame["story"].tolist() == [long_text, "short"]
    assert meta.column_names_to_labels["dose"] == "Dose & route"
    labels = meta.variable_value_labels
    # 0.5 cannot be a Stata label code: the categories 1..k carry the labels, the code is kept
    assert [labels["dose"][v] for v in frame["dose"]] == ["Half dose", "Full"]
    assert frame["dose_code"].tolist() == ["0.5", "1"]
    assert labels["smoker"] == {0: "No", 1: "Yes"}
    assert labels["sym___1"] == {0: "Unchecked", 1: "Checked"}
    assert meta.column_names_to_labels["sym___2"] == "Symptoms: Fever"


def test_import_error_lists_every_problem() -> None:
    problems = [ImportProblem(f"record {i}", "bad answer") for i in range(70)]
    text = str(RedcapImportError(problems))
    assert text.count("bad answer") == 70
    assert "more" not in text


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_bad_input_gets_a_message_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    d = SAMPLES / "clinical-trial-1"
    dd = str(d / "dictionary.csv")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("record_id,name\n1,Jos\xe9\n".encode("latin-1"))
    not_redcap = tmp_path / "sales.csv"
    not_redcap.write_text("region,amount\nnorth,10\n", encoding="utf-8")
    folder = tmp_path / "folder"
    folder.mkdir()
    out = tmp_path / "out"
    cases = [
        (["--records", str(folder), "--dictionary", dd], "is a folder"),
        (["--records", str(latin1), "--dictionary", dd], "not UTF-8"),
        (["--records", str(not_redcap), "--dictionary", dd], "no record id column"),
        (["--records", str(d / "data.csv"), "--dictionary", str(not_redcap)], "lacks"),
        (["--records", str(d / "data.csv"), "--dictionary", str(folder)], "is a folder"),
    ]
    for args, message in cases:
        code, output = _run("redcap", "export", *args, "--to", "stata", "--out", str(out))
        assert code == 2, (args, output)
        assert message in " ".join(output.split()) and "Traceback" not in output
        assert not out.exists()
        code, output = _run("redcap", "inspect", *args)
        assert code == 2 and message in " ".join(output.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "latin1.csv", "sales.csv"]


def test_export_odm_into_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    code, output = _run(
        "export-odm", "--dataset", str(tmp_path / "no-dataset"), "--out",
        str(tmp_path / "missing" / "dir" / "study.xml"),
    )  # fmt: skip
    assert code == 2 and "Traceback" not in output
    assert list(tmp_path.iterdir()) == []


def test_key_columns_have_variable_labels() -> None:
    d = SAMPLES / "dag"
    project = read_project(records=d / "data.csv", dictionary=d / "dictionary.csv")
    labels = project.labelled_table("demographics").variable_labels
    assert labels["redcap_data_access_group"] == "REDCap data access group"
    d = SAMPLES / "longitudinal"
    project = read_project(
        records=d / "data.csv", dictionary=d / "dictionary.csv", events=d / "event.csv"
    )
    labels = project.labelled_table("demographics").variable_labels
    assert labels["redcap_event_name"] == "REDCap event (unique event name)"
    assert labels["redcap_arm"] == "REDCap arm number"


def test_import_redcap_with_a_folder_for_records_is_a_clear_error(tmp_path: Path) -> None:
    d = SAMPLES / "clinical-trial-1"
    code, output = _run(
        "import-redcap", "--dictionary", str(d / "dictionary.csv"), "--records", str(tmp_path),
        "--mapping", "mrocc-redcap", "--protocol", "mrocc-2025", "--out", str(tmp_path / "ds"),
    )  # fmt: skip
    assert code == 2 and "is a folder" in " ".join(output.split())
    assert "Traceback" not in output and not (tmp_path / "ds").exists()
