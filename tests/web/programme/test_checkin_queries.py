"""The SQL of a participant's check-in is pinned: a query added to the path (one per
request of every participant, every week) shows here, each statement named for what it is.

bench/checkin_load.py measures what the path costs under load; this test only keeps the
statements from growing back (they were 11 per check-in POST and 4 per form).

Under the production settings with ``MINDTRIAL_REDIS_URL`` the session is read from Redis
instead (no ``SELECT django_session``); these tests run with database sessions."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from mindtrial.web.audit.models import AuditEvent
from mindtrial.web.checkin.models import CheckIn
from mindtrial.web.checkin.services import participant_link_issue
from mindtrial.web.checkin.views import checkin_url

from .factories import World, cohort_monday

pytestmark = pytest.mark.django_db

ANSWERS = {
    "substance_use_7d__opioids": "no", "substance_use_7d__benzodiazepines": "no",
    "substance_use_7d__cocaine": "no", "substance_use_7d__methamphetamine": "no",
    "substance_use_7d__alcohol": "yes",
    "ocs__ocs_1": "3", "ocs__ocs_2": "2", "ocs__ocs_3": "4",
    "home_practice__formal_minutes": "40", "home_practice__informal_minutes": "10",
    "home_practice__days_practised": "3",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _a_fixed_wednesday() -> Iterator[None]:
    """Weeks count from "this Monday": a frozen clock keeps week 1 open whatever the day."""
    with time_machine.travel(dt.datetime(2026, 3, 4, 17, 0, tzinfo=dt.UTC), tick=False):
        yield


def _statements(captured: CaptureQueriesContext) -> list[str]:
    """Each statement as its verb and first table (``SELECT checkin_participantlink``),
    savepoints as themselves (the test runs inside a transaction, so the service's
    ``transaction.atomic`` is a savepoint here and BEGIN/COMMIT outside tests)."""
    found = []
    for query in captured.captured_queries:
        sql = query["sql"]
        verb = sql.split(None, 1)[0].upper()
        table = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', sql)
        found.append(f"{verb} {table.group(1)}" if table and verb != "SAVEPOINT" else verb)
    return found


def test_one_checkin_post_runs_these_queries_and_no_more() -> None:
    world = World(n=1, start=cohort_monday())
    participant = world.participants[0]
    issued = participant_link_issue(acting_user=world.coordinator, participant=participant)
    client = Client()
    assert client.get(checkin_url(issued.token)).status_code == 302
    with CaptureQueriesContext(connection) as form_queries:
        page = client.get("/c/")
    assert page.status_code == 200
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.content.decode())
    assert key is not None
    data = {**ANSWERS, "idempotency_key": key.group(1)}

    with CaptureQueriesContext(connection) as post_queries:
        sent = client.post("/c/", data)
    assert sent.status_code == 302 and sent["Location"] == "/c/"
    assert _statements(post_queries) == [
        "SELECT django_session",  # the session holding the participant's link token
        # the link, with its participant, study, cohort and withdrawal (one join)
        "SELECT checkin_participantlink",
        "SELECT safety_withdrawal",  # require_collecting: nothing after a withdrawal
        "SAVEPOINT",  # transaction.atomic: the check-in and its audit row together
        # the check-in: the unique idempotency key refuses a retry, and the unique week
        # constraint a second check-in (no query before the insert asks either)
        "INSERT checkin_checkin",
        "INSERT audit_auditevent",  # the audit row of the new check-in
        "RELEASE",
    ]
    assert _statements(form_queries) == [
        "SELECT django_session",
        "SELECT checkin_participantlink",
        "SELECT checkin_checkin",  # this week's check-in sent already? ("thank you")
    ]

    # The same POST again (a retry after a lost answer, rare): the insert is refused, then
    # the check-in is found by its key and answered as saved; nothing is written.
    with CaptureQueriesContext(connection) as retry_queries:
        again = client.post("/c/", data)
    assert again.status_code == 302 and again["Location"] == "/c/"
    assert _statements(retry_queries) == [
        "SELECT django_session",
        "SELECT checkin_participantlink",
        "SELECT safety_withdrawal",
        "SAVEPOINT",
        "INSERT checkin_checkin",  # refused: the key is taken
        "ROLLBACK",  # to the savepoint: no audit row either
        "RELEASE",
        "SELECT checkin_checkin",  # the check-in saved under this key
    ]
    saved = CheckIn.objects.get()
    assert (saved.participant_id, saved.week) == (participant.pk, 1)
    assert saved.answers["ocs"] == {"ocs_1": "3", "ocs_2": "2", "ocs_3": "4"}
    assert saved.scores["ocs"]["mean"] == 3.0  # (3 + 2 + 4) / 3
    audit = AuditEvent.objects.get(object_type="checkin.checkin")
    assert audit.object_id == str(saved.pk)
    assert audit.new_values is not None and audit.new_values["week"] == 1
