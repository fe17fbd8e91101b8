"""Partly answered forms (a participant chose "prefer not to answer"): each instrument's own
missing-item rule, read from its YAML, decides what is still scored; answers are kept.

Expected values are worked by hand from the rules and the published tables:
PROMIS Anxiety 8a raw-to-T table (HealthMeasures scoring manual), the Brief Pain Inventory
interference rule (mean of the answered items, at least 4 of 7), DASS-21 subscales (sum × 2).
"""

from __future__ import annotations

import pytest

from mindtrial.instruments.registry import get_instrument
from mindtrial.instruments.scoring import ScoringError, score_available


def test_promis_six_of_eight_is_prorated_by_the_manual_rule() -> None:
    # Answers 2, 3, 3, 2, 4, 3 to six items: sum 17; prorated raw = 17 × 8 / 6 = 22.67,
    # rounded to 23; the PROMIS Anxiety 8a table gives T = 61.4 for raw 23 ("moderate",
    # 60 <= T < 70).
    answers = {"EDANX01": 2, "EDANX40": 3, "EDANX41": 3, "EDANX53": 2, "EDANX46": 4, "EDANX07": 3}
    result = score_available("promis_anxiety_8a", {**answers, "EDANX05": None, "EDANX54": ""})
    assert result.scores == {"raw": 23.0, "t_score": 61.4}
    assert result.bands == {"t_score": "moderate"}
    assert result.prorated and result.answered == 6
    assert result.answers == answers


def test_promis_three_of_eight_keeps_the_answers_without_a_score() -> None:
    answers = {"EDANX01": 2, "EDANX40": 3, "EDANX41": 3}
    result = score_available("promis_anxiety_8a", answers)
    assert result.scores == {} and not result.prorated
    assert result.answers == answers
    assert result.notes[0].startswith("not scored: 3 of 8 items answered")


def test_bpi_interference_from_five_of_seven_severity_needs_all_four() -> None:
    # Interference: mean of the 5 answered items (4 + 6 + 5 + 3 + 7) / 5 = 5.0.
    # Severity lacks "now": left out, as the form has no rule for it.
    answers = {
        "worst": 8, "least": 2, "average": 5,
        "general_activity": 4, "mood": 6, "walking": 5, "normal_work": 3, "sleep": 7,
    }  # fmt: skip
    result = score_available("bpi_sf", answers)
    assert result.scores == {"interference": 5.0}
    assert result.answers == answers


def test_dass_scores_the_complete_subscales_only() -> None:
    # Every item answered 1 except depression's dass_03: anxiety = 7 × 1 × 2 = 14 and
    # stress = 14 (both complete); depression is left out (no proration in the manual).
    answers = {f"dass_{i:02d}": 1 for i in range(1, 22) if i != 3}
    result = score_available("dass21", answers)
    assert result.scores == {"anxiety": 14.0, "stress": 14.0}


def test_ocs_without_a_published_rule_needs_every_item() -> None:
    result = score_available("ocs", {"ocs_1": 6, "ocs_2": 4})
    assert result.scores == {}
    assert result.answers == {"ocs_1": 6, "ocs_2": 4}


def test_phq9_item_nine_alert_is_raised_even_without_a_total() -> None:
    instrument = get_instrument("phq9")
    alert = instrument.alerts[0]
    result = score_available("phq9", {alert.item: 2})
    assert result.scores == {}
    assert alert.message in result.notes


def test_a_wrong_answer_is_still_an_error() -> None:
    with pytest.raises(ScoringError, match="out of range"):
        score_available("ocs", {"ocs_1": 11})


def test_the_rule_is_data_in_the_instrument_files() -> None:
    # Which forms a participant may decline items of is declared in each YAML file.
    declined = {
        i
        for i in ("promis_anxiety_8a", "bpi_sf", "dass21", "ocs", "home_practice", "ema_craving")
        if (m := get_instrument(i).missing) is not None and m.prefer_not_to_answer
    }
    assert declined == {"promis_anxiety_8a", "bpi_sf", "dass21", "ocs"}
