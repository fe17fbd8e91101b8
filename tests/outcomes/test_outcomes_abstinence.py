"""Two-week period abstinence (M-ROCC rule) on a hand-built dataset.

Protocol mrocc-2025: periods of 2 weeks over weeks 1-24 (period 7 = weeks 13-14), at least
2 surveys and 1 valid test needed to call a period abstinent; opioids are counted on
opiates, oxycodone, fentanyl and methadone.
"""

from __future__ import annotations

import pandas as pd
import pytest
from outcome_factory import dataset, opioid_panel, survey, tox

from mindtrial.dataset import StudyDataset
from mindtrial.outcomes import abstinence_periods, periods, toxicology_tests
from mindtrial.protocols import load_protocol

PROTOCOL = load_protocol("mrocc-2025")
IDS = ["P1", "P2", "P3", "P4", "P5", "P6", "P7"]


def scenario() -> StudyDataset:
    responses = [
        # P1: clean surveys in weeks 13 and 14, but fentanyl positive in week 14.
        *survey("P1", 13, opioids=0),
        *survey("P1", 14, opioids=0),
        # P2: a single clean survey and no test.
        *survey("P2", 13, opioids=0),
        # P3: two clean surveys; the only test is invalid on every opioid analyte.
        *survey("P3", 13, opioids=0),
        *survey("P3", 14, opioids=0),
        # P4: clean for opioids and benzodiazepines in the surveys; test benzo-positive.
        *survey("P4", 13, opioids=0, benzodiazepines=0),
        *survey("P4", 14, opioids=0, benzodiazepines=0),
        # P5: reports opioid use in week 13; nothing else.
        *survey("P5", 13, opioids=1),
        # P6: two clean surveys; in the test opiates are invalid, the rest negative.
        *survey("P6", 13, opioids=0, cocaine=0),
        *survey("P6", 14, opioids=0, cocaine=0),
        # P7: clean period 7; a positive test in week 15 (period 8); baseline use at week 0.
        *survey("P7", 0, opioids=1),
        *survey("P7", 13, opioids=0),
        *survey("P7", 14, opioids=0),
    ]
    toxicology = [
        *opioid_panel("P1", 14, fentanyl="positive"),
        *opioid_panel("P3", 13, result="invalid"),
        *opioid_panel("P4", 13),
        *tox("P4", 13, benzodiazepines="positive"),
        *opioid_panel("P6", 14, opiates="invalid"),
        *tox("P6", 14, cocaine="negative"),
        *opioid_panel("P7", 13),
        *opioid_panel("P7", 15, fentanyl="positive"),
        *opioid_panel("P7", 0, fentanyl="positive"),  # baseline: in no period
    ]
    return dataset(IDS, responses=responses, toxicology=toxicology)


def _period(frame: pd.DataFrame, pid: str, period: int) -> dict[str, object]:
    row = frame[(frame["participant_id"] == pid) & (frame["period"] == period)]
    assert len(row) == 1
    return {str(k): (None if pd.isna(v) else v) for k, v in row.iloc[0].to_dict().items()}


def test_periods_of_the_protocol() -> None:
    p = periods(PROTOCOL)
    assert p["period"].tolist() == list(range(1, 13))
    assert p["first_week"].tolist() == [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23]
    assert p["last_week"].tolist() == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24]


