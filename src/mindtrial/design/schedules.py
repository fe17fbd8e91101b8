"""Calendars: a cohort's weekly sessions, concealed toxicology test days, assessment due dates.

Session times are aware datetimes in the cohort's IANA time zone (``zoneinfo``): a weekly
session at 18:00 stays at 18:00 local time across daylight-saving changes, so its UTC offset
changes. A local time that does not exist on some date (inside a spring-forward gap) is an
error; one that occurs twice (fall-back) means the first occurrence (``fold=0``).

Test days are concealed: :func:`participant_generator` seeds a numpy ``Generator`` from
HMAC-SHA256(study secret, purpose + participant id). The server that keeps the secret can
recompute any participant's days at any time, while someone without the secret cannot derive
them from the participant id (HMAC is a keyed pseudorandom function). The secret must be
long (≥ 16 bytes), random and kept out of the code, logs and exports.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

__all__ = [
    "DueDate",
    "ScheduleError",
    "add_months",
    "assessment_due_dates",
    "concealed_test_days",
    "participant_generator",
    "session_datetimes",
    "test_days",
    "toxicology_test_days",
    "weekday_name",
]

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MIN_SECRET_BYTES = 16


class ScheduleError(ValueError):
    """Invalid options for a schedule."""


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"unknown time zone {tz!r}: expected an IANA name such as 'America/New_York'"
        ) from None


def _check_weekday(what: str, weekday: object) -> int:
    if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
        raise ScheduleError(f"{what} must be 0 (Monday) … 6 (Sunday), got {weekday!r}")
    return weekday


def _check_count(what: str, value: object, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ScheduleError(f"{what} must be a whole number ≥ {minimum}, got {value!r}")
    return value


def _check_date(what: str, value: object) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ScheduleError(f"{what} must be a date (not a datetime), got {value!r}")
    return value


def session_datetimes(
    *,
    start: date,
    weekday: int,
    time: time,
    tz: str,
    n_sessions: int,
    skip_dates: Iterable[date] = (),
) -> list[datetime]:
    """The start of each weekly session as an aware datetime in ``tz``.

    The first session is on the first ``weekday`` (0 = Monday) on or after ``start``; one
    follows every week. A session that would fall on one of ``skip_dates`` (a holiday) moves a
    week later, and so does every session after it. ``time`` is the local wall-clock time and
    must be naive.
    """
    _check_date("start", start)
    _check_weekday("weekday", weekday)
    _check_count("n_sessions", n_sessions)
    if time.tzinfo is not None:
        raise ScheduleError(f"time must be a local wall-clock time without tzinfo, got {time}")
    zone = _zone(tz)
    skipped = {_check_date("skip date", d) for d in skip_dates}
    day = start + timedelta(days=(weekday - start.weekday()) % 7)
    sessions: list[datetime] = []
    while len(sessions) < n_sessions:
        if day not in skipped:
            local = datetime.combine(day, time, tzinfo=zone)
            if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local.replace(
                tzinfo=None
            ):
                raise ScheduleError(
                    f"{time:%H:%M} does not exist on {day.isoformat()} in {tz} "
                    "(clocks skip over it for daylight saving); choose another session time"
                )
            sessions.append(local)
        day += timedelta(weeks=1)
    return sessions


def participant_generator(
    *, secret: bytes, participant_id: str, purpose: str = "toxicology-test-days"
) -> np.random.Generator:
    """A Generator only the holder of ``secret`` can reproduce for this participant.

    Seeded from HMAC-SHA256(secret, ``purpose`` + NUL + ``participant_id``); ``purpose``
    keeps streams for different uses apart.
    """
    if not isinstance(secret, bytes) or len(secret) < _MIN_SECRET_BYTES:
        raise ScheduleError(f"secret must be at least {_MIN_SECRET_BYTES} random bytes")
    if not participant_id:
        raise ScheduleError("participant_id must be non-empty")
    message = f"{purpose}\x00{participant_id}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    words = np.frombuffer(digest, dtype="<u4").tolist()
    return np.random.default_rng(np.random.SeedSequence(words))


def toxicology_test_days(
    *,
    rng: np.random.Generator,
    start: date,
    n_weeks: int,
    window_weeks: int = 2,
    tests_per_window: int = 1,
    allowed_weekdays: Collection[int] | None = None,
) -> list[date]:
    """Randomly chosen test days: ``tests_per_window`` distinct days in each window.

    Windows are consecutive runs of ``window_weeks`` weeks from ``start`` (window 1 is
    ``start`` … ``start + 7·window_weeks − 1``); ``n_weeks`` must be a multiple of
    ``window_weeks``. Days are drawn uniformly, without replacement, among the window's days
    whose weekday is in ``allowed_weekdays`` (default: every day; pass the cohort's session
    weekday when tests are observed at sessions). Returned sorted.
    """
    _check_date("start", start)
    _check_count("n_weeks", n_weeks)
    _check_count("window_weeks", window_weeks)
    _check_count("tests_per_window", tests_per_window)
    if n_weeks % window_weeks:
        raise ScheduleError(
            f"n_weeks ({n_weeks}) must be a multiple of window_weeks ({window_weeks})"
        )
    if allowed_weekdays is None:
        allowed = set(range(7))
    else:
        allowed = {_check_weekday("allowed weekday", w) for w in allowed_weekdays}
        if not allowed:
            raise ScheduleError("allowed_weekdays is empty: no day could hold a test")
    window_days = 7 * window_weeks
    chosen: list[date] = []
    for window in range(n_weeks // window_weeks):
        first = start + timedelta(days=window * window_days)
        candidates = [
            first + timedelta(days=i)
            for i in range(window_days)
            if (first + timedelta(days=i)).weekday() in allowed
        ]
        if len(candidates) < tests_per_window:
            raise ScheduleError(
                f"window {window + 1} has {len(candidates)} allowed day(s) but "
                f"tests_per_window is {tests_per_window}"
            )
        picks = rng.choice(len(candidates), size=tests_per_window, replace=False)
        chosen.extend(sorted(candidates[int(i)] for i in picks))
    return chosen


def concealed_test_days(
    *,
    secret: bytes,
    participant_id: str,
    start: date,
    n_weeks: int,
    window_weeks: int = 2,
    tests_per_window: int = 1,
    allowed_weekdays: Collection[int] | None = None,
) -> list[date]:
    """:func:`toxicology_test_days` drawn from :func:`participant_generator` (recomputable, concealed)."""
    rng = participant_generator(secret=secret, participant_id=participant_id)
    return toxicology_test_days(
        rng=rng,
        start=start,
        n_weeks=n_weeks,
        window_weeks=window_weeks,
        tests_per_window=tests_per_window,
        allowed_weekdays=allowed_weekdays,
    )


test_days = toxicology_test_days
"""Alias of :func:`toxicology_test_days` (marked so pytest never collects it as a test)."""
setattr(test_days, "__test__", False)  # noqa: B010 - pytest reads this attribute


@dataclass(frozen=True)
class DueDate:
    """An assessment's due date and the window (inclusive) in which it counts."""

    label: str
    due: date
    window_start: date
    window_end: date


