"""Services: the state they change and the audit rows they write."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from mindtrial.design.randomization import generate_allocation_list
from mindtrial.web.accounts.models import Role
from mindtrial.web.audit.models import AppendOnlyError, AuditAction, AuditEvent
from mindtrial.web.common import Forbidden, ServiceError
from mindtrial.web.enrolment import services as enrolment
from mindtrial.web.enrolment.models import BaselineAssessment, Randomization, Status
from mindtrial.web.studies.models import AllocationEntry, Group

from .factories import (
    ELIGIBLE_RECORD,
    SETUP,
    grant,
    make_cohort,
    make_participant,
    make_ready_participant,
    make_site,
    make_study,
    make_user,
)

pytestmark = pytest.mark.django_db


def test_study_create_copies_protocol_and_stores_concealed_list() -> None:
    study = make_study(allocation_size=40, seed=11)
    assert study.arm_ids == ["mrocc", "recovery_support"]
    assert study.ratio == {"mrocc": 1, "recovery_support": 1}
    entries = list(AllocationEntry.objects.filter(study=study).order_by("sequence"))
    # The stored list is exactly the pure layer's list for the same seed.
    expected = generate_allocation_list(
        arms={"mrocc": 1, "recovery_support": 1}, n=40, block_sizes=[4, 6, 8], seed=11
    )
    assert [(e.stratum, e.sequence, e.arm_id) for e in entries] == [
        (e.stratum, e.sequence, e.arm) for e in expected.entries
    ]
    assert not any(e.assigned for e in entries)
    actions = list(AuditEvent.objects.filter(study=study).values_list("action", flat=True))
    assert sorted(actions) == sorted([AuditAction.CREATE, AuditAction.GENERATE_ALLOCATION])
    generated = AuditEvent.objects.get(study=study, action=AuditAction.GENERATE_ALLOCATION)
    # The audit row tells the size, never the arms of the concealed entries.
    assert generated.new_values == {"entries": 40, "strata": ["all"]}


def test_cohort_gets_one_neutral_group_per_arm() -> None:
    study = make_study()
    cohort = make_cohort(study)
    groups = list(Group.objects.filter(cohort=cohort))
    assert sorted(g.arm_id for g in groups) == ["mrocc", "recovery_support"]
    assert sorted(g.code for g in groups) == ["G-1A", "G-1B"]
    created = AuditEvent.objects.filter(object_type="studies.group", action=AuditAction.CREATE)
    assert created.count() == 2 and all(e.reveals_allocation for e in created)


def test_cohort_rejects_bad_timezone_and_wrong_weekday() -> None:
    study = make_study()
    from mindtrial.web.studies.services import cohort_create

    with pytest.raises(ServiceError) as info:
        cohort_create(
            acting_user=SETUP,
            study=study,
            start_date=dt.date(2026, 1, 6),  # a Tuesday
            weekday=0,
            meeting_time=dt.time(18, 0),
            timezone="Mars/Olympus",
        )
    assert set(info.value.errors) == {"timezone", "start_date"}


def test_screening_keeps_every_failed_criterion() -> None:
    study = make_study()
    site = make_site(study)
    coordinator = make_user("coord")
    from .factories import grant

    grant(coordinator, study, site)
    p = make_participant(study, site, by=coordinator)
    record = dict(ELIGIBLE_RECORD, age=17, psychosis=True, promis_anxiety_t=50, days_abstinent=120)
    screening = enrolment.participant_screen(acting_user=coordinator, participant=p, record=record)
    p.refresh_from_db()
    assert screening.eligible is False
    assert [f["id"] for f in screening.failed] == ["age", "anxiety_or_recent_use", "psychosis"]
    assert p.status == Status.SCREEN_FAILED
    event = AuditEvent.objects.get(action=AuditAction.SCREEN, object_id=str(p.pk))
    assert event.acting_user == coordinator
    assert event.old_values == {"status": "referred", "status_reason": ""}
    assert event.new_values["failed"] == ["age", "anxiety_or_recent_use", "psychosis"]


def test_screening_with_blank_fields_changes_nothing() -> None:
    study = make_study()
    site = make_site(study)
    p = make_participant(study, site)
    record = {k: v for k, v in ELIGIBLE_RECORD.items() if k not in {"age", "psychosis"}}
    before = AuditEvent.objects.count()
    with pytest.raises(ServiceError) as info:
        enrolment.participant_screen(acting_user=SETUP, participant=p, record=record)
    assert set(info.value.errors) == {"age", "psychosis"}
    p.refresh_from_db()
    assert p.status == Status.REFERRED and AuditEvent.objects.count() == before


def test_baseline_scores_on_save_and_correction_needs_reason() -> None:
    study = make_study()
    site = make_site(study)
    p = make_ready_participant(study, site)
    assert p.status == Status.BASELINE_COMPLETE
    promis = BaselineAssessment.objects.get(participant=p, instrument="promis_anxiety_8a")
    # Raw 2+3+3+2+3+2+3+2 = 20 -> T 58.4 in the PROMIS Anxiety 8a table (docs/sources.md, Instruments).
    assert 20 in promis.scores["scores"].values()
    assert 58.4 in promis.scores["scores"].values()
    ocs = BaselineAssessment.objects.get(participant=p, instrument="ocs")
    assert 5.0 in ocs.scores["scores"].values()  # mean of 6, 4, 5
    with pytest.raises(ServiceError) as info:
        enrolment.participant_record_baseline(
            acting_user=SETUP,
            participant=p,
            instrument_id="ocs",
            answers={"ocs_1": 1, "ocs_2": 1, "ocs_3": 1},
        )
    assert "reason" in info.value.errors
    enrolment.participant_record_baseline(
        acting_user=SETUP,
        participant=p,
        instrument_id="ocs",
        answers={"ocs_1": 1, "ocs_2": 1, "ocs_3": 1},
        reason="transcription error",
    )
    # A correction through the baseline form is correct_baseline's: one row with only what
    # changed, as flat dotted keys (mean of 6, 4, 5 = 5.0 before; of 1, 1, 1 = 1.0 after).
    event = AuditEvent.objects.filter(action=AuditAction.CORRECT).get()
    assert event.reason == "transcription error"
    assert event.old_values == {
        "answers.ocs_1": 6,
        "answers.ocs_2": 4,
        "answers.ocs_3": 5,
        "scores.mean": 5.0,
    }
    assert event.new_values == {
        "answers.ocs_1": 1,
        "answers.ocs_2": 1,
        "answers.ocs_3": 1,
        "scores.mean": 1.0,
    }
    with pytest.raises(ServiceError, match="Nothing was changed"):
        enrolment.participant_record_baseline(
            acting_user=SETUP,
            participant=p,
            instrument_id="ocs",
            answers={"ocs_1": 1, "ocs_2": 1, "ocs_3": 1},
            reason="again",
        )


def test_randomize_takes_list_order_once_and_is_audited() -> None:
    study = make_study(allocation_size=40, seed=11)
    site = make_site(study)
    cohort = make_cohort(study)
    people = [make_ready_participant(study, site) for _ in range(3)]
    for p in people:
        enrolment.participant_randomize(acting_user=SETUP, participant=p)
    listed = list(AllocationEntry.objects.filter(study=study).order_by("sequence")[:3])
    got = [Randomization.objects.get(participant=p).entry for p in people]
    assert [e.pk for e in got] == [e.pk for e in listed]
    assert all(e.assigned for e in AllocationEntry.objects.filter(pk__in=[e.pk for e in got]))
    with pytest.raises(ServiceError, match="already been randomized"):
        enrolment.participant_randomize(acting_user=SETUP, participant=people[0])
    event = AuditEvent.objects.filter(
        action=AuditAction.RANDOMIZE, object_id=str(people[0].pk)
    ).get()
    assert event.reveals_allocation and event.new_values["sequence"] == 1
    assert event.new_values["arm"] == listed[0].arm_id
    p = enrolment.participant_assign_cohort(acting_user=SETUP, participant=people[0], cohort=cohort)
    assert p.group is not None and p.group.arm_id == listed[0].arm_id and p.cohort == cohort


def test_randomize_refuses_incomplete_baseline() -> None:
    study = make_study()
    site = make_site(study)
    p = make_participant(study, site)
    with pytest.raises(ServiceError, match="complete baseline"):
        enrolment.participant_randomize(acting_user=SETUP, participant=p)
    assert not AllocationEntry.objects.filter(study=study, assigned=True).exists()


def test_coordinator_cannot_write_at_another_site() -> None:
    study = make_study()
    north, south = make_site(study, "north"), make_site(study, "south")
    coordinator = make_user("coord")
    from .factories import grant

    grant(coordinator, study, north)
    with pytest.raises(ServiceError, match="access to this site"):
        make_participant(study, south, by=coordinator)
    investigator = make_user("pi", Role.INVESTIGATOR)
    grant(investigator, study)
    with pytest.raises(ServiceError, match="role"):
        make_participant(study, north, by=investigator)


def test_audit_rows_cannot_be_changed_or_deleted_through_the_app() -> None:
    study = make_study()
    event = AuditEvent.objects.filter(study=study).first()
    assert event is not None
    event.reason = "tampered"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(study=study).update(reason="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(study=study).delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent(object_type="x", object_id="1", action=AuditAction.CREATE).save()
    assert AuditEvent.objects.get(pk=event.pk).reason == ""


@pytest.mark.postgres  # the trigger exists on PostgreSQL only
def test_postgresql_trigger_rejects_update_and_delete_in_sql() -> None:
    from django.db import DatabaseError, transaction

    make_study()
    for sql in ("UPDATE audit_auditevent SET reason = 'x'", "DELETE FROM audit_auditevent"):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert AuditEvent.objects.filter(reason="x").count() == 0


def test_loaded_history_goes_through_the_import_services_into_a_stratum_never_drawn() -> None:
    study = make_study(allocation_size=8)
    site = make_site(study)
    p = enrolment.participant_import(
        acting_user=SETUP,
        study=study,
        site=site,
        code="R-17",
        referral_date=dt.date(2024, 3, 1),
        status=Status.RANDOMIZED,
        covariates={"age": 50},
    )
    first = enrolment.randomization_import(
        acting_user=SETUP, participant=p, arm="mrocc", on=dt.date(2024, 3, 9)
    )
    second = enrolment.randomization_import(
        acting_user=SETUP,
        participant=enrolment.participant_import(
            acting_user=SETUP,
            study=study,
            site=site,
            code="R-18",
            referral_date=dt.date(2024, 3, 1),
            status=Status.RANDOMIZED,
        ),
        arm="recovery_support",
        on=dt.date(2024, 3, 10),
    )
    given = [first.entry, second.entry]
    assert [(e.stratum, e.sequence, e.arm_id, e.assigned) for e in given] == [
        ("import", 1, "mrocc", True),
        ("import", 2, "recovery_support", True),
    ]
    assert Randomization.objects.get(pk=first.pk).randomized_at.date() == dt.date(2024, 3, 9)
    # The generated list's 8 entries are untouched: still all free for live randomization.
    live = AllocationEntry.objects.filter(study=study).exclude(stratum="import")
    assert live.count() == 8 and not live.filter(assigned=True).exists()
    event = AuditEvent.objects.get(action=AuditAction.RANDOMIZE, object_id=str(p.pk))
    assert event.reveals_allocation and event.new_values["stratum"] == "import"
    assert event.acting_as == "system: tests: set-up"


def test_only_enrolment_writers_import_participants_and_only_admins_give_arms() -> None:
    study = make_study()
    site = make_site(study)
    facilitator = make_user("fac", Role.FACILITATOR)
    coordinator = make_user("coord", Role.COORDINATOR)
    grant(facilitator, study)
    grant(coordinator, study)
    with pytest.raises(Forbidden):
        enrolment.participant_import(
            acting_user=facilitator,
            study=study,
            site=site,
            code="R-1",
            referral_date=dt.date(2024, 3, 1),
            status=Status.RANDOMIZED,
        )
    p = enrolment.participant_import(
        acting_user=coordinator,
        study=study,
        site=site,
        code="R-1",
        referral_date=dt.date(2024, 3, 1),
        status=Status.RANDOMIZED,
    )
    with pytest.raises(Forbidden):  # a coordinator never chooses an arm
        enrolment.randomization_import(
            acting_user=coordinator, participant=p, arm="mrocc", on=dt.date(2024, 3, 9)
        )
    assert not Randomization.objects.filter(participant=p).exists()
