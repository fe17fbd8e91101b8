"""Today's test list for a coordinator (their sites only) and recorded tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import QuerySet

from mindtrial.web.enrolment.calendar import participant_today
from mindtrial.web.enrolment.models import Participant, Status
from mindtrial.web.enrolment.selectors import participants_for
from mindtrial.web.safety.models import Withdrawal
from mindtrial.web.toxicology.models import ToxTest
from mindtrial.web.toxicology.schedule import is_test_day

if TYPE_CHECKING:
    from mindtrial.web.accounts.models import User
    from mindtrial.web.studies.models import Study


@dataclass(frozen=True)
class DueTest:
    participant: Participant
    recorded: ToxTest | None
    day: dt.date
    """The test day: today where the participant's group meets."""


def today_test_list(
    user: User, study: Study, *, now: dt.datetime | None = None, today: dt.date | None = None
) -> list[DueTest]:
    """Participants (at the user's sites, still in the study) whose test day is today.

    Each participant's today is the date in their cohort's time zone at ``now`` (the
    current time by default); ``today`` instead names one date for everyone."""
    if user.is_blinded:
        return []
    gone = set(
        Withdrawal.objects.filter(participant__study=study).values_list("participant_id", flat=True)
    )
    due: list[DueTest] = []
    candidates = participants_for(user, study).filter(status=Status.RANDOMIZED)
    for participant in candidates.select_related("cohort"):
        day = today if today is not None else participant_today(participant, now)
        if participant.pk in gone or not is_test_day(participant, day, today=day):
            continue
        recorded = ToxTest.objects.filter(participant=participant, test_date=day).first()
        due.append(DueTest(participant=participant, recorded=recorded, day=day))
    return due


def tests_for(user: User, study: Study) -> QuerySet[ToxTest]:
    """Every recorded test of the study at the user's sites (the study-level tests list);
    empty for blinded roles."""
    if user.is_blinded:
        return ToxTest.objects.none()
    return ToxTest.objects.filter(participant__in=participants_for(user, study))
