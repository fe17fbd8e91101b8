"""Every kind of bad dataset gets a clear, row-numbered problem (header = row 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dataset_factory import PARTICIPANT_HEADER, write_folder

from mindtrial.dataset import DatasetError, Problem, read_dataset
from mindtrial.instruments.scoring import ScoringError, validate_answer
from mindtrial.protocols import load_protocol

RESP = "participant_id,week,instrument,item,value\n"
TOX = "participant_id,week,analyte,result\n"
ATT = "participant_id,week,attended\n"
AE = "participant_id,onset_week,severity,serious,related,expected\n"
SCR = "referral_id,participant_id,referred_on,stage,exclusion_reason\n"
P1 = "007,mrocc,virtual,c01,2021-01-21,,,16,1,<10k,female,41\n"


def answer_error(instrument: str, item: str, value: str) -> str:
    """The instruments module's own message for a bad answer (the dataset reuses it)."""
    with pytest.raises(ScoringError) as caught:
        validate_answer(instrument, item, value)
    return str(caught.value)


def test_answer_messages_name_item_value_and_range() -> None:
    message = answer_error("promis_anxiety_8a", "EDANX01", "6")
    assert "EDANX01" in message and "'6'" in message and "1 to 5" in message
    message = answer_error("adverse_event", "severity", "grave")
    assert "'grave'" in message and "mild, moderate, severe" in message


def problems_of(
    tmp_path: Path, files: dict[str, str]
) -> list[tuple[str, int | None, str | None, str]]:
    folder = write_folder(tmp_path / "ds", files)
    with pytest.raises(DatasetError) as caught:
        read_dataset(folder)
    return [(p.file, p.row, p.column, p.message) for p in caught.value.problems]


