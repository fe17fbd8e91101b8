"""validate_answer and the error messages of score(): instrument, item, value, what is allowed."""

from __future__ import annotations

import datetime as dt
import math
import pickle
from decimal import Decimal

import numpy as np
import pytest

from mindtrial.instruments import ScoringError, score, validate_answer

PHQ_OK = {f"phq9_{i}": 1 for i in range(1, 10)}


class TestValidateAnswer:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (3, 3),
            ("3", 3),
            (" 3 ", 3),
            (3.0, 3),
            ("3.0", 3),
            (np.int64(3), 3),
            (np.float64(3.0), 3),
        ],
    )
    def test_integer_normalised(self, value: object, expected: int) -> None:
        out = validate_answer("phq9", "phq9_1", value)
        assert out == expected
        assert type(out) is int

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            (4, "4 is out of range"),
            (-1, "-1 is out of range"),
            ("2.5", "'2.5' is not a whole number"),
            ("two", "'two' is not a number"),
            (True, "True is not a number"),
            (math.inf, "inf is not a number"),
        ],
    )
    def test_integer_rejected(self, value: object, reason: str) -> None:
        with pytest.raises(ScoringError) as info:
            validate_answer("phq9", "phq9_1", value)
        message = str(info.value)
        assert message.startswith(
            f"phq9 item phq9_1: {reason}; expected a whole number from 0 to 3"
        )
        assert "3 = Nearly every day" in message
        assert info.value.instrument_id == "phq9"
        assert info.value.item_id == "phq9_1"
        assert info.value.value == value
        assert isinstance(info.value, ValueError)

    def test_range_message_names_promis_limits(self) -> None:
        with pytest.raises(
            ScoringError,
            match=r"^promis_anxiety_8a item EDANX05: 0 is out of range; expected a whole number from 1 to 5 \(1 = Never, 2 = Rarely, 3 = Sometimes, 4 = Often, 5 = Always\)$",
        ):
            validate_answer("promis_anxiety_8a", "EDANX05", 0)

    @pytest.mark.parametrize("value", [None, "", "  ", math.nan])
    def test_missing_rejected(self, value: object) -> None:
        with pytest.raises(
            ScoringError,
            match=r"^ocs item ocs_2: no answer.*; expected a whole number from 0 to 10",
        ):
            validate_answer("ocs", "ocs_2", value)

    def test_unknown_item(self) -> None:
        with pytest.raises(
            ScoringError,
            match=r"^ocs: unknown item 'ocs_4' \(value 5\); expected one of the items ocs_1, ocs_2, ocs_3$",
        ) as info:
            validate_answer("ocs", "ocs_4", 5)
        assert info.value.item_id == "ocs_4"

    def test_unknown_instrument(self) -> None:
        with pytest.raises(
            ScoringError,
            match=r"unknown instrument 'gad7'; known instruments: adverse_event, .*phq9",
        ):
            validate_answer("gad7", "gad_1", 1)
        with pytest.raises(ScoringError, match=r"unknown instrument 'gad7'"):
            score("gad7", {})

    def test_choice(self) -> None:
        assert validate_answer("toxicology_14", "fentanyl", " Negative ") == "negative"
        assert validate_answer("adverse_event", "relatedness", "Not related") == "not_related"
        with pytest.raises(
            ScoringError,
            match=r"^toxicology_14 item fentanyl: 'pos' is not one of the allowed choices; expected one of positive, negative, invalid$",
        ):
            validate_answer("toxicology_14", "fentanyl", "pos")

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (True, True),
            (1, True),
            ("Yes", True),
            ("true", True),
            (0, False),
            ("N", False),
            (0.0, False),
        ],
    )
    def test_boolean(self, value: object, expected: bool) -> None:
        assert validate_answer("adverse_event", "serious", value) is expected

    def test_boolean_rejected(self) -> None:
        with pytest.raises(
            ScoringError,
            match=r"adverse_event item serious: 'maybe' is not yes or no; expected yes or no",
        ):
            validate_answer("adverse_event", "serious", "maybe")

    def test_date(self) -> None:
        assert validate_answer("adverse_event", "onset_date", dt.date(2024, 1, 31)) == dt.date(
            2024, 1, 31
        )
        assert validate_answer("adverse_event", "onset_date", "2024-01-31") == dt.date(2024, 1, 31)
        with pytest.raises(
            ScoringError,
            match=r"onset_date: '2024-02-30' is not a date; expected a date as YYYY-MM-DD",
        ):
            validate_answer("adverse_event", "onset_date", "2024-02-30")
        with pytest.raises(ScoringError, match=r"has a time of day"):
            validate_answer("adverse_event", "onset_date", dt.datetime(2024, 1, 31, 9, 0))

    def test_text(self) -> None:
        assert validate_answer("adverse_event", "description", " dizzy ") == "dizzy"
        with pytest.raises(
            ScoringError,
            match=r"description: .* is too long; expected non-empty text of at most 2000 characters",
        ):
            validate_answer("adverse_event", "description", "x" * 2001)
        with pytest.raises(ScoringError, match=r"description: 12 is not text"):
            validate_answer("adverse_event", "description", 12)

    def test_number_bounds_exact(self) -> None:
        assert validate_answer("home_practice", "formal_minutes", 10080) == 10080
        assert validate_answer("home_practice", "formal_minutes", Decimal("0")) == 0
        with pytest.raises(
            ScoringError,
            match=r"formal_minutes: 10081 is out of range; expected a whole number from 0 to 10080",
        ):
            validate_answer("home_practice", "formal_minutes", 10081)


