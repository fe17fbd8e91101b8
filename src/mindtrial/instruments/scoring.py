"""Validating answers and scoring instruments.

Every answer is checked against its item (type, range, choices) and normalised (``"3"`` →
``3``, ``"Yes"`` → ``True``, a choice label → its code, ``"2024-03-01"`` → a date). Unknown
items, missing answers and out-of-range values raise :class:`ScoringError`; when several
answers are wrong, one error lists them all (its ``problems`` hold one error per answer).

Missing answers (absent, ``None``, an empty string or NaN) are only tolerated by two
documented rules:

* PROMIS proration, opt-in with ``prorate=True``: with at least half of the items answered,
  raw = round(sum × items / answered), rounding half up; the result carries a note.
* The Brief Pain Inventory's interference score, the mean of the answered items when at
  least 4 of 7 are answered; with fewer it is left out of the scores, with a note.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from mindtrial.instruments.registry import get_instrument
from mindtrial.instruments.schema import (
    AnyTrueRule,
    Instrument,
    Item,
    ItemType,
    NoScoreRule,
    PromisLookupRule,
    ScalesRule,
    band_for,
)

Answer = int | float | bool | str | dt.date

_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n"}


class ScoringError(ValueError):
    """An answer (or set of answers) that cannot be scored.

    The message names the instrument, the item, the value and what was expected.
    ``problems`` holds one error per bad answer when several were found at once.
    """

    def __init__(
        self,
        message: str,
        *,
        instrument_id: str,
        item_id: str | None = None,
        value: object = None,
        expected: str | None = None,
        problems: Sequence[ScoringError] = (),
    ) -> None:
        super().__init__(message)
        self.instrument_id = instrument_id
        self.item_id = item_id
        self.value = value
        self.expected = expected
        self.problems: tuple[ScoringError, ...] = tuple(problems) or (self,)

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only attributes survive pickling (e.g. errors raised in a worker process).
        own = () if self.problems == (self,) else self.problems
        state = (str(self), self.instrument_id, self.item_id, self.value, self.expected, own)
        return (_restore_error, state)


def _restore_error(
    message: str,
    instrument_id: str,
    item_id: str | None,
    value: object,
    expected: str | None,
    problems: tuple[ScoringError, ...],
) -> ScoringError:
    return ScoringError(
        message,
        instrument_id=instrument_id,
        item_id=item_id,
        value=value,
        expected=expected,
        problems=problems,
    )


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """The scores of one completed instrument.

    ``scores`` maps score ids (``Instrument.score_ids``) to values; ``bands`` maps a score id
    to its severity band where the instrument defines bands; ``answers`` holds the
    normalised answers; ``answered`` counts them.
    """

    instrument_id: str
    scores: dict[str, float]
    bands: dict[str, str]
    answered: int
    notes: tuple[str, ...] = ()
    answers: dict[str, Answer] = field(default_factory=dict)
    instrument_version: str = ""
    prorated: bool = False

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (dates as ISO strings)."""
        return {
            "instrument": self.instrument_id,
            "version": self.instrument_version,
            "scores": dict(self.scores),
            "bands": dict(self.bands),
            "answered": self.answered,
            "prorated": self.prorated,
            "notes": list(self.notes),
            "answers": {
                k: v.isoformat() if isinstance(v, dt.date) else v for k, v in self.answers.items()
            },
        }


def _fmt(value: float) -> str:
    return f"{value:g}"


def describe_expected(item: Item) -> str:
    """What an item accepts, in words (used in every error message)."""
    if item.type is ItemType.INTEGER:
        assert item.min is not None and item.max is not None
        text = f"a whole number from {_fmt(item.min)} to {_fmt(item.max)}"
        if item.labels:
            anchors = ", ".join(f"{k} = {v}" for k, v in sorted(item.labels.items()))
            text += f" ({anchors})"
        return text
    if item.type is ItemType.NUMBER:
        assert item.min is not None and item.max is not None
        unit = f" {item.unit}" if item.unit else ""
        return f"a number from {_fmt(item.min)} to {_fmt(item.max)}{unit}"
    if item.type is ItemType.BOOLEAN:
        return "yes or no (1/0, true/false)"
    if item.type is ItemType.CHOICE:
        return "one of " + ", ".join(c.code for c in item.choices)
    if item.type is ItemType.DATE:
        return "a date as YYYY-MM-DD"
    limit = f" of at most {item.max_length} characters" if item.max_length else ""
    return f"non-empty text{limit}"


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, float) and math.isnan(value)


