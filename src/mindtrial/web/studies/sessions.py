"""A study's protocol and a cohort's weekly sessions (the calendar of one cohort).

Below the participant: enrolment (cohort moves) and every app above read these;
:mod:`mindtrial.web.enrolment.calendar` builds the participant's weeks on them.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from mindtrial.design.schedules import session_datetimes
from mindtrial.protocols import Protocol
from mindtrial.web.studies.models import Cohort, Study
from mindtrial.web.studies.protocol_access import load_protocol


@functools.lru_cache(maxsize=32)
def _protocol(protocol_id: str) -> Protocol:
    return load_protocol(protocol_id)


def study_protocol(study: Study) -> Protocol:
    """The (cached) protocol a study was created from."""
    return _protocol(study.protocol_id)


@dataclass(frozen=True)
class Session:
    """One weekly session of a cohort."""

    week: int
    starts_at: dt.datetime
    """Aware, in the cohort's time zone."""
    minutes: int


def cohort_sessions(cohort: Cohort) -> list[Session]:
    """Every session of the cohort, week 1 first, in the cohort's local time."""
    protocol = study_protocol(cohort.study)
    times = session_datetimes(
        start=cohort.start_date,
        weekday=cohort.weekday,
        time=cohort.meeting_time,
        tz=cohort.timezone,
        n_sessions=protocol.session.n_sessions,
    )
    minutes = protocol.session.check_in_minutes + protocol.session.group_minutes
    return [Session(week=i + 1, starts_at=t, minutes=minutes) for i, t in enumerate(times)]


def next_session(cohort: Cohort, now: dt.datetime) -> Session | None:
    """The first session that has not ended by ``now`` (aware), or None after the last."""
    for session in cohort_sessions(cohort):
        if session.starts_at + dt.timedelta(minutes=session.minutes) > now:
            return session
    return None


def cohort_ended(cohort: Cohort, now: dt.datetime) -> bool:
    """Whether the cohort's last session is over by ``now`` (aware)."""
    return next_session(cohort, now) is None


def cohort_started_weeks(cohort: Cohort, now: dt.datetime) -> int:
    """How many of the cohort's sessions have started by ``now`` (0 before the first)."""
    return sum(1 for s in cohort_sessions(cohort) if s.starts_at <= now)
