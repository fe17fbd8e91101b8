"""Item 3 of issue 14: a project XML alone, label exports, missing-data codes, and the
delimiter, decimal mark and date order of an export."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mindtrial.cli.main import app
from mindtrial.interop.redcap import read_dictionary, read_project

SAMPLES = Path(__file__).resolve().parent / "data"
runner = CliRunner()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize(
    ("name", "rows"),
    # record x event x instance rows: count the SubjectData / FormData in each project.xml
    [("clinical-trial-1", 500), ("dag", 3), ("repeating-instruments", 6), ("longitudinal", 18)],
)
def test_a_project_xml_alone_gives_metadata_and_records(name: str, rows: int) -> None:
    d = SAMPLES / name
    alone = read_project(project_xml=d / "project.xml")
    with_csv = read_project(records=d / "data.csv", project_xml=d / "project.xml")
    assert len(alone.raw) == rows
    assert alone.records == with_csv.records
    assert set(alone.tables) == set(with_csv.tables)
    for table in alone.tables.values():
        assert not table.columns.duplicated().any()


def test_project_xml_alone_keeps_repeat_instances_and_dags() -> None:
    d = SAMPLES / "repeating-instruments"
    project = read_project(project_xml=d / "project.xml")
    # project.xml: record 1 has bp instances 1-3 (FormRepeatKey), record 2 bp 1
    bp = project.table("bp")
    assert bp["redcap_repeat_instance"].tolist() == [1, 2, 3, 1]
    assert bp["bp_systolic"].tolist()[:2] == [110, 111]
    dag = read_project(project_xml=SAMPLES / "dag" / "project.xml")
    # project.xml: 331-1 and 331-2 in daga, 332-3 in dagb
    assert dag.raw["redcap_data_access_group"].tolist() == ["daga", "daga", "dagb"]


def test_a_project_xml_without_data_and_without_records_is_refused(tmp_path: Path) -> None:
    text = (SAMPLES / "dag" / "project.xml").read_text(encoding="utf-8")
    start, end = text.index("<ClinicalData"), text.index("</ClinicalData>") + len("</ClinicalData>")
    meta_only = tmp_path / "meta.xml"
    meta_only.write_text(text[:start] + text[end:], encoding="utf-8")
    result = runner.invoke(app, ["redcap", "inspect", "--project-xml", str(meta_only)])
    assert result.exit_code == 2 and "holds no records" in " ".join(result.output.split())


def _label_export(d: Path, out: Path, *, label_header: bool) -> None:
    """A label export written from the raw one with the dictionary, independently of the
    reader: choice labels, Checked/Unchecked, Complete/Incomplete/Unverified, event labels."""
    dd = read_dictionary(d / "dictionary.csv")
    labels = {f.name: {c.code: c.label for c in f.choices} for f in dd.fields if f.choices}
    checkbox = {f.name for f in dd.fields if f.field_type == "checkbox"}
    yesno = {f.name for f in dd.fields if f.field_type == "yesno"}
    arms = {r["arm_num"]: r["name"] for r in _rows(d / "arm.csv")}
    events = {
        r["unique_event_name"]: f"{r['event_name']} (Arm {r['arm_num']}: {arms[r['arm_num']]})"
        for r in _rows(d / "event.csv")
    }
    status = {"0": "Incomplete", "1": "Unverified", "2": "Complete"}
    rows = _rows(d / "data.csv")
    columns = list(rows[0])
    header = columns
    if label_header:
        by_name = dd.by_name
        header = []
        for col in columns:
            base = col.partition("___")[0]
            if col == "redcap_event_name":
                header.append("Event Name")
            elif col.endswith("_complete"):
                header.append("Complete?")
            elif base in by_name:
                header.append(by_name[base].label)
            else:
                header.append(col)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            cells = []
            for col in columns:
                value = row[col]
                base = col.partition("___")[0]
                if value == "":
                    cells.append("")
                elif col == "redcap_event_name":
                    cells.append(events[value])
                elif col.endswith("_complete"):
                    cells.append(status[value])
                elif base in checkbox:
                    cells.append({"1": "Checked", "0": "Unchecked"}[value])
                elif base in yesno:
                    cells.append({"1": "Yes", "0": "No"}[value])
                elif col in labels:
                    cells.append(labels[col][value])
                else:
                    cells.append(value)
            writer.writerow(cells)


@pytest.mark.parametrize("label_header", [False, True])
def test_a_label_export_reads_like_the_raw_export(tmp_path: Path, label_header: bool) -> None:
    d = SAMPLES / "longitudinal"
    export = tmp_path / "labels.csv"
    _label_export(d, export, label_header=label_header)
    files = {"dictionary": d / "dictionary.csv", "events": d / "event.csv", "arms": d / "arm.csv"}
    raw = read_project(records=d / "data.csv", **files)
    labelled = read_project(records=export, **files)
    assert any("label export" in n for n in labelled.notes)
    assert not labelled.problems
    for name, table in raw.tables.items():
        pd.testing.assert_frame_equal(labelled.tables[name], table)
    # raw exports are left alone
    assert not any("label export" in n for n in raw.notes)


def test_missing_codes_from_the_command_line(tmp_path: Path) -> None:
    d = SAMPLES / "clinical-trial-1"
    rows = _rows(d / "data.csv")
    rows[0]["height"] = "UNK"
    rows[1]["dob"] = "NASK"
    records = tmp_path / "data.csv"
    with records.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    args = ["redcap", "inspect", "--records", str(records), "--dictionary",
            str(d / "dictionary.csv"), "--json"]  # fmt: skip
    without = runner.invoke(app, args)
    assert without.exit_code == 0 and "not a number" in without.output
    result = runner.invoke(app, [*args, "--missing-codes", "UNK,NASK"])
    assert result.exit_code == 0, result.output
    assert '"problems": []' in result.output
    assert "2 value(s) were REDCap missing-data codes" in result.output


def test_semicolon_delimiter_and_decimal_comma_are_detected(tmp_path: Path) -> None:
    d = SAMPLES / "clinical-trial-1"
    rows = _rows(d / "data.csv")[:3]
    records = tmp_path / "data.csv"
    with records.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=";")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "height": row["height"].replace(".", ",")})
    project = read_project(records=records, dictionary=d / "dictionary.csv")
    # data.csv rows 1-3 heights, read with the csv module
    assert project.data["height"].tolist() == [float(r["height"]) for r in rows]
    assert any("decimal comma" in n for n in project.notes)
    declared = read_project(records=records, dictionary=d / "dictionary.csv", decimal=".")
    # declared ".": "176,1" and "173,7" are not numbers; "170" (row 3) is
    assert [p.value for p in declared.problems] == ["176,1", "173,7"]
    assert declared.data["height"].iloc[2] == 170


def test_a_declared_date_order(tmp_path: Path) -> None:
    d = SAMPLES / "clinical-trial-1"
    rows = _rows(d / "data.csv")[:2]
    records = tmp_path / "data.csv"
    with records.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            y, m, day = row["dob"].split("-")
            writer.writerow({**row, "dob": f"{day}/{m}/{y}"})
    project = read_project(records=records, dictionary=d / "dictionary.csv", date_order="dmy")
    assert project.data["dob"].tolist() == [pd.Timestamp(r["dob"]) for r in rows]
    # the dictionary says date_ymd: without the declaration D/M/Y is not a date
    plain = read_project(records=records, dictionary=d / "dictionary.csv")
    assert plain.data["dob"].isna().all()
