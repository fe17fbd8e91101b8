"""`mindtrial sample-size` end to end, in-process, against R's numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mindtrial.cli.main import app

runner = CliRunner()


def _json(*args: str) -> dict[str, object]:
    result = runner.invoke(app, ["sample-size", *args, "--json"])
    assert result.exit_code == 0, result.output
    answer: dict[str, object] = json.loads(result.output)
    return answer


def test_mrocc_design_with_groups_and_attrition() -> None:
    # R: power.t.test(delta = 0.45, power = .8, strict = TRUE)$n -> 78.49161608
    answer = _json("--design", "means", "--d", "0.45", "--attrition", "0.1875", "--icc", "0.02",
                   "--group-size", "8")  # fmt: skip
    assert answer["n_per_arm"] == [pytest.approx(78.49161608, abs=1e-5)] * 2
    assert answer["design_effect"] == pytest.approx(1.14)
    assert answer["analysable_per_arm"] == [90, 90]
    assert answer["randomized_per_arm"] == [111, 111]


def test_survival_events_follow_rpact() -> None:
    # rpact: getSampleSizeSurvival(hazardRatio = 0.58, typeOfComputation = "Schoenfeld")
    # -> 105.8058 events; with 60% control and 1 - 0.4^0.58 treated events per participant.
    answer = _json("--design", "survival", "--hr", "0.58", "--p-event-control", "0.6")
    per_control = answer["events_per_control_participant"]
    assert isinstance(per_control, float)
    n_control = answer["n_per_arm"][0]  # type: ignore[index]
    assert n_control * per_control == pytest.approx(105.805826001753, rel=1e-9)


def test_power_curve_table_and_plot(tmp_path: Path) -> None:
    plot = tmp_path / "curve.png"
    answer = _json("--design", "counts", "--rate-control", "2", "--rate-ratio", "0.58",
                   "--dispersion", "0.8", "--n", "60", "--curve", "40:80:20", "--plot", str(plot))  # fmt: skip
    # MASS::glm.nb over 2,000 simulated trials at n = 60: 0.692 (tests/reference/sample_size.json).
    assert answer["power"] == pytest.approx(0.692, abs=3 * (0.692 * 0.308 / 2000) ** 0.5)
    curve = answer["curve"]
    assert [point["n_per_arm"] for point in curve] == [40, 60, 80]  # type: ignore[index, union-attr]
    powers = [point["power"] for point in curve]  # type: ignore[index, union-attr]
    assert powers == sorted(powers)
    assert powers[1] == pytest.approx(answer["power"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--design", "repeated", "--delta", "0.3", "--times", "0,8"], "--rho is required"),
        (["--design", "means", "--d", "0.4", "--attrition", "1.5"], "attrition must lie in"),
        (["--design", "survival", "--hr", "1", "--p-event-control", "0.5"], "differ from 1"),
        (["--design", "means", "--d", "0.4", "--curve", "a:b"], "--curve 'a:b'"),
        (["--design", "slopes", "--delta", "1", "--times", "x"], "--times 'x'"),
    ],
)
def test_bad_options_fail_cleanly(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["sample-size", *args])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
