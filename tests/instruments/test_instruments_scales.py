"""Scoring of the non-PROMIS instruments against hand-worked examples (rules listed in docs/sources.md, Instruments)."""

from __future__ import annotations

import datetime as dt

import pytest

from mindtrial.instruments import ScoringError, get_instrument, score
from mindtrial.instruments.schema import ScalesRule, band_for

# ---------------------------------------------------------------------------- OCS


def test_ocs_mean() -> None:
    # (3 + 4 + 8) / 3 = 5
    result = score("ocs", {"ocs_1": 3, "ocs_2": 4, "ocs_3": 8})
    assert result.scores == {"mean": 5.0}
    assert result.bands == {}


def test_ocs_mean_not_whole() -> None:
    # (2 + 3 + 3) / 3 = 8/3
    result = score("ocs", {"ocs_1": 2, "ocs_2": 3, "ocs_3": 3})
    assert result.scores["mean"] == pytest.approx(8 / 3, abs=1e-12)


def test_ocs_all_items_required() -> None:
    with pytest.raises(
        ScoringError, match=r"ocs item ocs_3: no answer; expected a whole number from 0 to 10"
    ):
        score("ocs", {"ocs_1": 2, "ocs_2": 3})


# ---------------------------------------------------------------------------- BPI

SEVERITY = {"worst": 8, "least": 3, "average": 5, "now": 4}  # (8+3+5+4)/4 = 5.0


def test_bpi_all_items() -> None:
    interference = {
        "general_activity": 6,
        "mood": 7,
        "walking": 2,
        "normal_work": 5,
        "relations": 4,
        "sleep": 8,
        "enjoyment": 4,
    }  # 36 / 7
    result = score("bpi_sf", SEVERITY | interference)
    assert result.scores["severity"] == 5.0
    assert result.scores["interference"] == pytest.approx(36 / 7, abs=1e-12)
    assert result.answered == 11
    assert result.notes == ()


def test_bpi_interference_four_of_seven_is_valid() -> None:
    # mood 6, sleep 7, walking 2, enjoyment 4: mean of the 4 answered = 19/4 = 4.75
    result = score("bpi_sf", SEVERITY | {"mood": 6, "sleep": 7, "walking": 2, "enjoyment": 4})
    assert result.scores == {"severity": 5.0, "interference": 4.75}
    assert result.notes == ("interference: mean of 4 of 7 answered items",)


def test_bpi_interference_three_of_seven_is_not_scored() -> None:
    result = score("bpi_sf", SEVERITY | {"mood": 6, "sleep": 7, "walking": 2})
    assert result.scores == {"severity": 5.0}
    assert "interference" not in result.scores
    assert result.notes == ("interference not scored: 3 of 7 items answered, at least 4 needed",)


def test_bpi_severity_needs_all_four() -> None:
    with pytest.raises(ScoringError, match=r"bpi_sf item now: no answer"):
        score("bpi_sf", {"worst": 8, "least": 3, "average": 5})


def test_bpi_out_of_range_interference_rejected() -> None:
    with pytest.raises(
        ScoringError,
        match=r"bpi_sf item sleep: 11 is out of range; expected a whole number from 0 to 10",
    ):
        score("bpi_sf", SEVERITY | {"sleep": 11})


# ---------------------------------------------------------------------------- PHQ-9


