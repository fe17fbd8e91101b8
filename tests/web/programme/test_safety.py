"""Adverse events, safety alerts (in-app and e-mail) and withdrawals."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail

from mindtrial.web.accounts.models import Role
from mindtrial.web.accounts.services import user_create
from mindtrial.web.audit.models import AuditEvent
from mindtrial.web.common import NotFound, ServiceError
from mindtrial.web.programme.services import attendance_record
from mindtrial.web.safety.models import AdverseEvent, AlertEmail, SafetyAlert
from mindtrial.web.safety.selectors import adverse_events_for, unread_alerts
from mindtrial.web.safety.services import (
    adverse_event_import,
    adverse_event_report,
    adverse_event_review,
    participant_withdraw,
)

from ..factories import PASSWORD, SETUP, grant, make_user
from .factories import START, World

pytestmark = pytest.mark.django_db


def _answers(**changes: Any) -> dict[str, Any]:
    base = {
        "description": "Fainted at home, taken to hospital overnight",
        "onset_date": (START + dt.timedelta(days=20)).isoformat(),  # day 21: week 3
        "severity": "severe", "serious": "yes", "relatedness": "unlikely", "expected": "no",
        "outcome": "recovered", "action_taken": "none",
    }  # fmt: skip
    return base | changes


def _monitor(world: World, name: str, email: str) -> Any:
    user = user_create(
        acting_user=SETUP, username=name, password=PASSWORD, role=Role.SAFETY_MONITOR, email=email
    )
    grant(user, world.study)
    return user


def test_serious_event_alerts_every_monitor_in_app_and_by_email(
    django_capture_on_commit_callbacks: Any,
) -> None:
    world = World(n=1)
    p = world.participants[0]
    m1 = _monitor(world, "dsmb1", "dsmb1@example.org")
    m2 = _monitor(world, "dsmb2", "dsmb2@example.org")
    _monitor_elsewhere = user_create(
        acting_user=SETUP,
        username="dsmb3",
        password=PASSWORD,
        role=Role.SAFETY_MONITOR,
        email="dsmb3@example.org",
    )
    with django_capture_on_commit_callbacks(execute=True):
        event = adverse_event_report(
            acting_user=world.coordinator,
            participant=p,
            answers=_answers(),
            today=START + dt.timedelta(days=30),
        )
    assert (event.code, event.onset_week, event.serious, event.related) == (
        "AE00001",
        3,
        True,
        False,
    )
    assert {a.recipient for a in SafetyAlert.objects.all()} == {m1, m2}
    # One message per monitor, each with its own delivery state in the outbox.
    assert sorted(m.to[0] for m in mail.outbox) == ["dsmb1@example.org", "dsmb2@example.org"]
    assert all(len(m.to) == 1 for m in mail.outbox)
    assert "AE00001" in mail.outbox[0].subject and p.code in mail.outbox[0].body
    assert "Fainted" not in mail.outbox[0].body  # no clinical narrative in e-mail
    assert set(AlertEmail.objects.values_list("status", flat=True)) == {"sent"}
    assert list(unread_alerts(m1)) == list(SafetyAlert.objects.filter(recipient=m1))
    adverse_event_review(acting_user=m1, event=event, note="Unrelated; no action needed.")
    assert not unread_alerts(m1).exists() and unread_alerts(m2).exists()
    assert AuditEvent.objects.filter(object_type="safety.adverseevent").count() == 2


def test_non_serious_event_sends_nothing_and_bad_form_names_fields(
    django_capture_on_commit_callbacks: Any,
) -> None:
    world = World(n=1)
    p = world.participants[0]
    _monitor(world, "dsmb1", "dsmb1@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        event = adverse_event_report(
            acting_user=world.coordinator,
            participant=p,
            answers=_answers(serious="no", severity="mild", relatedness="possibly"),
            today=START + dt.timedelta(days=30),
        )
    assert event.related and not SafetyAlert.objects.exists() and mail.outbox == []
    with pytest.raises(ServiceError) as info:
        adverse_event_report(
            acting_user=world.coordinator,
            participant=p,
            answers=_answers(severity="awful", outcome=""),
        )
    assert set(info.value.errors) == {"severity", "outcome"}
    assert AdverseEvent.objects.count() == 1


def test_blinded_roles_can_report_but_never_read_events() -> None:
    world = World(n=1)
    investigator = make_user("inv", Role.INVESTIGATOR)
    grant(investigator, world.study)
    event = adverse_event_report(
        acting_user=investigator,
        participant=world.participants[0],
        answers=_answers(serious="no"),
        today=START + dt.timedelta(days=30),
    )
    with pytest.raises(NotFound):
        adverse_events_for(investigator, world.study)
    assert list(adverse_events_for(world.coordinator, world.study)) == [event]


def test_withdrawal_stops_collection_and_refuses_a_week_before_existing_data() -> None:
    world = World(n=2)
    p, q = world.participants
    for week in (1, 2, 3):
        attendance_record(acting_user=world.coordinator, participant=p, week=week, status="present")
    with pytest.raises(ServiceError) as info:
        participant_withdraw(
            acting_user=world.coordinator,
            participant=p,
            kind="withdrawn",
            week=3,
            reason="moved away",
        )
    assert "week" in info.value.errors
    participant_withdraw(
        acting_user=world.coordinator,
        participant=p,
        kind="lost_to_follow_up",
        week=4,
        reason="no contact after three attempts",
    )
    with pytest.raises(ServiceError, match="nothing is collected"):
        attendance_record(acting_user=world.coordinator, participant=p, week=4, status="absent")
    with pytest.raises(ServiceError, match="nothing is collected"):
        participant_withdraw(
            acting_user=world.coordinator, participant=p, kind="withdrawn", week=5, reason="again"
        )
    with pytest.raises(ServiceError) as info:
        participant_withdraw(
            acting_user=world.coordinator, participant=q, kind="fled", week=2, reason=""
        )
    assert set(info.value.errors) == {"kind", "reason"}


def test_codes_continue_after_loaded_events() -> None:
    world = World(n=2)
    p, q = world.participants
    adverse_event_import(
        acting_user=SETUP, participant=p, code="AE00007", onset_week=2, severity="mild",
        serious=False, related=False, expected=True,
    )  # fmt: skip
    event = adverse_event_report(
        acting_user=world.coordinator, participant=q, answers=_answers(serious="no"),
        today=START + dt.timedelta(days=30),
    )  # fmt: skip
    assert event.code == "AE00008"  # one more than the highest, across participants
    with pytest.raises(ServiceError, match="contradicts"):
        adverse_event_import(
            acting_user=SETUP, participant=q, code="AE00009", onset_week=2, severity="mild",
            serious=False, related=True, expected=True, relatedness="not_related",
        )  # fmt: skip


def test_withdrawal_form_asks_for_confirmation_before_recording() -> None:
    from django.test import Client

    from mindtrial.web.safety.models import Withdrawal

    world = World(n=1)
    p = world.participants[0]
    client = Client()
    client.force_login(world.coordinator)
    url = f"/participants/{p.pk}/withdraw/"
    answers = {"kind": "withdrawn", "week": "5", "reason": "moved away"}
    asked = client.post(url, answers)
    assert asked.status_code == 200 and "cannot be undone" in asked.content.decode()
    assert not Withdrawal.objects.exists()  # nothing is recorded before the confirmation
    back = client.post(url, answers | {"edit": "1"})
    assert back.status_code == 200 and "cannot be undone" not in back.content.decode()
    assert 'value="moved away"' in back.content.decode()
    done = client.post(url, answers | {"confirmed": "yes"})
    assert done.status_code == 302
    withdrawal = Withdrawal.objects.get(participant=p)
    assert (withdrawal.kind, withdrawal.week, withdrawal.reason) == ("withdrawn", 5, "moved away")
