"""MORE-MMT ``days_of_use``: use-weeks over follow-up, negative binomial with exposure.

The dataset has weekly yes/no past-7-day answers and one urine test a week, so the outcome
is counted in use-weeks (mindtrial.outcomes.drug_use); weeks 1-16 are follow-up, alcohol is
not drug use, methadone (prescribed) is not in the protocol's ``any_drug`` group, and a week
counts as assessed when it has an answered drug item or a valid test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from mindtrial.analysis.plans.frames import model_data
from mindtrial.analysis.runner import run_analysis
from mindtrial.dataset import StudyDataset, StudyMeta, build_dataset
from mindtrial.outcomes.drug_use import drug_items, use_weeks
from mindtrial.protocols import load_protocol

MMT = load_protocol("more-mmt-2024")
# The use-weeks variant of the drug_use_count kind (a dataset without the weekly days item):
# the shipped plan counts days from drug_use_days; these tests pin the use-weeks rule.
_WEEKS = MMT.analysis_spec("days_of_use").model_copy(
    update={
        "derive": MMT.analysis_spec("days_of_use").derive.model_copy(
            update={"params": {"substances": ["any_drug"]}}
        ),
        "exposure": "follow_up_weeks",
    }
)
MMT_WEEKS = MMT.model_copy(
    update={"analysis": MMT.analysis.model_copy(update={"analyses": [_WEEKS], "sensitivity": []})}
)
META = StudyMeta(
    protocol_id="more-mmt-2024",
    protocol_version=MMT.version,
    exported_at=datetime(2026, 11, 22, 12, 0, tzinfo=UTC),
)
Answer = tuple[str, int, str, str, float]
Test = tuple[str, int, str, str]


def people(arms: dict[str, str]) -> pd.DataFrame:
    n = len(arms)
    return pd.DataFrame(
        {
            "participant_id": list(arms),
            "arm": list(arms.values()),
            "site": ["clinic 1"] * n,
            "cohort": ["c01"] * n,
            "randomized_on": ["2021-02-01"] * n,
            "withdrawn_week": [None] * n,
            "withdrawal_reason": [None] * n,
            "sex": ["female", "male"] * (n // 2) + ["female"] * (n % 2),
            "age": [40.0 + i for i in range(n)],
            "methadone_dose_mg": [80.0 + 5 * i for i in range(n)],
        }
    )


def survey(pid: str, week: int, **answers: int) -> list[Answer]:
    return [(pid, week, "substance_use_7d", item, float(v)) for item, v in answers.items()]


def tox(pid: str, week: int, **results: str) -> list[Test]:
    return [(pid, week, analyte, result) for analyte, result in results.items()]


def dataset(
    arms: dict[str, str], responses: Sequence[Answer], toxicology: Sequence[Test] = ()
) -> StudyDataset:
    return build_dataset(
        META,
        participants=people(arms),
        responses=pd.DataFrame(
            list(responses), columns=["participant_id", "week", "instrument", "item", "value"]
        ),
        toxicology=pd.DataFrame(
            list(toxicology), columns=["participant_id", "week", "analyte", "result"]
        ),
    )


def test_drug_items_are_every_item_but_alcohol() -> None:
    assert drug_items() == ["opioids", "benzodiazepines", "cocaine", "methamphetamine"]
    with pytest.raises(ValueError, match="no item"):
        drug_items(["heroin"])


def test_use_weeks_rule_case_by_case() -> None:
    """Each week of A and B written out; C has nothing in follow-up."""
    responses = [
        *survey("A", 0, opioids=1),  # baseline: not follow-up
        *survey("A", 1, opioids=0, cocaine=0),  # assessed, no use
        *survey("A", 2, opioids=0, alcohol=1),  # alcohol only: assessed, no drug use
        *survey("A", 3, benzodiazepines=1),  # reported use
        *survey("A", 4, opioids=0),  # survey clean but test cocaine-positive: use
        *survey("A", 5, opioids=1),  # reported and positive: one use-week
        *survey("B", 2, alcohol=1),  # alcohol is not a drug item: B's week 2 not assessed
        *survey("B", 16, methamphetamine=1),  # last follow-up week counts
        *survey("C", 0, opioids=1),
    ]
    toxicology = [
        *tox("A", 4, cocaine="positive", opiates="negative"),
        *tox("A", 5, fentanyl="positive"),
        *tox("A", 6, methadone="positive", opiates="negative"),  # prescribed: no use
        *tox("A", 7, opiates="invalid"),  # no survey, invalid test: not assessed
        *tox("B", 3, opiates="negative", cocaine="negative"),  # test only: assessed, clean
        *tox("B", 9, oxycodone="positive"),  # test only: use
        *tox("C", 0, fentanyl="positive"),  # baseline
    ]
    ds = dataset({"A": "more", "B": "usual_care", "C": "more"}, responses, toxicology)
    table = use_weeks(ds, MMT).set_index("participant_id")
    # A: weeks 1, 2, 3, 4, 5, 6 assessed (7 is not); use in 3, 4, 5.
    # B: weeks 3, 9, 16 assessed; use in 9 and 16.
    assert table.loc["A"].to_dict() == {
        "weeks_assessed": 6,
        "use_weeks": 3,
        "reported_use_weeks": 2,
        "positive_test_weeks": 2,
    }
    assert table.loc["B"].to_dict() == {
        "weeks_assessed": 3,
        "use_weeks": 2,
        "reported_use_weeks": 1,
        "positive_test_weeks": 1,
    }
    assert table.loc["C"].to_dict() == dict.fromkeys(table.columns, 0)
    assert list(table.index) == ["A", "B", "C"]

    data = model_data(ds, MMT_WEEKS, MMT_WEEKS.analysis_spec("days_of_use"))
    assert data.outcome == "use_weeks" and data.exposure == "follow_up_weeks"
    rows = data.frame.set_index("participant_id")
    assert rows["use_weeks"].to_dict() == {"A": 3.0, "B": 2.0}  # C: no assessed week, left out
    assert rows["follow_up_weeks"].to_dict() == {"A": 6.0, "B": 3.0}
    assert any("use-weeks" in n for n in data.notes)
    assert any("1 participant(s) with no assessed" in n for n in data.notes)


def _weekly(pid: str, weeks: int, used: set[int]) -> list[Answer]:
    return [a for w in range(1, weeks + 1) for a in survey(pid, w, opioids=int(w in used))]


def test_negative_binomial_rate_ratio_worked_by_hand() -> None:
    """MORE: 4 participants assessed all 16 weeks with 0, 1, 2 and 9 use-weeks; usual care:
    4 assessed weeks 1-12 only with 2, 6, 0 and 12 use-weeks.

    With ``y ~ arm`` and every participant of an arm sharing one exposure t, the NB2 score
    equation for the arm's coefficients is sum(y - mu) = 0 within the arm whatever theta is,
    so the fitted rate is mean(y) / t: MORE 3/16 = 0.1875, usual care 5/12 = 0.41667, rate
    ratio 0.1875 / 0.41667 = 0.45.
    """
    counts = {"M1": 0, "M2": 1, "M3": 2, "M4": 9, "U1": 2, "U2": 6, "U3": 0, "U4": 12}
    arms = {pid: "more" if pid.startswith("M") else "usual_care" for pid in counts}
    responses: list[Answer] = []
    for pid, k in counts.items():
        weeks = 16 if pid.startswith("M") else 12
        responses += _weekly(pid, weeks, set(range(1, k + 1)))
    ds = dataset(arms, responses)
    report = run_analysis(ds, protocol=MMT_WEEKS, imputations=2, seed=1)
    days = report.analysis("days_of_use")
    assert days.status == "ok", (days.error, days.warnings)
    assert days.formula == "use_weeks ~ arm"
    assert days.n_participants == 8 and days.n_observations == 8
    summary = days.summary
    assert summary is not None and summary.contrast is not None
    assert summary.measure.startswith("weeks with any drug use per 100 assessed")
    rates = {a.arm: a.estimate for a in summary.arms}
    assert rates["more"] == pytest.approx(100 * 3 / 16, rel=1e-6)
    assert rates["usual_care"] == pytest.approx(100 * 5 / 12, rel=1e-6)
    assert summary.contrast.measure == "ratio of means"  # the protocol's estimand
    assert summary.contrast.estimate == pytest.approx(0.45, rel=1e-6)
    beta = {c.term: c for c in days.coefficients}
    assert beta["Intercept"].estimate == pytest.approx(math.log(5 / 12), rel=1e-6)
    arm = beta["arm[T.more]"]
    assert arm.estimate == pytest.approx(math.log(0.45), rel=1e-6)
    # The CI is the Wald interval of the arm coefficient, exponentiated.
    assert summary.contrast.ci_lower == pytest.approx(
        math.exp(arm.estimate - 1.959963984540054 * arm.std_error), rel=1e-9
    )
    assert np.isfinite(arm.std_error) and arm.std_error > 0


def test_simulated_more_mmt_trial_analyses_without_error() -> None:
    from mindtrial.simulate import simulate_trial

    ds = simulate_trial(MMT, n=154, seed=1)
    report = run_analysis(ds, protocol=MMT, imputations=2, seed=1)
    for result in report.analyses:
        assert result.status in ("ok", "warning"), (result.id, result.error)
    days = report.analysis("days_of_use")
    r = ds.responses
    answered = r[
        (r["instrument"] == "drug_use_days") & r["week"].between(1, 16) & r["value"].notna()
    ]
    assert days.n_participants == answered["participant_id"].nunique()
    assert days.formula == "use_days ~ arm"
    contrast = days.summary.contrast  # type: ignore[union-attr]
    assert contrast is not None and 0 < contrast.estimate < 1  # the simulated MORE arm uses less
