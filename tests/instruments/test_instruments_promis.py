"""PROMIS Anxiety 8a and Depression 8a against the published raw → T tables.

The reference tables are typed in here from the official scoring tables (docs/sources.md, Instruments),
independently of the YAML files the code reads.
"""

from __future__ import annotations

import pytest

from mindtrial.instruments import ScoringError, get_instrument, score
from mindtrial.instruments.schema import PromisLookupRule, band_for

# Official table (docs/sources.md, Instruments), PROMIS Anxiety 8a: raw 8..40 → T
ANXIETY_T = dict(
    zip(
        range(8, 41),
        [
            37.1, 43.2, 45.9, 47.8, 49.4, 50.8, 52.1, 53.2, 54.3, 55.4, 56.4,
            57.4, 58.4, 59.4, 60.4, 61.4, 62.5, 63.5, 64.5, 65.6, 66.6, 67.7,
            68.7, 69.8, 70.8, 71.9, 73.0, 74.1, 75.4, 76.7, 78.2, 80.0, 83.1,
        ],
        strict=True,
    )
)  # fmt: skip

# Official table (docs/sources.md, Instruments), PROMIS Depression 8a: raw 8..40 → T
DEPRESSION_T = dict(
    zip(
        range(8, 41),
        [
            38.2, 44.7, 47.5, 49.4, 50.9, 52.1, 53.2, 54.1, 55.1, 55.9, 56.8,
            57.7, 58.5, 59.4, 60.3, 61.2, 62.1, 63.0, 63.9, 64.9, 65.8, 66.8,
            67.7, 68.7, 69.7, 70.7, 71.7, 72.8, 73.9, 75.0, 76.4, 78.2, 81.3,
        ],
        strict=True,
    )
)  # fmt: skip

ANXIETY_ITEMS = [
    "EDANX01",
    "EDANX40",
    "EDANX41",
    "EDANX53",
    "EDANX46",
    "EDANX07",
    "EDANX05",
    "EDANX54",
]
DEPRESSION_ITEMS = [
    "EDDEP04",
    "EDDEP05",
    "EDDEP06",
    "EDDEP09",
    "EDDEP22",
    "EDDEP29",
    "EDDEP36",
    "EDDEP41",
]


def answers_with_raw(items: list[str], raw: int) -> dict[str, int]:
    """Answers (1-5 each) summing to ``raw``: fill items with 5s from the first one."""
    extra = raw - len(items)  # points above all-1s
    answers = {}
    for item in items:
        step = min(4, extra)
        answers[item] = 1 + step
        extra -= step
    assert sum(answers.values()) == raw
    return answers


def anxiety_band(t: float) -> str:
    """docs/sources.md: < 55 within normal limits, 55-59.9 mild, 60-69.9 moderate, >= 70 severe."""
    if t < 55:
        return "within normal limits"
    if t < 60:
        return "mild"
    if t < 70:
        return "moderate"
    return "severe"


@pytest.mark.parametrize("raw", range(8, 41))
def test_anxiety_every_raw_score(raw: int) -> None:
    result = score("promis_anxiety_8a", answers_with_raw(ANXIETY_ITEMS, raw))
    assert result.scores == {"raw": raw, "t_score": ANXIETY_T[raw]}
    assert result.bands == {"t_score": anxiety_band(ANXIETY_T[raw])}
    assert result.answered == 8
    assert not result.prorated


@pytest.mark.parametrize("raw", range(8, 41))
def test_depression_every_raw_score(raw: int) -> None:
    result = score("promis_depression_8a", answers_with_raw(DEPRESSION_ITEMS, raw))
    assert result.scores == {"raw": raw, "t_score": DEPRESSION_T[raw]}
    assert result.bands == {"t_score": anxiety_band(DEPRESSION_T[raw])}


def test_item_ids_and_order() -> None:
    assert list(get_instrument("promis_anxiety_8a").item_ids) == ANXIETY_ITEMS
    assert list(get_instrument("promis_depression_8a").item_ids) == DEPRESSION_ITEMS


def test_same_raw_from_different_answers_gives_same_t() -> None:
    uneven = dict(zip(ANXIETY_ITEMS, [5, 1, 5, 1, 1, 1, 1, 5], strict=True))  # raw 20
    assert score("promis_anxiety_8a", uneven).scores["t_score"] == 58.4


