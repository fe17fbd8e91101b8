"""`mindtrial redcap inspect`, run in-process."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from mindtrial.cli.main import app
from mindtrial.interop.redcap import read_project

SAMPLES = Path(__file__).resolve().parent / "data"
FIXTURES = Path(__file__).resolve().parent / "redcap_fixtures"
runner = CliRunner()


def _inspect(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["redcap", "inspect", *args])
    return result.exit_code, result.output


def test_json_has_records_fields_and_problems() -> None:
    d = SAMPLES / "potentially-problematic-values"
    code, out = _inspect(
        "--dictionary", str(d / "dictionary.csv"), "--records", str(d / "data.csv"), "--json"
    )
    assert code == 0, out
    summary = json.loads(out)
    assert summary["records"] == 2
    assert summary["fields"] == {
        "record_id": "text",
        "time_1": "text",
        "date_before_validation": "date_ymd",
        "integer_before_validation": "integer",
    }
    assert len(summary["problems"]) == 4
    assert {
        "record": "2",
        "event": None,
        "instance": None,
        "field": "date_before_validation",
        "value": "before validation 2",
        "reason": "not a date (Y-M-D)",
        "severity": "error",
    } in summary["problems"]


def test_json_for_a_longitudinal_project_lists_events_and_arms() -> None:
    d = SAMPLES / "longitudinal"
    code, out = _inspect(
        "--dictionary",
        str(d / "dictionary.csv"),
        "--records",
        str(d / "data.csv"),
        "--events",
        str(d / "event.csv"),
        "--arms",
        str(d / "arm.csv"),
        "--project-xml",
        str(d / "project.xml"),
        "--json",
    )
    assert code == 0, out
    summary = json.loads(out)
    assert summary["records"] == 3
    assert [a["name"] for a in summary["arms"]] == ["Drug A", "Drug B"]
    assert len(summary["events"]) == 12
    assert summary["instruments"]["patient_morale_questionnaire"]["rows"] == 10
    assert summary["fields"]["gym"] == "checkbox"
    assert summary["problems"] == []


def test_tables_output_names_instruments_fields_and_problems() -> None:
    d = SAMPLES / "repeating-instruments"
    code, out = _inspect(
        "--dictionary", str(d / "dictionary.csv"), "--records", str(d / "data.csv")
    )
    assert code == 0, out
    assert "2 records" in out
    assert "bp_systolic" in out and "integer" in out
    assert "no problems found" in out


def test_project_xml_alone_is_enough() -> None:
    d = SAMPLES / "russian"
    code, out = _inspect(
        "--project-xml", str(d / "project.xml"), "--records", str(d / "data.csv"), "--json"
    )
    assert code == 0, out
    assert json.loads(out)["records"] == 3


def test_not_a_redcap_export_exits_2_with_a_message(tmp_path: Path) -> None:
    other = tmp_path / "sales.csv"
    other.write_text("region,amount\nnorth,10\n", encoding="utf-8")
    code, out = _inspect(
        "--dictionary", str(FIXTURES / "zeros" / "dictionary.csv"), "--records", str(other)
    )
    assert code == 2
    assert "no record id column" in out and "Traceback" not in out
    code, out = _inspect("--records", str(other))
    assert code == 2 and "--dictionary" in out


def test_problem_values_are_printed_verbatim(tmp_path: Path) -> None:
    records = tmp_path / "data.csv"
    records.write_text(
        "participant,site_zip,agree,dose_mg,intake_complete\n007,02139,1,[b]ten[/b],2\n",
        encoding="utf-8",
    )
    code, out = _inspect(
        "--dictionary", str(FIXTURES / "zeros" / "dictionary.csv"), "--records", str(records)
    )
    assert code == 0, out
    assert "[b]ten[/b]" in out and "not a whole number" in out


def _longitudinal_args() -> list[str]:
    d = SAMPLES / "longitudinal"
    return [
        "--dictionary",
        str(d / "dictionary.csv"),
        "--records",
        str(d / "data.csv"),
        "--events",
        str(d / "event.csv"),
    ]


def test_export_to_stata_is_all_or_nothing_and_keeps_redcap_codes(tmp_path: Path) -> None:
    out = tmp_path / "stata"
    result = runner.invoke(
        app, ["redcap", "export", *_longitudinal_args(), "--to", "stata", "--out", str(out)]
    )
    # patient_morale_questionnaire_complete has 37 characters: too long for Stata
    assert result.exit_code == 2
    assert "nothing written" in result.output and "--short-names" in result.output
    assert list(tmp_path.iterdir()) == []  # no folder, no staging left behind

    result = runner.invoke(
        app,
        [
            "redcap",
            "export",
            *_longitudinal_args(),
            "--to",
            "stata",
            "--out",
            str(out),
            "--short-names",
        ],
    )
    assert result.exit_code == 0, result.output
    with (out / "renamed.csv").open(encoding="utf-8", newline="") as handle:
        renamed = {row["redcap_name"]: row["file_name"] for row in csv.DictReader(handle)}
    short = renamed["patient_morale_questionnaire_complete"]
    assert len(short) <= 32
    pmq = pd.read_stata(out / "patient_morale_questionnaire.dta", convert_categoricals=False)
    assert len(pmq) == 10
    # the values are REDCap's codes (raw pmq1 of the rows with a pmq1, in file order)
    with (SAMPLES / "longitudinal" / "data.csv").open(encoding="utf-8", newline="") as handle:
        raw = [int(r["pmq1"]) for r in csv.DictReader(handle) if r["pmq1"] != ""]
    assert pmq["pmq1"].tolist() == raw
    labelled = pd.read_stata(out / "patient_morale_questionnaire.dta")
    assert labelled["pmq1"].astype(object).tolist()[0] == "6-15"  # record 100 dose 1: code 2
    assert set(labelled[short].astype(object)) <= {"Incomplete", "Unverified", "Complete"}
    assert (out / "problems.csv").read_text(encoding="utf-8").startswith("record,event")


def test_export_to_parquet_keeps_the_typed_tables(tmp_path: Path) -> None:
    out = tmp_path / "pq"
    result = runner.invoke(
        app, ["redcap", "export", *_longitudinal_args(), "--to", "parquet", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    d = SAMPLES / "longitudinal"
    project = read_project(
        dictionary=d / "dictionary.csv", records=d / "data.csv", events=d / "event.csv"
    )
    for name in project.tables:
        # date fields are written as dates (Parquet date32), the rest as typed
        pd.testing.assert_frame_equal(
            pd.read_parquet(out / f"{name}.parquet"), project.export_table(name)
        )
    dob = pd.read_parquet(out / "demographics.parquet")["dob"]
    assert dob.iloc[0] == dt.date(1983, 9, 23)  # data.csv row 1: 1983-09-23


def test_shorten_keeps_names_unique() -> None:
    from mindtrial.cli.redcap import shorten

    names = ["a" * 40, "a" * 33, "b", "c" * 32]
    assert shorten(names) == {"a" * 40: "a" * 32, "a" * 33: "a" * 30 + "_2"}
    # a value-labelled name leaves room for its column number (index 3 -> one digit)
    assert shorten(names, labelled=frozenset({"c" * 32})) == {
        "a" * 40: "a" * 32,
        "a" * 33: "a" * 30 + "_2",
        "c" * 32: "c" * 31,
    }


def test_inspect_shows_the_first_problems_and_writes_them_all(tmp_path: Path) -> None:
    # 120 records whose dose is not a whole number: 120 problems, 50 shown, all in the CSV
    records = tmp_path / "data.csv"
    lines = ["participant,site_zip,agree,dose_mg,intake_complete"]
    lines += [f"{i:03d},02139,1,dose{i},2" for i in range(120)]
    records.write_text("\n".join(lines) + "\n", encoding="utf-8")
    problems = tmp_path / "problems.csv"
    code, out = _inspect(
        "--dictionary",
        str(FIXTURES / "zeros" / "dictionary.csv"),
        "--records",
        str(records),
        "--problems-csv",
        str(problems),
    )
    assert code == 0, out
    assert "dose49" in out and "dose50" not in out
    assert f"and 70 more problem(s); all are in {problems}" in out.replace("\n", "")
    with problems.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["value"] for r in rows] == [f"dose{i}" for i in range(120)]
    assert {r["field"] for r in rows} == {"dose_mg"}
    code, out = _inspect(
        "--dictionary", str(FIXTURES / "zeros" / "dictionary.csv"), "--records", str(records)
    )
    assert code == 0 and "--problems-csv FILE writes them all" in out.replace("\n", "")
