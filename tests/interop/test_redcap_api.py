"""`mindtrial redcap pull` against a real local HTTP server replaying REDCap API answers
built from the sample projects' export files (see redcap_api_replay.py)."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pandas as pd
import pytest
from redcap_api_replay import TOKEN, Replay, serve
from typer.testing import CliRunner

from mindtrial.cli.main import app
from mindtrial.interop.redcap import read_project
from mindtrial.interop.redcap.api import (
    RedcapApiError,
    RedcapClient,
    missing_codes_of,
    pull_project,
)

SAMPLES = Path(__file__).resolve().parent / "data"
runner = CliRunner()


def _token_file(tmp_path: Path, token: str = TOKEN) -> Path:
    path = tmp_path / "token.txt"
    path.write_text(token + "\n", encoding="utf-8")
    return path


def _ids(name: str) -> list[str]:
    with (SAMPLES / name / "data.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        return list(dict.fromkeys(row[0] for row in reader))


@pytest.mark.parametrize("layout", ["flat", "eav"])
def test_pull_a_longitudinal_project_reads_like_its_export(tmp_path: Path, layout: str) -> None:
    d = SAMPLES / "longitudinal"
    replay = Replay(d, fail_record_requests=1)  # the first record request gets a 503
    out = tmp_path / "pulled"
    with serve(replay) as url:
        result = runner.invoke(
            app,
            ["redcap", "pull", "--url", url, "--token-file", str(_token_file(tmp_path)),
             "--out", str(out), "--type", layout, "--batch-size", "2"],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "arm.csv", "dag.csv", "dictionary.csv", "event.csv", "form_event_mapping.csv",
        "project.json", "project.xml", "records.csv",
    ]  # fmt: skip
    ids = _ids("longitudinal")
    # one request for the ids, then ceil(ids / 2) batches, plus the retried one
    record_requests = [r for r in replay.requests if r["content"] == "record"]
    assert len(record_requests) == 1 + 1 + -(-len(ids) // 2)
    assert all(r.get("rawOrLabel") == "raw" for r in record_requests)
    pulled = read_project(
        records=out / "records.csv",
        dictionary=out / "dictionary.csv",
        events=out / "event.csv",
        arms=out / "arm.csv",
    )
    export = read_project(
        records=d / "data.csv",
        dictionary=d / "dictionary.csv",
        events=d / "event.csv",
        arms=d / "arm.csv",
    )
    assert pulled.record_format == layout
    assert pulled.records == tuple(ids)
    for name, table in export.tables.items():
        pd.testing.assert_frame_equal(pulled.tables[name], table)


def test_pull_in_batches_keeps_every_record(tmp_path: Path) -> None:
    d = SAMPLES / "clinical-trial-1"
    replay = Replay(d, missing_codes="UNK, Unknown | NASK, Not asked")
    with serve(replay) as url:
        client = RedcapClient(url=url, token=TOKEN, pause=0.01)
        seen: list[tuple[int, int]] = []
        result = pull_project(client, batch_size=200, progress=lambda a, b: seen.append((a, b)))
    assert result.records == 500 == len(_ids("clinical-trial-1"))
    assert seen == [(0, 500), (200, 500), (400, 500), (500, 500)]
    assert "event.csv" not in result.files  # a classic project
    assert missing_codes_of(result.files["project.json"]) == ("UNK", "NASK")
    with (d / "data.csv").open(encoding="utf-8", newline="") as handle:
        expected = list(csv.reader(handle))
    assert list(csv.reader(io.StringIO(result.files["records.csv"], newline=""))) == expected


def test_a_wrong_token_stops_with_redcaps_message_and_writes_nothing(tmp_path: Path) -> None:
    d = SAMPLES / "dag"
    wrong = "F" * 32
    out = tmp_path / "pulled"
    with serve(Replay(d)) as url:
        result = runner.invoke(
            app,
            ["redcap", "pull", "--url", url, "--token-file",
             str(_token_file(tmp_path, wrong)), "--out", str(out)],
        )  # fmt: skip
    assert result.exit_code == 2
    assert "do not have permissions" in result.output and wrong not in result.output
    assert not out.exists()


def test_token_from_the_environment_and_bad_tokens(tmp_path: Path) -> None:
    d = SAMPLES / "dag"
    out = tmp_path / "pulled"
    with serve(Replay(d)) as url:
        result = runner.invoke(
            app,
            ["redcap", "pull", "--url", url, "--out", str(out)],
            env={"MINDTRIAL_REDCAP_TOKEN": TOKEN},
        )
        assert result.exit_code == 0, result.output
        assert read_project(
            records=out / "records.csv", dictionary=out / "dictionary.csv"
        ).records == tuple(_ids("dag"))
        bad = runner.invoke(
            app,
            ["redcap", "pull", "--url", url, "--out", str(tmp_path / "x"),
             "--token-file", str(_token_file(tmp_path, "not a token"))],
        )  # fmt: skip
        assert bad.exit_code == 2 and "32 or 64 hexadecimal" in bad.output
        assert "not a token" not in bad.output
    assert not (tmp_path / "x").exists()


def test_an_unreachable_server_is_retried_then_reported(tmp_path: Path) -> None:
    with serve(Replay(SAMPLES / "dag")) as url:
        pass  # the server is closed: nothing listens on the port any more
    client = RedcapClient(url=url, token=TOKEN, retries=2, pause=0.01)
    with pytest.raises(RedcapApiError, match="3 tries") as caught:
        pull_project(client)
    assert TOKEN not in str(caught.value)


def test_inspect_a_pulled_folder_uses_the_projects_missing_codes(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(SAMPLES / "dag", project)
    with (project / "data.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    at = rows[0].index("height")
    rows[1][at] = "UNK"  # a missing-data code in a number field
    with (project / "data.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    out = tmp_path / "pulled"
    with serve(Replay(project, missing_codes="UNK, Unknown | NASK, Not asked")) as url:
        pulled = runner.invoke(
            app,
            ["redcap", "pull", "--url", url, "--out", str(out)],
            env={"MINDTRIAL_REDCAP_TOKEN": TOKEN},
        )
    assert pulled.exit_code == 0, pulled.output
    result = runner.invoke(app, ["redcap", "inspect", "--pulled", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert '"problems": []' in result.output
    assert "1 value(s) were REDCap missing-data codes" in result.output