class TestScoreErrors:
    def test_out_of_range(self) -> None:
        with pytest.raises(
            ScoringError,
            match=r"^phq9 item phq9_4: 7 is out of range; expected a whole number from 0 to 3",
        ) as info:
            score("phq9", PHQ_OK | {"phq9_4": 7})
        assert info.value.item_id == "phq9_4"
        assert info.value.value == 7
        assert info.value.problems == (info.value,)

    def test_missing(self) -> None:
        answers = dict(PHQ_OK)
        del answers["phq9_6"]
        with pytest.raises(
            ScoringError, match=r"^phq9 item phq9_6: no answer; expected a whole number from 0 to 3"
        ):
            score("phq9", answers)

    def test_empty_string_is_missing(self) -> None:
        with pytest.raises(ScoringError, match=r"^phq9 item phq9_6: no answer \(got ''\)"):
            score("phq9", PHQ_OK | {"phq9_6": ""})

    def test_unknown_item(self) -> None:
        with pytest.raises(
            ScoringError,
            match=r"^phq9: unknown item 'phq9_10' \(value 1\); expected one of the items phq9_1, phq9_2",
        ):
            score("phq9", PHQ_OK | {"phq9_10": 1})

    def test_every_problem_reported_once(self) -> None:
        answers = dict(PHQ_OK) | {"phq9_1": 9, "phq9_2": "x", "extra": 0}
        del answers["phq9_3"]
        with pytest.raises(ScoringError) as info:
            score("phq9", answers)
        error = info.value
        assert str(error).startswith("phq9: 4 problems with the answers:")
        assert [(p.item_id, p.value) for p in error.problems] == [
            ("extra", 0),
            ("phq9_1", 9),
            ("phq9_2", "x"),
            ("phq9_3", None),
        ]
        # an invalid answer is not reported a second time as missing
        assert str(error).count("item phq9_1:") == 1


def test_error_survives_pickling() -> None:
    answers = dict(PHQ_OK) | {"phq9_1": 9, "phq9_2": "x"}
    with pytest.raises(ScoringError) as info:
        score("phq9", answers)
    copy = pickle.loads(pickle.dumps(info.value))
    assert str(copy) == str(info.value)
    assert [(p.item_id, p.value) for p in copy.problems] == [("phq9_1", 9), ("phq9_2", "x")]
    single = pickle.loads(pickle.dumps(copy.problems[0]))
    assert (single.instrument_id, single.item_id, single.value) == ("phq9", "phq9_1", 9)
    assert single.problems == (single,)
