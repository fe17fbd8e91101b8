"""Mapping files and `mindtrial import-redcap` on a hand-written REDCap project.

The project below names things its own way (``ocs_q1``, events ``week_3_arm_1``, a repeating
craving instrument whose instance is the week, arm codes 1/2, site from the DAG); the expected
study dataset rows are written out by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mindtrial.cli.main import app
from mindtrial.dataset import read_dataset
from mindtrial.interop.redcap import read_project
from mindtrial.interop.redcap_mapping import (
    MappingError,
    RedcapImportError,
    import_redcap,
    parse_mapping,
)
from mindtrial.protocols import load_protocol

runner = CliRunner()

HEADER = (
    '"Variable / Field Name","Form Name","Section Header","Field Type","Field Label",'
    '"Choices, Calculations, OR Slider Labels","Field Note",'
    '"Text Validation Type OR Show Slider Number","Text Validation Min","Text Validation Max",'
    '"Identifier?","Branching Logic (Show field only if...)","Required Field?",'
    '"Custom Alignment","Question Number (surveys only)","Matrix Group Name",'
    '"Matrix Ranking?","Field Annotation"\n'
)
DICTIONARY = (
    HEADER
    + "\n".join(
        [
            "pid,enrol,,text,ID,,,,,,,,,,,,,",
            'group,enrol,,radio,Group,"1, Mindfulness | 2, Support",,,,,,,,,,,,',
            "rand_date,enrol,,text,Randomized,,,date_mdy,,,,,,,,,,",
            "ocs_q1,craving,,text,Q1,,,integer,0,10,,,,,,,,",
            "ocs_q2,craving,,text,Q2,,,integer,0,10,,,,,,,,",
            "used_opioids,weekly,,yesno,Opioids,,,,,,,,,,,,,",
        ]
    )
    + "\n"
)
RECORDS = (
    "pid,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,"
    "redcap_data_access_group,group,rand_date,ocs_q1,ocs_q2,used_opioids\n"
    "0042,enrolment_arm_1,,,boston,2,03/15/2021,,,\n"
    "0042,enrolment_arm_1,craving,1,boston,,,7,2,\n"
    "0042,enrolment_arm_1,craving,4,boston,,,5,,\n"
    "0042,week_3_arm_1,,,boston,,,,,1\n"
    "0099,enrolment_arm_1,,,,1,03/16/2021,,,\n"
)
EVENTS = (
    "event_name,arm_num,unique_event_name\nEnrolment,1,enrolment_arm_1\nWeek 3,1,week_3_arm_1\n"
)
MAPPING = """
protocol: mrocc-2025
weeks:
  events: {enrolment_arm_1: 0}
  pattern: '^week_(?P<week>\\d+)_arm_1$'
participants:
  columns:
    arm: {field: group, recode: {"1": mrocc, "2": recovery_support}}
    site: "@dag"
    randomized_on: rand_date
instruments:
  - instrument: ocs
    form: craving
    week: {source: repeat_instance, offset: -1}
    items: {ocs_1: ocs_q1, ocs_2: ocs_q2}
  - instrument: substance_use_7d
    items: {opioids: used_opioids}
