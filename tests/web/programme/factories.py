"""Factories for the weekly programme, built on tests/web/factories.py (through services)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mindtrial.web.accounts.models import Role, User
from mindtrial.web.common import local_date
from mindtrial.web.enrolment import services as enrolment
from mindtrial.web.enrolment.models import Participant
from mindtrial.web.studies import services as studies
from mindtrial.web.studies.models import Cohort, Group, Site, Study
from mindtrial.web.toxicology.schedule import all_test_days

from ..factories import SETUP, grant, make_ready_participant, make_site, make_study, make_user

START = dt.date(2026, 1, 5)  # a Monday; make_cohort's start date
ZONE = "America/New_York"  # where the factories' cohorts meet


def cohort_today() -> dt.date:
    """Today where the factories' cohorts meet: the day a participant's pages count from.

    Not the server's date (UTC), which runs a day ahead for five hours every evening."""
    return local_date(ZONE)


def cohort_monday() -> dt.date:
    """The Monday of this week where the factories' cohorts meet."""
    today = cohort_today()
    return today - dt.timedelta(days=today.weekday())


WEEK1_ANSWERS = {
    "substance_use_7d": {
        "opioids": "no", "benzodiazepines": "no", "cocaine": "yes",
        "methamphetamine": "no", "alcohol": "no",
    },
    "ocs": {"ocs_1": 6, "ocs_2": 4, "ocs_3": 5},
    "home_practice": {"formal_minutes": 70, "informal_minutes": 35, "days_practised": 5},
}  # fmt: skip


def make_cohort_on(study: Study, start: dt.date = START) -> Cohort:
    return studies.cohort_create(
        acting_user=SETUP,
        study=study,
        start_date=start,
        weekday=start.weekday(),
        meeting_time=dt.time(18, 0),
        timezone=ZONE,
    )


def make_randomized(study: Study, site: Site, cohort: Cohort) -> Participant:
    p = make_ready_participant(study, site)
    enrolment.participant_randomize(acting_user=SETUP, participant=p)
    enrolment.participant_assign_cohort(acting_user=SETUP, participant=p, cohort=cohort)
    p.refresh_from_db()
    return p


def make_facilitator(study: Study, group: Group, username: str = "fac") -> User:
    user = make_user(username, Role.FACILITATOR)
    grant(user, study)
    studies.group_update(
        acting_user=SETUP,
        group=group,
        meeting_link="https://video.example.org/room-1",
        facilitators=[*group.facilitators.all(), user],
    )
    return user


class World:
    """A study with one site, one cohort starting ``START`` and ``n`` randomized participants."""

    def __init__(self, n: int = 2, start: dt.date = START) -> None:
        self.study = make_study()
        self.site = make_site(self.study)
        self.cohort = make_cohort_on(self.study, start)
        self.participants = [make_randomized(self.study, self.site, self.cohort) for _ in range(n)]
        self.coordinator = make_user("coord", Role.COORDINATOR)
        grant(self.coordinator, self.study, self.site)


def draw_tests_today(
    settings: Any, participants: list[Participant], *, everyone: bool = False
) -> list[Participant]:
    """Set a concealed-schedule secret under which someone is drawn for a test today (and
    someone is not, unless ``everyone``), so no test depends on the day's draw; return who
    is due."""
    for i in range(5000):
        settings.MINDTRIAL_TOX_SECRET = f"tests-today-secret-{i:05d}"
        due = [p for p in participants if cohort_today() in all_test_days(p)]
        if due and (len(due) == len(participants)) == everyone:
            return due
    raise AssertionError("no secret gives the draw asked for")  # pragma: no cover


__all__ = [
    "START",
    "WEEK1_ANSWERS",
    "ZONE",
    "World",
    "cohort_monday",
    "cohort_today",
    "draw_tests_today",
    "make_cohort_on",
    "make_facilitator",
    "make_randomized",
    "make_site",
    "make_study",
]
