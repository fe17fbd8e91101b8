"""The interop commands end to end: protocol -> REDCap project -> records -> import, and
study dataset -> ODM -> study dataset, each through the `mindtrial` command."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mindtrial.cli.main import app
from mindtrial.dataset import read_dataset, write_dataset
from mindtrial.dataset.schema import CSV_FILES
from mindtrial.simulate import simulate_trial

runner = CliRunner()

# REDCap's data dictionary header, as REDCap writes it (18 columns).
REDCAP_HEADER = [
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
]


@pytest.fixture(scope="module")
def small_trial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trial") / "dataset"
    write_dataset(simulate_trial("mrocc-2025", n=24, seed=11), folder)
    return folder


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_redcap_round_trip_through_the_cli(small_trial: Path, tmp_path: Path) -> None:
    design = tmp_path / "redcap"
    _ok(["export-redcap", "design", "--protocol", "mrocc-2025", "--out", str(design)])
    with (design / "dictionary.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == REDCAP_HEADER
    # every PROMIS anxiety item and every craving item becomes a REDCap field
    fields = " ".join(row[0].lower() for row in rows[1:])
    for item in ("edanx01", "edanx54", "ocs_1", "ocs_3"):
        assert item in fields, item
    records = tmp_path / "records.csv"
    _ok(["export-redcap", "records", "--dataset", str(small_trial), "--out", str(records)])
    back = tmp_path / "back"
    _ok(
        [
            "import-redcap",
            "--dictionary", str(design / "dictionary.csv"),
            "--records", str(records),
            "--events", str(design / "event.csv"),
            "--mapping", str(design / "mapping.yaml"),
            "--protocol", "mrocc-2025",
            "--out", str(back),
        ]
    )  # fmt: skip
    original, imported = read_dataset(small_trial), read_dataset(back)
    assert imported.meta.protocol_id == original.meta.protocol_id
    for name in CSV_FILES:
        want, got = original.table(name), imported.table(name)
        assert list(got.columns) == list(want.columns), name
        key = list(want.columns)
        pd.testing.assert_frame_equal(
            got.sort_values(key).reset_index(drop=True),
            want.sort_values(key).reset_index(drop=True),
            obj=name,
        )


def test_odm_round_trip_through_the_cli(small_trial: Path, tmp_path: Path) -> None:
    odm = tmp_path / "study.xml"
    _ok(["export-odm", "--dataset", str(small_trial), "--out", str(odm)])
    text = odm.read_text(encoding="utf-8")
    assert 'ODMVersion="1.3.2"' in text
    back = tmp_path / "back"
    _ok(["import-odm", "--odm", str(odm), "--out", str(back)])
    assert read_dataset(back).equals(read_dataset(small_trial))


def test_odm_import_of_a_non_odm_file_fails_cleanly(tmp_path: Path) -> None:
    bogus = tmp_path / "not.xml"
    bogus.write_text("<html><body>hello</body></html>", encoding="utf-8")
    result = runner.invoke(app, ["import-odm", "--odm", str(bogus), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists()