def _item_error(instrument_id: str, item: Item, value: object, reason: str) -> ScoringError:
    expected = describe_expected(item)
    return ScoringError(
        f"{instrument_id} item {item.id}: {value!r} {reason}; expected {expected}",
        instrument_id=instrument_id,
        item_id=item.id,
        value=value,
        expected=expected,
    )


def _to_decimal(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, numbers.Integral):
        return Decimal(int(value))
    if isinstance(value, numbers.Real):
        as_float = float(value)
        return Decimal(repr(as_float)) if math.isfinite(as_float) else None
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            return None
        return parsed if parsed.is_finite() else None
    return None


def _normalise(instrument_id: str, item: Item, value: object) -> Answer:
    kind = item.type
    if kind in (ItemType.INTEGER, ItemType.NUMBER):
        number = _to_decimal(value)
        if number is None:
            raise _item_error(instrument_id, item, value, "is not a number")
        if kind is ItemType.INTEGER and number != number.to_integral_value():
            raise _item_error(instrument_id, item, value, "is not a whole number")
        assert item.min is not None and item.max is not None
        if not Decimal(repr(item.min)) <= number <= Decimal(repr(item.max)):
            raise _item_error(instrument_id, item, value, "is out of range")
        return int(number) if kind is ItemType.INTEGER else float(number)
    if kind is ItemType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, numbers.Real) and float(value) in (0.0, 1.0):
            return float(value) == 1.0
        if isinstance(value, str) and value.strip().casefold() in _TRUE | _FALSE:
            return value.strip().casefold() in _TRUE
        raise _item_error(instrument_id, item, value, "is not yes or no")
    if kind is ItemType.CHOICE:
        wanted = str(value).strip().casefold()
        for choice in item.choices:
            if wanted in (choice.code, choice.label.casefold()):
                return choice.code
        raise _item_error(instrument_id, item, value, "is not one of the allowed choices")
    if kind is ItemType.DATE:
        if isinstance(value, dt.datetime):
            raise _item_error(instrument_id, item, value, "has a time of day")
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise _item_error(instrument_id, item, value, "is not a date")
    if not isinstance(value, str):
        raise _item_error(instrument_id, item, value, "is not text")
    text = value.strip()
    if item.max_length is not None and len(text) > item.max_length:
        raise _item_error(instrument_id, item, value, "is too long")
    return text


_NUMBER_ITEMS = (ItemType.INTEGER, ItemType.NUMBER, ItemType.BOOLEAN)
_NORMALISED: dict[tuple[object, ...], Answer] = {}
_NORMALISED_MAX = 100_000


def _normalise_number(instrument_id: str, item: Item, value: object) -> Answer:
    """:func:`_normalise`, remembered for a numeric answer to a numeric or yes/no item (a
    dataset repeats the same few answers to the same items thousands of times). The result
    depends only on the item's type and range and on the value, all in the key."""
    if item.type not in _NUMBER_ITEMS or type(value) not in (int, float) or value == 0:
        return _normalise(instrument_id, item, value)  # (0.0 and -0.0 are one key)
    key = (item.type, item.min, item.max, type(value), value)
    known = _NORMALISED.get(key)
    if known is None:
        known = _normalise(instrument_id, item, value)  # raises for a bad answer
        if len(_NORMALISED) < _NORMALISED_MAX:
            _NORMALISED[key] = known
    return known


def _instrument(instrument_id: str) -> Instrument:
    try:
        return get_instrument(instrument_id)
    except KeyError as exc:
        raise ScoringError(
            str(exc.args[0]), instrument_id=instrument_id, expected="a known instrument id"
        ) from None


def validate_answer(instrument_id: str, item_id: str, value: object) -> Answer:
    """Check one answer against its item and return it normalised.

    A missing value (None, empty, NaN) is an error here too: whether an item may be skipped
    is decided by :func:`score`, which sees the whole set of answers.
    """
    instrument = _instrument(instrument_id)
    try:
        item = instrument.item(item_id)
    except KeyError:
        raise _unknown_item(instrument, item_id, value) from None
    if _is_missing(value):
        raise _missing_error(instrument_id, item, value)
    return _normalise(instrument_id, item, value)


