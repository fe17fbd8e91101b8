"""Session calendar, curriculum, attendance, adherence and the continuation choice."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from mindtrial.web.accounts.models import Role
from mindtrial.web.audit.models import AuditAction, AuditEvent
from mindtrial.web.common import ServiceError
from mindtrial.web.enrolment.calendar import (
    cohort_sessions,
    curriculum_week,
    next_session,
    study_protocol,
    week_of,
)
from mindtrial.web.enrolment.selectors import participant_arm
from mindtrial.web.programme.models import Attendance
from mindtrial.web.programme.selectors import adherence
from mindtrial.web.programme.services import attendance_record, continuation_record

from ..factories import make_user
from .factories import START, World, make_facilitator

pytestmark = pytest.mark.django_db


def test_sessions_keep_local_time_across_daylight_saving() -> None:
    world = World(n=0)
    sessions = cohort_sessions(world.cohort)
    assert len(sessions) == 24  # M-ROCC: 24 weekly sessions
    utc = ZoneInfo("UTC")
    # 5 Jan 2026 18:00 EST = 23:00 UTC; US clocks move on 8 Mar 2026, so week 10
    # (9 Mar) is 18:00 EDT = 22:00 UTC.
    assert sessions[0].starts_at.astimezone(utc) == dt.datetime(2026, 1, 5, 23, 0, tzinfo=utc)
    assert sessions[9].starts_at.astimezone(utc) == dt.datetime(2026, 3, 9, 22, 0, tzinfo=utc)
    assert sessions[0].minutes == 90  # 30-min check-in + 60-min group
    after_first = dt.datetime(2026, 1, 5, 23, 0, tzinfo=utc) + dt.timedelta(minutes=91)
    following = next_session(world.cohort, after_first)
    assert following is not None and following.week == 2


def test_week_of_counts_from_the_cohort_start() -> None:
    world = World(n=1)
    p = world.participants[0]
    assert week_of(p, START) == 1
    assert week_of(p, START + dt.timedelta(days=6)) == 1
    assert week_of(p, START + dt.timedelta(days=7)) == 2
    assert week_of(p, START - dt.timedelta(days=1)) == 0


def test_curriculum_follows_protocol_and_continuation_choice() -> None:
    protocol = study_protocol(World(n=0).study)
    week9 = curriculum_week(protocol, "mrocc", 9)
    assert week9 is not None
    assert (week9.phase, week9.topic, week9.practices) == (
        "Intensive mindful behaviour change",
        "Mindfulness of the body",
        ("body scan",),
    )
    assert curriculum_week(protocol, "mrocc", 8, continues=False) is not None
    assert curriculum_week(protocol, "mrocc", 9, continues=False) is None
    # The control arm has a phase description where no session topic is listed.
    week2 = curriculum_week(protocol, "recovery_support", 2)
    assert week2 is not None and week2.phase == "Group-building orientation"


def test_attendance_by_facilitator_is_audited_and_counts_towards_adherence() -> None:
    world = World(n=1)
    p = world.participants[0]
    assert p.group is not None
    facilitator = make_facilitator(world.study, p.group)
    for week in range(1, 16):
        attendance_record(acting_user=facilitator, participant=p, week=week, status="present")
    attendance_record(acting_user=facilitator, participant=p, week=16, status="excused")
    result = adherence(p)
    assert (result.attended, result.required, result.total) == (15, 15, 24)
    assert result.adherent
    events = AuditEvent.objects.filter(object_type="programme.attendance")
    assert events.count() == 16
    assert events.filter(acting_user=facilitator, action=AuditAction.CREATE).count() == 16
    # Changing a mark is a correction: it needs a reason and is audited as one.
    with pytest.raises(ServiceError) as info:
        attendance_record(acting_user=facilitator, participant=p, week=15, status="absent")
    assert "reason" in info.value.errors
    attendance_record(
        acting_user=facilitator, participant=p, week=15, status="absent", reason="marked wrong row"
    )
    assert not adherence(p).adherent
    corrected = AuditEvent.objects.get(action=AuditAction.CORRECT)
    assert corrected.old_values == {"status": "present"}
    assert corrected.reason == "marked wrong row"


def test_other_groups_facilitator_and_bad_week_are_refused() -> None:
    world = World(n=1)
    p = world.participants[0]
    other_group = world.cohort.groups.exclude(pk=p.group_id).get()
    stranger = make_facilitator(world.study, other_group, "otherfac")
    # Another group's facilitator does not even reach the participant (least privilege).
    with pytest.raises(ServiceError, match="access to this participant"):
        attendance_record(acting_user=stranger, participant=p, week=1, status="present")
    with pytest.raises(ServiceError) as info:
        attendance_record(acting_user=world.coordinator, participant=p, week=25, status="late")
    assert set(info.value.errors) == {"week", "status"}
    blinded = make_user("inv", Role.INVESTIGATOR)
    with pytest.raises(ServiceError, match="role"):
        attendance_record(acting_user=blinded, participant=p, week=1, status="present")
    assert Attendance.objects.count() == 0


def test_continuation_choice_once_and_only_for_an_arm_that_has_one() -> None:
    world = World(n=6)
    by_arm: dict[str, list] = {}
    for p in world.participants:
        arm = participant_arm(world.coordinator, p)
        assert arm is not None
        by_arm.setdefault(arm[0], []).append(p)
    mrocc, control = by_arm["mrocc"][0], by_arm["recovery_support"][0]
    decision = continuation_record(
        acting_user=world.coordinator,
        participant=mrocc,
        continues=False,
        decided_on=dt.date(2026, 2, 23),
    )
    assert decision.continues is False
    # What follows changes: no session after week 8 can be marked attended (absent can).
    with pytest.raises(ServiceError, match="chose not to continue after week 8"):
        attendance_record(
            acting_user=world.coordinator, participant=mrocc, week=9, status="present"
        )
    attendance_record(acting_user=world.coordinator, participant=mrocc, week=8, status="present")
    with pytest.raises(ServiceError, match="already"):
        continuation_record(acting_user=world.coordinator, participant=mrocc, continues=True)
    with pytest.raises(ServiceError, match="no continuation"):
        continuation_record(acting_user=world.coordinator, participant=control, continues=True)
    event = AuditEvent.objects.get(object_type="programme.continuationdecision")
    assert event.reveals_allocation
