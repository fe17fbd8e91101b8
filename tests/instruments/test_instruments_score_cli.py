"""`mindtrial score`, run in-process."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mindtrial.cli.main import app

runner = CliRunner()

ANXIETY_RAW_20 = [
    "EDANX01=3",
    "EDANX40=3",
    "EDANX41=3",
    "EDANX53=3",
    "EDANX46=2",
    "EDANX07=2",
    "EDANX05=2",
    "EDANX54=2",
]


def test_json_output() -> None:
    result = runner.invoke(app, ["score", "promis_anxiety_8a", *ANXIETY_RAW_20, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # raw 20 -> T 58.4 (official table; docs/sources.md, Instruments), 55-59.9 = mild
    assert data["instrument"] == "promis_anxiety_8a"
    assert data["scores"] == {"raw": 20, "t_score": 58.4}
    assert data["bands"] == {"t_score": "mild"}
    assert data["answered"] == 8
    assert data["prorated"] is False
    assert data["answers"]["EDANX01"] == 3


def test_table_output() -> None:
    result = runner.invoke(app, ["score", "ocs", "ocs_1=3", "ocs_2=4", "ocs_3=8"])
    assert result.exit_code == 0, result.output
    assert "mean" in result.stdout
    assert "│     5 │" in result.stdout  # (3 + 4 + 8) / 3
    assert "answered: 3 of 3 items" in result.stdout


def test_prorate_option() -> None:
    seven = ANXIETY_RAW_20[
        :7
    ]  # sum 18 from 7 items: round(18 * 8 / 7) = round(20.57) = 21 -> T 59.4
    refused = runner.invoke(app, ["score", "promis_anxiety_8a", *seven, "--json"])
    assert refused.exit_code == 1
    assert "promis_anxiety_8a item EDANX54: no answer" in refused.stderr
    assert "--prorate" in refused.stderr
    assert "Traceback" not in refused.output
    result = runner.invoke(app, ["score", "promis_anxiety_8a", *seven, "--json", "--prorate"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["scores"] == {"raw": 21, "t_score": 59.4}
    assert data["prorated"] is True
    assert data["notes"] == ["prorated: 7 of 8 items answered; raw 21 = round(18 × 8 / 7)"]


def test_notes_and_answers_only_instrument() -> None:
    bpi = ["worst=8", "least=3", "average=5", "now=4", "mood=6", "sleep=7", "walking=2"]
    result = runner.invoke(app, ["score", "bpi_sf", *bpi])
    assert result.exit_code == 0, result.output
    assert "severity" in result.stdout
    assert "interference not scored: 3 of 7 items answered" in result.stdout
    analytes = ["opiates", "oxycodone", "fentanyl", "methadone", "buprenorphine", "benzodiazepines", "cocaine",
                "amphetamine", "methamphetamine", "thc", "mdma", "barbiturates", "pcp", "tramadol"]  # fmt: skip
    tox = runner.invoke(
        app, ["score", "toxicology_14", *(f"{a}=negative" for a in analytes), "fentanyl=x"]
    )
    assert tox.exit_code == 1
    assert "item fentanyl is given twice" in tox.stderr
    pairs = [f"{a}={'Positive' if a == 'fentanyl' else 'negative'}" for a in analytes]
    ok = runner.invoke(app, ["score", "toxicology_14", *pairs])
    assert ok.exit_code == 0, ok.output
    assert "validated answers" in ok.stdout
    assert "positive" in ok.stdout


def test_bad_value_is_a_clean_error() -> None:
    result = runner.invoke(
        app, ["score", "phq9", *(f"phq9_{i}=1" for i in range(1, 9)), "phq9_9=4"]
    )
    assert result.exit_code == 1
    assert (
        "error: phq9 item phq9_9: '4' is out of range; expected a whole number from 0 to 3"
        in result.stderr
    )
    assert result.stdout == ""


def test_unknown_item_and_instrument() -> None:
    result = runner.invoke(app, ["score", "ocs", "ocs_1=1", "ocs_2=1", "ocs_3=1", "ocs_9=1"])
    assert result.exit_code == 1
    assert "ocs: unknown item 'ocs_9'" in result.stderr
    result = runner.invoke(app, ["score", "gad7", "a=1"])
    assert result.exit_code == 1
    assert "unknown instrument 'gad7'; known instruments: adverse_event" in result.stderr
    result = runner.invoke(app, ["score"])
    assert result.exit_code == 1
    assert "--list" in result.stderr


def test_malformed_pair() -> None:
    result = runner.invoke(app, ["score", "ocs", "ocs_1:3"])
    assert result.exit_code == 1
    assert "expected ITEM=VALUE, got 'ocs_1:3'" in result.stderr


def test_list_and_items() -> None:
    listing = runner.invoke(app, ["score", "--list"])
    assert listing.exit_code == 0, listing.output
    for instrument_id in ("promis_anxiety_8a", "toxicology_14", "ema_craving", "dass21"):
        assert instrument_id in listing.stdout
    items = runner.invoke(app, ["score", "comm", "--items"])
    assert items.exit_code == 0, items.output
    assert "comm_17" in items.stdout
    assert "withheld" in items.stdout
