"""The instrument schema: a questionnaire, log or test result written down as data.

Each file in ``instruments/data/`` is one :class:`Instrument`: who published it, its items
(id, text, type, allowed range or choices, whether an answer is required) and the rule that
turns answers into scores. Models are frozen and reject unknown keys, so a typo in a
definition is an error, never a silently ignored setting.

Scoring rules (``scoring.rule``):

``promis_lookup``
    Raw score = sum of all items, converted to a T score through the published lookup table;
    bands on the T score. An optional proration rule (see :class:`Proration`) applies only when
    the caller asks for it.
``scales``
    One or more scales, each the sum or the mean of its items, optionally multiplied (DASS-21
    doubles its sums) and banded. A mean scale may set ``min_answered`` below its item count
    (the Brief Pain Inventory's interference score needs 4 of 7): its items are then optional
    and the scale is left out, with a note, when too few are answered.
``any_true``
    Yes/no items: ``any`` (1 when any item is yes, else 0) and ``count`` (how many are yes).
``none``
    No numeric score (adverse event, toxicology panel): answers are validated and returned.
"""

from __future__ import annotations

import itertools
import math
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"
_CODE_PATTERN = r"^[a-z0-9][a-z0-9_]*$"

Identifier = Annotated[str, Field(pattern=_ID_PATTERN, max_length=64)]
ChoiceCode = Annotated[str, Field(pattern=_CODE_PATTERN, max_length=64)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ItemType(StrEnum):
    """What kind of answer an item takes."""

    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    TEXT = "text"
    DATE = "date"


class ItemTextSource(StrEnum):
    """Where the item wording in the file comes from.

    ``official``: the published wording. ``paraphrase``: a neutral description of our own
    (a site administering the instrument loads the official wording). ``withheld``: the
    wording is copyrighted and not shipped; items carry ids only.
    """

    OFFICIAL = "official"
    PARAPHRASE = "paraphrase"
    WITHHELD = "withheld"


class Choice(_Model):
    """One allowed answer of a choice item: the stored code and the label people read."""

    code: ChoiceCode
    label: str = Field(min_length=1)


class Item(_Model):
    """One question (or one field of a form)."""

    id: Identifier
    text: str | None = None
    type: ItemType
    min: float | None = None
    max: float | None = None
    labels: dict[int, str] = {}
    choices: tuple[Choice, ...] = ()
    required: bool = True
    unit: str | None = None
    max_length: Annotated[int, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Item:
        numeric = self.type in (ItemType.INTEGER, ItemType.NUMBER)
        if numeric:
            if self.min is None or self.max is None:
                raise ValueError(f"item {self.id}: a {self.type} item needs both min and max")
            if not (math.isfinite(self.min) and math.isfinite(self.max)):
                raise ValueError(f"item {self.id}: min and max must be finite")
            if self.min > self.max:
                raise ValueError(f"item {self.id}: min {self.min:g} is above max {self.max:g}")
            if self.type is ItemType.INTEGER and not (
                float(self.min).is_integer() and float(self.max).is_integer()
            ):
                raise ValueError(f"item {self.id}: an integer item needs whole-number min and max")
        elif self.min is not None or self.max is not None:
            raise ValueError(f"item {self.id}: min/max only apply to integer and number items")
        if self.labels:
            if self.type is not ItemType.INTEGER:
                raise ValueError(f"item {self.id}: labels only apply to integer items")
            assert self.min is not None and self.max is not None
            outside = sorted(k for k in self.labels if not self.min <= k <= self.max)
            if outside:
                raise ValueError(f"item {self.id}: labels for values {outside} outside the range")
        if self.type is ItemType.CHOICE:
            if len(self.choices) < 2:
                raise ValueError(f"item {self.id}: a choice item needs at least two choices")
            codes = [c.code for c in self.choices]
            if len(set(codes)) != len(codes):
                raise ValueError(f"item {self.id}: choice codes are not unique: {codes}")
            labels = [c.label.casefold() for c in self.choices]
            if len(set(labels)) != len(labels):
                raise ValueError(f"item {self.id}: choice labels are not unique")
        elif self.choices:
            raise ValueError(f"item {self.id}: choices only apply to choice items")
        if self.max_length is not None and self.type is not ItemType.TEXT:
            raise ValueError(f"item {self.id}: max_length only applies to text items")
        return self


class Band(_Model):
    """A severity band: applies from ``lower`` (inclusive) up to the next band's lower bound."""

    lower: float | None = None
    label: str = Field(min_length=1)


def _check_bands(bands: tuple[Band, ...], where: str) -> None:
    if not bands:
        return
    if bands[0].lower is not None:
        raise ValueError(f"{where}: the first band must have no lower bound (it starts at -inf)")
    lowers: list[float] = []
    for band in bands[1:]:
        if band.lower is None:
            raise ValueError(f"{where}: only the first band may omit its lower bound")
        lowers.append(band.lower)
    if any(b <= a for a, b in itertools.pairwise(lowers)):
        raise ValueError(f"{where}: band lower bounds must increase, got {lowers}")


def band_for(bands: tuple[Band, ...], value: float) -> str | None:
    """The label of the band ``value`` falls in (None when the scale has no bands)."""
    label: str | None = None
    for band in bands:
        if band.lower is None or value >= band.lower:
            label = band.label
    return label


class Proration(_Model):
    """Opt-in missing-item rule: score from ``min_answered`` items, raw = round(sum × n / answered).

    Rounding is half up. Never applied unless the caller passes ``prorate=True``.
    """

    min_answered: Annotated[int, Field(gt=0)]
    description: str


class PromisLookupRule(_Model):
    rule: Literal["promis_lookup"]
    raw_score: Identifier = "raw"
    t_score: Identifier = "t_score"
    lookup: dict[int, float]
    bands: tuple[Band, ...] = ()
    proration: Proration | None = None

    @model_validator(mode="after")
    def _bands_ok(self) -> PromisLookupRule:
        _check_bands(self.bands, "scoring.bands")
        return self

    @property
    def score_ids(self) -> tuple[str, ...]:
        return (self.raw_score, self.t_score)


class Scale(_Model):
    """A sum or mean of items, times ``multiplier``, with optional bands."""

    id: Identifier
    label: str | None = None
    items: tuple[Identifier, ...] = Field(min_length=1)
    method: Literal["sum", "mean"]
    multiplier: float = 1.0
    min_answered: Annotated[int, Field(gt=0)] | None = None
    bands: tuple[Band, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Scale:
        if len(set(self.items)) != len(self.items):
            raise ValueError(f"scale {self.id}: an item is listed twice")
        if self.min_answered is not None:
            if self.method != "mean":
                raise ValueError(f"scale {self.id}: min_answered only applies to mean scales")
            if self.min_answered > len(self.items):
                raise ValueError(
                    f"scale {self.id}: min_answered {self.min_answered} exceeds its "
                    f"{len(self.items)} items"
                )
        _check_bands(self.bands, f"scale {self.id}")
        return self

    @property
    def needed(self) -> int:
        """How many of the scale's items must be answered for it to be scored."""
        return len(self.items) if self.min_answered is None else self.min_answered


class ScalesRule(_Model):
    rule: Literal["scales"]
    scales: tuple[Scale, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> ScalesRule:
        ids = [s.id for s in self.scales]
        if len(set(ids)) != len(ids):
            raise ValueError(f"scale ids are not unique: {ids}")
        return self

    @property
    def score_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.scales)


class AnyTrueRule(_Model):
    rule: Literal["any_true"]
    any_score: Identifier = "any"
    count_score: Identifier = "count"

    @property
    def score_ids(self) -> tuple[str, ...]:
        return (self.any_score, self.count_score)


class NoScoreRule(_Model):
    rule: Literal["none"]

    @property
    def score_ids(self) -> tuple[str, ...]:
        return ()


ScoringRule = Annotated[
    PromisLookupRule | ScalesRule | AnyTrueRule | NoScoreRule, Field(discriminator="rule")
]


class MissingAnswers(_Model):
    """How a form with unanswered items is treated: the instrument's own rule, as data.

    ``prefer_not_to_answer`` lets a participant decline an item (the check-in offers
    "Prefer not to answer"). What a partly answered form still scores is set by the scoring
    rule (``scoring.proration`` of a PROMIS form, ``min_answered`` of a mean scale, each scale
    of a multi-scale form on its own); with no such rule every item of a score is needed,
    and the answers given are kept without it. ``description`` says so in words (with the
    manual it comes from), for staff reading a partial check-in.
    """

    prefer_not_to_answer: bool = False
    description: str = Field(min_length=1)


class Alert(_Model):
    """A note added to the score when an item reaches ``at_least`` (e.g. PHQ-9 item 9)."""

    item: Identifier
    at_least: float
    message: str = Field(min_length=1)


class Instrument(_Model):
    """One instrument definition (one YAML file)."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    reference: str = Field(min_length=1)
    recall_period: str | None = None
    item_text_source: ItemTextSource
    license_note: str | None = None
    notes: str | None = None
    items: tuple[Item, ...] = Field(min_length=1)
    scoring: ScoringRule
    alerts: tuple[Alert, ...] = ()
    missing: MissingAnswers | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Instrument:
        ids = [item.id for item in self.items]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"item ids are not unique: {dupes}")
        if self.item_text_source is ItemTextSource.WITHHELD:
            with_text = [item.id for item in self.items if item.text is not None]
            if with_text:
                raise ValueError(f"item text is withheld but items {with_text} have text")
        else:
            without = [item.id for item in self.items if not item.text]
            if without:
                raise ValueError(f"items {without} have no text")
        self._check_scoring()
        for alert in self.alerts:
            if alert.item not in ids:
                raise ValueError(f"alert refers to unknown item {alert.item}")
        return self

    def _check_scoring(self) -> None:
        by_id = {item.id: item for item in self.items}
        rule = self.scoring
        numeric = (ItemType.INTEGER, ItemType.NUMBER)
        if isinstance(rule, PromisLookupRule):
            for item in self.items:
                if item.type is not ItemType.INTEGER or not item.required:
                    raise ValueError(f"promis_lookup needs required integer items; {item.id} isn't")
            low = int(sum(item.min or 0 for item in self.items))
            high = int(sum(item.max or 0 for item in self.items))
            expected = set(range(low, high + 1))
            if set(rule.lookup) != expected:
                missing = sorted(expected - set(rule.lookup))
                extra = sorted(set(rule.lookup) - expected)
                raise ValueError(
                    f"lookup must cover raw scores {low}..{high} exactly "
                    f"(missing {missing}, unexpected {extra})"
                )
            if rule.proration and rule.proration.min_answered > len(self.items):
                raise ValueError("proration.min_answered exceeds the number of items")
        elif isinstance(rule, ScalesRule):
            for scale in rule.scales:
                for item_id in scale.items:
                    member = by_id.get(item_id)
                    if member is None:
                        raise ValueError(f"scale {scale.id} refers to unknown item {item_id}")
                    if member.type not in numeric:
                        raise ValueError(f"scale {scale.id}: item {item_id} is not numeric")
                    partial = scale.min_answered is not None and scale.needed < len(scale.items)
                    if member.required == partial:
                        want = "optional" if partial else "required"
                        raise ValueError(
                            f"scale {scale.id}: item {item_id} must be {want} "
                            f"(the scale needs {scale.needed} of {len(scale.items)} answered)"
                        )
        elif isinstance(rule, AnyTrueRule):
            for item in self.items:
                if item.type is not ItemType.BOOLEAN or not item.required:
                    raise ValueError(f"any_true needs required boolean items; {item.id} isn't")

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(item.id for item in self.items)

    @property
    def score_ids(self) -> tuple[str, ...]:
        """The keys of :attr:`ScoreResult.scores` this instrument produces."""
        return self.scoring.score_ids

    def item(self, item_id: str) -> Item:
        """The item with this id (KeyError when there is none)."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)
