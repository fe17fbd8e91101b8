"""simulate_trial: valid datasets, reproducible, calibrated funnel, scenario overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from mindtrial.dataset import read_dataset, validate_dataset, write_dataset
from mindtrial.outcomes.abstinence import abstinence_periods
from mindtrial.protocols import load_protocol
from mindtrial.simulate import (
    ScenarioError,
    default_scenario,
    load_scenario,
    simulate_trial,
)

MROCC = load_protocol("mrocc-2025")


@pytest.mark.parametrize("protocol_id", ["mrocc-2025", "more-ltot-2022", "more-mmt-2024"])
def test_simulated_dataset_is_valid(protocol_id: str) -> None:
    ds = simulate_trial(protocol_id, n=60, seed=7)
    assert validate_dataset(ds) == []
    assert len(ds.participants) == 60
    assert ds.meta.source == "simulate"
    assert ds.meta.protocol_id == protocol_id


def test_default_n_and_funnel_are_the_published_consort_flow() -> None:
    ds = simulate_trial(MROCC, seed=1)
    flow = MROCC.published.flow  # 1728 -> 260 consented -> 18 excluded + 46 -> 196
    assert len(ds.participants) == flow.randomized == 196
    screening = ds.screening
    assert len(screening) == flow.referred == 1728
    stages = screening["stage"].value_counts()
    assert stages["randomized"] == 196
    assert stages["consented"] == flow.excluded_after_consent + flow.baseline_incomplete == 64
    reasons = screening.loc[screening["stage"] == "consented", "exclusion_reason"]
    assert (reasons == "did not complete the baseline assessment").sum() == 46
    # Consented = randomized + the 64 who were not: 260.
    assert stages["randomized"] + stages["consented"] == flow.consented
    # Every randomized referral points at a participant, in the participants table.
    randomized = screening[screening["stage"] == "randomized"]
    assert set(randomized["participant_id"]) == set(ds.participants["participant_id"])


def test_arms_follow_a_permuted_block_list() -> None:
    ds = simulate_trial(MROCC, seed=3)
    counts = ds.participants["arm"].value_counts()
    # Blocks of 4, 6 or 8 are balanced; only the last, cut block can be off, by at most 4.
    assert abs(counts["mrocc"] - counts["recovery_support"]) <= 4


def test_same_seed_same_trial_other_seed_other_trial() -> None:
    a = simulate_trial(MROCC, n=40, seed=5)
    b = simulate_trial(MROCC, n=40, seed=5)
    c = simulate_trial(MROCC, n=40, seed=6)
    assert a.equals(b)
    assert not a.equals(c)


def test_write_and_read_back_unchanged(tmp_path: Path) -> None:
    ds = simulate_trial("more-ltot-2022", n=30, seed=2)
    write_dataset(ds, tmp_path / "trial")
    assert read_dataset(tmp_path / "trial").equals(ds)


def test_withdrawn_participants_have_no_later_data() -> None:
    ds = simulate_trial(MROCC, n=300, seed=4)
    part = ds.participants.set_index("participant_id")
    withdrawn = part["withdrawn_week"].dropna()
    assert len(withdrawn) > 0
    for table, column in ((ds.responses, "week"), (ds.toxicology, "week"), (ds.attendance, "week")):
        joined = table.join(withdrawn.rename("w"), on="participant_id", how="inner")
        assert (joined[column] < joined["w"]).all()


def test_toxicology_positives_follow_reported_use() -> None:
    """A test positive for cocaine should usually come with use reported in its period."""
    ds = simulate_trial(MROCC, n=3000, seed=8)
    periods = abstinence_periods(ds, MROCC, "cocaine")
    with_test = periods[periods["any_positive_test"].notna()]
    positive = with_test["any_positive_test"].astype(bool)
    reported = with_test["any_reported_use"].fillna(False).astype(bool)
    # Latent use drives both: P(report | positive) far above P(report | negative).
    assert reported[positive].mean() > 0.7
    assert reported[~positive].mean() < 0.15


def test_scenario_override_changes_the_effect(tmp_path: Path) -> None:
    file = tmp_path / "scenario.yaml"
    file.write_text("substances:\n  opioids:\n    percent: {mrocc: 40, recovery_support: 5}\n")
    scenario = load_scenario(file, MROCC)
    assert scenario.substances["opioids"].percent == {"mrocc": 40.0, "recovery_support": 5.0}
    # Everything else is still the default.
    assert scenario.substances["cocaine"] == default_scenario(MROCC).substances["cocaine"]
    ds = simulate_trial(MROCC, n=2000, seed=9, scenario=scenario)
    periods = abstinence_periods(ds, MROCC, "opioids")
    periods = periods[periods["period"] >= 7].merge(
        ds.participants[["participant_id", "arm"]], on="participant_id"
    )
    share = periods.groupby("arm")["non_abstinent"].mean()
    assert share["mrocc"] > 0.3 and share["recovery_support"] < 0.1


def test_scenario_errors_name_the_field(tmp_path: Path) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text("retention:\n  survivl: {}\n")
    with pytest.raises(ScenarioError, match=r"retention\.survivl: unknown field"):
        load_scenario(typo, MROCC)
    wrong_arm = default_scenario(MROCC).with_overrides(
        {"attendance": {"mean": {"mrocc": 0.8, "recovery_support": 0.8, "placebo": 0.5}}}
    )
    with pytest.raises(ScenarioError, match=r"attendance\.mean: unknown arm\(s\) placebo"):
        simulate_trial(MROCC, n=10, seed=1, scenario=wrong_arm)
    rising = tmp_path / "rising.yaml"
    rising.write_text("retention:\n  survival:\n    mrocc: {8: 0.5, 16: 0.7}\n")
    with pytest.raises(ScenarioError, match="cannot rise"):
        load_scenario(rising, MROCC)
    with pytest.raises(ScenarioError, match="not found"):
        load_scenario(tmp_path / "missing.yaml", MROCC)


def test_default_scenario_reads_the_published_targets() -> None:
    scenario = default_scenario(MROCC)
    # From protocol.published.results, not retyped: 13.4/12.7, 22.1/20.2, 8.4/1.5.
    assert scenario.substances["opioids"].percent == {"mrocc": 13.4, "recovery_support": 12.7}
    assert scenario.substances["cocaine"].percent == {"mrocc": 8.4, "recovery_support": 1.5}
    craving = scenario.trajectories["ocs.mean"]
    # One shared baseline: the mean of change / percent change, (2.3/0.67 + 1.3/0.44) / 2.
    shared = (2.3 / 0.67 + 1.3 / 0.44) / 2
    assert craving.baseline_mean == {
        "mrocc": pytest.approx(shared, abs=5e-4),  # typed to 3 decimals in the scenario
        "recovery_support": pytest.approx(shared, abs=5e-4),
    }
    assert craving.change == {"mrocc": -2.3, "recovery_support": -1.3}
    assert scenario.retention.survival["mrocc"][24] == pytest.approx(116 / 196)
    more = default_scenario(load_protocol("more-ltot-2022"))
    assert more.misuse is not None
    assert more.misuse.not_misusing_percent["more"][39] == pytest.approx(45.0)
    assert more.retention.survival["supportive"][39] == pytest.approx(78 / 121)


def test_more_ltot_misuse_is_consistent_with_comm_and_urine() -> None:
    protocol = load_protocol("more-ltot-2022")
    ds = simulate_trial(protocol, n=400, seed=3)
    comm = ds.responses[ds.responses["instrument"] == "comm"]
    totals = comm.groupby(["participant_id", "week"])["value"].sum()
    # Everyone misuses at baseline (eligibility: COMM >= 13).
    assert (totals.xs(0, level="week") >= 13).all()
    tests = ds.toxicology
    positive = tests[
        (tests["result"] == "positive") & tests["analyte"].isin(["cocaine", "fentanyl"])
    ]
    flagged = positive.set_index(["participant_id", "week"]).index
    # An unexpected urine result only appears when COMM shows misuse at that visit.
    assert (totals.reindex(flagged).dropna() >= 13).all()


def test_more_mmt_methadone_adherence_follows_the_arms() -> None:
    protocol = load_protocol("more-mmt-2024")
    ds = simulate_trial(protocol, n=3000, seed=12)
    tests = ds.toxicology[ds.toxicology["analyte"] == "methadone"]
    tests = tests[tests["result"] != "invalid"].merge(
        ds.participants[["participant_id", "arm"]], on="participant_id"
    )
    share = tests.assign(pos=tests["result"] == "positive").groupby("arm")["pos"].mean()
    # Published 95.5% vs 83.6%; SE with ~1500 people x ~15 tests and person effects < 1 pt.
    assert share["more"] == pytest.approx(0.955, abs=0.02)
    assert share["usual_care"] == pytest.approx(0.836, abs=0.03)
    reasons = ds.participants["withdrawal_reason"].value_counts()
    assert reasons["left methadone treatment"] > 0
