"""Test factories: every object is made through the services, as the app makes it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mindtrial.web.accounts.actors import Actor, SystemActor
from mindtrial.web.accounts.models import Role, User
from mindtrial.web.accounts.services import user_create
from mindtrial.web.enrolment import services as enrolment
from mindtrial.web.enrolment.models import Participant
from mindtrial.web.studies import services as studies
from mindtrial.web.studies.models import Cohort, Site, Study

SETUP = SystemActor("tests: set-up")
"""The operator who builds a test's world (users, study, enrolment) before the test acts as
staff: a system actor on purpose, named as such in the audit rows it leaves."""

PASSWORD = "correct horse battery staple 7"
PROTOCOL = "mrocc-2025"

# A screening record that meets every M-ROCC criterion (see the protocol's eligibility list).
ELIGIBLE_RECORD: dict[str, Any] = {
    "age": 41,
    "weeks_on_stable_buprenorphine": 10,
    "prescriber_confirmed": True,
    "promis_anxiety_t": 60.4,
    "days_abstinent": 200,
    "has_camera_device": True,
    "speaks_english": True,
    "psychosis": False,
    "mania": False,
    "suicidality_or_self_injury": False,
    "cognitive_impairment": False,
    "prior_mindfulness_group": False,
    "expected_inpatient_or_incarceration": False,
    "group_disruptive_behaviour": False,
}

# OCS: three 0-10 ratings, score = their mean; PROMIS anxiety 8a: eight items 1-5.
OCS_ANSWERS = {"ocs_1": 6, "ocs_2": 4, "ocs_3": 5}
PROMIS_ANSWERS = {
    "EDANX01": 2, "EDANX40": 3, "EDANX41": 3, "EDANX53": 2,
    "EDANX46": 3, "EDANX07": 2, "EDANX05": 3, "EDANX54": 2,
}  # fmt: skip
COVARIATES = {
    "bup_dose_mg": 16,
    "cocaine_use_baseline": "no",
    "income_category": "10k-30k",
    "sex": "female",
    "age": 41,
}


def make_user(username: str, role: str = Role.COORDINATOR) -> User:
    return user_create(acting_user=SETUP, username=username, password=PASSWORD, role=role)


def make_study(*, name: str = "Pilot study", allocation_size: int = 40, seed: int = 11) -> Study:
    return studies.study_create(
        acting_user=SETUP,
        protocol_id=PROTOCOL,
        name=name,
        allocation_size=allocation_size,
        seed=seed,
    )


def make_site(study: Study, code: str = "north") -> Site:
    return studies.site_create(
        acting_user=SETUP, study=study, code=code, name=f"{code.title()} clinic"
    )


def make_cohort(study: Study) -> Cohort:
    start = dt.date(2026, 1, 5)  # a Monday
    return studies.cohort_create(
        acting_user=SETUP,
        study=study,
        start_date=start,
        weekday=0,
        meeting_time=dt.time(18, 0),
        timezone="America/New_York",
    )


def grant(user: User, study: Study, site: Site | None = None) -> None:
    studies.study_access_grant(acting_user=SETUP, user=user, study=study, site=site)


def make_participant(study: Study, site: Site, *, by: Actor = SETUP) -> Participant:
    return enrolment.participant_refer(
        acting_user=by,
        study=study,
        site=site,
        referral_source="clinic",
        referral_date=dt.date(2025, 12, 1),
    )


def make_ready_participant(
    study: Study, site: Site, *, by: Actor = SETUP, obtained_by: User | None = None
) -> Participant:
    """Referred, screened eligible, consented and with a complete baseline."""
    p = make_participant(study, site, by=by)
    staff = obtained_by or (by if isinstance(by, User) else None) or _consenter()
    enrolment.participant_screen(acting_user=by, participant=p, record=ELIGIBLE_RECORD)
    enrolment.participant_consent(
        acting_user=by,
        participant=p,
        form_version="v2.1",
        consent_date=dt.date(2025, 12, 2),
        obtained_by=staff,
    )
    for instrument, answers in baseline_answers(p).items():
        enrolment.participant_record_baseline(
            acting_user=by, participant=p, instrument_id=instrument, answers=answers
        )
    p.refresh_from_db()
    return p


def _consenter() -> User:
    found = User.objects.filter(username="consenter").first()
    return found or make_user("consenter")


def baseline_answers(p: Participant) -> dict[str, dict[str, Any]]:
    known = {
        "ocs": OCS_ANSWERS,
        "promis_anxiety_8a": PROMIS_ANSWERS,
        enrolment.COVARIATES: COVARIATES,
    }
    return {step: known[step] for step in enrolment.baseline_steps(p)}
