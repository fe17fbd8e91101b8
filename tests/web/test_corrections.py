"""Edit with a reason: every ``correct_*`` service audits old → new with who and why, and
what depends on the corrected value follows.

The eligibility references are the M-ROCC protocol's own criteria as written in its YAML
("Age 18 to 70", an inclusion criterion), and the OCS score is the mean of its three items
(worked by hand below); the services under test never see these numbers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from mindtrial.web.accounts.models import Role, User
from mindtrial.web.audit.models import AuditAction, AuditEvent
from mindtrial.web.common import ServiceError
from mindtrial.web.enrolment import services as enrolment
from mindtrial.web.enrolment.models import BaselineAssessment, Screening, Status
from mindtrial.web.programme.models import Attendance
from mindtrial.web.programme.services import attendance_record, correct_attendance
from mindtrial.web.safety.models import AdverseEvent, AdverseEventFollowUp, SafetyAlert
from mindtrial.web.safety.selectors import withdrawal_of
from mindtrial.web.safety.services import (
    adverse_event_follow_up,
    adverse_event_report,
    correct_adverse_event,
    correct_undo_withdrawal,
    correct_withdrawal,
    participant_withdraw,
)
from mindtrial.web.toxicology.services import correct_tox_test, tox_test_import

from .factories import (
    ELIGIBLE_RECORD,
    SETUP,
    grant,
    make_participant,
    make_ready_participant,
    make_site,
    make_study,
    make_user,
)
from .programme.factories import START, World, make_facilitator
from .programme.records import PANEL, ae_answers

pytestmark = pytest.mark.django_db


def _corrections(target: Any) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            action=AuditAction.CORRECT,
            object_type=target._meta.label_lower,
            object_id=str(target.pk),
        )
    )


@pytest.fixture
def enrolment_world() -> dict[str, Any]:
    study = make_study()
    site = make_site(study)
    coordinator = make_user("coord")
    grant(coordinator, study, site)
    return {"study": study, "site": site, "coordinator": coordinator}


# --------------------------------------------------------------------------- screening


def test_a_mistyped_age_corrected_makes_the_referral_eligible(
    enrolment_world: dict[str, Any],
) -> None:
    """Age 75 fails "Age 18 to 70"; 57 meets it, and every other criterion is met."""
    w = enrolment_world
    p = make_participant(w["study"], w["site"], by=w["coordinator"])
    enrolment.participant_screen(
        acting_user=w["coordinator"], participant=p, record=dict(ELIGIBLE_RECORD, age=75)
    )
    p.refresh_from_db()
    assert p.status == Status.SCREEN_FAILED and p.status_reason == "Age 18 to 70"

    result = enrolment.correct_screening(
        acting_user=w["coordinator"],
        participant=p,
        record=dict(ELIGIBLE_RECORD, age=57),
        reason="age typed as 75; the ID card says 57",
    )

    p.refresh_from_db()
    screening = Screening.objects.get(participant=p)
    assert (result.was_eligible, result.eligible, result.status_changed) == (False, True, True)
    assert not result.randomized_ineligible
    assert p.status == Status.ELIGIBLE and p.status_reason == ""
    assert screening.eligible and screening.failed == [] and screening.record["age"] == 57
    [event] = _corrections(screening)
    assert event.acting_user == w["coordinator"]
    assert event.reason == "age typed as 75; the ID card says 57"
    assert event.old_values == {
        "record.age": 75,
        "eligible": False,
        "failed": ["age"],
        "status": "screen_failed",
    }
    assert event.new_values == {
        "record.age": 57,
        "eligible": True,
        "failed": [],
        "status": "eligible",
    }


def test_a_screening_correction_needs_a_reason_and_changes_nothing_without_one(
    enrolment_world: dict[str, Any],
) -> None:
    w = enrolment_world
    p = make_participant(w["study"], w["site"], by=w["coordinator"])
    enrolment.participant_screen(
        acting_user=w["coordinator"], participant=p, record=dict(ELIGIBLE_RECORD, age=75)
    )
    for reason in ("", "   "):
        with pytest.raises(ServiceError) as info:
            enrolment.correct_screening(
                acting_user=w["coordinator"],
                participant=p,
                record=dict(ELIGIBLE_RECORD, age=57),
                reason=reason,
            )
        assert "reason" in info.value.errors
    p.refresh_from_db()
    assert p.status == Status.SCREEN_FAILED
    assert Screening.objects.get(participant=p).record["age"] == 75
    assert not AuditEvent.objects.filter(action=AuditAction.CORRECT).exists()


def test_an_eligible_again_participant_returns_to_the_step_their_records_reached(
    enrolment_world: dict[str, Any],
) -> None:
    """Consented with a complete baseline: a typo that fails "Age 18 to 70" takes them out
    of the funnel, and correcting it back returns them to "baseline complete"."""
    w = enrolment_world
    p = make_ready_participant(w["study"], w["site"], by=w["coordinator"])
    assert p.status == Status.BASELINE_COMPLETE
    enrolment.correct_screening(
        acting_user=w["coordinator"],
        participant=p,
        record=dict(ELIGIBLE_RECORD, age=17),
        reason="entered the wrong form",
    )
    p.refresh_from_db()
    assert p.status == Status.SCREEN_FAILED and p.status_reason == "Age 18 to 70"
    enrolment.correct_screening(
        acting_user=w["coordinator"],
        participant=p,
        record=ELIGIBLE_RECORD,
        reason="back to the signed screening form",
    )
    p.refresh_from_db()
    assert p.status == Status.BASELINE_COMPLETE


def test_a_randomized_participant_made_ineligible_stays_randomized_and_it_is_recorded() -> None:
    world = World(n=1)
    p = world.participants[0]
    result = enrolment.correct_screening(
        acting_user=world.coordinator,
        participant=p,
        record=dict(ELIGIBLE_RECORD, psychosis=True),
        reason="clinic letter received after randomization",
    )
    p.refresh_from_db()
    assert result.randomized_ineligible and not result.eligible and not result.status_changed
    assert p.status == Status.RANDOMIZED and p.randomization is not None
    screening = Screening.objects.get(participant=p)
    assert [f["id"] for f in screening.failed] == ["psychosis"]
    [event] = _corrections(screening)
    assert event.new_values == {
        "record.psychosis": True,
        "eligible": False,
        "failed": ["psychosis"],
        "randomized_ineligible": True,
    }


def test_an_unchanged_screening_is_not_a_correction(enrolment_world: dict[str, Any]) -> None:
    w = enrolment_world
    p = make_ready_participant(w["study"], w["site"], by=w["coordinator"])
    with pytest.raises(ServiceError, match="Nothing was changed"):
        enrolment.correct_screening(
            acting_user=w["coordinator"], participant=p, record=ELIGIBLE_RECORD, reason="x"
        )


# --------------------------------------------------------------------------- consent, baseline


def test_consent_date_correction_is_audited(enrolment_world: dict[str, Any]) -> None:
    w = enrolment_world
    p = make_ready_participant(w["study"], w["site"], by=w["coordinator"])
    enrolment.correct_consent(
        acting_user=w["coordinator"],
        participant=p,
        form_version="v2.1",
        consent_date=dt.date(2025, 12, 3),
        obtained_by=User.objects.get(username="coord"),
        reason="date on the signed form is 3 December",
    )
    [event] = _corrections(p.consent)
    assert event.old_values == {"consent_date": "2025-12-02"}
    assert event.new_values == {"consent_date": "2025-12-03"}
    with pytest.raises(ServiceError) as info:
        enrolment.correct_consent(
            acting_user=w["coordinator"],
            participant=p,
            form_version="v2.1",
            consent_date=dt.date(2025, 11, 1),  # before the referral of 1 December
            obtained_by=w["coordinator"],
            reason="x",
        )
    assert "consent_date" in info.value.errors


def test_a_baseline_correction_after_randomization_is_scored_again() -> None:
    """OCS is the mean of its three 0-10 items: (6 + 4 + 5) / 3 = 5 → (6 + 4 + 8) / 3 = 6."""
    world = World(n=1)
    p = world.participants[0]
    assert BaselineAssessment.objects.get(participant=p, instrument="ocs").scores["scores"] == {
        "mean": 5.0
    }
    enrolment.correct_baseline(
        acting_user=world.coordinator,
        participant=p,
        instrument_id="ocs",
        answers={"ocs_1": 6, "ocs_2": 4, "ocs_3": 8},
        reason="item 3 read from the wrong line",
    )
    assessment = BaselineAssessment.objects.get(participant=p, instrument="ocs")
    assert assessment.scores["scores"] == {"mean": 6.0}
    [event] = _corrections(assessment)
    assert event.old_values == {"answers.ocs_3": 5, "scores.mean": 5.0}
    assert event.new_values == {"answers.ocs_3": 8, "scores.mean": 6.0}


# --------------------------------------------------------------------------- programme records


def test_a_test_result_correction_is_audited_per_analyte() -> None:
    world = World(n=1)
    p = world.participants[0]
    test = tox_test_import(
        acting_user=SETUP, participant=p, week=2, results=dict.fromkeys(PANEL, "negative")
    )
    with pytest.raises(ServiceError) as info:
        correct_tox_test(
            acting_user=world.coordinator,
            test=test,
            status="completed",
            results=dict(test.results, fentanyl="positive"),
            test_reason="",
            reason="",
        )
    assert "correction_reason" in info.value.errors
    correct_tox_test(
        acting_user=world.coordinator,
        test=test,
        status="completed",
        results=dict(test.results, fentanyl="positive"),
        test_reason="",
        reason="read the wrong cassette window",
    )
    test.refresh_from_db()
    assert test.results["fentanyl"] == "positive"
    [event] = _corrections(test)
    assert (event.old_values, event.new_values) == (
        {"results.fentanyl": "negative"},
        {"results.fentanyl": "positive"},
    )


def test_attendance_is_corrected_by_staff_and_by_the_groups_own_facilitator_only() -> None:
    world = World(n=4)
    p = world.participants[0]
    q = next(x for x in world.participants if x.group_id != p.group_id)
    own = make_facilitator(world.study, p.group)  # type: ignore[arg-type]
    mark = attendance_record(acting_user=SETUP, participant=p, week=1, status="absent")
    correct_attendance(acting_user=own, attendance=mark, status="present", reason="late arrival")
    mark.refresh_from_db()
    assert mark.status == "present"
    [event] = _corrections(mark)
    assert (event.old_values, event.new_values, event.acting_user) == (
        {"status": "absent"},
        {"status": "present"},
        own,
    )
    other = attendance_record(acting_user=SETUP, participant=q, week=1, status="absent")
    with pytest.raises(ServiceError):
        correct_attendance(acting_user=own, attendance=other, status="present", reason="x")
    assert Attendance.objects.get(pk=other.pk).status == "absent"


# --------------------------------------------------------------------------- adverse events


def test_a_serious_adverse_event_is_followed_up_to_resolution() -> None:
    world = World(n=1)
    p = world.participants[0]
    onset = START + dt.timedelta(days=20)
    event = adverse_event_report(
        acting_user=world.coordinator,
        participant=p,
        answers=dict(ae_answers(onset, serious=True), outcome="not_recovered"),
    )
    adverse_event_follow_up(
        acting_user=world.coordinator,
        event=event,
        outcome="recovering",
        outcome_date=onset + dt.timedelta(days=3),
        note="discharged home",
    )
    with pytest.raises(ServiceError) as info:  # follow-ups go forward in time
        adverse_event_follow_up(
            acting_user=world.coordinator,
            event=event,
            outcome="recovered",
            outcome_date=onset + dt.timedelta(days=1),
        )
    assert "outcome_date" in info.value.errors
    adverse_event_follow_up(
        acting_user=world.coordinator,
        event=event,
        outcome="recovered_with_sequelae",
        outcome_date=onset + dt.timedelta(days=30),
        note="mild residual dizziness",
    )
    event.refresh_from_db()
    assert (event.outcome, event.outcome_date) == (
        "recovered_with_sequelae",
        onset + dt.timedelta(days=30),
    )
    assert [f.outcome for f in AdverseEventFollowUp.objects.filter(adverse_event=event)] == [
        "recovering",
        "recovered_with_sequelae",
    ]
    with pytest.raises(ServiceError, match="resolved"):  # resolved: the follow-up ends
        adverse_event_follow_up(
            acting_user=world.coordinator,
            event=event,
            outcome="recovered",
            outcome_date=onset + dt.timedelta(days=40),
        )
    updates = AuditEvent.objects.filter(
        action=AuditAction.UPDATE, object_type="safety.adverseevent", object_id=str(event.pk)
    ).order_by("id")
    assert [(u.old_values["outcome"], u.new_values["outcome"]) for u in updates] == [
        ("not_recovered", "recovering"),
        ("recovering", "recovered_with_sequelae"),
    ]


def test_an_event_corrected_to_serious_alerts_the_safety_monitors(
    django_capture_on_commit_callbacks: Any,
) -> None:
    world = World(n=1)
    p = world.participants[0]
    monitor = make_user("dsmb", Role.SAFETY_MONITOR)
    grant(monitor, world.study)
    onset = START + dt.timedelta(days=20)
    event = adverse_event_report(
        acting_user=world.coordinator, participant=p, answers=ae_answers(onset, serious=False)
    )
    assert not SafetyAlert.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        correct_adverse_event(
            acting_user=world.coordinator,
            event=event,
            answers=ae_answers(onset, serious=True),
            outcome_date=None,
            reason="hospital admission confirmed by the clinic",
        )
    event.refresh_from_db()
    assert event.serious
    assert [a.recipient for a in SafetyAlert.objects.filter(adverse_event=event)] == [monitor]
    [audit] = _corrections(event)
    assert (audit.old_values, audit.new_values) == ({"serious": False}, {"serious": True})


# --------------------------------------------------------------------------- withdrawal


def test_a_withdrawal_is_corrected_and_one_entered_in_error_is_undone() -> None:
    world = World(n=1)
    p = world.participants[0]
    withdrawal = participant_withdraw(
        acting_user=world.coordinator, participant=p, kind="withdrawn", week=5, reason="moved"
    )
    correct_withdrawal(
        acting_user=world.coordinator,
        withdrawal=withdrawal,
        kind="lost_to_follow_up",
        week=6,
        exit_reason="no contact after three attempts",
        reason="week and kind mixed up with another participant",
    )
    withdrawal.refresh_from_db()
    assert (withdrawal.kind, withdrawal.week) == ("lost_to_follow_up", 6)
    [event] = _corrections(withdrawal)
    assert event.old_values == {"kind": "withdrawn", "week": 5, "reason": "moved"}
    with pytest.raises(ServiceError) as info:
        correct_undo_withdrawal(acting_user=world.coordinator, withdrawal=withdrawal, reason="")
    assert "reason" in info.value.errors
    correct_undo_withdrawal(
        acting_user=world.coordinator, withdrawal=withdrawal, reason="entered for the wrong code"
    )
    assert withdrawal_of(p) is None
    undo = AuditEvent.objects.filter(action=AuditAction.CORRECT).order_by("-id").first()
    assert undo is not None and undo.old_values["week"] == 6 and undo.new_values["week"] is None
    # Data are collected again: attendance for week 7 is accepted.
    attendance_record(acting_user=world.coordinator, participant=p, week=7, status="present")


# --------------------------------------------------------------------------- roles


@pytest.mark.parametrize(
    "role", [Role.INVESTIGATOR, Role.STATISTICIAN, Role.SAFETY_MONITOR, Role.FACILITATOR]
)
def test_roles_the_protocol_does_not_allow_cannot_correct(role: str) -> None:
    world = World(n=1)
    p = world.participants[0]
    user = make_user(f"u-{role}", role)
    grant(user, world.study)
    if role == Role.FACILITATOR:
        make_facilitator(world.study, p.group, username="own-fac")  # type: ignore[arg-type]
        user = User.objects.get(username="own-fac")  # even the group's own facilitator
    event = adverse_event_report(
        acting_user=world.coordinator,
        participant=p,
        answers=ae_answers(START + dt.timedelta(days=20), serious=True),
    )
    attempts = [
        lambda: enrolment.correct_screening(
            acting_user=user, participant=p, record=dict(ELIGIBLE_RECORD, age=50), reason="x"
        ),
        lambda: enrolment.correct_baseline(
            acting_user=user,
            participant=p,
            instrument_id="ocs",
            answers={"ocs_1": 1, "ocs_2": 1, "ocs_3": 1},
            reason="x",
        ),
        lambda: correct_adverse_event(
            acting_user=user,
            event=event,
            answers=ae_answers(START, serious=False),
            outcome_date=None,
            reason="x",
        ),
        lambda: adverse_event_follow_up(
            acting_user=user, event=event, outcome="recovering", outcome_date=START
        ),
    ]
    for attempt in attempts:
        with pytest.raises(ServiceError):
            attempt()
    assert not AuditEvent.objects.filter(action=AuditAction.CORRECT).exists()
    assert AdverseEvent.objects.get(pk=event.pk).outcome == "recovered"


def _get(user: User, path: str) -> Any:
    client = Client()
    client.force_login(user)
    return client.get(path)


def test_the_corrections_page_lists_what_each_role_may_correct() -> None:
    world = World(n=1)
    p = world.participants[0]
    facilitator = make_facilitator(world.study, p.group)  # type: ignore[arg-type]
    attendance_record(acting_user=SETUP, participant=p, week=1, status="absent")
    event = adverse_event_report(
        acting_user=world.coordinator,
        participant=p,
        answers=ae_answers(START + dt.timedelta(days=20), serious=True),
    )
    page = _get(world.coordinator, f"/participants/{p.pk}/corrections/").content.decode()
    for link in (
        f"/participants/{p.pk}/corrections/screening/",
        f"/participants/{p.pk}/corrections/consent/",
        f"/participants/{p.pk}/corrections/baseline/ocs/",
        f"/participants/{p.pk}/corrections/attendance/?week=1",
        f"/participants/{p.pk}/corrections/adverse-events/?ae={event.pk}",
    ):
        assert f'href="{link}"' in page, link
    assert event.code in page
    mine = _get(facilitator, f"/participants/{p.pk}/corrections/").content.decode()
    assert "attendance/?week=1" in mine
    assert "screening" not in mine.lower() and event.code not in mine
    for role in (Role.INVESTIGATOR, Role.STATISTICIAN, Role.SAFETY_MONITOR):
        user = make_user(f"v-{role}", role)
        grant(user, world.study)
        for path in ("", "screening/", "baseline/ocs/", f"adverse-events/?ae={event.pk}"):
            status = _get(user, f"/participants/{p.pk}/corrections/{path}").status_code
            assert status in (403, 404), (role, path, status)


def test_a_blank_reason_on_the_page_is_a_clear_message_and_nothing_changes() -> None:
    world = World(n=1)
    p = world.participants[0]
    client = Client()
    client.force_login(world.coordinator)
    data = {
        k: ("yes" if v is True else "no" if v is False else v) for k, v in ELIGIBLE_RECORD.items()
    }
    response = client.post(
        f"/participants/{p.pk}/corrections/screening/", dict(data, age="50", reason="")
    )
    assert response.status_code == 200
    assert "A reason is required" in response.content.decode()
    assert Screening.objects.get(participant=p).record["age"] == 41
