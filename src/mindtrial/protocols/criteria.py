"""Eligibility criteria as the protocol file writes them: conditions on screening fields.

The models only: :mod:`mindtrial.design.eligibility` applies them to a screening record
(and documents the semantics). They live here, below ``design``, because the protocol
schema is made of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

__all__ = [
    "BOOLEAN_OPS",
    "EQUALITY_OPS",
    "MEMBERSHIP_OPS",
    "NUMERIC_OPS",
    "Criterion",
    "CriterionGroup",
    "EligibilityCriteria",
    "EligibilityCriterion",
    "Kind",
    "Op",
    "Scalar",
    "is_number",
]

Kind: TypeAlias = Literal["inclusion", "exclusion"]
Op: TypeAlias = Literal[
    "ge", "le", "gt", "lt", "eq", "ne", "in", "not_in", "is_true", "is_false", "between"
]
Scalar: TypeAlias = bool | int | float | str

NUMERIC_OPS = frozenset({"ge", "le", "gt", "lt"})
EQUALITY_OPS = frozenset({"eq", "ne"})
MEMBERSHIP_OPS = frozenset({"in", "not_in"})
BOOLEAN_OPS = frozenset({"is_true", "is_false"})


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Criterion(BaseModel):
    """One condition on one field of the screening record."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    kind: Kind
    description: str
    field: str = Field(min_length=1)
    op: Op
    value: Scalar | tuple[Scalar, ...] | None = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> Criterion:
        op, value = self.op, self.value
        if op in NUMERIC_OPS:
            if not is_number(value) or not math.isfinite(float(value)):  # type: ignore[arg-type]
                raise ValueError(f"op {op!r} needs a number as value, got {value!r}")
        elif op in EQUALITY_OPS:
            if value is None or isinstance(value, tuple):
                raise ValueError(f"op {op!r} needs a single value, got {value!r}")
        elif op in MEMBERSHIP_OPS:
            if not isinstance(value, tuple) or not value:
                raise ValueError(f"op {op!r} needs a non-empty list as value, got {value!r}")
        elif op in BOOLEAN_OPS:
            if value is not None:
                raise ValueError(f"op {op!r} takes no value, got {value!r}")
        else:  # between
            if (
                not isinstance(value, tuple)
                or len(value) != 2
                or not all(is_number(v) for v in value)
            ):
                raise ValueError(f"op 'between' needs a list [low, high] of numbers, got {value!r}")
            low, high = value
            if low > high:  # type: ignore[operator]
                raise ValueError(f"op 'between' needs low ≤ high, got [{low}, {high}]")
        return self


class CriterionGroup(BaseModel):
    """Several conditions of which at least one must hold (``any_of``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    kind: Kind
    description: str
    any_of: tuple[Criterion, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _members_share_kind(self) -> CriterionGroup:
        for member in self.any_of:
            if member.kind != self.kind:
                raise ValueError(
                    f"member {member.id!r} of group {self.id!r} has kind {member.kind!r}; "
                    f"members of a group must have the group's kind {self.kind!r}"
                )
        return self


def _criterion_tag(value: Any) -> str:
    if isinstance(value, CriterionGroup):
        return "group"
    if isinstance(value, Mapping) and "any_of" in value:
        return "group"
    return "criterion"


def _unique_ids(
    criteria: list[Criterion | CriterionGroup],
) -> list[Criterion | CriterionGroup]:
    seen: set[str] = set()
    for item in criteria:
        ids = [item.id] + ([m.id for m in item.any_of] if isinstance(item, CriterionGroup) else [])
        for ident in ids:
            if ident in seen:
                raise ValueError(f"criterion id {ident!r} is used more than once")
            seen.add(ident)
    return criteria


EligibilityCriterion: TypeAlias = Annotated[
    Annotated[Criterion, Tag("criterion")] | Annotated[CriterionGroup, Tag("group")],
    Discriminator(_criterion_tag),
]
"""A criterion or a group; a mapping with ``any_of`` is read as a group."""

EligibilityCriteria: TypeAlias = Annotated[list[EligibilityCriterion], AfterValidator(_unique_ids)]
"""The protocol's list of criteria (ids unique across criteria and group members)."""