CASES: dict[str, tuple[dict[str, str], list[tuple[str, int | None, str | None, str]]]] = {
    "missing file": (
        {"toxicology.csv": ""},
        [("toxicology.csv", None, None, "file is missing")],
    ),
    "missing and unknown column": (
        {"attendance.csv": "participant_id,week,present\n007,1,1\n"},
        [
            ("attendance.csv", 1, "attended", "missing column"),
            (
                "attendance.csv",
                1,
                "present",
                "unknown column; expected the columns participant_id, week, attended",
            ),
        ],
    ),
    "unknown participant": (
        {"attendance.csv": ATT + "007,1,1\n999,1,1\n"},
        [
            (
                "attendance.csv",
                3,
                "participant_id",
                "unknown participant '999' (not in participants.csv)",
            )
        ],
    ),
    "unknown arm": (
        {
            "participants.csv": PARTICIPANT_HEADER
            + "\n"
            + P1
            + "012,mindfulness,,,2021-01-21,,,,,,,\n"
        },
        [
            (
                "participants.csv",
                3,
                "arm",
                "unknown arm 'mindfulness'; expected one of mrocc, recovery_support",
            )
        ],
    ),
    "duplicate participant ids": (
        {"participants.csv": PARTICIPANT_HEADER + "\n" + P1 + P1.replace("16,", "8,")},
        [
            (
                "participants.csv",
                3,
                None,
                "duplicate participant id (participant_id=007); first given in row 2",
            )
        ],
    ),
    "week out of range": (
        {"responses.csv": RESP + "007,25,ocs,ocs_1,3\n", "attendance.csv": ATT + "007,0,1\n"},
        [
            ("responses.csv", 2, "week", "week 25 is outside the study weeks 0..24"),
            ("attendance.csv", 2, "week", "week 0 is outside the session weeks 1..24"),
        ],
    ),
    "unknown instrument and item": (
        {"responses.csv": RESP + "007,1,gad7,gad_1,2\n007,1,ocs,ocs_4,2\n007,1,phq9,phq9_1,1\n"},
        [
            ("responses.csv", 2, "instrument", "unknown instrument 'gad7'"),
            (
                "responses.csv",
                3,
                "item",
                "instrument 'ocs' has no item 'ocs_4'; items: ocs_1, ocs_2, ocs_3",
            ),
            (
                "responses.csv",
                4,
                "instrument",
                "instrument 'phq9' is not in the assessments of protocol mrocc-2025 "
                "(substance_use_7d, ocs, promis_anxiety_8a, home_practice, adverse_event)",
            ),
        ],
    ),
    "value outside the item's range": (
        {
            "responses.csv": RESP
            + "007,0,promis_anxiety_8a,EDANX01,6\n007,1,substance_use_7d,opioids,2\n"
        },
        [
            ("responses.csv", 2, "value", answer_error("promis_anxiety_8a", "EDANX01", "6")),
            ("responses.csv", 3, "value", answer_error("substance_use_7d", "opioids", "2")),
        ],
    ),
    "answers that are not numbers": (
        {
            "responses.csv": RESP
            + "007,1,substance_use_7d,opioids,yes\n007,8,adverse_event,severity,1\n"
        },
        [
            ("responses.csv", 2, "value", "'yes' is not a number"),
            (
                "responses.csv",
                3,
                "item",
                "adverse_event.severity is a choice item; responses.csv holds only numeric and "
                "yes/no answers (adverse events go to adverse_events.csv)",
            ),
        ],
    ),
    "duplicate answer": (
        {"responses.csv": RESP + "007,3,ocs,ocs_1,3\n007,3,ocs,ocs_2,3\n007,3,ocs,ocs_1,4\n"},
        [
            (
                "responses.csv",
                4,
                None,
                "duplicate answer (participant_id=007, week=3, instrument=ocs, item=ocs_1); "
                "first given in row 2",
            )
        ],
    ),
    "bad result and analyte not in panel": (
        {
            "toxicology.csv": TOX
            + "007,2,fentanyl,pos\n007,2,ketamine,negative\n007,2,fentanyl,negative\n"
        },
        [
            ("toxicology.csv", 2, "result", "'pos' is not one of positive, negative, invalid"),
            (
                "toxicology.csv",
                3,
                "analyte",
                "analyte 'ketamine' is not in the protocol's panel: opiates, oxycodone, fentanyl, "
                "methadone, buprenorphine, benzodiazepines, cocaine, amphetamine, methamphetamine, "
                "thc, mdma, barbiturates, pcp, tramadol",
            ),
            # Row 2's result was unreadable, but it is still a second fentanyl result.
            (
                "toxicology.csv",
                4,
                None,
                "duplicate result (participant_id=007, week=2, analyte=fentanyl); first given in row 2",
            ),
        ],
    ),
    "duplicate toxicology result": (
        {"toxicology.csv": TOX + "007,2,fentanyl,negative\n007,2,fentanyl,positive\n"},
        [
            (
                "toxicology.csv",
                3,
                None,
                "duplicate result (participant_id=007, week=2, analyte=fentanyl); first given in row 2",
            )
        ],
    ),
    "cell types": (
        {
            "participants.csv": PARTICIPANT_HEADER
            + "\n"
            + P1
            + "012,mrocc,,,21/01/2021,x,,lots,maybe,rich,,\n",
            "attendance.csv": ATT + "007,1.5,1\n007,2\n",
        },
        [
            (
                "participants.csv",
                3,
                "randomized_on",
                "'21/01/2021' is not a date; expected YYYY-MM-DD",
            ),
            ("participants.csv", 3, "withdrawn_week", "'x' is not a whole number"),
            ("participants.csv", 3, "bup_dose_mg", "'lots' is not a number"),
            (
                "participants.csv",
                3,
                "cocaine_use_baseline",
                "'maybe' is not a yes/no value; expected 1 or 0",
            ),
            ("participants.csv", 3, "income_category", "'rich' is not one of <10k, 10k-30k, >30k"),
            ("attendance.csv", 2, "week", "'1.5' is not a whole number"),
            ("attendance.csv", 3, None, "expected 3 fields, found 2"),
        ],
    ),
    "covariate outside its range and missing required value": (
        {"participants.csv": PARTICIPANT_HEADER + "\n" + P1 + "012,,,,2021-01-21,,,80,,,,17\n"},
        [
            ("participants.csv", 3, "arm", "value is missing"),
            ("participants.csv", 3, "bup_dose_mg", "80 is outside the covariate's range 0..64"),
            ("participants.csv", 3, "age", "17 is outside the covariate's range 18..70"),
        ],
    ),
    "adverse event codes": (
        {
            "adverse_events.csv": AE.strip() + ",relatedness\n"
            "007,3,grave,0,0,1,\n007,4,mild,0,0,1,probably\n"
        },
        [
            (
                "adverse_events.csv",
                2,
                "severity",
                answer_error("adverse_event", "severity", "grave"),
            ),
            (
                "adverse_events.csv",
                3,
                "related",
                "related is 0 but relatedness is 'probably' (related means relatedness is one "
                "of definitely, possibly, probably)",
            ),
        ],
    ),
    "screening": (
        {
            "screening.csv": SCR + "R1,007,2021-01-01,randomized,\nR2,,2021-01-02,randomized,\n"
            "R3,012,2021-01-03,consented,\nR1,,2021-01-04,enrolled,\n"
        },
        [
            ("screening.csv", 3, "participant_id", "a randomized referral needs a participant id"),
            (
                "screening.csv",
                4,
                "stage",
                "participant '012' is in participants.csv (randomized) but the stage is 'consented'",
            ),
            (
                "screening.csv",
                5,
                "stage",
                "'enrolled' is not one of referred, screened, eligible, consented, baseline, randomized",
            ),
            (
                "screening.csv",
                5,
                None,
                "duplicate referral id (referral_id=R1); first given in row 2",
            ),
        ],
    ),
    "study.json problems": (
        {
            "study.json": '{"format": "mindtrial-study-dataset", "format_version": 1, '
            '"protocol_id": "mrocc-2025", "exported_at": "2026-11-22T12:00:00", "colour": "red"}'
        },
        [
            (
                "study.json",
                None,
                "colour",
                "unknown key; expected format, format_version, protocol_id, protocol_version, exported_at, arms_masked, source",
            ),
            ("study.json", None, "protocol_version", "missing key"),
            (
                "study.json",
                None,
                "exported_at",
                "'2026-11-22T12:00:00' has no time zone offset (write e.g. +00:00)",
            ),
        ],
    ),
    "protocol version mismatch": (
        {
            "study.json": '{"format": "mindtrial-study-dataset", "format_version": 1, '
            '"protocol_id": "mrocc-2025", "protocol_version": "0.9", '
            '"exported_at": "2026-11-22T12:00:00+00:00"}'
        },
        [
            (
                "study.json",
                None,
                "protocol_version",
                "dataset was made under version '0.9' of mrocc-2025; the protocol given is version '1.0'",
            )
        ],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_problem_messages(tmp_path: Path, case: str) -> None:
    files, expected = CASES[case]
    assert problems_of(tmp_path, files) == expected


def test_every_problem_is_collected_across_files(tmp_path: Path) -> None:
    # Problems in three files at once: all are reported, in file order then row order,
    # and the error message lists each with its file, row and column.
    folder = write_folder(
        tmp_path / "ds",
        {
            "responses.csv": RESP + "007,0,ocs,ocs_1,11\n",
            "toxicology.csv": TOX + "008,2,fentanyl,negative\n",
            "screening.csv": "",
        },
    )
    with pytest.raises(DatasetError) as caught:
        read_dataset(folder)
    assert str(caught.value) == (
        f"3 problems in study dataset {folder}:\n"
        f"  - responses.csv, row 2, column 'value': {answer_error('ocs', 'ocs_1', '11')}\n"
        "  - toxicology.csv, row 2, column 'participant_id': unknown participant '008' "
        "(not in participants.csv)\n"
        "  - screening.csv: file is missing"
    )


def test_not_a_folder_and_unknown_protocol(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a folder"):
        read_dataset(tmp_path / "nowhere")
    folder = write_folder(
        tmp_path / "ds",
        {
            "study.json": '{"format": "mindtrial-study-dataset", "format_version": 1, '
            '"protocol_id": "no-such-trial", "protocol_version": "1", '
            '"exported_at": "2026-11-22T12:00:00+00:00"}'
        },
    )
    with pytest.raises(DatasetError) as caught:
        read_dataset(folder)
    (problem,) = caught.value.problems
    assert (problem.file, problem.column) == ("study.json", "protocol_id")
    assert "unknown protocol; shipped: more-ltot-2022, more-mmt-2024, mrocc-2025" in problem.message


def test_problem_str() -> None:
    assert (
        str(Problem("responses.csv", 7, "value", "bad"))
        == "responses.csv, row 7, column 'value': bad"
    )
    assert str(Problem("study.json", None, None, "bad")) == "study.json: bad"


MASKED_STUDY = (
    '{"format": "mindtrial-study-dataset", "format_version": 1, "protocol_id": "mrocc-2025",'
    ' "protocol_version": "1.0", "exported_at": "2026-11-22T12:00:00Z", "arms_masked": true}'
)

MORE_CASES: dict[str, tuple[dict[str, str], list[tuple[str, int | None, str | None, str]]]] = {
    "empty file": (
        {"attendance.csv": "\n"},
        [("attendance.csv", None, None, "file is empty; expected a header row")],
    ),
    "newer format version": (
        {
            "study.json": '{"format": "mindtrial-study-dataset", "format_version": 3, '
            '"protocol_id": "mrocc-2025", "protocol_version": "1.0", '
            '"exported_at": "2026-11-22T12:00:00+00:00"}'
        },
        [
            (
                "study.json",
                None,
                "format_version",
                "this MindTrial reads format versions 1 and 2, found 3",
            )
        ],
    ),
    "more masked codes than arms": (
        {
            "study.json": MASKED_STUDY,
            "participants.csv": PARTICIPANT_HEADER + "\n007,A,,,2021-01-21,,,,,,,\n"
            "012,B,,,2021-01-21,,,,,,,\n013,C,,,2021-01-21,,,,,,,\n",
        },
        [
            (
                "participants.csv",
                None,
                "arm",
                "3 different masked arm codes (A, B, C) but the protocol has 2 arms",
            )
        ],
    ),
    "withdrawn week and duplicate adverse event id": (
        {
            "participants.csv": PARTICIPANT_HEADER
            + "\n"
            + P1
            + "012,mrocc,,,2021-01-21,30,,,,,,\n",
            "adverse_events.csv": AE.strip()
            + ",ae_id\n007,3,mild,0,0,1,AE1\n007,4,mild,0,0,1,AE1\n",
        },
        [
            ("participants.csv", 3, "withdrawn_week", "week 30 is outside the study weeks 0..24"),
            (
                "adverse_events.csv",
                3,
                None,
                "duplicate adverse event id (ae_id=AE1); first given in row 2",
            ),
        ],
    ),
}


@pytest.mark.parametrize("case", list(MORE_CASES))
def test_more_problem_messages(tmp_path: Path, case: str) -> None:
    files, expected = MORE_CASES[case]
    assert problems_of(tmp_path, files) == expected


def test_broken_json_and_non_utf8(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "ds", {"study.json": "{oops"})
    (folder / "responses.csv").write_bytes(
        b"participant_id,week,instrument,item,value\n\xff\xfe,1\n"
    )
    with pytest.raises(DatasetError) as caught:
        read_dataset(folder)
    first, second = caught.value.problems
    assert (first.file, first.row, first.column) == ("study.json", None, None)
    assert first.message.startswith("not valid JSON: Expecting property name")
    assert (second.file, second.row) == ("responses.csv", None)
    assert second.message.startswith("not UTF-8 text (invalid start byte at byte 42)")


def test_follow_up_months_extend_the_week_range(tmp_path: Path) -> None:
    # more-ltot-2022: 8 session weeks and follow-up at 3, 6, 9 months -> weeks 13, 26, 39;
    # so week 39 is allowed and week 40 is not.
    study = (
        '{"format": "mindtrial-study-dataset", "format_version": 1, "protocol_id": '
        '"more-ltot-2022", "protocol_version": "1.0", "exported_at": "2026-11-22T12:00:00Z"}'
    )
    protocol = load_protocol("more-ltot-2022")
    header = ",".join(
        [
            "participant_id",
            "arm",
            "site",
            "cohort",
            "randomized_on",
            "withdrawn_week",
            "withdrawal_reason",
        ]
        + [c.name for c in protocol.baseline_covariates]
    )
    blanks = "," * len(protocol.baseline_covariates)
    files = {
        "study.json": study.replace('"1.0"', f'"{protocol.version}"'),
        "participants.csv": f"{header}\nM1,more,,,2016-01-05,,{blanks}\n",
        "responses.csv": RESP + "M1,39,comm,comm_01,2\nM1,40,comm,comm_01,2\n",
        "attendance.csv": ATT + "M1,8,1\nM1,9,1\n",
    }
    assert problems_of(tmp_path, files) == [
        ("responses.csv", 3, "week", "week 40 is outside the study weeks 0..39"),
        ("attendance.csv", 3, "week", "week 9 is outside the session weeks 1..8"),
    ]
