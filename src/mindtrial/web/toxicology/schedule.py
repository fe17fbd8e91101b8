"""The concealed test schedule: who tests today. Future test days are never exposed.

Days come from :func:`mindtrial.design.schedules.concealed_test_days` keyed by the study's
concealment secret (:func:`mindtrial.web.studies.concealment.concealment_key`), never stored
in the database or shown. Tests are observed at the group session,
so a test day is always the cohort's session weekday.
"""

from __future__ import annotations

import datetime as dt

from mindtrial.design.schedules import concealed_test_days
from mindtrial.web.enrolment.calendar import participant_start, study_protocol
from mindtrial.web.enrolment.models import Participant
from mindtrial.web.studies.concealment import concealment_key


def all_test_days(participant: Participant) -> list[dt.date]:
    """Concealed: every test day, past and future. Callers must never show future ones."""
    protocol = study_protocol(participant.study)
    plan = protocol.toxicology
    start = participant_start(participant)
    if plan is None or start is None or plan.observed == "unobserved":
        return []
    weekdays = [participant.cohort.weekday] if participant.cohort is not None else None
    return concealed_test_days(
        secret=concealment_key(),
        participant_id=f"{participant.study_id}:{participant.code}",
        start=start,
        n_weeks=protocol.weeks,
        window_weeks=plan.window_weeks,
        tests_per_window=plan.tests_per_window,
        allowed_weekdays=weekdays,
    )


def is_test_day(participant: Participant, day: dt.date, *, today: dt.date) -> bool:
    """Whether ``day`` (today or earlier) was a test day; the future is never answered."""
    if day > today:
        return False
    return day in all_test_days(participant)


def past_test_days(participant: Participant, *, today: dt.date) -> list[dt.date]:
    """Test days up to and including ``today``."""
    return [d for d in all_test_days(participant) if d <= today]