def _unknown_item(instrument: Instrument, item_id: str, value: object) -> ScoringError:
    expected = "one of the items " + ", ".join(instrument.item_ids)
    return ScoringError(
        f"{instrument.id}: unknown item {item_id!r} (value {value!r}); expected {expected}",
        instrument_id=instrument.id,
        item_id=item_id,
        value=value,
        expected=expected,
    )


def _missing_error(instrument_id: str, item: Item, value: object) -> ScoringError:
    expected = describe_expected(item)
    got = "" if value is None else f" (got {value!r})"
    return ScoringError(
        f"{instrument_id} item {item.id}: no answer{got}; expected {expected}",
        instrument_id=instrument_id,
        item_id=item.id,
        value=value,
        expected=expected,
    )


def _combine(instrument_id: str, problems: list[ScoringError], *, hint: str = "") -> ScoringError:
    if len(problems) == 1 and not hint:
        return problems[0]
    if len(problems) == 1:
        only = problems[0]
        return ScoringError(
            f"{only} ({hint})",
            instrument_id=instrument_id,
            item_id=only.item_id,
            value=only.value,
            expected=only.expected,
        )
    listing = "\n".join(f"  - {p}" for p in problems)
    return ScoringError(
        f"{instrument_id}: {len(problems)} problems with the answers:\n{listing}"
        + (f"\n{hint}" if hint else ""),
        instrument_id=instrument_id,
        problems=problems,
    )


def _number(value: Answer) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a numeric answer, got {value!r}")  # pragma: no cover
    return float(value)


def _alerts(instrument: Instrument, given: Mapping[str, Answer]) -> list[str]:
    """The messages of the instrument's alerts whose item reached its threshold."""
    messages = []
    for alert in instrument.alerts:
        value = given.get(alert.item)
        if isinstance(value, int | float) and float(value) >= alert.at_least:
            messages.append(alert.message)
    return messages


