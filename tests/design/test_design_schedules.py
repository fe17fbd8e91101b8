"""Schedules: session times across DST, concealed test days, assessment due dates."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from scipy import stats

from mindtrial.design.schedules import (
    DueDate,
    ScheduleError,
    add_months,
    assessment_due_dates,
    concealed_test_days,
    participant_generator,
    session_datetimes,
    toxicology_test_days,
)

SECRET = b"0123456789abcdef-study-secret"
NY = ZoneInfo("America/New_York")


def test_sessions_keep_local_time_across_the_spring_dst_change() -> None:
    # US DST 2026 starts Sunday 8 March: Tuesday 18:00 is 23:00 UTC before, 22:00 UTC after.
    sessions = session_datetimes(
        start=date(2026, 2, 24), weekday=1, time=time(18, 0), tz="America/New_York", n_sessions=3
    )
    assert [s.astimezone(UTC) for s in sessions] == [
        datetime(2026, 2, 24, 23, 0, tzinfo=UTC),
        datetime(2026, 3, 3, 23, 0, tzinfo=UTC),
        datetime(2026, 3, 10, 22, 0, tzinfo=UTC),
    ]
    assert all(s.tzinfo is not None and s.time() == time(18, 0) for s in sessions)
    assert [s.utcoffset() for s in sessions] == [timedelta(hours=-5)] * 2 + [timedelta(hours=-4)]


def test_sessions_keep_local_time_across_the_autumn_dst_change() -> None:
    # DST 2026 ends Sunday 1 November.
    sessions = session_datetimes(
        start=date(2026, 10, 20), weekday=1, time=time(18, 0), tz="America/New_York", n_sessions=3
    )
    assert [s.astimezone(UTC).hour for s in sessions] == [22, 22, 23]
    assert [s.date() for s in sessions] == [
        date(2026, 10, 20),
        date(2026, 10, 27),
        date(2026, 11, 3),
    ]


@pytest.mark.parametrize(
    ("start", "weekday", "first"),
    [
        (date(2026, 3, 4), 1, date(2026, 3, 10)),  # Wednesday -> next Tuesday
        (date(2026, 3, 3), 1, date(2026, 3, 3)),  # a Tuesday start is itself the first session
        (date(2026, 3, 1), 0, date(2026, 3, 2)),  # Sunday -> Monday
        (date(2026, 3, 2), 6, date(2026, 3, 8)),  # Monday -> Sunday
    ],
)
def test_first_session_is_the_first_weekday_on_or_after_start(
    start: date, weekday: int, first: date
) -> None:
    sessions = session_datetimes(
        start=start, weekday=weekday, time=time(12, 0), tz="UTC", n_sessions=24
    )
    assert sessions[0].date() == first
    assert len(sessions) == 24
    assert all(s.weekday() == weekday for s in sessions)
    assert sessions[-1].date() == first + timedelta(weeks=23)


def test_skip_dates_push_sessions_a_week_later() -> None:
    sessions = session_datetimes(
        start=date(2026, 11, 19),
        weekday=3,
        time=time(17, 30),
        tz="America/Chicago",
        n_sessions=4,
        skip_dates=[date(2026, 11, 26), date(2026, 12, 24), date(2026, 12, 1)],
    )
    # Thanksgiving (26 Nov) and Christmas Eve are skipped; 1 Dec is not a Thursday.
    assert [s.date() for s in sessions] == [
        date(2026, 11, 19),
        date(2026, 12, 3),
        date(2026, 12, 10),
        date(2026, 12, 17),
    ]


def test_session_times_that_do_not_exist_or_are_bad_are_clear_errors() -> None:
    with pytest.raises(
        ScheduleError, match="02:30 does not exist on 2026-03-08 in America/New_York"
    ):
        session_datetimes(
            start=date(2026, 3, 1), weekday=6, time=time(2, 30), tz="America/New_York", n_sessions=2
        )
    with pytest.raises(ScheduleError, match="unknown time zone 'Mars/Olympus'"):
        session_datetimes(
            start=date(2026, 3, 1), weekday=6, time=time(9), tz="Mars/Olympus", n_sessions=1
        )
    with pytest.raises(ScheduleError, match="without tzinfo"):
        session_datetimes(
            start=date(2026, 3, 1), weekday=6, time=time(9, tzinfo=NY), tz="UTC", n_sessions=1
        )
    with pytest.raises(ScheduleError, match="weekday must be 0 \\(Monday\\)"):
        session_datetimes(start=date(2026, 3, 1), weekday=7, time=time(9), tz="UTC", n_sessions=1)
    with pytest.raises(ScheduleError, match="n_sessions must be a whole number ≥ 1, got 0"):
        session_datetimes(start=date(2026, 3, 1), weekday=1, time=time(9), tz="UTC", n_sessions=0)


def _windows(start: date, n_weeks: int, window_weeks: int = 2) -> list[tuple[date, date]]:
    days = 7 * window_weeks
    return [
        (start + timedelta(days=i * days), start + timedelta(days=(i + 1) * days - 1))
        for i in range(n_weeks // window_weeks)
    ]


@pytest.mark.parametrize("participant", ["P001", "P002", "P-77"])
def test_exactly_one_test_day_in_each_window(participant: str) -> None:
    start = date(2026, 3, 3)  # a Tuesday: the cohort's session day
    days = concealed_test_days(
        secret=SECRET,
        participant_id=participant,
        start=start,
        n_weeks=24,
        allowed_weekdays={1},
    )
    windows = _windows(start, 24)
    assert len(days) == len(windows) == 12
    for (first, last), day in zip(windows, days, strict=True):
        assert first <= day <= last
        assert day.weekday() == 1


def test_several_tests_per_window_are_distinct_days() -> None:
    start = date(2026, 1, 5)
    days = toxicology_test_days(
        rng=np.random.default_rng(1), start=start, n_weeks=12, window_weeks=3, tests_per_window=3
    )
    for first, last in _windows(start, 12, 3):
        inside = [d for d in days if first <= d <= last]
        assert len(inside) == len(set(inside)) == 3
    assert days == sorted(days)


def test_test_days_are_recomputable_from_the_secret_and_differ_between_participants() -> None:
    start = date(2026, 3, 3)

    def days(pid: str, secret: bytes = SECRET) -> list[date]:
        return concealed_test_days(secret=secret, participant_id=pid, start=start, n_weeks=24)

    assert days("P001") == days("P001")
    schedules = [tuple(days(f"P{i:03d}")) for i in range(200)]
    # 12 windows of 14 days: two identical schedules by chance has probability 14^-12.
    assert len(set(schedules)) == 200
    # Without the secret (here: with another one) the schedule is unrelated.
    other = days("P001", secret=b"another-secret-of-enough-bytes")
    assert sum(a == b for a, b in zip(days("P001"), other, strict=True)) < 6


def test_test_days_are_uniform_over_the_window() -> None:
    start = date(2026, 3, 3)
    first_days = Counter(
        concealed_test_days(secret=SECRET, participant_id=f"P{i}", start=start, n_weeks=2)[0]
        for i in range(1400)
    )
    assert set(first_days) == {start + timedelta(days=i) for i in range(14)}
    assert stats.chisquare(list(first_days.values())).pvalue > 0.001
    session_day_only = Counter(
        concealed_test_days(
            secret=SECRET, participant_id=f"P{i}", start=start, n_weeks=2, allowed_weekdays=[1]
        )[0]
        for i in range(400)
    )
    assert set(session_day_only) == {date(2026, 3, 3), date(2026, 3, 10)}
    assert stats.binomtest(session_day_only[date(2026, 3, 3)], 400).pvalue > 0.001


def test_participant_generator_separates_purposes_and_needs_a_real_secret() -> None:
    a = participant_generator(secret=SECRET, participant_id="P1").integers(1 << 62)
    b = participant_generator(secret=SECRET, participant_id="P1", purpose="other").integers(1 << 62)
    assert a != b
    with pytest.raises(ScheduleError, match="at least 16 random bytes"):
        participant_generator(secret=b"short", participant_id="P1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_weeks": 23}, "n_weeks \\(23\\) must be a multiple of window_weeks \\(2\\)"),
        ({"allowed_weekdays": []}, "allowed_weekdays is empty"),
        ({"allowed_weekdays": [1], "tests_per_window": 3}, "window 1 has 2 allowed day\\(s\\)"),
        ({"n_weeks": 0}, "n_weeks must be a whole number ≥ 1"),
    ],
)
def test_bad_test_day_options_are_clear_errors(kwargs: dict[str, object], message: str) -> None:
    options: dict[str, object] = {
        "rng": np.random.default_rng(0),
        "start": date(2026, 3, 3),
        "n_weeks": 24,
    }
    options.update(kwargs)
    with pytest.raises(ScheduleError, match=message):
        toxicology_test_days(**options)  # type: ignore[arg-type]


def test_assessment_due_dates_worked_example() -> None:
    # Baseline Saturday 31 Jan 2026. Week 8 = +56 days = 28 Mar; week 16 = 23 May;
    # week 24 = 18 Jul. Month 3 from 31 Jan is 30 Apr (April has 30 days).
    due = assessment_due_dates(
        baseline=date(2026, 1, 31), weeks=[0, 8, 16, 24], months=[3], window_days=7
    )
    assert due == [
        DueDate("week 0", date(2026, 1, 31), date(2026, 1, 24), date(2026, 2, 7)),
        DueDate("week 8", date(2026, 3, 28), date(2026, 3, 21), date(2026, 4, 4)),
        DueDate("month 3", date(2026, 4, 30), date(2026, 4, 23), date(2026, 5, 7)),
        DueDate("week 16", date(2026, 5, 23), date(2026, 5, 16), date(2026, 5, 30)),
        DueDate("week 24", date(2026, 7, 18), date(2026, 7, 11), date(2026, 7, 25)),
    ]


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap year
        (date(2026, 11, 15), 3, date(2027, 2, 15)),
        (date(2026, 5, 31), 9, date(2027, 2, 28)),
        (date(2026, 5, 31), 0, date(2026, 5, 31)),
    ],
)
def test_add_months(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


def test_bad_assessment_options_are_clear_errors() -> None:
    with pytest.raises(ScheduleError, match="week 8 is listed twice"):
        assessment_due_dates(baseline=date(2026, 1, 1), weeks=[8, 8], window_days=3)
    with pytest.raises(ScheduleError, match="week offset must be a whole number ≥ 0, got -1"):
        assessment_due_dates(baseline=date(2026, 1, 1), weeks=[-1], window_days=3)
    with pytest.raises(ScheduleError, match="at least one week or month"):
        assessment_due_dates(baseline=date(2026, 1, 1), weeks=[], window_days=3)
    with pytest.raises(ScheduleError, match="must be a date \\(not a datetime\\)"):
        assessment_due_dates(baseline=datetime(2026, 1, 1), weeks=[0], window_days=3)
