"""A participant's study weeks, a cohort's sessions and the protocol's curriculum.

Week 1 starts on the cohort's start date (the first session); a participant not yet in a
cohort counts weeks from the day they were randomized. Week 0 is baseline.

"Today" is always a *local* date: a participant's today is the date in their cohort's time
zone (:func:`participant_today`), so an 18:00 New York session is still "today" at 20:00
New York, when the UTC date has moved on (``mindtrial.web.common.local_date`` and, for
"not in the future" checks on records not yet tied to a cohort, ``latest_today``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings

from mindtrial.protocols import Protocol
from mindtrial.web.common import local_date, only_or_none
from mindtrial.web.enrolment.models import Participant, Randomization
from mindtrial.web.studies.models import Cohort
from mindtrial.web.studies.sessions import cohort_sessions, next_session, study_protocol


def participant_time_zone(participant: Participant) -> str:
    """The participant's cohort's time zone; before a cohort, the study's (when all its
    cohorts share one), else ``settings.TIME_ZONE``."""
    if participant.cohort_id is not None:
        assert participant.cohort is not None
        return participant.cohort.timezone
    zones = set(
        Cohort.objects.filter(study_id=participant.study_id).values_list("timezone", flat=True)
    )
    return zones.pop() if len(zones) == 1 else str(settings.TIME_ZONE)


def participant_today(participant: Participant, now: dt.datetime | None = None) -> dt.date:
    """Today's date where the participant's group meets (see :func:`participant_time_zone`)."""
    return local_date(participant_time_zone(participant), now)


def session_start(participant: Participant, week: int) -> dt.datetime | None:
    """When the participant's group meets in study week ``week`` (None without a cohort or
    past the cohort's sessions)."""
    if participant.cohort is None:
        return None
    found = [s for s in cohort_sessions(participant.cohort) if s.week == week]
    return found[0].starts_at if found else None


def week_has_started(participant: Participant, week: int, now: dt.datetime) -> bool:
    """Whether study week ``week`` has begun for the participant by ``now`` (aware): the
    group's session of that week has started or, without one, the week itself has."""
    start = session_start(participant, week)
    if start is not None:
        return start <= now
    current = week_of(participant, participant_today(participant, now))
    return current is not None and week <= current


def participant_start(participant: Participant) -> dt.date | None:
    """The first day of week 1: the cohort's start date, else the randomization date."""
    if participant.cohort_id is not None:
        assert participant.cohort is not None
        return participant.cohort.start_date
    randomization = only_or_none(Randomization.objects.filter(participant=participant))
    if randomization is None:
        return None
    # The UTC date, as the study dataset's ``randomized_on`` (imports store midnight UTC).
    return randomization.randomized_at.date()


def week_of(participant: Participant, day: dt.date) -> int | None:
    """The study week ``day`` falls in (1 = the first 7 days); 0 before the start."""
    start = participant_start(participant)
    if start is None:
        return None
    if day < start:
        return 0
    return (day - start).days // 7 + 1


@dataclass(frozen=True)
class CurriculumWeek:
    week: int
    phase: str
    topic: str
    practices: tuple[str, ...]


def curriculum_week(
    protocol: Protocol, arm_id: str, week: int, *, continues: bool | None = None
) -> CurriculumWeek | None:
    """That week's phase, topic and practices for an arm.

    ``None`` when the arm has no session that week, or when the participant chose at the
    continuation point not to go on (``continues=False``) and ``week`` is past it.
    """
    arm = next((a for a in protocol.arms if a.id == arm_id), None)
    if arm is None:
        return None
    choice = arm.continuation_choice
    if choice is not None and continues is False and week > choice.after_week:
        return None
    for phase in arm.curriculum:
        if phase.first_week <= week <= phase.last_week:
            session = next((s for s in phase.sessions if s.week == week), None)
            topic = session.topic if session else phase.description
            practices = tuple(session.practices) if session else ()
            return CurriculumWeek(week=week, phase=phase.name, topic=topic, practices=practices)
    return None


__all__ = [
    "cohort_sessions",
    "curriculum_week",
    "next_session",
    "participant_start",
    "participant_time_zone",
    "participant_today",
    "session_start",
    "study_protocol",
    "week_has_started",
    "week_of",
]
