"""Programme records for crawls and page tests: a check-in, a test, attendance, AEs, a link.

``add_programme_records(participants, today=...)`` gives each randomized participant (in a
cohort) something on every programme page, through the services. The blinding crawl can
call it on its own fixture's participants so that its visits reach real programme data.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.test import override_settings

from mindtrial.web.checkin.services import checkin_submit, participant_link_issue
from mindtrial.web.enrolment.models import Participant
from mindtrial.web.programme.services import attendance_record
from mindtrial.web.safety.services import adverse_event_report
from mindtrial.web.toxicology.schedule import past_test_days
from mindtrial.web.toxicology.services import tox_test_record

from ..factories import SETUP

WEEK1 = {
    "substance_use_7d": {
        "opioids": "no", "benzodiazepines": "no", "cocaine": "no",
        "methamphetamine": "no", "alcohol": "yes",
    },
    "ocs": {"ocs_1": 2, "ocs_2": 3, "ocs_3": 1},
    "home_practice": {"formal_minutes": 30, "informal_minutes": 10, "days_practised": 3},
}  # fmt: skip
PANEL = ["opiates", "oxycodone", "fentanyl", "methadone", "buprenorphine", "benzodiazepines",
         "cocaine", "amphetamine", "methamphetamine", "thc", "mdma", "barbiturates", "pcp",
         "tramadol"]  # fmt: skip


def ae_answers(onset: dt.date, *, serious: bool) -> dict[str, Any]:
    return {
        "description": "Felt faint after a long walk",
        "onset_date": onset.isoformat(),
        "severity": "moderate",
        "serious": "yes" if serious else "no",
        "relatedness": "not_related",
        "expected": "no",
        "outcome": "recovered",
        "action_taken": "none",
    }


def add_programme_records(participants: list[Participant], *, media_root: str) -> dict[str, Any]:
    """Week-1 check-in, attendance, the first test and an AE for each participant."""
    made: dict[str, Any] = {"links": [], "events": []}
    for i, p in enumerate(participants):
        assert p.cohort is not None, "participants need a cohort"
        start = p.cohort.start_date
        week1 = start + dt.timedelta(days=1)
        checkin_submit(
            participant=p, week=1, answers=WEEK1, idempotency_key=f"crawl-{p.pk}-1", today=week1
        )
        attendance_record(acting_user=SETUP, participant=p, week=1, status="present")
        late = start + dt.timedelta(weeks=30)
        day = past_test_days(p, today=late)[0]
        with override_settings(MEDIA_ROOT=media_root):
            tox_test_record(
                acting_user=SETUP,
                participant=p,
                test_date=day,
                status="completed",
                results=dict.fromkeys(PANEL, "negative") | {"fentanyl": "positive"},
                capture=b"\x89PNG\r\n\x1a\n" + bytes(32),
                today=late,
            )
        made["events"].append(
            adverse_event_report(
                acting_user=SETUP,
                participant=p,
                answers=ae_answers(week1, serious=i == 0),
                today=late,
            )
        )
        made["links"].append(participant_link_issue(acting_user=SETUP, participant=p))
    return made
