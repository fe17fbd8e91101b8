"""`mindtrial analyze`, run in-process on a study dataset folder written by the factory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from trial_factory import make_trial
from typer.testing import CliRunner

from mindtrial.cli.main import app
from mindtrial.dataset import write_dataset
from mindtrial.protocols import load_protocol, load_protocol_file

runner = CliRunner()


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(make_trial(), tmp_path_factory.mktemp("data") / "trial")


@pytest.fixture(scope="module")
def quick_protocol(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """M-ROCC as a protocol file whose imputation analysis covers the primary outcome only."""
    mrocc = load_protocol("mrocc-2025")
    data = mrocc.model_dump(mode="json", exclude_none=True)
    sensitivity = data["analysis"]["sensitivity"]
    data["analysis"]["sensitivity"] = [
        {**s, "applies_to": ["primary"]} for s in sensitivity if s["kind"] == "multiple_imputation"
    ]
    path = tmp_path_factory.mktemp("protocol") / "mrocc-quick.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert load_protocol_file(path).analysis.sensitivity[0].applies_to == ["primary"]
    return path


def test_analyze_writes_the_report(dataset_dir: Path, quick_protocol: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = runner.invoke(
        app,
        [
            "analyze",
            str(dataset_dir),
            "--protocol",
            str(quick_protocol),
            "--out",
            str(out),
            "--imputations",
            "2",
            "--seed",
            "9",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Report written to" in result.output
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert document["seed"] == 9 and document["imputations"] == 2
    ids = [a["id"] for a in document["analyses"]]
    assert ids[-1] == "multiple_imputation.primary"
    assert (out / "report.html").stat().st_size > 10_000
    # A second run into the same folder is refused without --force, then allowed with it.
    again = runner.invoke(
        app, ["analyze", str(dataset_dir), "--protocol", str(quick_protocol), "--out", str(out)]
    )
    assert again.exit_code == 1 and "already exists" in again.output
    assert "Traceback" not in again.output


def test_analyze_reports_a_bad_dataset_without_a_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = runner.invoke(app, ["analyze", str(missing), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "not a folder" in result.output
    assert not (tmp_path / "out").exists()


def test_analyze_reports_an_invalid_dataset_file(dataset_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for file in dataset_dir.iterdir():
        (broken / file.name).write_bytes(file.read_bytes())
    text = (broken / "participants.csv").read_text(encoding="utf-8").splitlines()
    text[1] = text[1].replace("mrocc", "placebo", 1).replace("recovery_support", "placebo", 1)
    (broken / "participants.csv").write_text("\n".join(text) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["analyze", str(broken), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "participants.csv, row 2" in result.output and "placebo" in result.output
    assert not (tmp_path / "out").exists()