@pytest.mark.parametrize(
    ("t", "band"),
    [
        (54.9, "within normal limits"),
        (55.0, "mild"),
        (59.9, "mild"),
        (60.0, "moderate"),
        (69.9, "moderate"),
        (70.0, "severe"),
    ],
)
@pytest.mark.parametrize("instrument_id", ["promis_anxiety_8a", "promis_depression_8a"])
def test_bands_at_boundaries(instrument_id: str, t: float, band: str) -> None:
    rule = get_instrument(instrument_id).scoring
    assert isinstance(rule, PromisLookupRule)
    assert band_for(rule.bands, t) == band


def test_table_boundary_rows() -> None:
    # raw 16 -> 54.3 (normal), 17 -> 55.4 (mild), 21 -> 59.4 (mild), 22 -> 60.4 (moderate),
    # 31 -> 69.8 (moderate), 32 -> 70.8 (severe)
    expected = {
        16: "within normal limits",
        17: "mild",
        21: "mild",
        22: "moderate",
        31: "moderate",
        32: "severe",
    }
    for raw, band in expected.items():
        result = score("promis_anxiety_8a", answers_with_raw(ANXIETY_ITEMS, raw))
        assert result.bands["t_score"] == band, raw


class TestProration:
    def test_missing_item_rejected_without_prorate(self) -> None:
        answers = answers_with_raw(ANXIETY_ITEMS, 20)
        del answers["EDANX54"]
        with pytest.raises(
            ScoringError, match=r"promis_anxiety_8a item EDANX54: no answer"
        ) as info:
            score("promis_anxiety_8a", answers)
        assert "prorate" in str(info.value)
        assert info.value.item_id == "EDANX54"

    def test_seven_answered(self) -> None:
        # 7 items summing to 20: raw = round(20 * 8 / 7) = round(22.857) = 23 -> T 61.4
        answers = dict(zip(ANXIETY_ITEMS[:7], [3, 3, 3, 3, 3, 3, 2], strict=True))
        result = score("promis_anxiety_8a", answers, prorate=True)
        assert result.scores == {"raw": 23, "t_score": 61.4}
        assert result.bands == {"t_score": "moderate"}
        assert result.prorated
        assert result.answered == 7
        assert any("round(20 × 8 / 7)" in note for note in result.notes)

    def test_half_answered_is_enough(self) -> None:
        # 4 items summing to 9: raw = round(9 * 8 / 4) = 18 -> T 56.4
        answers = {"EDANX01": 2, "EDANX41": 3, "EDANX05": 2, "EDANX54": 2}
        result = score("promis_anxiety_8a", answers, prorate=True)
        assert result.scores == {"raw": 18, "t_score": 56.4}

    def test_rounding(self) -> None:
        # 6 items summing to 16: 16 * 8 / 6 = 21.33 -> 21 (T 59.4);
        # 5 items summing to 13: 13 * 8 / 5 = 20.8 -> 21 (not truncated to 20)
        six = dict(zip(ANXIETY_ITEMS[:6], [3, 2, 3, 4, 2, 2], strict=True))
        assert score("promis_anxiety_8a", six, prorate=True).scores["raw"] == 21
        five = dict(zip(ANXIETY_ITEMS[:5], [3, 3, 3, 2, 2], strict=True))
        assert score("promis_anxiety_8a", five, prorate=True).scores["raw"] == 21

    def test_fewer_than_half_rejected(self) -> None:
        answers = {"EDANX01": 2, "EDANX41": 3, "EDANX05": 2}
        with pytest.raises(
            ScoringError, match=r"only 3 of 8 items answered; proration needs at least 4"
        ):
            score("promis_anxiety_8a", answers, prorate=True)

    def test_prorate_flag_does_not_change_complete_answers(self) -> None:
        answers = answers_with_raw(DEPRESSION_ITEMS, 25)
        result = score("promis_depression_8a", answers, prorate=True)
        assert result.scores == {"raw": 25, "t_score": 63.0}
        assert not result.prorated
        assert result.notes == ()

    def test_invalid_answer_still_rejected_when_prorating(self) -> None:
        answers = {"EDANX01": 2, "EDANX41": 3, "EDANX05": 2, "EDANX54": 6}
        with pytest.raises(ScoringError, match=r"EDANX54: 6 is out of range"):
            score("promis_anxiety_8a", answers, prorate=True)