def add_months(day: date, months: int) -> date:
    """``day`` plus calendar months; a day past the month's end becomes its last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def assessment_due_dates(
    *,
    baseline: date,
    weeks: Sequence[int],
    months: Sequence[int] = (),
    window_days: int,
) -> list[DueDate]:
    """Due dates ``baseline + 7·week`` days and ``baseline + month`` calendar months.

    Labels are ``"week 8"`` and ``"month 3"``; each window is ``due ± window_days``
    (inclusive). Returned in date order (weeks before months on the same date).
    """
    _check_date("baseline", baseline)
    _check_count("window_days", window_days, minimum=0)
    items: list[tuple[str, date]] = []
    for unit, offsets in (("week", weeks), ("month", months)):
        seen: set[int] = set()
        for offset in offsets:
            _check_count(f"{unit} offset", offset, minimum=0)
            if offset in seen:
                raise ScheduleError(f"{unit} {offset} is listed twice")
            seen.add(offset)
            due = (
                baseline + timedelta(weeks=offset)
                if unit == "week"
                else add_months(baseline, offset)
            )
            items.append((f"{unit} {offset}", due))
    if not items:
        raise ScheduleError("give at least one week or month for an assessment")
    span = timedelta(days=window_days)
    ordered = sorted(enumerate(items), key=lambda pair: (pair[1][1], pair[0]))
    return [
        DueDate(label=label, due=due, window_start=due - span, window_end=due + span)
        for _, (label, due) in ordered
    ]


def weekday_name(weekday: int) -> str:
    """``0`` -> ``"Monday"``."""
    return _WEEKDAYS[_check_weekday("weekday", weekday)]