def phq9_with_total(total: int) -> dict[str, int]:
    answers = {}
    left = total
    for i in range(1, 10):
        answers[f"phq9_{i}"] = min(3, left)
        left -= answers[f"phq9_{i}"]
    assert left == 0
    return answers


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately severe"),
        (19, "moderately severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_phq9_bands(total: int, band: str) -> None:
    result = score("phq9", phq9_with_total(total))
    assert result.scores == {"total": total}
    assert result.bands == {"total": band}


def test_phq9_item9_is_flagged() -> None:
    answers = dict.fromkeys((f"phq9_{i}" for i in range(1, 9)), 0) | {"phq9_9": 1}
    result = score("phq9", answers)
    assert result.scores["total"] == 1
    assert len(result.notes) == 1
    assert "phq9_9" in result.notes[0]
    assert "safety" in result.notes[0]
    assert score("phq9", phq9_with_total(8)).notes == ()


# ---------------------------------------------------------------------------- DASS-21


def test_dass21_hand_worked() -> None:
    values = [1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    answers = {f"dass_{i:02d}": v for i, v in enumerate(values, start=1)}
    # depression items 3, 5, 10, 13, 16, 17, 21 -> 3+1+2+1+0+1+1 = 9  -> x2 = 18 (14-20 moderate)
    # anxiety    items 2, 4, 7, 9, 15, 19, 20   -> 2+0+3+1+3+3+0 = 12 -> x2 = 24 (20+ extremely severe)
    # stress     items 1, 6, 8, 11, 12, 14, 18  -> 1+2+0+3+0+2+2 = 10 -> x2 = 20 (19-25 moderate)
    result = score("dass21", answers)
    assert result.scores == {"depression": 18, "anxiety": 24, "stress": 20}
    assert result.bands == {
        "depression": "moderate",
        "anxiety": "extremely severe",
        "stress": "moderate",
    }


def test_dass21_second_example() -> None:
    answers = {f"dass_{i:02d}": 0 for i in range(1, 22)}
    answers |= {"dass_03": 3, "dass_17": 2}  # depression 5 -> 10 (mild)
    answers |= {"dass_02": 1, "dass_09": 1, "dass_20": 2}  # anxiety 4 -> 8 (mild)
    answers |= {"dass_01": 3, "dass_11": 3, "dass_18": 1}  # stress 7 -> 14 (normal)
    result = score("dass21", answers)
    assert result.scores == {"depression": 10, "anxiety": 8, "stress": 14}
    assert result.bands == {"depression": "mild", "anxiety": "mild", "stress": "normal"}


# DASS-21 bands (doubled metric; docs/sources.md, Instruments): depression 0-9/10-13/14-20/21-27/28+;
# anxiety 0-7/8-9/10-14/15-19/20+; stress 0-14/15-18/19-25/26-33/34+.
DASS_BANDS = {
    "depression": [(9, "normal"), (10, "mild"), (13, "mild"), (14, "moderate"), (20, "moderate"),
                   (21, "severe"), (27, "severe"), (28, "extremely severe"), (42, "extremely severe")],
    "anxiety": [(7, "normal"), (8, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
                (15, "severe"), (19, "severe"), (20, "extremely severe")],
    "stress": [(14, "normal"), (15, "mild"), (18, "mild"), (19, "moderate"), (25, "moderate"),
               (26, "severe"), (33, "severe"), (34, "extremely severe")],
}  # fmt: skip


@pytest.mark.parametrize("subscale", sorted(DASS_BANDS))
def test_dass21_band_boundaries(subscale: str) -> None:
    rule = get_instrument("dass21").scoring
    assert isinstance(rule, ScalesRule)
    scale = next(s for s in rule.scales if s.id == subscale)
    for value, band in DASS_BANDS[subscale]:
        assert band_for(scale.bands, value) == band, (subscale, value)


def test_dass21_subscale_key() -> None:
    rule = get_instrument("dass21").scoring
    assert isinstance(rule, ScalesRule)
    key = {s.id: sorted(int(i.removeprefix("dass_")) for i in s.items) for s in rule.scales}
    assert key == {
        "depression": [3, 5, 10, 13, 16, 17, 21],
        "anxiety": [2, 4, 7, 9, 15, 19, 20],
        "stress": [1, 6, 8, 11, 12, 14, 18],
    }


# ---------------------------------------------------------------------------- COMM


@pytest.mark.parametrize(
    ("total", "band"), [(0, "negative"), (12, "negative"), (13, "positive"), (68, "positive")]
)
def test_comm_total_and_cutoff(total: int, band: str) -> None:
    answers = {}
    left = total
    for i in range(1, 18):
        answers[f"comm_{i:02d}"] = min(4, left)
        left -= answers[f"comm_{i:02d}"]
    result = score("comm", answers)
    assert result.scores == {"total": total}
    assert result.bands == {"total": band}


def test_comm_ships_no_item_text() -> None:
    instrument = get_instrument("comm")
    assert [item.id for item in instrument.items] == [f"comm_{i:02d}" for i in range(1, 18)]
    assert all(item.text is None for item in instrument.items)
    assert instrument.item_text_source == "withheld"


# ---------------------------------------------------------------- substance use, logs, EMA

NO_USE = {"opioids": 0, "benzodiazepines": 0, "cocaine": 0, "methamphetamine": 0, "alcohol": 0}


def test_substance_use_none() -> None:
    result = score("substance_use_7d", NO_USE)
    assert result.scores == {"any": 0, "count": 0}
    assert result.answers == dict.fromkeys(NO_USE, False)


def test_substance_use_some() -> None:
    result = score("substance_use_7d", NO_USE | {"cocaine": "1", "alcohol": "yes"})
    assert result.scores == {"any": 1, "count": 2}
    assert result.answers["cocaine"] is True
    assert result.answers["opioids"] is False


def test_substance_use_rejects_two() -> None:
    with pytest.raises(ScoringError, match=r"substance_use_7d item opioids: 2 is not yes or no"):
        score("substance_use_7d", NO_USE | {"opioids": 2})


def test_home_practice() -> None:
    result = score(
        "home_practice", {"formal_minutes": 120, "informal_minutes": 45, "days_practised": 5}
    )
    assert result.scores == {
        "formal_minutes": 120,
        "informal_minutes": 45,
        "total_minutes": 165,
        "days_practised": 5,
    }


def test_home_practice_days_range() -> None:
    with pytest.raises(
        ScoringError,
        match=r"days_practised: 8 is out of range; expected a whole number from 0 to 7",
    ):
        score("home_practice", {"formal_minutes": 0, "informal_minutes": 0, "days_practised": 8})


def test_ema_craving() -> None:
    result = score("ema_craving", {"craving": 7, "pain": "3"})
    assert result.scores == {"craving": 7, "pain": 3}


# ---------------------------------------------------------------- answer-only instruments


def test_adverse_event_normalised() -> None:
    result = score(
        "adverse_event",
        {
            "description": "  headache after session ",
            "onset_date": "2024-03-05",
            "severity": "Moderate",
            "serious": "no",
            "relatedness": "possibly related",
            "expected": True,
            "outcome": "recovered_with_sequelae",
            "action_taken": "none",
        },
    )
    assert result.scores == {}
    assert result.bands == {}
    assert result.answered == 8
    assert result.answers == {
        "description": "headache after session",
        "onset_date": dt.date(2024, 3, 5),
        "severity": "moderate",
        "serious": False,
        "relatedness": "possibly",
        "expected": True,
        "outcome": "recovered_with_sequelae",
        "action_taken": "none",
    }
    assert result.to_dict()["answers"]["onset_date"] == "2024-03-05"  # type: ignore[index]


def test_adverse_event_choices() -> None:
    instrument = get_instrument("adverse_event")
    codes = {item.id: [c.code for c in item.choices] for item in instrument.items if item.choices}
    assert codes["severity"] == ["mild", "moderate", "severe"]
    assert codes["relatedness"] == ["not_related", "unlikely", "possibly", "probably", "definitely"]
    assert codes["outcome"] == [
        "recovered",
        "recovering",
        "not_recovered",
        "recovered_with_sequelae",
        "fatal",
        "unknown",
    ]


ANALYTES = [
    "opiates", "oxycodone", "fentanyl", "methadone", "buprenorphine", "benzodiazepines",
    "cocaine", "amphetamine", "methamphetamine", "thc", "mdma", "barbiturates", "pcp", "tramadol",
]  # fmt: skip


def test_toxicology_panel() -> None:
    assert list(get_instrument("toxicology_14").item_ids) == ANALYTES
    answers = dict.fromkeys(ANALYTES, "negative") | {"fentanyl": "POSITIVE", "thc": "Invalid"}
    result = score("toxicology_14", answers)
    assert result.scores == {}
    assert result.answers["fentanyl"] == "positive"
    assert result.answers["thc"] == "invalid"
    assert result.answers["opiates"] == "negative"


def test_bpi_interference_scores_when_a_severity_item_is_missing() -> None:
    # The BPI manual scores interference (mean of >= 4 of 7) on its own: no answer for
    # "now" leaves severity unscored but not interference (6+7+2+4+5)/5 = 4.8.
    answers = {"worst": 8, "least": 3, "average": 5}
    answers |= {"mood": 6, "sleep": 7, "walking": 2, "enjoyment": 4, "relations": 5}
    result = score("bpi_sf", answers)
    assert result.scores == {"interference": pytest.approx(4.8, abs=1e-12)}
    assert result.notes[0] == "severity not scored: no answer for now (all 4 items needed)"


def test_dass21_subscales_score_independently() -> None:
    # Depression items all answered 1 (sum 7, doubled 14); one anxiety item missing:
    # anxiety is left out, depression and stress still score.
    depression = ["dass_03", "dass_05", "dass_10", "dass_13", "dass_16", "dass_17", "dass_21"]
    anxiety = ["dass_02", "dass_04", "dass_07", "dass_09", "dass_15", "dass_19"]  # no dass_20
    stress = ["dass_01", "dass_06", "dass_08", "dass_11", "dass_12", "dass_14", "dass_18"]
    answers = dict.fromkeys(depression, 1) | dict.fromkeys(anxiety, 2) | dict.fromkeys(stress, 0)
    result = score("dass21", answers)
    assert result.scores == {"depression": 14.0, "stress": 0.0}