def _round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def score(
    instrument_id: str, answers: Mapping[str, object], *, prorate: bool = False
) -> ScoreResult:
    """Validate ``answers`` (item id → value) and score them.

    ``prorate`` turns on the instrument's documented proration rule (PROMIS short forms);
    it has no effect on instruments without one. Raises :class:`ScoringError`.
    """
    instrument = _instrument(instrument_id)
    problems: list[ScoringError] = []
    known = set(instrument.item_ids)
    for key, value in answers.items():
        if key not in known:
            problems.append(_unknown_item(instrument, str(key), value))

    given: dict[str, Answer] = {}
    for item in instrument.items:
        value = answers.get(item.id)
        if _is_missing(value):
            continue
        try:
            given[item.id] = _normalise_number(instrument.id, item, value)
        except ScoringError as exc:
            problems.append(exc)

    rule = instrument.scoring
    invalid = {p.item_id for p in problems}
    missing = [
        item
        for item in instrument.items
        if item.required and item.id not in given and item.id not in invalid
    ]
    prorated = False
    hint = ""
    notes: list[str] = []
    unscored: set[str] = set()
    if missing and isinstance(rule, ScalesRule):
        # Each scale of a multi-scale form stands on its own (the BPI manual scores
        # interference from 4 of its 7 items whatever happened to severity; each DASS
        # subscale is scored separately): a missing item leaves out only the scales that
        # need it, and the form fails only when none can be scored.
        missing_ids = {item.id for item in missing}
        in_scales = {i for scale in rule.scales for i in scale.items}
        for scale in rule.scales:
            if scale.min_answered is None and missing_ids & set(scale.items):
                unscored.add(scale.id)
        scoreable = [
            scale
            for scale in rule.scales
            if scale.id not in unscored
            and sum(1 for i in scale.items if i in given) >= scale.needed
        ]
        if scoreable and not (missing_ids - in_scales):
            for scale in rule.scales:
                if scale.id in unscored:
                    absent = [i for i in scale.items if i in missing_ids]
                    notes.append(
                        f"{scale.id} not scored: no answer for {', '.join(absent)} "
                        f"(all {len(scale.items)} items needed)"
                    )
            missing = []
        else:
            unscored = set()
    if missing and isinstance(rule, PromisLookupRule) and prorate and rule.proration:
        answered = len(given) + len(invalid & known)
        if answered >= rule.proration.min_answered:
            prorated = True
        else:
            problems.append(
                ScoringError(
                    f"{instrument.id}: only {answered} of {len(instrument.items)} items "
                    f"answered; proration needs at least {rule.proration.min_answered} "
                    f"(no answer for {', '.join(i.id for i in missing)})",
                    instrument_id=instrument.id,
                    expected=f"at least {rule.proration.min_answered} answered items",
                )
            )
    elif missing:
        problems.extend(
            _missing_error(instrument.id, item, answers.get(item.id)) for item in missing
        )
        if isinstance(rule, PromisLookupRule) and rule.proration:
            hint = (
                f"to score with missing items, turn on PROMIS proration (prorate=True, "
                f"--prorate): at least {rule.proration.min_answered} items answered"
            )
    if problems:
        raise _combine(instrument.id, problems, hint=hint)

    scores: dict[str, float] = {}
    bands: dict[str, str] = {}
    if isinstance(rule, PromisLookupRule):
        total = sum(int(_number(given[i])) for i in instrument.item_ids if i in given)
        raw = total
        if prorated:
            n_items, n_answered = len(instrument.items), len(given)
            raw = _round_half_up(Fraction(total * n_items, n_answered))
            notes.append(
                f"prorated: {n_answered} of {n_items} items answered; raw "
                f"{raw} = round({total} × {n_items} / {n_answered})"
            )
        scores[rule.raw_score] = float(raw)
        t_score = rule.lookup[raw]
        scores[rule.t_score] = t_score
        label = band_for(rule.bands, t_score)
        if label is not None:
            bands[rule.t_score] = label
    elif isinstance(rule, ScalesRule):
        for scale in rule.scales:
            if scale.id in unscored:
                continue
            values = [_number(given[i]) for i in scale.items if i in given]
            if len(values) < scale.needed:
                notes.append(
                    f"{scale.id} not scored: {len(values)} of {len(scale.items)} items "
                    f"answered, at least {scale.needed} needed"
                )
                continue
            base = math.fsum(values) if scale.method == "sum" else math.fsum(values) / len(values)
            value = base * scale.multiplier
            scores[scale.id] = value
            label = band_for(scale.bands, value)
            if label is not None:
                bands[scale.id] = label
            if len(values) < len(scale.items):
                notes.append(
                    f"{scale.id}: mean of {len(values)} of {len(scale.items)} answered items"
                )
    elif isinstance(rule, AnyTrueRule):
        count = sum(1 for v in given.values() if v is True)
        scores[rule.any_score] = 1.0 if count else 0.0
        scores[rule.count_score] = float(count)
    else:
        assert isinstance(rule, NoScoreRule)

    notes += _alerts(instrument, given)

    return ScoreResult(
        instrument_id=instrument.id,
        scores=scores,
        bands=bands,
        answered=len(given),
        notes=tuple(notes),
        answers=given,
        instrument_version=instrument.version,
        prorated=prorated,
    )


def score_available(instrument_id: str, answers: Mapping[str, object]) -> ScoreResult:
    """Score a form some of whose items were not answered, by the instrument's own rule.

    Every answer given is validated (an unknown item or a wrong value raises
    :class:`ScoringError`, as in :func:`score`). Unanswered items then follow the rules the
    definition declares as data: PROMIS proration (``scoring.proration``), a mean scale's
    ``min_answered`` and, on a multi-scale form, each scale on its own. A score the rules do
    not allow is left out, with a note; the answers given are always returned. Item alerts
    (PHQ-9 item 9) are raised from the answers whether or not a score results.
    """
    instrument = _instrument(instrument_id)
    present = {k: v for k, v in answers.items() if not _is_missing(v)}
    problems: list[ScoringError] = []
    given: dict[str, Answer] = {}
    for key, value in present.items():
        try:
            item = instrument.item(key)
        except KeyError:
            problems.append(_unknown_item(instrument, str(key), value))
            continue
        try:
            given[key] = _normalise(instrument.id, item, value)
        except ScoringError as exc:
            problems.append(exc)
    if problems:
        raise _combine(instrument.id, problems)
    try:
        return score(instrument.id, present, prorate=True)
    except ScoringError:
        pass  # every answer is valid, so only the unanswered items stand in the way
    notes = [
        f"not scored: {len(given)} of {len(instrument.items)} items answered, too few for "
        "the instrument's missing-item rule"
    ]
    notes += _alerts(instrument, given)
    return ScoreResult(
        instrument_id=instrument.id,
        scores={},
        bands={},
        answered=len(given),
        notes=tuple(notes),
        answers={i: given[i] for i in instrument.item_ids if i in given},
        instrument_version=instrument.version,
    )
