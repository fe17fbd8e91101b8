"""Calibration of the two MORE trials: a large simulated trial reproduces the published
figures, read from the protocol file (the independent reference: the papers' numbers).

The quantities are computed here from the dataset with statsmodels directly (not through
the analysis engine), as the papers define them: % not misusing at month 9 (COMM < 13 and
no unexpected urine opioid), between-arm difference in improvement of pain severity and
interference, Cox hazard ratios of return to use and of treatment dropout, the negative
binomial ratio of mean days of use per followed week, and methadone adherence (doses taken /
doses scheduled). Tolerances are about 3 Monte-Carlo standard errors at the n used.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.duration.hazard_regression import PHReg

from mindtrial.dataset import StudyDataset, follow_up_week
from mindtrial.instruments.mme import regimen_mme
from mindtrial.protocols import Protocol, load_protocol
from mindtrial.protocols.schema import PublishedResult
from mindtrial.simulate import simulate_trial

LTOT = load_protocol("more-ltot-2022")
MMT = load_protocol("more-mmt-2024")


def _result(protocol: Protocol, result_id: str) -> PublishedResult:
    return next(r for r in protocol.published.results if r.id == result_id)


@cache
def _ltot() -> StudyDataset:
    return simulate_trial(LTOT, n=4000, seed=2022)


@cache
def _mmt() -> StudyDataset:
    return simulate_trial(MMT, n=4000, seed=2024)


def _arm(ds: StudyDataset) -> pd.Series:  # type: ignore[type-arg]
    return ds.participants.set_index("participant_id")["arm"].astype(str)


def test_published_arm_sizes_and_funnel() -> None:
    ds = simulate_trial(LTOT, seed=1)  # the published n
    counts = ds.participants["arm"].value_counts().to_dict()
    assert counts == dict(LTOT.published.flow.randomized_by_arm)  # 129 / 121
    stages = ds.screening["stage"].value_counts()
    assert stages["randomized"] == 250
    assert len(ds.screening) > 250  # a CONSORT funnel, not 250 -> 250


def _misusing_at(ds: StudyDataset, week: int) -> pd.Series:  # type: ignore[type-arg]
    """Misuse (COMM >= 13 or an unexpected opioid in the urine) of those assessed at week."""
    r = ds.responses
    comm = r[(r["instrument"] == "comm") & (r["week"] == week)]
    totals = comm.groupby("participant_id")["value"].sum()
    tox = ds.toxicology
    assert LTOT.toxicology is not None
    unexpected = LTOT.toxicology.substances["unexpected_opioid"]
    urine = tox[(tox["week"] == week) & tox["analyte"].isin(unexpected)]
    positive = urine["result"].eq("positive").groupby(urine["participant_id"]).any()
    return (totals >= 13) | positive.reindex(totals.index, fill_value=False).astype(bool)


def test_ltot_not_misusing_at_nine_months() -> None:
    ds = _ltot()
    arm = _arm(ds)
    misusing = _misusing_at(ds, follow_up_week(9))
    not_misusing = 100 * (~misusing).groupby(arm.reindex(misusing.index)).mean()
    published = _result(LTOT, "misuse").arms
    for name, target in published.items():
        n = int((arm.reindex(misusing.index) == name).sum())
        se = 100 * np.sqrt(target / 100 * (1 - target / 100) / n)
        assert abs(not_misusing[name] - target) < 3.5 * se + 1.0, (name, not_misusing[name])


def test_ltot_misuse_odds_ratio_is_the_nine_month_one_at_every_assessment() -> None:
    # The scenario keeps MORE's 9-month odds ratio at every assessment, so a logistic GEE
    # over months 2-9 (statsmodels, exchangeable) estimates the odds ratio of the published
    # 9-month percentages, (45.0/55.0) / (24.4/75.6); so does each month on its own.
    ds = _ltot()
    arm = _arm(ds)
    published = _result(LTOT, "misuse").arms
    truth = np.log(
        (published["more"] / (100 - published["more"]))
        / (published["supportive"] / (100 - published["supportive"]))
    )
    # Post-treatment (week 8, "month 2" of the analysis) and months 3, 6 and 9.
    rows = []
    for week in (8, 13, 26, 39):
        misusing = _misusing_at(ds, week)
        rows.append(
            pd.DataFrame(
                {
                    "id": misusing.index,
                    "week": week,
                    "more": (arm.reindex(misusing.index) == "more").astype(float).to_numpy(),
                    "not_misusing": (~misusing).astype(float).to_numpy(),
                }
            )
        )
        one = rows[-1]
        odds = one.groupby("more")["not_misusing"].mean()
        log_or = np.log(odds[1.0] / (1 - odds[1.0])) - np.log(odds[0.0] / (1 - odds[0.0]))
        assert abs(log_or - truth) < 0.25, (week, log_or)  # about 3 SE at n = 4,000
    data = pd.concat(rows).sort_values(["id", "week"])
    exog = pd.get_dummies(data[["more", "week"]], columns=["week"], drop_first=True, dtype=float)
    fit = sm.GEE(
        data["not_misusing"],
        sm.add_constant(exog),
        groups=data["id"],
        family=sm.families.Binomial(),
        cov_struct=sm.cov_struct.Exchangeable(),
    ).fit()
    assert abs(fit.params["more"] - truth) < 3 * fit.bse["more"], (fit.params["more"], truth)


def test_ltot_pain_effects_are_the_published_differences_in_improvement() -> None:
    ds = _ltot()
    arm = _arm(ds)
    r = ds.responses[ds.responses["instrument"] == "bpi_sf"]
    scales = {
        "pain_severity": ["worst", "least", "average", "now"],
        "pain_interference": [
            "general_activity",
            "mood",
            "walking",
            "normal_work",
            "relations",
            "sleep",
            "enjoyment",
        ],
    }
    for result_id, items in scales.items():
        score = r[r["item"].isin(items)].groupby(["participant_id", "week"])["value"].mean()
        wide = score.unstack()
        follow = [follow_up_week(m) for m in LTOT.follow_up_months] + [LTOT.weeks]
        improvement = (wide[[0]].to_numpy() - wide[follow]).mean(axis=1, skipna=True).dropna()
        by_arm = improvement.groupby(arm.reindex(improvement.index)).agg(["mean", "var", "count"])
        effect = by_arm.loc["more", "mean"] - by_arm.loc["supportive", "mean"]
        se = np.sqrt((by_arm["var"] / by_arm["count"]).sum())
        target = _result(LTOT, result_id).difference
        assert target is not None
        assert abs(effect - target) < 3 * se + 0.05, (result_id, effect, se)


def test_ltot_medication_list_gives_the_baseline_mme_and_a_dose_over_time() -> None:
    ds = _ltot()
    meds = ds.medications
    baseline = meds[meds["week"] == 0]
    totals = baseline.groupby("participant_id").apply(
        lambda f: regimen_mme(list(zip(f["drug"], f["daily_dose"], strict=True))).total,
        include_groups=False,
    )
    covariate = ds.participants.set_index("participant_id")["baseline_mme"]
    np.testing.assert_allclose(totals.to_numpy(), covariate.reindex(totals.index), atol=0.01)
    assert set(meds["week"]) == {0, 8, 13, 26, 39}


def test_mmt_hazard_ratios_days_of_use_and_adherence() -> None:
    ds = _mmt()
    part = ds.participants.set_index("participant_id")
    arm = part["arm"].astype(str)
    x = (arm == "more").to_numpy(dtype=float)[:, None]
    responses = ds.responses
    last = responses.groupby("participant_id")["week"].max().reindex(part.index)
    # Treatment dropout: the week of leaving methadone treatment, else censored.
    exit_week = part["treatment_exit_week"].astype("Float64")
    time = exit_week.fillna(last.astype("Float64")).to_numpy(dtype=float)
    fit = PHReg(time, x, status=exit_week.notna().to_numpy(dtype=float), ties="efron").fit()
    dropout_hr = float(np.exp(fit.params[0]))
    assert abs(np.log(dropout_hr) - np.log(0.41)) < 3 * float(fit.bse[0]), dropout_hr
    # Return to use: first week with reported days of use or a positive urine for any drug.
    days = responses[(responses["instrument"] == "drug_use_days") & (responses["week"] >= 1)]
    reported = days[days["value"] > 0].groupby("participant_id")["week"].min()
    assert MMT.toxicology is not None
    drugs = MMT.toxicology.substances["any_drug"]
    tox = ds.toxicology
    positive = tox[(tox["result"] == "positive") & tox["analyte"].isin(drugs) & (tox["week"] >= 1)]
    first = pd.concat([reported, positive.groupby("participant_id")["week"].min()], axis=1)
    first_use = first.min(axis=1).reindex(part.index)
    time = first_use.fillna(last).to_numpy(dtype=float)
    fit = PHReg(time, x, status=first_use.notna().to_numpy(dtype=float), ties="efron").fit()
    return_hr = float(np.exp(fit.params[0]))
    target = _result(MMT, "return_to_use").ratio
    assert target is not None
    assert abs(np.log(return_hr) - np.log(target)) < 3 * float(fit.bse[0]), return_hr
    # Days of use: negative binomial, exposure = weeks reported.
    total = days.groupby("participant_id")["value"].sum().reindex(part.index, fill_value=0)
    weeks = days.groupby("participant_id")["week"].count().reindex(part.index, fill_value=0)
    keep = (weeks > 0).to_numpy()
    nb = sm.NegativeBinomial(
        total.to_numpy()[keep], sm.add_constant(x[keep]), exposure=weeks.to_numpy()[keep]
    ).fit(disp=0)
    ratio = float(np.exp(nb.params[1]))
    target = _result(MMT, "days_of_use").ratio
    assert target is not None
    assert abs(np.log(ratio) - np.log(target)) < 3 * float(nb.bse[1]), (ratio, nb.bse[1])
    # Methadone adherence: doses taken / doses scheduled, by arm.
    meds = ds.medications.assign(arm=ds.medications["participant_id"].map(arm))
    sums = meds.groupby("arm")[["days_taken", "days_scheduled"]].sum()
    adherence = 100 * sums["days_taken"] / sums["days_scheduled"]
    for name, value in _result(MMT, "methadone_adherence").arms.items():
        assert abs(float(adherence[name]) - value) < 1.5, (name, adherence[name])


def test_mmt_sites_usual_care_and_ema() -> None:
    ds = _mmt()
    assert ds.participants["site"].nunique() == 5
    attending = ds.attendance.merge(ds.participants[["participant_id", "arm"]])
    assert set(attending["arm"]) == {"more"}  # usual care has no groups
    ema = ds.ema
    # Three prompts a day for seven days at each EMA week, each at a distinct time.
    per_week = ema.groupby(["participant_id", "week"]).size()
    assert per_week.max() == 21
    assert not ema.duplicated(["participant_id", "prompted_at"]).any()
    assert ema.loc[~ema["answered"], ["craving", "pain"]].isna().all().all()
    answered = ema[ema["answered"]]
    pain = answered.groupby([answered["participant_id"].map(_arm(ds)), "week"])["pain"].mean()
    # EMA pain falls more with MORE than with usual care (published direction).
    drop = pain.xs(0, level="week") - pain.xs(16, level="week")
    assert drop["more"] > drop["usual_care"] + 0.4
