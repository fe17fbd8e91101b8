"""Outcome kinds that read study dataset format 2 (EMA prompts, medication lists, days of use,
treatment exit), each recomputed from the raw tables by an independent route."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mindtrial.dataset import StudyDataset
from mindtrial.outcomes.kinds import derive_outcome
from mindtrial.protocols import load_protocol
from mindtrial.simulate import simulate_trial

LTOT = load_protocol("more-ltot-2022")
MMT = load_protocol("more-mmt-2024")


def _spec_of_kind(protocol: object, kind: str) -> object:
    return next(s for s in protocol.analysis.analyses if s.derive.kind == kind)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def mmt() -> StudyDataset:
    return simulate_trial(MMT, n=60, seed=8)


@pytest.fixture(scope="module")
def ltot() -> StudyDataset:
    return simulate_trial(LTOT, n=40, seed=9)


def test_ema_mean_is_the_mean_of_answered_prompts(mmt: StudyDataset) -> None:
    spec = _spec_of_kind(MMT, "ema_mean")
    derived = derive_outcome(mmt, MMT, spec)  # type: ignore[arg-type]
    item = spec.derive.params["item"]  # type: ignore[attr-defined]
    ema = mmt.ema
    checked = 0
    for row in derived.frame.itertuples(index=False):
        rows = ema[(ema["participant_id"] == row.participant_id) & (ema["week"] == row.week)]
        answers = [v for a, v in zip(rows["answered"], rows[item], strict=True) if a and v == v]
        assert getattr(row, derived.value) == pytest.approx(sum(answers) / len(answers))
        assert row.prompts_answered == len(answers)
        checked += 1
    assert checked > 60  # several weeks per participant
    assert set(derived.frame["week"]) <= {0, 8, 16}


def test_days_of_use_sum_the_weekly_days(mmt: StudyDataset) -> None:
    spec = MMT.analysis_spec("days_of_use")
    derived = derive_outcome(mmt, MMT, spec)
    r = mmt.responses
    days = r[(r["instrument"] == "drug_use_days") & (r["week"].between(1, 16))]
    expected = days.groupby("participant_id")["value"].agg(["sum", "count"])
    frame = derived.frame.set_index("participant_id")
    assert derived.value == "use_days" and derived.exposure == "days_assessed"
    for pid, (total, weeks) in expected.iterrows():
        assert frame.loc[pid, "use_days"] == total
        assert frame.loc[pid, "days_assessed"] == 7 * weeks


def test_methadone_adherence_rows_are_scheduled_doses(mmt: StudyDataset) -> None:
    spec = MMT.analysis_spec("methadone_adherence")
    derived = derive_outcome(mmt, MMT, spec)
    meds = mmt.medications
    meds = meds[(meds["drug"] == "methadone") & meds["days_scheduled"].notna()]
    assert len(derived.frame) == int(meds["days_scheduled"].sum())
    taken = derived.frame.groupby("participant_id")["dose_taken"].sum()
    expected = meds.groupby("participant_id")["days_taken"].sum()
    assert taken.to_dict() == {k: float(v) for k, v in expected.items()}


def test_treatment_exit_is_the_dropout_event(mmt: StudyDataset) -> None:
    spec = MMT.analysis_spec("treatment_dropout")
    derived = derive_outcome(mmt, MMT, spec)
    exits = mmt.participants.set_index("participant_id")["treatment_exit_week"]
    for row in derived.frame.itertuples(index=False):
        week = exits[row.participant_id]
        if pd.isna(week):
            assert row.event == 0.0
        else:
            assert row.event == 1.0 and row.weeks_to_event == float(week)


def test_opioid_dose_in_mme(ltot: StudyDataset) -> None:
    # CDC 2022 factors, worked by hand for the drugs the lists hold.
    factors = {
        "codeine": 0.15,
        "hydrocodone": 1.0,
        "hydromorphone": 5.0,
        "morphine": 1.0,
        "oxycodone": 1.5,
        "oxymorphone": 3.0,
        "tapentadol": 0.4,
        "tramadol": 0.2,
        "buprenorphine": 0.0,
    }
    derived = derive_outcome(ltot, LTOT, LTOT.analysis_spec("opioid_dose"))
    meds = ltot.medications
    checked = 0
    for row in derived.frame.itertuples(index=False):
        lines = meds[(meds["participant_id"] == row.participant_id) & (meds["week"] == row.week)]
        if not set(lines["drug"]) <= set(factors):
            continue  # methadone/fentanyl have dose-dependent or unit factors
        total = sum(factors[d] * q for d, q in zip(lines["drug"], lines["daily_dose"], strict=True))
        assert row.mme == pytest.approx(total, rel=1e-9)
        checked += 1
    assert checked > 20
    assert set(derived.frame["month"]) <= {0, 2, 3, 6, 9}
    assert np.isfinite(derived.frame["mme"]).all()
