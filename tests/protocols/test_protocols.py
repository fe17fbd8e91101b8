"""The shipped protocols carry the facts listed in docs/sources.md, and bad files get clear errors."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mindtrial.cli.main import app
from mindtrial.protocols import ProtocolError, list_protocols, load_protocol, load_protocol_file

runner = CliRunner()


def test_three_protocols_with_the_agreed_arm_ids() -> None:
    arms = {p.id: p.arm_ids for p in list_protocols()}
    assert arms == {
        "mrocc-2025": ["mrocc", "recovery_support"],
        "more-ltot-2022": ["more", "supportive"],
        "more-mmt-2024": ["more", "usual_care"],
    }


def test_mrocc_numbers_from_the_paper() -> None:
    p = load_protocol("mrocc-2025")
    # Delivery: 24 weekly sessions, 30-min check-in + 60-min group, 1-2 leaders.
    assert (p.session.n_sessions, p.session.check_in_minutes, p.session.group_minutes) == (
        24,
        30,
        60,
    )
    assert (p.session.leaders_min, p.session.leaders_max) == (1, 2)
    # Randomization 1:1, blocks of 4, 6, 8.
    assert p.randomization.ratio == {"mrocc": 1, "recovery_support": 1}
    assert p.randomization.block_sizes == [4, 6, 8]
    # CONSORT: 1728 -> 260 -> 18 excluded + 46 no baseline -> 196 (98/98); 116 completed week 24.
    flow = p.published.flow
    assert (flow.referred, flow.consented, flow.randomized, flow.completed_final) == (
        1728,
        260,
        196,
        116,
    )
    assert (
        flow.consented - flow.excluded_after_consent - flow.baseline_incomplete == flow.randomized
    )  # type: ignore[operator]
    assert flow.randomized_by_arm == {"mrocc": 98, "recovery_support": 98}
    assert p.published.sample.age_mean == 41.0 and p.published.sample.age_sd == 10.3
    # Outcomes: periods 7-12 = weeks 13-24; adherent >= 15 of 24; anxiety subgroup T > 55.
    assert p.outcomes.primary_periods == [7, 8, 9, 10, 11, 12]
    assert p.outcomes.period_weeks * min(p.outcomes.primary_periods) - 1 == 13
    assert (p.outcomes.adherence_sessions, p.outcomes.total_sessions) == (15, 24)
    assert p.outcomes.anxiety_subgroup_min_t == 55
    # Opioid-positive analytes per the registry.
    assert p.toxicology is not None
    assert p.toxicology.substances["opioids"] == ["opiates", "oxycodone", "fentanyl", "methadone"]
    assert len(p.toxicology.panel) == 14
    # PROMIS anxiety at 0/8/16/24; craving weekly 0-24.
    by_instrument = {a.instrument: a.weeks for a in p.assessments}
    assert by_instrument["promis_anxiety_8a"] == [0, 8, 16, 24]
    assert by_instrument["ocs"] == list(range(25))
    # Week-8 continuation choice into the intensive phase (weeks 9-24).
    choice = p.arm("mrocc").continuation_choice
    assert choice is not None and choice.after_week == 8
    intensive = next(ph for ph in p.arm("mrocc").curriculum if ph.id == choice.continue_phase)
    assert (intensive.first_week, intensive.last_week) == (9, 24)
    # Published results.
    primary = next(r for r in p.published.results if r.id == "primary")
    assert primary.arms == {"mrocc": 13.4, "recovery_support": 12.7}
    assert primary.difference_ci == (-8.2, 9.5)
    craving = next(r for r in p.published.results if r.id == "craving")
    assert craving.extra["interaction_chi2"] == 56.5 and craving.extra["interaction_df"] == 24
    # Analysis plan: the model covariates are the three that differed at P < .10.
    assert p.analysis_spec("primary").covariates == [
        "bup_dose_mg",
        "cocaine_use_baseline",
        "income_category",
    ]
    assert p.analysis_spec("anxiety").time_levels == [0, 8, 16, 24]
    assert len(p.analysis_spec("craving").time_levels) == 25
    assert p.analysis.power == {
        "randomized": 192,
        "effective_n": 156,
        "power": 0.8,
        "effect_size_d": 0.45,
        "alpha": 0.05,
    }


def test_more_protocols_numbers() -> None:
    ltot = load_protocol("more-ltot-2022")
    assert (ltot.session.n_sessions, ltot.session.group_minutes) == (8, 120)
    assert (ltot.session.group_size_min, ltot.session.group_size_max) == (6, 12)
    assert ltot.follow_up_months == [3, 6, 9]
    assert ltot.published.flow.randomized_by_arm == {"more": 129, "supportive": 121}
    misuse = next(r for r in ltot.published.results if r.id == "misuse")
    assert misuse.ratio == 2.06 and misuse.ratio_ci == (1.17, 3.61)
    mmt = load_protocol("more-mmt-2024")
    assert mmt.published.flow.randomized == 154
    assert {a.model for a in mmt.analysis.analyses} >= {"cox_ph", "glm_negative_binomial"}
    hr = {r.id: r.ratio for r in mmt.published.results}
    assert hr["return_to_use"] == 0.58 and hr["treatment_dropout"] == 0.41


def _write(tmp_path: Path, data: object) -> Path:
    file = tmp_path / "trial.yaml"
    file.write_text(yaml.safe_dump(data), encoding="utf-8")
    return file


def _mrocc_dict() -> dict[str, object]:
    return load_protocol("mrocc-2025").model_dump(mode="json")


def test_error_names_file_field_path_and_expectation(tmp_path: Path) -> None:
    data = _mrocc_dict()
    data["randomization"]["block_sizes"] = [4, 5]  # type: ignore[index]
    data["session"]["group_minutes"] = "an hour"  # type: ignore[index]
    data["arms"][0]["colour"] = "blue"  # type: ignore[index]
    file = _write(tmp_path, data)
    with pytest.raises(ProtocolError) as info:
        load_protocol_file(file)
    message = str(info.value)
    assert str(file) in message
    assert "randomization: block sizes [5] are not multiples of the ratio total 2" in message
    assert "session.group_minutes: Input should be a valid integer" in message
    assert "arms[0].colour: unknown field" in message


def test_ratio_must_name_the_arms(tmp_path: Path) -> None:
    data = _mrocc_dict()
    data["randomization"]["ratio"] = {"mrocc": 1, "control": 1}  # type: ignore[index]
    with pytest.raises(ProtocolError, match=r"randomization\.ratio names arms"):
        load_protocol_file(_write(tmp_path, data))


def test_eligibility_group_errors_point_into_the_group(tmp_path: Path) -> None:
    data = _mrocc_dict()
    data["eligibility"][3]["any_of"][0]["op"] = "bigger"  # type: ignore[index]
    with pytest.raises(ProtocolError) as info:
        load_protocol_file(_write(tmp_path, data))
    assert "eligibility[3].any_of[0].op" in str(info.value)


def test_toxicology_substances_must_use_panel_analytes(tmp_path: Path) -> None:
    data = _mrocc_dict()
    data["toxicology"]["substances"]["opioids"].append("heroin")  # type: ignore[index]
    with pytest.raises(ProtocolError, match="analytes not in the panel: heroin"):
        load_protocol_file(_write(tmp_path, data))


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text("id: x\narms: [\n", encoding="utf-8")
    with pytest.raises(ProtocolError, match=r"line \d+, column \d+: not valid YAML"):
        load_protocol_file(file)


def test_cli_validate_reports_without_traceback(tmp_path: Path) -> None:
    data = _mrocc_dict()
    del data["weeks"]
    file = _write(tmp_path, data)
    result = runner.invoke(app, ["protocol", "validate", str(file)])
    assert result.exit_code == 1
    assert "weeks: Field required" in result.output
    assert "Traceback" not in result.output
    good = runner.invoke(app, ["protocol", "validate", str(_write(tmp_path, _mrocc_dict()))])
    assert good.exit_code == 0, good.output


def test_cli_list_and_show() -> None:
    listed = runner.invoke(app, ["protocol", "list"])
    assert listed.exit_code == 0
    for pid in ("mrocc-2025", "more-ltot-2022", "more-mmt-2024"):
        assert pid in listed.output
    shown = runner.invoke(app, ["protocol", "show", "mrocc-2025", "--json"])
    assert shown.exit_code == 0
    assert '"id": "mrocc-2025"' in shown.output
    unknown = runner.invoke(app, ["protocol", "show", "nope"])
    assert unknown.exit_code == 1
    assert "unknown protocol" in unknown.output


def test_multiplicity_family_reads_the_family_key_and_its_python_name(tmp_path: Path) -> None:
    # Protocol files write `family:`; Python calls it multiplicity_family. Both keys load.
    text = (resources.files("mindtrial.protocols") / "data" / "mrocc-2025.yaml").read_text()
    raw = yaml.safe_load(text)
    in_file = {a["id"]: a.get("family") for a in raw["analysis"]["analyses"]}
    assert "substance_use" in in_file.values() and None in in_file.values()
    loaded = load_protocol("mrocc-2025")
    assert {a.id: a.multiplicity_family for a in loaded.analysis.analyses} == in_file
    for spec in raw["analysis"]["analyses"]:
        if "family" in spec:
            spec["multiplicity_family"] = spec.pop("family")
    renamed = load_protocol_file(_write(tmp_path, raw))
    assert {a.id: a.multiplicity_family for a in renamed.analysis.analyses} == in_file