"""


def _files(tmp_path: Path, records: str = RECORDS, mapping: str = MAPPING) -> dict[str, Path]:
    paths = {
        "dictionary": tmp_path / "dd.csv",
        "records": tmp_path / "data.csv",
        "events": tmp_path / "event.csv",
        "mapping": tmp_path / "map.yaml",
    }
    paths["dictionary"].write_text(DICTIONARY, encoding="utf-8")
    paths["records"].write_text(records, encoding="utf-8")
    paths["events"].write_text(EVENTS, encoding="utf-8")
    paths["mapping"].write_text(mapping, encoding="utf-8")
    return paths


def test_hand_written_project_maps_to_the_expected_rows(tmp_path: Path) -> None:
    f = _files(tmp_path)
    project = read_project(records=f["records"], dictionary=f["dictionary"], events=f["events"])
    mapping = parse_mapping(MAPPING, source="map.yaml")
    ds = import_redcap(project, mapping, protocol=load_protocol("mrocc-2025")).dataset
    part = ds.participants
    assert part["participant_id"].tolist() == ["0042", "0099"]  # leading zeros kept
    assert part["arm"].tolist() == ["recovery_support", "mrocc"]
    assert part["site"].tolist()[0] == "boston" and part["site"].isna().tolist()[1]
    assert [d.date().isoformat() for d in part["randomized_on"]] == ["2021-03-15", "2021-03-16"]
    rows = [tuple(r) for r in ds.responses.itertuples(index=False)]
    # instance 1 -> week 0, instance 4 -> week 3; week_3_arm_1 -> week 3
    assert rows == [
        ("0042", 0, "ocs", "ocs_1", 7.0),
        ("0042", 0, "ocs", "ocs_2", 2.0),
        ("0042", 3, "substance_use_7d", "opioids", 1.0),
        ("0042", 3, "ocs", "ocs_1", 5.0),
    ] or sorted(rows) == sorted(
        [
            ("0042", 0, "ocs", "ocs_1", 7.0),
            ("0042", 0, "ocs", "ocs_2", 2.0),
            ("0042", 3, "substance_use_7d", "opioids", 1.0),
            ("0042", 3, "ocs", "ocs_1", 5.0),
        ]
    )
    assert ds.meta.source == "redcap" and ds.meta.protocol_id == "mrocc-2025"


def test_every_problem_is_listed_and_nothing_is_written(tmp_path: Path) -> None:
    records = RECORDS.replace(
        "0042,enrolment_arm_1,craving,1,boston,,,7,2,",
        "0042,enrolment_arm_1,craving,1,boston,,,11,2,",
    )
    records = records.replace("0099,enrolment_arm_1,,,,1,", "0099,enrolment_arm_1,,,,3,")
    records += "0042,week_5_arm_2,,,boston,,,,,0\n"
    f = _files(tmp_path, records=records)
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["import-redcap", "--dictionary", str(f["dictionary"]), "--records", str(f["records"]),
         "--events", str(f["events"]), "--mapping", str(f["mapping"]),
         "--protocol", "mrocc-2025", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "nothing was written" in text
    assert (
        "record '0042', event enrolment_arm_1, instrument craving, instance 1, field 'ocs_q1'"
        in text
    )
    assert "11" in text
    assert "field 'group': value '3': not one of the field's codes (1, 2)" in text
    assert "week_5_arm_2" in text
    assert not out.exists()


def test_cli_writes_the_dataset(tmp_path: Path) -> None:
    f = _files(tmp_path)
    out = tmp_path / "ds"
    result = runner.invoke(
        app,
        ["import-redcap", "--dictionary", str(f["dictionary"]), "--records", str(f["records"]),
         "--events", str(f["events"]), "--mapping", str(f["mapping"]),
         "--protocol", "mrocc-2025", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    ds = read_dataset(out)
    assert len(ds.participants) == 2 and len(ds.responses) == 4


def test_mapping_errors_name_the_path() -> None:
    bad = """
participants:
  columns:
    site: "@dag"
instruments:
  - instrument: ocs
    week: {source: field}
    items: {ocs_1: {field: a, record_id: true}}
weeks: {pattern: 'week_(\\d+)'}
"""
    with pytest.raises(MappingError) as err:
        parse_mapping(bad, source="m.yaml")
    text = str(err.value)
    assert text.startswith("m.yaml: invalid REDCap mapping")
    assert "participants: Value error, columns needs arm" in text
    assert "instruments[0].week: Value error, field is needed with source: field" in text
    assert "instruments[0].items.ocs_1: Value error, give exactly one of field" in text
    assert "weeks: Value error, pattern needs a group named week" in text


def test_mapping_checked_against_protocol_and_project(tmp_path: Path) -> None:
    f = _files(tmp_path)
    project = read_project(records=f["records"], dictionary=f["dictionary"], events=f["events"])
    mapping = parse_mapping(
        MAPPING.replace("ocs_2: ocs_q2", "ocs_9: ocs_q2").replace(
            "opioids: used_opioids", "opioids: nope"
        ),
        source="m",
    )
    with pytest.raises(RedcapImportError) as err:
        import_redcap(project, mapping, protocol=load_protocol("mrocc-2025"))
    text = str(err.value)
    assert "mapping instruments[0].items.ocs_9: ocs has no item 'ocs_9'" in text
    assert "mapping instruments[1].items.opioids: 'nope' is not a field of the project" in text


def test_value_and_dataset_problems_are_listed_together(tmp_path: Path) -> None:
    """Issue 14: dataset-level problems used to appear only once the value problems were
    fixed. Here an out-of-range answer (a value problem), a participant without a
    randomization date and a repeated answer (both found by the study-dataset validation)."""
    records = RECORDS.replace(
        "0042,enrolment_arm_1,craving,1,boston,,,7,2,",
        "0042,enrolment_arm_1,craving,1,boston,,,11,2,",
    )
    records = records.replace("0099,enrolment_arm_1,,,,1,03/16/2021", "0099,enrolment_arm_1,,,,1,")
    records += "0042,enrolment_arm_1,craving,4,boston,,,6,,\n"
    f = _files(tmp_path, records=records)
    project = read_project(records=f["records"], dictionary=f["dictionary"], events=f["events"])
    with pytest.raises(RedcapImportError) as caught:
        import_redcap(
            project, parse_mapping(MAPPING, source="map.yaml"), protocol=load_protocol("mrocc-2025")
        )
    text = str(caught.value)
    assert "'11' is out of range" in text
    assert "record '0099': participants.csv (randomized_on): value is missing" in text
    assert "duplicate answer" in text
