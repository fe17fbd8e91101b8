"""Today's test list for a coordinator (their sites only) and recorded tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

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


def today_test_list(user: User, study: Study, *, today: dt.date) -> list[DueTest]:
    """Participants (at the user's sites, still in the study) whose test day is ``today``."""
    if user.is_blinded:
        return []
    gone = set(
        Withdrawal.objects.filter(participant__study=study).values_list("participant_id", flat=True)
    )
    due: list[DueTest] = []
    candidates = participants_for(user, study).filter(status=Status.RANDOMIZED)
    for participant in candidates:
        if participant.pk in gone or not is_test_day(participant, today, today=today):
            continue
        recorded = ToxTest.objects.filter(participant=participant, test_date=today).first()
        due.append(DueTest(participant=participant, recorded=recorded))
    return due
