"""Eligibility criteria as protocol data, and the screening check that applies them.

A protocol lists its criteria in YAML; each one names a field of the screening record, a
comparison and a value::

    - id: age
      kind: inclusion
      description: Age 18–70
      field: age
      op: between
      value: [18, 70]
    - id: anxiety_or_recent_use
      kind: inclusion
      description: PROMIS Anxiety T > 55 or fewer than 90 days abstinent
      any_of:
        - {id: anxiety, kind: inclusion, description: PROMIS Anxiety T > 55,
           field: promis_anxiety_t, op: gt, value: 55}
        - {id: recent_use, kind: inclusion, description: < 90 days abstinent,
           field: days_abstinent, op: lt, value: 90}
    - id: psychosis
      kind: exclusion
      description: Current psychosis
      field: psychosis
      op: is_true

Semantics:

- a **condition** (field, op, value) *holds* or not for a record;
- an **inclusion** criterion must hold; if it does not, the record fails it;
- an **exclusion** criterion excludes when it holds;
- a **group** (``any_of``) holds when at least one of its conditions holds. Its members
  carry the group's ``kind`` (the schema checks this) and are not judged on their own.

``between`` is inclusive at both ends. A field that is absent from the record, ``None``, NaN
(pandas' missing value) or empty text cannot be judged: the record is *not eligible* and the field is listed in
:attr:`EligibilityResult.missing`, separately from the criteria that were judged and failed.
A group whose members can be judged is decided even if another member's field is missing
(an inclusion group with one member that holds is met).

Screening records often come from CSV files, so numbers given as text (``"55"``) are read as
numbers and ``true/false/yes/no/1/0`` as booleans; anything else of the wrong type is bad
input and raises :class:`EligibilityInputError`.

The criterion models live in :mod:`mindtrial.protocols.criteria` (the protocol schema is
made of them); this module applies them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from mindtrial.protocols.criteria import (
    BOOLEAN_OPS,
    EQUALITY_OPS,
    NUMERIC_OPS,
    Criterion,
    CriterionGroup,
    EligibilityCriteria,
    EligibilityCriterion,
    Kind,
    Scalar,
    is_number,
)

__all__ = [
    "Criterion",
    "CriterionGroup",
    "EligibilityCriteria",
    "EligibilityCriterion",
    "EligibilityInputError",
    "EligibilityResult",
    "FailedCriterion",
    "evaluate_eligibility",
]

_OP_TEXT = {
    "ge": "≥",
    "le": "≤",
    "gt": ">",
    "lt": "<",
    "eq": "=",
    "ne": "≠",
    "in": "one of",
    "not_in": "not one of",
}
_TRUE_TEXT = frozenset({"true", "yes", "y", "1"})
_FALSE_TEXT = frozenset({"false", "no", "n", "0"})


class EligibilityInputError(ValueError):
    """A screening record value has a type the criterion cannot compare."""


@dataclass(frozen=True)
class FailedCriterion:
    """A criterion the record did not meet (inclusion not met, or exclusion applies)."""

    id: str
    kind: Kind
    description: str
    field: str
    """The field judged; for a group, its members' fields joined with ``", "``."""
    value: object
    """The record's value; for a group, a dict field -> value."""
    reason: str


@dataclass(frozen=True)
class EligibilityResult:
    """The outcome of screening one record."""

    eligible: bool
    failed: tuple[FailedCriterion, ...]
    missing: tuple[str, ...]
    """Fields a criterion needed that the record lacks (in criteria order, no repeats)."""


def _as_number(value: object, criterion: Criterion) -> float:
    if is_number(value):
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise EligibilityInputError(
        f"criterion {criterion.id!r}: field {criterion.field!r} must be a number, got {value!r}"
    )


def _as_bool(value: object, criterion: Criterion) -> bool:
    if isinstance(value, bool):
        return value
    if is_number(value) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE_TEXT:
            return True
        if text in _FALSE_TEXT:
            return False
    raise EligibilityInputError(
        f"criterion {criterion.id!r}: field {criterion.field!r} must be true/false "
        f"(or yes/no, 1/0), got {value!r}"
    )


