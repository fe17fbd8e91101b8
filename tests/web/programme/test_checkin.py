"""Participant links and weekly check-ins: validation, idempotency, corrections."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import signing
from django.utils import timezone

from mindtrial.protocols import load_protocol
from mindtrial.web.audit.models import AuditAction, AuditEvent
from mindtrial.web.checkin.models import CheckIn
from mindtrial.web.checkin.services import (
    checkin_submit,
    correct_checkin,
    due_instruments,
    link_from_code,
    link_from_token,
    participant_link_issue,
    participant_link_revoke,
)
from mindtrial.web.common import NotFound, ServiceError
from mindtrial.web.enrolment.calendar import study_protocol
from mindtrial.web.safety.services import participant_withdraw

from .factories import START, WEEK1_ANSWERS, World

pytestmark = pytest.mark.django_db
WEEK1_DAY = START + dt.timedelta(days=2)


def test_due_instruments_follow_the_protocol_schedule() -> None:
    mrocc = load_protocol("mrocc-2025")
    assert due_instruments(mrocc, 1) == ["substance_use_7d", "ocs", "home_practice"]
    # PROMIS anxiety at weeks 8, 16, 24 only; the AE survey is the staff AE form.
    assert due_instruments(mrocc, 8) == [
        "substance_use_7d",
        "ocs",
        "promis_anxiety_8a",
        "home_practice",
    ]
    more = load_protocol("more-ltot-2022")
    assert due_instruments(more, 3) == ["home_practice"]
    assert due_instruments(more, 8) == ["comm", "bpi_sf", "dass21", "home_practice", "ema_craving"]
    # Month 3 follow-up is study week round(3 × 52/12) = 13: no home practice then.
    assert due_instruments(more, 13) == ["comm", "bpi_sf", "dass21", "ema_craving"]


def test_link_token_and_code_reach_the_participant_until_revoked() -> None:
    world = World(n=1)
    p = world.participants[0]
    issued = participant_link_issue(acting_user=world.coordinator, participant=p)
    assert link_from_token(issued.token).participant == p
    assert link_from_code(issued.code.lower()).participant == p  # case and dash forgiven
    assert issued.link.code_hash != issued.code  # only the hash is stored
    with pytest.raises(NotFound):
        link_from_token(issued.token[:-2] + "xx")  # tampered signature
    with pytest.raises(NotFound):
        link_from_token(signing.dumps({"n": "made-up"}, salt="other"))
    # Issuing a new link revokes the old one.
    newer = participant_link_issue(acting_user=world.coordinator, participant=p)
    with pytest.raises(NotFound):
        link_from_token(issued.token)
    participant_link_revoke(acting_user=world.coordinator, link=newer.link)
    with pytest.raises(NotFound):
        link_from_code(newer.code)


def test_expired_link_is_not_found() -> None:
    world = World(n=1)
    issued = participant_link_issue(
        acting_user=world.coordinator, participant=world.participants[0], days=1
    )
    type(issued.link).objects.filter(pk=issued.link.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    with pytest.raises(NotFound):
        link_from_token(issued.token)


def test_submission_is_scored_and_a_retry_never_duplicates() -> None:
    world = World(n=1)
    p = world.participants[0]
    first, created = checkin_submit(
        participant=p, week=1, answers=WEEK1_ANSWERS, idempotency_key="key-0001", today=WEEK1_DAY
    )
    assert created
    # OCS = mean(6, 4, 5) = 5; substance use: one "yes" of five.
    assert first.scores["ocs"] == {"mean": 5.0}
    assert first.scores["substance_use_7d"] == {"any": 1.0, "count": 1.0}
    assert first.scores["home_practice"]["total_minutes"] == 105.0
    assert first.answers["substance_use_7d"]["cocaine"] == "1"
    again, created_again = checkin_submit(
        participant=p, week=1, answers=WEEK1_ANSWERS, idempotency_key="key-0001", today=WEEK1_DAY
    )
    assert (again.pk, created_again) == (first.pk, False)
    with pytest.raises(ServiceError, match="already sent"):
        checkin_submit(
            participant=p,
            week=1,
            answers=WEEK1_ANSWERS,
            idempotency_key="key-0002",
            today=WEEK1_DAY,
        )
    assert CheckIn.objects.count() == 1
    assert AuditEvent.objects.filter(object_type="checkin.checkin").count() == 1


def test_a_retry_is_answered_after_its_week_and_another_participants_key_refused() -> None:
    """The saved check-in of a key is looked up only when a check-in cannot be saved: a
    retry that arrives once its week is over (refused as "not open now" before any insert)
    still gets the check-in it made; another participant's key is refused; nothing is
    written twice."""
    world = World(n=2)
    p, other = world.participants
    first, _ = checkin_submit(
        participant=p, week=1, answers=WEEK1_ANSWERS, idempotency_key="key-0101", today=WEEK1_DAY
    )
    week2_day = WEEK1_DAY + dt.timedelta(days=7)
    late, created = checkin_submit(
        participant=p, week=1, answers=WEEK1_ANSWERS, idempotency_key="key-0101", today=week2_day
    )
    assert (late.pk, created) == (first.pk, False)
    with pytest.raises(ServiceError) as info:
        checkin_submit(
            participant=other,
            week=1,
            answers=WEEK1_ANSWERS,
            idempotency_key="key-0101",
            today=WEEK1_DAY,
        )
    assert set(info.value.errors) == {"idempotency_key"}
    assert list(CheckIn.objects.values_list("participant_id", "week")) == [(p.pk, 1)]
    assert AuditEvent.objects.filter(object_type="checkin.checkin").count() == 1


def test_bad_answers_name_the_question_and_change_nothing() -> None:
    world = World(n=1)
    p = world.participants[0]
    answers = {**WEEK1_ANSWERS, "ocs": {"ocs_1": 11, "ocs_2": 4}}
    with pytest.raises(ServiceError) as info:
        checkin_submit(
            participant=p, week=1, answers=answers, idempotency_key="key-0003", today=WEEK1_DAY
        )
    assert set(info.value.errors) == {"ocs.ocs_1", "ocs.ocs_3"}
    assert info.value.errors["ocs.ocs_3"] == (
        "Please answer this question, or choose “Prefer not to answer”."
    )
    with pytest.raises(ServiceError) as info:
        checkin_submit(
            participant=p,
            week=2,
            answers=WEEK1_ANSWERS,
            idempotency_key="key-0004",
            today=WEEK1_DAY,
        )
    assert set(info.value.errors) == {"week"}  # not this week's check-in
    assert CheckIn.objects.count() == 0


def test_nothing_is_collected_after_withdrawal() -> None:
    world = World(n=1)
    p = world.participants[0]
    participant_withdraw(
        acting_user=world.coordinator, participant=p, kind="withdrawn", week=1, reason="moved away"
    )
    with pytest.raises(ServiceError, match="nothing is collected"):
        checkin_submit(
            participant=p,
            week=1,
            answers=WEEK1_ANSWERS,
            idempotency_key="key-0005",
            today=WEEK1_DAY,
        )


def test_staff_correction_needs_a_reason_and_keeps_old_values() -> None:
    world = World(n=1)
    p = world.participants[0]
    checkin, _ = checkin_submit(
        participant=p, week=1, answers=WEEK1_ANSWERS, idempotency_key="key-0006", today=WEEK1_DAY
    )
    fixed = {**WEEK1_ANSWERS, "ocs": {"ocs_1": 3, "ocs_2": 3, "ocs_3": 3}}
    with pytest.raises(ServiceError) as info:
        correct_checkin(acting_user=world.coordinator, checkin=checkin, answers=fixed, reason=" ")
    assert "reason" in info.value.errors
    correct_checkin(
        acting_user=world.coordinator,
        checkin=checkin,
        answers=fixed,
        reason="participant phoned: slider slipped",
    )
    checkin.refresh_from_db()
    assert checkin.scores["ocs"] == {"mean": 3.0}
    event = AuditEvent.objects.get(action=AuditAction.CORRECT)
    # Only what changed, item by item: (6 + 4 + 5) / 3 = 5 became (3 + 3 + 3) / 3 = 3.
    assert event.old_values == {
        "answers.ocs.ocs_1": "6",
        "answers.ocs.ocs_2": "4",
        "answers.ocs.ocs_3": "5",
        "scores.ocs.mean": 5.0,
    }
    assert (
        event.new_values["answers.ocs.ocs_1"] == "3" and event.new_values["scores.ocs.mean"] == 3.0
    )
    assert event.acting_user == world.coordinator
    assert study_protocol(world.study).id == "mrocc-2025"
