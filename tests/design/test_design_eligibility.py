"""Eligibility: every failed criterion is reported; missing fields are listed apart."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from mindtrial.design.eligibility import (
    Criterion,
    CriterionGroup,
    EligibilityCriteria,
    EligibilityInputError,
    evaluate_eligibility,
)

CRITERIA_ADAPTER: TypeAdapter[list[Criterion | CriterionGroup]] = TypeAdapter(EligibilityCriteria)

# M-ROCC's criteria (docs/sources.md, Trials) written the way a protocol file writes them.
MROCC_LIKE = CRITERIA_ADAPTER.validate_python(
    [
        {
            "id": "age",
            "kind": "inclusion",
            "description": "Age 18–70",
            "field": "age",
            "op": "between",
            "value": [18, 70],
        },
        {
            "id": "stable_bup",
            "kind": "inclusion",
            "description": "Stable buprenorphine dose for more than 4 weeks",
            "field": "weeks_stable_dose",
            "op": "gt",
            "value": 4,
        },
        {
            "id": "anxiety_or_use",
            "kind": "inclusion",
            "description": "PROMIS Anxiety T > 55 or fewer than 90 days abstinent",
            "any_of": [
                {
                    "id": "anxiety",
                    "kind": "inclusion",
                    "description": "T > 55",
                    "field": "promis_anxiety_t",
                    "op": "gt",
                    "value": 55,
                },
                {
                    "id": "recent_use",
                    "kind": "inclusion",
                    "description": "< 90 days abstinent",
                    "field": "days_abstinent",
                    "op": "lt",
                    "value": 90,
                },
            ],
        },
        {
            "id": "psychosis",
            "kind": "exclusion",
            "description": "Psychosis",
            "field": "psychosis",
            "op": "is_true",
        },
        {
            "id": "prior_group",
            "kind": "exclusion",
            "description": "Past mindfulness group",
            "field": "prior_mindfulness_group",
            "op": "is_true",
        },
    ]
)

ELIGIBLE = {
    "age": 41,
    "weeks_stable_dose": 10,
    "promis_anxiety_t": 60.4,
    "days_abstinent": 400,
    "psychosis": False,
    "prior_mindfulness_group": False,
}


def test_a_record_meeting_everything_is_eligible() -> None:
    result = evaluate_eligibility(MROCC_LIKE, ELIGIBLE)
    assert result.eligible
    assert result.failed == ()
    assert result.missing == ()


def test_every_failed_criterion_is_reported_not_just_the_first() -> None:
    record = ELIGIBLE | {
        "age": 72,
        "promis_anxiety_t": 52.1,
        "days_abstinent": 120,
        "psychosis": True,
        "prior_mindfulness_group": True,
    }
    result = evaluate_eligibility(MROCC_LIKE, record)
    assert not result.eligible
    assert [f.id for f in result.failed] == ["age", "anxiety_or_use", "psychosis", "prior_group"]
    age, group, psychosis, _ = result.failed
    assert (age.kind, age.field, age.value) == ("inclusion", "age", 72)
    assert age.reason == "inclusion not met: needs age between 18 and 70; record has age = 72"
    assert group.field == "promis_anxiety_t, days_abstinent"
    assert group.value == {"promis_anxiety_t": 52.1, "days_abstinent": 120}
    assert "promis_anxiety_t > 55 or days_abstinent < 90" in group.reason
    assert psychosis.kind == "exclusion"
    assert psychosis.reason.startswith("exclusion applies: psychosis is true")
    assert result.missing == ()


@pytest.mark.parametrize(
    ("anxiety_t", "days", "meets"),
    [
        (60.4, 400, True),  # anxiety alone
        (50.8, 30, True),  # recent use alone
        (55.0, 90, False),  # both at the boundary: > 55 and < 90 are strict
        (55.4, 89, True),
    ],
)
def test_any_of_group_holds_when_one_member_holds(anxiety_t: float, days: int, meets: bool) -> None:
    record = ELIGIBLE | {"promis_anxiety_t": anxiety_t, "days_abstinent": days}
    result = evaluate_eligibility(MROCC_LIKE, record)
    assert result.eligible is meets
    assert [f.id for f in result.failed] == ([] if meets else ["anxiety_or_use"])


@pytest.mark.parametrize(("age", "ok"), [(17.9, False), (18, True), (70, True), (70.5, False)])
def test_between_is_inclusive(age: float, ok: bool) -> None:
    assert evaluate_eligibility(MROCC_LIKE, ELIGIBLE | {"age": age}).eligible is ok


def test_missing_fields_make_a_record_ineligible_and_are_listed_apart() -> None:
    record: dict[str, object] = dict(ELIGIBLE)
    del record["age"]
    record["psychosis"] = None
    record["promis_anxiety_t"] = 50.0
    del record["days_abstinent"]
    result = evaluate_eligibility(MROCC_LIKE, record)
    assert not result.eligible
    assert result.failed == ()
    assert result.missing == ("age", "days_abstinent", "psychosis")


def test_nan_and_empty_text_count_as_missing() -> None:
    # What pandas and the csv module give for an empty cell.
    record = ELIGIBLE | {"age": float("nan"), "psychosis": "  "}
    result = evaluate_eligibility(MROCC_LIKE, record)
    assert (result.eligible, result.failed, result.missing) == (False, (), ("age", "psychosis"))


def test_a_group_met_by_one_member_does_not_need_the_others() -> None:
    record = dict(ELIGIBLE)
    del record["days_abstinent"]  # anxiety T 60.4 already meets the group
    result = evaluate_eligibility(MROCC_LIKE, record)
    assert result.eligible
    assert result.missing == ()


def test_failures_and_missing_fields_are_both_reported() -> None:
    record = ELIGIBLE | {"age": 16, "psychosis": True}
    del record["weeks_stable_dose"]
    result = evaluate_eligibility(MROCC_LIKE, record)
    assert [f.id for f in result.failed] == ["age", "psychosis"]
    assert result.missing == ("weeks_stable_dose",)


def test_exclusion_group_excludes_when_any_member_holds() -> None:
    criteria = CRITERIA_ADAPTER.validate_python(
        [
            {
                "id": "unsafe",
                "kind": "exclusion",
                "description": "Mania or suicidality",
                "any_of": [
                    {
                        "id": "m",
                        "kind": "exclusion",
                        "description": "",
                        "field": "mania",
                        "op": "is_true",
                    },
                    {
                        "id": "s",
                        "kind": "exclusion",
                        "description": "",
                        "field": "suicidal",
                        "op": "is_true",
                    },
                ],
            }
        ]
    )
    assert evaluate_eligibility(criteria, {"mania": False, "suicidal": False}).eligible
    excluded = evaluate_eligibility(criteria, {"mania": False, "suicidal": True})
    assert [f.id for f in excluded.failed] == ["unsafe"]
    # One member holds, so the other's missing field does not matter.
    assert evaluate_eligibility(criteria, {"suicidal": True}).missing == ()
    # Nothing holds and a field is missing: undecided.
    undecided = evaluate_eligibility(criteria, {"mania": False})
    assert (undecided.eligible, undecided.failed, undecided.missing) == (False, (), ("suicidal",))


def _one(op: str, value: object = None, kind: str = "inclusion") -> list[Criterion]:
    return [Criterion(id="c", kind=kind, description="d", field="x", op=op, value=value)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("op", "value", "record_value", "holds"),
    [
        ("ge", 5, 5, True),
        ("ge", 5, 4.99, False),
        ("le", 5, 5, True),
        ("le", 5, 6, False),
        ("lt", 5, 5, False),
        ("eq", "english", "english", True),
        ("eq", "english", "spanish", False),
        ("ne", "english", "spanish", True),
        ("eq", 3, "3", True),
        ("in", ["female", "male", "nonbinary"], "nonbinary", True),
        ("in", ["female", "male"], "other", False),
        ("not_in", ["MA", "NH"], "CA", True),
        ("not_in", ["MA", "NH"], "MA", False),
        ("is_true", None, True, True),
        ("is_true", None, "yes", True),
        ("is_true", None, 0, False),
        ("is_false", None, "No", True),
        ("gt", 55, "55.1", True),
    ],
)
def test_operators(op: str, value: object, record_value: object, holds: bool) -> None:
    result = evaluate_eligibility(_one(op, value), {"x": record_value})
    assert result.eligible is holds
    excluded = evaluate_eligibility(_one(op, value, kind="exclusion"), {"x": record_value})
    assert excluded.eligible is not holds


@pytest.mark.parametrize(
    ("op", "value", "record_value", "expected"),
    [
        ("gt", 55, "high", "field 'x' must be a number, got 'high'"),
        ("is_true", None, "maybe", "field 'x' must be true/false"),
        ("eq", True, 2, "field 'x' must be true/false"),
    ],
)
def test_values_of_the_wrong_type_are_clear_errors(
    op: str, value: object, record_value: object, expected: str
) -> None:
    with pytest.raises(EligibilityInputError, match=expected):
        evaluate_eligibility(_one(op, value), {"x": record_value})


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"op": "gt", "value": [1, 2]}, "op 'gt' needs a number"),
        ({"op": "gt", "value": True}, "op 'gt' needs a number"),
        ({"op": "is_true", "value": 1}, "op 'is_true' takes no value"),
        ({"op": "between", "value": [70, 18]}, "needs low ≤ high"),
        ({"op": "between", "value": [18]}, "needs a list \\[low, high\\]"),
        ({"op": "in", "value": []}, "non-empty list"),
        ({"op": "eq"}, "op 'eq' needs a single value"),
        ({"op": "approx", "value": 1}, "Input should be 'ge'"),
        ({"op": "gt", "value": 1, "unit": "y"}, "Extra inputs are not permitted"),
    ],
)
def test_schema_rejects_criteria_that_cannot_be_evaluated(
    item: dict[str, object], message: str
) -> None:
    raw = {"id": "c", "kind": "inclusion", "description": "d", "field": "x"} | item
    with pytest.raises(ValidationError, match=message):
        CRITERIA_ADAPTER.validate_python([raw])


def test_schema_rejects_mixed_kinds_in_a_group_and_repeated_ids() -> None:
    member = {"id": "m", "kind": "exclusion", "description": "", "field": "x", "op": "is_true"}
    group = {"id": "g", "kind": "inclusion", "description": "", "any_of": [member]}
    with pytest.raises(ValidationError, match="members of a group must have the group's kind"):
        CRITERIA_ADAPTER.validate_python([group])
    twice = {"id": "m", "kind": "inclusion", "description": "", "field": "y", "op": "is_true"}
    with pytest.raises(ValidationError, match="criterion id 'm' is used more than once"):
        CRITERIA_ADAPTER.validate_python([twice, group | {"kind": "exclusion"}])


def test_models_are_frozen_and_parse_groups_by_their_any_of() -> None:
    group = MROCC_LIKE[2]
    assert isinstance(group, CriterionGroup)
    assert [m.id for m in group.any_of] == ["anxiety", "recent_use"]
    with pytest.raises(ValidationError):
        group.id = "other"  # type: ignore[misc]


def test_the_shipped_mrocc_protocol_reports_every_failure() -> None:
    from mindtrial.protocols import load_protocol

    criteria = load_protocol("mrocc-2025").eligibility
    record: dict[str, object] = {
        "age": 75,
        "weeks_on_stable_buprenorphine": 2,
        "prescriber_confirmed": True,
        "promis_anxiety_t": 50.8,
        "days_abstinent": 365,
        "has_camera_device": True,
        "speaks_english": True,
        "psychosis": False,
        "mania": False,
        "suicidality_or_self_injury": True,
        "cognitive_impairment": False,
        "prior_mindfulness_group": False,
        "expected_inpatient_or_incarceration": False,
        "group_disruptive_behaviour": False,
    }
    result = evaluate_eligibility(criteria, record)
    assert [f.id for f in result.failed] == [
        "age",
        "stable_buprenorphine",
        "anxiety_or_recent_use",
        "suicidality",
    ]
    assert result.missing == ()