def _like(value: object, target: Scalar, criterion: Criterion) -> Scalar:
    """Read a record value as the type of ``target`` so that the two compare."""
    if isinstance(target, bool):
        return _as_bool(value, criterion)
    if is_number(target):
        return _as_number(value, criterion)
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise EligibilityInputError(
        f"criterion {criterion.id!r}: field {criterion.field!r} must be text, got {value!r}"
    )


def _bounds(criterion: Criterion) -> tuple[float, float]:
    low, high = cast("tuple[float, float]", criterion.value)
    return float(low), float(high)


def _holds(criterion: Criterion, value: object) -> bool:
    op, target = criterion.op, criterion.value
    if op in BOOLEAN_OPS:
        return _as_bool(value, criterion) is (op == "is_true")
    if op in NUMERIC_OPS:
        x, t = _as_number(value, criterion), float(target)  # type: ignore[arg-type]
        return {"ge": x >= t, "le": x <= t, "gt": x > t, "lt": x < t}[op]
    if op == "between":
        low, high = _bounds(criterion)
        return low <= _as_number(value, criterion) <= high
    if op in EQUALITY_OPS:
        equal = _like(value, target, criterion) == target  # type: ignore[arg-type]
        return equal if op == "eq" else not equal
    options: tuple[Scalar, ...] = target  # type: ignore[assignment]
    member = any(_like(value, option, criterion) == option for option in options)
    return member if op == "in" else not member


def _condition_text(criterion: Criterion) -> str:
    op, target = criterion.op, criterion.value
    if op == "is_true":
        return f"{criterion.field} is true"
    if op == "is_false":
        return f"{criterion.field} is false"
    if op == "between":
        low, high = _bounds(criterion)
        return f"{criterion.field} between {low:g} and {high:g}"
    if isinstance(target, tuple):
        shown = ", ".join(str(v) for v in target)
        return f"{criterion.field} {_OP_TEXT[op]} [{shown}]"
    return f"{criterion.field} {_OP_TEXT[op]} {target}"


def _present(record: Mapping[str, object], field: str) -> bool:
    value = record.get(field)
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return not (isinstance(value, str) and not value.strip())


def evaluate_eligibility(
    criteria: Sequence[Criterion | CriterionGroup], record: Mapping[str, object]
) -> EligibilityResult:
    """Judge ``record`` against every criterion and report every one it fails.

    Returns an :class:`EligibilityResult`: ``eligible`` is true only when no criterion failed
    and no needed field is missing. Raises :class:`EligibilityInputError` when a present
    value cannot be read as the type its criterion compares.
    """
    failed: list[FailedCriterion] = []
    missing: dict[str, None] = {}
    for item in criteria:
        members = item.any_of if isinstance(item, CriterionGroup) else (item,)
        judged = [m for m in members if _present(record, m.field)]
        absent = [m.field for m in members if not _present(record, m.field)]
        holds = any(_holds(m, record[m.field]) for m in judged)
        if not holds and absent:
            missing.update(dict.fromkeys(absent))
            continue
        if (item.kind == "inclusion") == holds:
            continue
        if isinstance(item, CriterionGroup):
            conditions = " or ".join(_condition_text(m) for m in item.any_of)
            field = ", ".join(dict.fromkeys(m.field for m in item.any_of))
            value: object = {m.field: record.get(m.field) for m in item.any_of}
            shown = ", ".join(f"{k} = {v!r}" for k, v in value.items())  # type: ignore[attr-defined]
        else:
            conditions = _condition_text(item)
            field = item.field
            value = record[item.field]
            shown = f"{field} = {value!r}"
        if item.kind == "inclusion":
            reason = f"inclusion not met: needs {conditions}; record has {shown}"
        else:
            reason = f"exclusion applies: {conditions}; record has {shown}"
        failed.append(
            FailedCriterion(
                id=item.id,
                kind=item.kind,
                description=item.description,
                field=field,
                value=value,
                reason=reason,
            )
        )
    return EligibilityResult(
        eligible=not failed and not missing, failed=tuple(failed), missing=tuple(missing)
    )
