"""Guards on weekly data: nothing for sessions that have not happened, and no cohort move
that would orphan recorded data (or, for risky moves, none without a reason)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from mindtrial.web.accounts.services import api_token_issue
from mindtrial.web.audit.models import AuditAction, AuditEvent
from mindtrial.web.common import ServiceError, local_date
from mindtrial.web.enrolment.services import participant_assign_cohort
from mindtrial.web.programme.models import Attendance
from mindtrial.web.programme.services import attendance_record
from mindtrial.web.toxicology.models import ToxTest
from mindtrial.web.toxicology.services import tox_test_import

from .factories import World, make_cohort_on
from .records import PANEL

pytestmark = pytest.mark.django_db

ZONE = "America/New_York"  # where the factories' cohorts meet


def _today() -> dt.date:
    return local_date(ZONE)


def test_attendance_for_a_session_that_has_not_happened_is_refused() -> None:
    # The cohort started two weeks ago: weeks 1 and 2 have met, week 20 is months away.
    world = World(n=1, start=_today() - dt.timedelta(weeks=2))
    p = world.participants[0]
    attendance_record(acting_user=world.coordinator, participant=p, week=2, status="present")
    with pytest.raises(ServiceError) as info:
        attendance_record(acting_user=world.coordinator, participant=p, week=20, status="present")
    week20 = world.cohort.start_date + dt.timedelta(weeks=19)
    assert info.value.errors["week"].startswith(
        f"Week 20 has not happened yet (the group meets on {week20:%Y-%m-%d})"
    )
    assert list(Attendance.objects.filter(participant=p).values_list("week", flat=True)) == [2]


def test_a_cohort_that_starts_today_takes_no_week_20() -> None:
    world = World(n=1, start=_today())
    p = world.participants[0]
    with pytest.raises(ServiceError, match="Week 20 has not happened yet"):
        attendance_record(acting_user=world.coordinator, participant=p, week=20, status="absent")
    with pytest.raises(ServiceError, match="Week 20 has not happened yet"):
        tox_test_import(
            acting_user=world.coordinator,
            participant=p,
            week=20,
            results=dict.fromkeys(PANEL, "negative"),
        )
    assert not Attendance.objects.filter(participant=p).exists()
    assert not ToxTest.objects.filter(participant=p).exists()


def test_group_page_shows_the_refusal_instead_of_saving() -> None:
    world = World(n=1, start=_today())
    p = world.participants[0]
    client = Client()
    client.force_login(world.coordinator)
    assert p.group is not None
    url = f"/groups/{p.group.public_id}/programme/?week=20"
    response = client.post(url, {f"p{p.pk}": "present"}, follow=True)
    assert response.status_code == 200
    assert "Week 20 has not happened yet" in response.content.decode()
    assert not Attendance.objects.filter(participant=p).exists()


def test_a_move_that_would_orphan_attendance_is_refused() -> None:
    world = World(n=1)  # cohort 1 started 2026-01-05: all 24 sessions have met
    p = world.participants[0]
    for week in (1, 2, 3, 4, 5, 6):
        attendance_record(acting_user=world.coordinator, participant=p, week=week, status="present")
    fresh = make_cohort_on(world.study, _today() + dt.timedelta(days=7))  # no session yet
    with pytest.raises(ServiceError) as info:
        participant_assign_cohort(
            acting_user=world.coordinator, participant=p, cohort=fresh, reason="moved house"
        )
    message = info.value.errors["cohort"]
    assert "attendance to week 6" in message and "has held 0 session(s)" in message
    p.refresh_from_db()
    assert p.cohort == world.cohort


def test_a_move_into_a_cohort_that_ran_years_ago_needs_a_reason_and_is_audited() -> None:
    world = World(n=1)
    p = world.participants[0]
    attendance_record(acting_user=world.coordinator, participant=p, week=1, status="present")
    old = make_cohort_on(world.study, dt.date(2021, 1, 4))  # a Monday; ended in June 2021
    with pytest.raises(ServiceError) as info:
        participant_assign_cohort(acting_user=world.coordinator, participant=p, cohort=old)
    assert "give the reason for the move" in info.value.errors["reason"]
    p.refresh_from_db()
    assert p.cohort == world.cohort

    participant_assign_cohort(
        acting_user=world.coordinator,
        participant=p,
        cohort=old,
        reason="entered in the wrong cohort",
    )
    p.refresh_from_db()
    assert p.cohort == old
    event = AuditEvent.objects.filter(action=AuditAction.ASSIGN_COHORT).order_by("-id").first()
    assert event is not None
    assert event.reason == "entered in the wrong cohort"
    assert event.old_values is not None and event.old_values["cohort"] == world.cohort.number
    assert event.new_values is not None and event.new_values["cohort"] == old.number


def test_an_ended_cohort_without_data_still_needs_a_reason_but_a_running_one_does_not() -> None:
    world = World(n=1, start=_today() - dt.timedelta(weeks=1))
    p = world.participants[0]
    ended = make_cohort_on(world.study, dt.date(2021, 1, 4))
    with pytest.raises(ServiceError, match="sessions are over"):
        participant_assign_cohort(acting_user=world.coordinator, participant=p, cohort=ended)
    running = make_cohort_on(world.study, _today() - dt.timedelta(weeks=3))
    participant_assign_cohort(acting_user=world.coordinator, participant=p, cohort=running)
    p.refresh_from_db()
    assert p.cohort == running


def test_cohort_form_shows_the_message() -> None:
    world = World(n=1)
    p = world.participants[0]
    attendance_record(acting_user=world.coordinator, participant=p, week=3, status="present")
    fresh = make_cohort_on(world.study, _today() + dt.timedelta(days=7))
    client = Client()
    client.force_login(world.coordinator)
    response = client.post(f"/participants/{p.pk}/cohort/", {"cohort": fresh.pk, "reason": ""})
    assert response.status_code == 200
    page = response.content.decode()
    assert "has held 0 session(s)" in page
    p.refresh_from_db()
    assert p.cohort == world.cohort


def test_the_api_asks_for_the_reason_too() -> None:
    world = World(n=1)
    p = world.participants[0]
    attendance_record(acting_user=world.coordinator, participant=p, week=1, status="present")
    old = make_cohort_on(world.study, dt.date(2021, 1, 4))
    token = api_token_issue(acting_user=world.coordinator, user=world.coordinator)
    api = Client(headers={"Authorization": f"Bearer {token}"})
    url = f"/api/participants/{p.pk}/cohort"
    refused = api.post(url, {"cohort_id": old.public_id}, content_type="application/json")
    assert refused.status_code == 422, refused.content
    assert "give the reason for the move" in refused.content.decode()
    moved = api.post(
        url,
        {"cohort_id": old.public_id, "reason": "data entry error"},
        content_type="application/json",
    )
    assert moved.status_code == 200, moved.content
    p.refresh_from_db()
    assert p.cohort == old
