"""`mindtrial simulate`, run in-process."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from mindtrial.cli.main import app
from mindtrial.dataset import read_dataset

runner = CliRunner()


def test_simulate_writes_a_readable_dataset(tmp_path: Path) -> None:
    out = tmp_path / "trial"
    result = runner.invoke(
        app, ["simulate", "--protocol", "mrocc-2025", "--n", "40", "--seed", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Wrote the study dataset" in result.output
    ds = read_dataset(out)
    assert len(ds.participants) == 40
    assert ds.meta.source == "simulate"
    # The summary's arm counts are the dataset's.
    counts = ds.participants["arm"].value_counts()
    assert "mrocc" in result.output and str(counts["mrocc"]) in result.output


def test_simulate_refuses_an_existing_folder(tmp_path: Path) -> None:
    out = tmp_path / "exists"
    out.mkdir()
    result = runner.invoke(app, ["simulate", "--protocol", "mrocc-2025", "--out", str(out)])
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert "Traceback" not in result.output


def test_simulate_bad_scenario_is_a_clear_error(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("substances:\n  opioids:\n    percnt: 5\n")
    result = runner.invoke(
        app,
        [
            "simulate",
            "--protocol",
            "mrocc-2025",
            "--scenario",
            str(scenario),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 1
    assert "substances.opioids.percnt: unknown field" in result.output
    assert not (tmp_path / "o").exists()


def test_simulate_unknown_protocol(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--protocol", "nope", "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "unknown protocol" in result.output
