"""The data-generating structures real trials have: therapy-group effects, serially
correlated residuals, informative dropout; and the null scenario and simulated truths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mindtrial.protocols import load_protocol
from mindtrial.simulate import ScenarioError, check_scenario, default_scenario, simulate_trial
from mindtrial.simulate.effects import null_scenario, true_effect
from mindtrial.simulate.score_trajectories import ar1_residuals

MROCC = load_protocol("mrocc-2025")
LTOT = load_protocol("more-ltot-2022")
MMT = load_protocol("more-mmt-2024")


def _published(protocol_id: str, result_id: str):  # type: ignore[no-untyped-def]
    protocol = load_protocol(protocol_id)
    return next(r for r in protocol.published.results if r.id == result_id)


def test_ar1_residuals_have_the_stationary_sd_and_geometric_correlation() -> None:
    # Reference: a stationary AR(1) with lag-1 correlation rho has corr(e_s, e_t) = rho^|s-t|
    # and constant SD, whatever the spacing of the observed weeks.
    weeks = [0, 1, 3, 8]
    z = np.random.default_rng(4).standard_normal((200_000, len(weeks)))
    e = ar1_residuals(z, weeks, 2.0, 0.6)
    assert e.std(axis=0) == pytest.approx([2.0] * 4, abs=0.02)
    corr = np.corrcoef(e, rowvar=False)
    for i, j in [(0, 1), (1, 2), (0, 2), (2, 3), (0, 3)]:
        assert corr[i, j] == pytest.approx(0.6 ** (weeks[j] - weeks[i]), abs=0.01)
    # rho = 0: exactly the independent residuals drawn before the knob existed.
    assert np.array_equal(ar1_residuals(z, weeks, 2.0, 0.0), z * 2.0)


def _change(ds, instrument: str, last: int) -> pd.Series:  # type: ignore[no-untyped-def]
    rows = ds.responses[ds.responses["instrument"] == instrument]
    total = rows.groupby(["participant_id", "week"])["value"].sum().unstack()
    return (total[last] - total[0]).dropna()


def test_participants_of_one_therapy_group_share_its_effect() -> None:
    """MORE + methadone: a large group effect on PHQ-9 change and little else. In the arm with
    group sessions changes cluster by cohort (one-way ANOVA F far above 1); usual care has no
    groups, so its changes vary only by the residual (SD ≈ √2 × 0.5 plus rounding)."""
    scenario = default_scenario(MMT).with_overrides(
        {
            "trajectories": {
                "phq9.total": {
                    "intercept_sd": 0.0,
                    "slope_sd": 0.0,
                    "residual_sd": 0.5,
                    "group_sd": 3.0,
                    "change": {"more": -3.0, "usual_care": -3.0},
                }
            },
            "retention": {"survival": {"more": {16: 1.0}, "usual_care": {16: 1.0}}},
            "events": {"dropout_hazard": 1e-6},
            "collection": {"survey_completion": 1.0},
        }
    )
    ds = simulate_trial(MMT, n=480, seed=12, scenario=scenario)
    change = _change(ds, "phq9", 16)
    people = ds.participants.set_index("participant_id").reindex(change.index)
    grouped = change[people["arm"] == "more"]
    cohorts = people.loc[grouped.index, "cohort"]
    assert cohorts.notna().all() and cohorts.nunique() >= 15
    f_stat, p_value = stats.f_oneway(*[g.to_numpy() for _, g in grouped.groupby(cohorts)])
    assert f_stat > 20 and p_value < 1e-10
    within = grouped.groupby(cohorts).std().mean()
    assert within < 1.2  # residual and rounding only
    between = grouped.groupby(cohorts).mean().std()
    assert 2.0 < between < 4.0  # the group SD (3), a little clipped at 0
    usual = change[people["arm"] == "usual_care"]
    assert people.loc[usual.index, "cohort"].isna().all()
    assert usual.std() < 1.2


def test_group_effects_leave_other_draws_of_a_seed_alone() -> None:
    base = default_scenario(MROCC)
    grouped = base.with_overrides({"trajectories": {"ocs.mean": {"group_sd": 1.0}}})
    a = simulate_trial(MROCC, n=96, seed=3, scenario=base)
    b = simulate_trial(MROCC, n=96, seed=3, scenario=grouped)
    assert a.participants.equals(b.participants)
    assert a.toxicology.equals(b.toxicology)
    ocs_a = a.responses[a.responses["instrument"] == "ocs"]
    ocs_b = b.responses[b.responses["instrument"] == "ocs"]
    assert not ocs_a["value"].reset_index(drop=True).equals(ocs_b["value"].reset_index(drop=True))


def test_informative_dropout_keeps_retention_and_selects_on_the_slope() -> None:
    """Correlation 0.9 between the dropout propensity and the craving slope (SD 1.2). Retention is
    unchanged (the same uniform sets the last week). Completers are the people whose
    propensity lies below z* = Φ⁻¹(0.59) (59% complete), so their mean standard slope is
    0.9 × E[Z | Z < z*] = −0.9 φ(z*) / 0.59 ≈ −0.59, i.e. −0.71 points of craving (slope SD
    1.2): their observed change falls clearly below the calibrated one."""
    sloped = default_scenario(MROCC).with_overrides(
        {"trajectories": {"ocs.mean": {"slope_sd": 1.2}}}
    )
    linked = sloped.with_overrides(
        {"retention": {"informative": {"trajectory": "ocs.mean", "correlation": 0.9}}}
    )
    plain = simulate_trial(MROCC, n=4000, seed=8, scenario=sloped)
    ds = simulate_trial(MROCC, n=4000, seed=8, scenario=linked)
    assert ds.participants["withdrawn_week"].equals(plain.participants["withdrawn_week"])
    z_star = stats.norm.ppf(0.59)
    expected_shift = -0.9 * stats.norm.pdf(z_star) / 0.59 * 1.2
    assert expected_shift == pytest.approx(-0.71, abs=0.01)
    arm = ds.participants.set_index("participant_id")["arm"]
    for data, lower, upper in ((plain, -0.15, 0.15), (ds, -0.75, -0.25)):
        rows = data.responses[data.responses["instrument"] == "ocs"]
        mean = rows.groupby(["participant_id", "week"])["value"].mean().unstack()
        change = (mean[24] - mean[0]).dropna()
        by_arm = change.groupby(arm.reindex(change.index)).mean()
        published = _published("mrocc-2025", "craving").arms
        for name, target in published.items():
            # The floor at 0 shrinks the shift a little; 0.15 is ~3 SE of a completer mean.
            assert lower < by_arm[name] - target < upper, (name, by_arm[name], target)


def test_informative_dropout_must_name_a_trajectory() -> None:
    bad = default_scenario(MROCC).with_overrides(
        {"retention": {"informative": {"trajectory": "nope.score", "correlation": 0.5}}}
    )
    with pytest.raises(ScenarioError, match=r"retention\.informative\.trajectory"):
        check_scenario(bad, MROCC)


def test_null_scenario_gives_every_arm_the_reference_arms_effects() -> None:
    null = null_scenario(default_scenario(MROCC), MROCC)
    primary = _published("mrocc-2025", "primary").arms  # 13.4 / 12.7
    assert null.substances["opioids"].percent == {
        "mrocc": primary["recovery_support"],
        "recovery_support": primary["recovery_support"],
    }
    craving = _published("mrocc-2025", "craving").arms
    assert set(null.trajectories["ocs.mean"].change.values()) == {craving["recovery_support"]}
    # Retention is not an effect on an estimand: kept.
    assert null.retention == default_scenario(MROCC).retention
    mmt = null_scenario(default_scenario(MMT), MMT)
    assert mmt.events is not None
    assert mmt.events.return_hr == {"more": 1.0, "usual_care": 1.0}
    assert mmt.events.days_ratio == {"more": 1.0, "usual_care": 1.0}
    adherence = _published("more-mmt-2024", "methadone_adherence").arms
    assert set(mmt.events.adherence_percent.values()) == {adherence["usual_care"]}


def test_constant_odds_ratio_fills_each_week_from_the_reference_arm() -> None:
    scenario = default_scenario(LTOT)
    assert scenario.misuse is not None
    table = scenario.misuse.not_misusing_percent
    assert sorted(table["more"]) == sorted(table["supportive"]) == [8, 13, 26, 39]

    def odds(p: float) -> float:
        return p / (100 - p)

    for week in table["supportive"]:
        ratio = odds(table["more"][week]) / odds(table["supportive"][week])
        assert ratio == pytest.approx(odds(45.0) / odds(24.4), rel=1e-12)
    # Without the knob an arm keeps only what it was given, and a pooled odds ratio that
    # varies by month has no single truth.
    data = scenario.model_dump(mode="python")
    data["misuse"]["constant_odds_ratio_to"] = None
    data["misuse"]["not_misusing_percent"]["more"] = {9: 30.0, 39: 45.0}
    varying = type(scenario).model_validate(data)
    assert true_effect(varying, LTOT, LTOT.analysis_spec("misuse_trajectory")) is None
    data["misuse"]["constant_odds_ratio_to"] = "nobody"
    with pytest.raises(ValueError, match="'nobody' is not an arm"):
        type(scenario).model_validate(data)


def test_true_effects_are_the_published_figures_on_the_estimand_scale() -> None:
    def truth(protocol_id: str, analysis_id: str) -> float | None:
        protocol = load_protocol(protocol_id)
        return true_effect(
            default_scenario(protocol), protocol, protocol.analysis_spec(analysis_id)
        )

    assert truth("mrocc-2025", "primary") == pytest.approx(13.4 - 12.7)
    assert truth("mrocc-2025", "craving") == pytest.approx(-2.3 - (-1.3))
    # Improvement positive: the published 0.49 greater fall in pain severity is +0.49.
    assert truth("more-ltot-2022", "pain_severity") == pytest.approx(0.49)
    # Odds ratio of not misusing at month 9 from 45.0% vs 24.4%: (45/55) / (24.4/75.6).
    assert truth("more-ltot-2022", "misuse") == pytest.approx((45 / 55) / (24.4 / 75.6))
    assert truth("more-mmt-2024", "return_to_use") == pytest.approx(0.58)
    assert truth("more-mmt-2024", "treatment_dropout") == pytest.approx(0.41)
    assert truth("more-mmt-2024", "days_of_use") == pytest.approx(0.58)
    assert truth("more-mmt-2024", "methadone_adherence") == pytest.approx(95.5 - 83.6)
    # Pooled over months 2-9: the scenario keeps the 9-month odds ratio at every month.
    assert truth("more-ltot-2022", "misuse_trajectory") == pytest.approx((45 / 55) / (24.4 / 75.6))
    null = null_scenario(default_scenario(MMT), MMT)
    assert true_effect(null, MMT, MMT.analysis_spec("return_to_use")) == 1.0
    assert true_effect(null, MMT, MMT.analysis_spec("methadone_adherence")) == 0.0
