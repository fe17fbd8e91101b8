"""Scenarios as data: one YAML file per protocol, published results referenced, errors that
name the file and the field, and a fourth trial from a protocol file plus a scenario file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from mindtrial.dataset import validate_dataset
from mindtrial.protocols import load_protocol
from mindtrial.protocols.loader import shipped_protocol_ids
from mindtrial.simulate import ScenarioError, default_scenario, load_scenario, simulate_trial
from mindtrial.simulate.scenario import shipped_scenario_file

SIMULATE = Path(__file__).parents[2] / "src" / "mindtrial" / "simulate"
PROTOCOLS = Path(__file__).parents[2] / "src" / "mindtrial" / "protocols" / "data"


@pytest.mark.parametrize("protocol_id", shipped_protocol_ids())
def test_every_shipped_protocol_has_a_scenario_file(protocol_id: str) -> None:
    assert shipped_scenario_file(protocol_id) is not None
    scenario = default_scenario(load_protocol(protocol_id))
    assert scenario.protocol_id == protocol_id


def test_simulator_code_names_no_protocol_arm_or_outcome() -> None:
    """Every trial-specific number lives in the scenario files, none in the code."""
    names: set[str] = set()
    for protocol_id in shipped_protocol_ids():
        protocol = load_protocol(protocol_id)
        names.add(protocol.id)
        names.update(protocol.arm_ids)
        names.update(r.id for r in protocol.published.results)
    names -= {"more"}  # also an English word; checked as a quoted string below
    for path in SIMULATE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for name in sorted(names):
            assert not re.search(rf"[\"']{re.escape(name)}[\"']", text), (path.name, name)
        assert not re.search(r"[\"']more[\"']", text), path.name


def test_published_results_are_read_from_the_protocol() -> None:
    ltot = load_protocol("more-ltot-2022")
    scenario = default_scenario(ltot)
    # 45.0% vs 24.4% not misusing at month 9 (week 39) come from the protocol's results.
    assert scenario.misuse is not None
    assert scenario.misuse.not_misusing_percent["more"][39] == 45.0
    assert scenario.misuse.not_misusing_percent["supportive"][39] == 24.4
    # Retention at week 39 = assessed / randomized = 80/129 and 78/121.
    assert scenario.retention.survival["more"][39] == pytest.approx(80 / 129)
    assert scenario.retention.survival["supportive"][39] == pytest.approx(78 / 121)
    # Severity: supportive -0.4 (assumed), MORE 0.49 better: -0.89.
    assert scenario.trajectories["bpi_sf.severity"].change["more"] == pytest.approx(-0.89)
    assert scenario.arm_sizes == {"more": 129, "supportive": 121}
    mmt = default_scenario(load_protocol("more-mmt-2024"))
    assert mmt.events is not None
    assert mmt.events.return_hr["more"] == 0.58
    assert mmt.events.dropout_hr["more"] == 0.41
    assert mmt.events.days_ratio["more"] == 0.58
    assert mmt.events.adherence_percent == {"more": 95.5, "usual_care": 83.6}


@pytest.mark.parametrize("protocol_id", shipped_protocol_ids())
def test_published_results_are_not_typed_in_the_scenario_files(protocol_id: str) -> None:
    """Each published arm value, difference and ratio is referenced, not copied."""
    protocol = load_protocol(protocol_id)
    numbers: set[float] = set()
    for result in protocol.published.results:
        numbers.update(result.arms.values())
        numbers.update(x for x in (result.difference, result.ratio) if x is not None)
    numbers -= {0.0, 1.0}  # also weights and reference ratios
    path = SIMULATE / "scenarios" / f"{protocol_id}.yaml"
    code = "\n".join(line.split("#")[0] for line in path.read_text("utf-8").splitlines())
    typed = {float(x) for x in re.findall(r"(?<![\w.])-?\d+\.\d+(?![\w.])", code)}
    assert not typed & numbers, sorted(typed & numbers)


def _scenario_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "ema:\n  respons_rate: 0.5\n",
            "ema.respons_rate: unknown field (not a scenario knob)",
        ),
        (
            "substances:\n  opioids:\n    percent: {published: results.nope.arms}\n",
            "substances.opioids.percent: published: results.nope.arms: the protocol has no "
            "published result 'nope'",
        ),
        (
            "retention:\n  survival:\n    mrocc: {24: {published: flow.completed_final, "
            "divide_by: flow.nothing}}\n",
            "retention.survival.mrocc.24: published: flow.nothing: published.flow has no "
            "field 'nothing'",
        ),
        ("age: {kind: normal, mean: forty}\n", "age.mean: Input should be a valid number"),
        (
            "sex: {published: sample.age_mean, scale: two}\n",
            "sex: scale and add must be numbers",
        ),
    ],
)
def test_scenario_errors_name_the_file_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = _scenario_file(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, load_protocol("mrocc-2025"))
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert expected in message, message


def test_scenario_that_does_not_fit_the_protocol(tmp_path: Path) -> None:
    protocol = load_protocol("more-ltot-2022")
    bad = _scenario_file(
        tmp_path,
        "ema:\n  items:\n    urge: {baseline_mean: {more: 1, supportive: 1}, change: {more: 0, "
        "supportive: 0}, intercept_sd: 1, residual_sd: 1}\n"
        "medications:\n  opioids: {heroin: 1.0}\n"
        "demographics:\n  race: {martian: 1.0}\n",
    )
    with pytest.raises(ScenarioError) as info:
        simulate_trial(protocol, n=20, seed=1, scenario=load_scenario(bad, protocol))
    message = str(info.value)
    assert "ema.items.urge: not an item of the protocol's EMA instruments" in message
    assert "medications.opioids: unknown drug(s) heroin" in message
    assert "demographics.race: unknown level(s) martian" in message


def test_a_fourth_trial_is_a_protocol_file_and_a_scenario_file(tmp_path: Path) -> None:
    """A new protocol id with its own scenario file simulates without any code."""
    raw = yaml.safe_load((PROTOCOLS / "more-mmt-2024.yaml").read_text(encoding="utf-8"))
    raw["id"] = "more-fourth-2027"
    for arm in raw["arms"]:
        arm["id"] = {"more": "mindful", "usual_care": "waitlist"}[arm["id"]]
    raw["randomization"]["ratio"] = {"mindful": 1, "waitlist": 1}
    renamed = {"more": "mindful", "usual_care": "waitlist"}
    for result in raw["published"]["results"]:
        if "arms" in result:
            result["arms"] = {renamed[k]: v for k, v in result["arms"].items()}
    protocol_file = tmp_path / "fourth.yaml"
    protocol_file.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    protocol = load_protocol(protocol_file)
    scenario_text = (SIMULATE / "scenarios" / "more-mmt-2024.yaml").read_text(encoding="utf-8")
    scenario_text = scenario_text.replace("more-mmt-2024", "more-fourth-2027")
    scenario_text = re.sub(r"\bmore:", "mindful:", scenario_text)
    scenario_text = re.sub(r"\busual_care:", "waitlist:", scenario_text)
    # The fourth trial has no published results: type the effects instead.
    scenario_text = re.sub(r"\{published: results\.[a-z_]+\.ratio\}", "0.7", scenario_text)
    scenario_text = scenario_text.replace(
        "{published: results.methadone_adherence.arms}", "{mindful: 92, waitlist: 85}"
    )
    scenario = load_scenario(_scenario_file(tmp_path, scenario_text), protocol)
    ds = simulate_trial(protocol, n=40, seed=4, scenario=scenario)
    assert validate_dataset(ds, protocol=protocol) == []
    assert set(ds.participants["arm"]) == {"mindful", "waitlist"}
    assert set(ds.participants["site"]) <= {f"clinic_{k}" for k in range(1, 6)}
    attending = ds.attendance.merge(ds.participants[["participant_id", "arm"]])
    assert set(attending["arm"]) == {"mindful"}  # waitlist has no group sessions