def test_opioid_periods_follow_the_rule() -> None:
    frame = abstinence_periods(scenario(), PROTOCOL, "opioids")
    assert list(frame.columns) == [
        "participant_id",
        "period",
        "first_week",
        "last_week",
        "n_surveys",
        "n_tests",
        "any_reported_use",
        "any_positive_test",
        "non_abstinent",
    ]
    # One row per participant and period, even without data.
    assert len(frame) == 7 * 12
    assert str(frame["non_abstinent"].dtype) == "Int64"
    assert str(frame["any_reported_use"].dtype) == "boolean"

    def outcome(pid: str, period: int = 7) -> tuple[object, ...]:
        r = _period(frame, pid, period)
        return (
            r["n_surveys"],
            r["n_tests"],
            r["any_reported_use"],
            r["any_positive_test"],
            r["non_abstinent"],
        )

    # P1: 2 clean surveys, 1 test with fentanyl positive -> non-abstinent.
    assert outcome("P1") == (2, 1, False, True, 1)
    # P2: 1 survey (< 2 required), no test -> missing.
    assert outcome("P2") == (1, 0, False, None, None)
    # P3: the invalid test does not count as a test -> 0 tests -> missing.
    assert outcome("P3") == (2, 0, False, None, None)
    # P4: benzodiazepine positive does not touch opioids: 2 clean surveys + 1 negative test.
    assert outcome("P4") == (2, 1, False, False, 0)
    # P5: reported use alone decides, whatever the counts.
    assert outcome("P5") == (1, 0, True, None, 1)
    # P6: opiates invalid and no opioid positive -> the test is invalid for opioids -> missing.
    assert outcome("P6") == (2, 0, False, None, None)
    # P7: period 7 abstinent; period 8 (weeks 15-16) has only the fentanyl positive -> 1.
    assert outcome("P7") == (2, 1, False, False, 0)
    assert outcome("P7", 8) == (0, 1, None, True, 1)
    # Week 0 (baseline use and a baseline positive) lies in no period: period 1 is empty.
    assert outcome("P7", 1) == (0, 0, None, None, None)
    # Nobody has data in period 12.
    assert frame.loc[frame["period"] == 12, "non_abstinent"].isna().all()


def test_other_substances_use_their_own_analytes_and_items() -> None:
    ds = scenario()
    benzo = abstinence_periods(ds, PROTOCOL, "benzodiazepines")
    # P4: 2 clean benzodiazepine surveys, test benzodiazepines positive -> non-abstinent.
    assert _period(benzo, "P4", 7)["non_abstinent"] == 1
    # P1 never answered the benzodiazepine item and had no benzodiazepine result -> missing.
    assert _period(benzo, "P1", 7)["non_abstinent"] is None
    cocaine = abstinence_periods(ds, PROTOCOL, "cocaine")
    # P6: cocaine surveys clean (2), cocaine read negative in week 14 -> abstinent, even
    # though the same test was invalid for opioids.
    assert _period(cocaine, "P6", 7) == {
        "participant_id": "P6",
        "period": 7,
        "first_week": 13,
        "last_week": 14,
        "n_surveys": 2,
        "n_tests": 1,
        "any_reported_use": False,
        "any_positive_test": False,
        "non_abstinent": 0,
    }


def test_requirements_can_be_relaxed() -> None:
    frame = abstinence_periods(
        scenario(), PROTOCOL, "opioids", surveys_required=1, tests_required=0
    )
    # With 1 survey and no test required: P2, P3 and P6 become abstinent; P5 stays 1.
    got = {pid: _period(frame, pid, 7)["non_abstinent"] for pid in IDS}
    assert got == {"P1": 1, "P2": 0, "P3": 0, "P4": 0, "P5": 1, "P6": 0, "P7": 0}


def test_toxicology_tests_status_per_week() -> None:
    tests = toxicology_tests(scenario(), PROTOCOL, "opioids")
    status = {(r.participant_id, r.week): r.status for r in tests.itertuples()}
    assert status == {
        ("P1", 14): "positive",
        ("P3", 13): "invalid",
        ("P4", 13): "negative",
        ("P6", 14): "invalid",
        ("P7", 0): "positive",
        ("P7", 13): "negative",
        ("P7", 15): "positive",
    }


def test_unknown_substance_is_a_clear_error() -> None:
    with pytest.raises(
        ValueError,
        match="defines no substance 'heroin'; substances: opioids, benzodiazepines, cocaine",
    ):
        abstinence_periods(scenario(), PROTOCOL, "heroin")
