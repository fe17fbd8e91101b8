"""Factories for the weekly programme, built on tests/web/factories.py (through services)."""

from __future__ import annotations

import datetime as dt

from mindtrial.web.accounts.models import Role, User
from mindtrial.web.enrolment import services as enrolment
from mindtrial.web.enrolment.models import Participant
from mindtrial.web.studies import services as studies
from mindtrial.web.studies.models import Cohort, Group, Site, Study

from ..factories import SETUP, grant, make_ready_participant, make_site, make_study, make_user

START = dt.date(2026, 1, 5)  # a Monday; make_cohort's start date
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
        timezone="America/New_York",
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


__all__ = [
    "START",
    "WEEK1_ANSWERS",
    "World",
    "make_cohort_on",
    "make_facilitator",
    "make_randomized",
    "make_site",
    "make_study",
]
