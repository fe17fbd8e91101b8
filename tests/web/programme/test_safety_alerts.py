"""Issue 10, item 4: SAE alerts are delivered or visibly pending, and a resubmitted form
never makes a second AE.

"SMTP down" is Django's real SMTP backend pointed at a local port where nothing listens
(connection refused), not a stub.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from mindtrial.web.accounts.models import Role
from mindtrial.web.accounts.services import user_create
from mindtrial.web.safety.models import AdverseEvent, AlertEmail, SafetyAlert
from mindtrial.web.safety.outbox import MAX_ATTEMPTS, alert_emails_send

from ..factories import PASSWORD, SETUP, grant
from .factories import START, World

pytestmark = pytest.mark.django_db

FORM = {
    "description": "Chest pain, admitted overnight",
    "onset_date": (START + dt.timedelta(days=9)).isoformat(),  # day 10: week 2
    "severity": "severe", "serious": "yes", "relatedness": "unlikely", "expected": "no",
    "outcome": "recovered", "action_taken": "none",
}  # fmt: skip


def _dead_port() -> int:
    """A local port with no listener: connecting to it is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_down(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = _dead_port()
    settings.EMAIL_TIMEOUT = 2


def _world_with_monitor() -> tuple[World, Any]:
    world = World(n=1)
    monitor = user_create(
        acting_user=SETUP,
        username="dsmb",
        password=PASSWORD,
        role=Role.SAFETY_MONITOR,
        email="dsmb@example.org",
    )
    grant(monitor, world.study)
    return world, monitor


def _form_key(client: Client, participant_id: int) -> str:
    page = client.get(f"/participants/{participant_id}/adverse-events/new/")
    found = re.search(r'name="submission_key" value="([0-9a-f-]{36})"', page.content.decode())
    assert found is not None
    return found.group(1)


def test_serious_event_with_smtp_down_answers_normally_and_stays_pending(
    smtp_down: None, django_capture_on_commit_callbacks: Any
) -> None:
    world, monitor = _world_with_monitor()
    p = world.participants[0]
    coordinator = Client()
    coordinator.force_login(world.coordinator)
    key = _form_key(coordinator, p.pk)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = coordinator.post(
            f"/participants/{p.pk}/adverse-events/new/",
            FORM | {"submission_key": key},
            follow=True,
        )
    assert len(callbacks) == 1  # the send was tried right after the commit
    assert response.status_code == 200
    assert "1 pending" in response.content.decode()  # not "alerted by e-mail"
    event = AdverseEvent.objects.get()
    alert = SafetyAlert.objects.get(adverse_event=event, recipient=monitor)
    email = AlertEmail.objects.get(alert=alert)
    assert (email.status, email.attempts, email.sent_at) == ("pending", 1, None)
    assert "ConnectionRefusedError" in email.last_error
    assert email.next_attempt_at > timezone.now()
    # The monitor sees the true state on the alerts page and on the event's page.
    reader = Client()
    reader.force_login(monitor)
    page = reader.get("/alerts/").content.decode()
    assert event.code in page and "e-mail pending" in page and "1 attempt failed" in page
    detail = reader.get(f"/studies/{world.study.pk}/adverse-events/review/?ae={event.pk}")
    assert "e-mail pending" in detail.content.decode()


def test_worker_retries_until_sent_then_sends_nothing_twice(
    smtp_down: None, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    world, _ = _world_with_monitor()
    p = world.participants[0]
    client = Client()
    client.force_login(world.coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/participants/{p.pk}/adverse-events/new/",
            FORM | {"submission_key": _form_key(client, p.pk)},
        )
    email = AlertEmail.objects.get()
    # Not due yet: the worker leaves it alone.
    assert alert_emails_send().sent == 0
    assert AlertEmail.objects.get().attempts == 1
    # The mail server is back; the retry is due.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    later = email.next_attempt_at + dt.timedelta(seconds=1)
    run = alert_emails_send(now=later)
    assert (run.sent, run.retrying, run.failed) == (1, 0, 0)
    email.refresh_from_db()
    assert (email.status, email.attempts, email.last_error) == ("sent", 2, "")
    assert [m.to for m in mail.outbox] == [["dsmb@example.org"]]
    call_command("send_alerts")  # the worker command: nothing left to send
    assert len(mail.outbox) == 1


def test_an_email_that_never_goes_is_marked_failed_and_shown(
    smtp_down: None, django_capture_on_commit_callbacks: Any
) -> None:
    world, monitor = _world_with_monitor()
    p = world.participants[0]
    client = Client()
    client.force_login(world.coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/participants/{p.pk}/adverse-events/new/",
            FORM | {"submission_key": _form_key(client, p.pk)},
        )
    now = timezone.now()
    for _ in range(MAX_ATTEMPTS - 1):
        now = AlertEmail.objects.get().next_attempt_at + dt.timedelta(seconds=1)
        alert_emails_send(now=now)
    email = AlertEmail.objects.get()
    assert (email.status, email.attempts) == ("failed", MAX_ATTEMPTS)
    assert alert_emails_send(now=now + dt.timedelta(days=1)).sent == 0  # no more tries
    reader = Client()
    reader.force_login(monitor)
    assert f"FAILED after {MAX_ATTEMPTS} attempts" in reader.get("/alerts/").content.decode()


def test_resubmitting_the_same_form_records_one_event_and_one_alert(
    django_capture_on_commit_callbacks: Any,
) -> None:
    world, _ = _world_with_monitor()
    p = world.participants[0]
    client = Client()
    client.force_login(world.coordinator)
    key = _form_key(client, p.pk)
    url = f"/participants/{p.pk}/adverse-events/new/"
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(url, FORM | {"submission_key": key})
        again = client.post(url, FORM | {"submission_key": key}, follow=True)
    assert first.status_code == 302 and again.status_code == 200
    assert "already recorded as AE00001" in again.content.decode()
    assert AdverseEvent.objects.count() == 1
    assert SafetyAlert.objects.count() == 1 and len(mail.outbox) == 1
    # A new form (a new key) is a new report.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, FORM | {"submission_key": _form_key(client, p.pk)})
    assert AdverseEvent.objects.count() == 2


def test_monitor_without_address_is_alerted_in_the_app_only(
    django_capture_on_commit_callbacks: Any,
) -> None:
    world = World(n=1)
    monitor = user_create(
        acting_user=SETUP, username="dsmb", password=PASSWORD, role=Role.SAFETY_MONITOR
    )
    grant(monitor, world.study)
    p = world.participants[0]
    client = Client()
    client.force_login(world.coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/participants/{p.pk}/adverse-events/new/",
            FORM | {"submission_key": _form_key(client, p.pk)},
        )
    assert SafetyAlert.objects.filter(recipient=monitor).count() == 1
    assert not AlertEmail.objects.exists() and mail.outbox == []
    reader = Client()
    reader.force_login(monitor)
    assert "no e-mail address" in reader.get("/alerts/").content.decode()
