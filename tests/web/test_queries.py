"""Data queries: the open → answer → close workflow with its audit rows, who may do what,
and the automatic checks on hand-built records.

The expected findings are worked out by hand from the records the tests write and from the
limits published in the data files: OCS items are 0–10 (``instruments/data/ocs.yaml``), the
M-ROCC protocol's age covariate is 18–70 years and its buprenorphine dose 0–64 mg/day, its
programme has 24 weekly sessions, and a cohort starting Monday 5 January 2026 at 18:00 New
York meets for week 20 on Monday 18 May 2026 (19 weeks later).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client

from mindtrial.web.accounts.models import Role
from mindtrial.web.audit.models import AuditAction, AuditEvent
from mindtrial.web.checkin.models import CheckIn, Source
from mindtrial.web.common import ServiceError
from mindtrial.web.enrolment import services as enrolment
from mindtrial.web.enrolment.models import BaselineAssessment, Consent, Participant, Status
from mindtrial.web.programme.models import Attendance
from mindtrial.web.queries.models import DataQuery, QueryEntry, QueryOrigin, QueryStatus
from mindtrial.web.queries.services import (
    queries_run_checks,
    query_answer,
    query_close,
    query_open,
    query_reopen,
)
from mindtrial.web.safety.models import AdverseEvent

from .factories import (
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

NOW = dt.datetime(2026, 1, 6, 12, 0, tzinfo=dt.UTC)
"""The day after the first session of the factories' cohort (Monday 5 January 2026)."""


@pytest.fixture
def team() -> dict[str, Any]:
    study = make_study()
    north, south = make_site(study, "north"), make_site(study, "south")
    users = {
        "dm": make_user("dm", Role.DATA_MANAGER),
        "coord": make_user("coord", Role.COORDINATOR),
        "south_coord": make_user("south-coord", Role.COORDINATOR),
        "pi": make_user("pi", Role.INVESTIGATOR),
        "stat": make_user("stat", Role.STATISTICIAN),
        "fac": make_user("fac", Role.FACILITATOR),
        "sm": make_user("sm", Role.SAFETY_MONITOR),
    }
    for key, user in users.items():
        grant(user, study, south if key == "south_coord" else None)
    participant = make_ready_participant(study, north)
    return {"study": study, "north": north, "south": south, "p": participant, **users}


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_open_answer_close_reopen_each_step_audited(team: dict[str, Any]) -> None:
    p = team["p"]
    query = query_open(
        acting_user=team["dm"],
        participant=p,
        form="Baseline: ocs",
        field="ocs_1",
        value="9",
        message="Please confirm 9.",
    )
    assert query.status == QueryStatus.OPEN and query.origin == QueryOrigin.MANUAL
    answered = query_answer(
        acting_user=team["coord"],
        query=query,
        answer="Confirmed with the participant.",
        corrected=False,
    )
    assert answered.status == QueryStatus.ANSWERED and answered.corrected is False
    closed = query_close(acting_user=team["dm"], query=answered, note="Thanks.")
    assert closed.status == QueryStatus.CLOSED
    reopened = query_reopen(acting_user=team["dm"], query=closed, message="Source says 6.")
    assert reopened.status == QueryStatus.OPEN

    kinds = list(QueryEntry.objects.filter(query=query).values_list("kind", "by__username"))
    assert kinds == [("open", "dm"), ("answer", "coord"), ("close", "dm"), ("reopen", "dm")]
    events = list(
        AuditEvent.objects.filter(
            object_type="queries.dataquery", object_id=str(query.pk)
        ).order_by("id")
    )
    assert [e.action for e in events] == [
        AuditAction.CREATE,
        AuditAction.UPDATE,
        AuditAction.UPDATE,
        AuditAction.UPDATE,
    ]
    assert events[0].new_values["message"] == "Please confirm 9."
    assert [(e.old_values["status"], e.new_values["status"]) for e in events[1:]] == [
        ("open", "answered"),
        ("answered", "closed"),
        ("closed", "open"),
    ]
    assert events[1].reason == "Confirmed with the participant."
    assert events[3].acting_user == team["dm"] and events[3].reason == "Source says 6."


def test_steps_out_of_order_and_roles_that_may_not_take_them_are_refused(
    team: dict[str, Any],
) -> None:
    query = query_open(
        acting_user=team["dm"], participant=team["p"], form="Consent", message="Date?"
    )
    with pytest.raises(ServiceError, match="open: it cannot be re-opened"):
        query_reopen(acting_user=team["dm"], query=query, message="again")
    with pytest.raises(ServiceError, match="role cannot"):
        query_close(acting_user=team["coord"], query=query)
    with pytest.raises(ServiceError, match="role cannot"):
        query_open(acting_user=team["coord"], participant=team["p"], form="Consent", message="x")
    for blinded in ("pi", "stat"):
        with pytest.raises(ServiceError, match="role cannot"):
            query_answer(acting_user=team[blinded], query=query, answer="x", corrected=False)
    with pytest.raises(ServiceError, match="do not have access"):
        query_answer(acting_user=team["south_coord"], query=query, answer="x", corrected=False)
    with pytest.raises(ServiceError) as empty:
        query_answer(acting_user=team["coord"], query=query, answer="   ", corrected=True)
    assert empty.value.errors == {"answer": "Write a few words."}
    closed = query_close(acting_user=team["dm"], query=query)
    with pytest.raises(ServiceError, match="closed: it cannot be answered"):
        query_answer(acting_user=team["coord"], query=closed, answer="late", corrected=False)
    assert QueryEntry.objects.filter(query=query).count() == 2  # open, close: nothing else


def test_pages_workflow_data_manager_opens_coordinator_answers_data_manager_closes(
    team: dict[str, Any],
) -> None:
    p = team["p"]
    dm, coord = _client(team["dm"]), _client(team["coord"])
    form_page = dm.get(f"/participants/{p.pk}/queries/new/").content.decode()
    assert '<option value="Baseline: ocs">' in form_page and '<option value="Consent">' in form_page
    opened = dm.post(
        f"/participants/{p.pk}/queries/new/",
        {"form": "Baseline: ocs", "field": "ocs_2", "value": "4", "message": "Is 4 right?"},
    )
    query = DataQuery.objects.get(participant=p)
    assert opened.status_code == 302 and opened["Location"] == f"/queries/{query.pk}/"

    listed = coord.get(f"/participants/{p.pk}/queries/").content.decode()
    assert f'href="/queries/{query.pk}/"' in listed and "Is 4 right?" in listed
    detail = coord.get(f"/queries/{query.pk}/").content.decode()
    assert "Send the answer" in detail and "Close the query" not in detail
    # The coordinator cannot close (the step is not offered, and posting it does nothing).
    coord.post(f"/queries/{query.pk}/", {"action": "close", "close-note": ""})
    assert DataQuery.objects.get(pk=query.pk).status == QueryStatus.OPEN
    missing = coord.post(f"/queries/{query.pk}/", {"action": "answer", "answer-answer": "x"})
    assert missing.status_code == 400 and "This field is required" in missing.content.decode()
    coord.post(
        f"/queries/{query.pk}/",
        {"action": "answer", "answer-answer": "Corrected to 5.", "answer-corrected": "yes"},
    )
    query.refresh_from_db()
    assert (query.status, query.answer, query.corrected) == ("answered", "Corrected to 5.", True)

    corrections = f"/studies/{team['study'].pk}/audit/?participant={p.code}&amp;action=correct"
    assert corrections in dm.get(f"/queries/{query.pk}/").content.decode()
    assert "audit/" not in coord.get(f"/queries/{query.pk}/").content.decode()
    dm.post(f"/queries/{query.pk}/", {"action": "close", "close-note": "Fine."})
    query.refresh_from_db()
    assert query.status == QueryStatus.CLOSED
    unresolved = dm.get(f"/studies/{team['study'].pk}/queries/").content.decode()
    assert f"/queries/{query.pk}/" not in unresolved  # the default list: open or answered
    everything = dm.get(f"/studies/{team['study'].pk}/queries/", {"status": "all"})
    assert f"/queries/{query.pk}/" in everything.content.decode()


def test_blinded_roles_facilitators_and_other_sites_reach_no_query(team: dict[str, Any]) -> None:
    p, study = team["p"], team["study"]
    query = query_open(acting_user=team["dm"], participant=p, form="Consent", message="Date?")
    paths = [
        f"/studies/{study.pk}/queries/",
        f"/participants/{p.pk}/queries/",
        f"/queries/{query.pk}/",
        f"/studies/{study.pk}/queries/checks/",
        f"/participants/{p.pk}/queries/new/",
    ]
    for key in ("pi", "stat", "fac", "sm"):
        client = _client(team[key])
        assert [client.get(path).status_code for path in paths] == [404] * 5, key
    south = _client(team["south_coord"])
    assert south.get(f"/queries/{query.pk}/").status_code == 404
    assert (
        f"/queries/{query.pk}/" not in south.get(f"/studies/{study.pk}/queries/").content.decode()
    )
    coord = _client(team["coord"])
    assert [coord.get(path).status_code for path in paths] == [200, 200, 200, 404, 404]


def _randomized_in_cohort(study: Any, site: Any) -> Participant:
    p = make_ready_participant(study, site)
    enrolment.participant_randomize(acting_user=SETUP, participant=p)
    cohort = study.cohorts.first() or make_cohort(study)
    enrolment.participant_assign_cohort(acting_user=SETUP, participant=p, cohort=cohort)
    p.refresh_from_db()
    return p


def test_automatic_checks_open_the_right_queries_once(team: dict[str, Any]) -> None:
    study, north = team["study"], team["north"]
    clean = _randomized_in_cohort(study, north)
    odd = _randomized_in_cohort(study, north)
    # Values out of range, written as an import could (the forms refuse them).
    BaselineAssessment.objects.filter(participant=odd, instrument="ocs").update(
        answers={"ocs_1": 15, "ocs_2": 4, "ocs_3": 5}
    )
    covariates = BaselineAssessment.objects.get(participant=odd, instrument="covariates")
    covariates.answers = {**covariates.answers, "age": 75, "bup_dose_mg": 80}
    covariates.save()
    CheckIn.objects.create(
        participant=odd,
        week=1,
        answers={"ocs": {"ocs_1": "3", "ocs_2": "-1", "ocs_3": "2"}},
        idempotency_key="k-odd-1",
        source=Source.IMPORT,
    )
    # A randomized participant with no forms at all.
    bare = Participant.objects.create(
        study=study,
        site=north,
        code="P-9001",
        referral_source="clinic",
        referral_date=dt.date(2025, 12, 1),
        status=Status.RANDOMIZED,
    )
    # Impossible dates: AE onset before consent (2 Dec 2025) and a future onset.
    for code, onset in (("AE00001", dt.date(2025, 11, 30)), ("AE00002", dt.date(2026, 3, 1))):
        AdverseEvent.objects.create(
            participant=odd,
            code=code,
            onset_week=1,
            onset_date=onset,
            severity="mild",
            serious=False,
            related=False,
            expected=True,
        )
    AdverseEvent.objects.create(
        participant=clean,
        code="AE00003",
        onset_week=1,
        onset_date=dt.date(2026, 1, 5),
        severity="mild",
        serious=False,
        related=False,
        expected=True,
    )
    Consent.objects.filter(participant=clean).update(consent_date=dt.date(2025, 12, 2))
    # Attendance: week 1 has happened (fine), week 20 is in May, week 30 is no session.
    for who, week in ((clean, 1), (odd, 20), (odd, 30)):
        Attendance.objects.create(participant=who, week=week, status="present")

    run = queries_run_checks(acting_user=team["dm"], study=study, now=NOW)

    found = {
        (q.participant.code, q.form, q.field, q.value)
        for q in DataQuery.objects.filter(study=study).select_related("participant")
    }
    missing = {
        (bare.code, form, "", "")
        for form in (
            "Screening",
            "Consent",
            "Baseline: ocs",
            "Baseline: promis_anxiety_8a",
            "Baseline: covariates",
        )
    }
    assert found == {
        (odd.code, "Baseline: ocs", "ocs_1", "15"),
        (odd.code, "Baseline: covariates", "age", "75"),
        (odd.code, "Baseline: covariates", "bup_dose_mg", "80"),
        (odd.code, "Check-in week 1: ocs", "ocs_2", "-1"),
        (odd.code, "Adverse event AE00001", "onset_date", "2025-11-30"),
        (odd.code, "Adverse event AE00002", "onset_date", "2026-03-01"),
        (odd.code, "Attendance week 20", "status", "Present"),
        (odd.code, "Attendance week 30", "status", "Present"),
        *missing,
    }
    assert run.findings == len(found) and len(run.opened) == len(found)
    by_field = {q.field: q.message for q in DataQuery.objects.filter(participant=odd)}
    assert by_field["age"] == "Age is 75, outside the allowed 18 to 70."
    assert "session is on 2026-05-18" in DataQuery.objects.get(form="Attendance week 20").message
    assert "weeks 1 to 24" in DataQuery.objects.get(form="Attendance week 30").message
    assert all(q.origin == QueryOrigin.CHECK for q in DataQuery.objects.all())
    assert AuditEvent.objects.filter(object_type="queries.dataquery").count() == len(found)

    # A second run opens nothing, even after a query was closed.
    query_close(acting_user=team["dm"], query=DataQuery.objects.get(field="age"))
    again = queries_run_checks(acting_user=team["dm"], study=study, now=NOW)
    assert (again.findings, len(again.opened), again.already_open) == (len(found), 0, len(found))
    assert DataQuery.objects.filter(study=study).count() == len(found)
    # A corrected value that is still wrong is a new finding.
    covariates.answers = {**covariates.answers, "age": 71}
    covariates.save()
    third = queries_run_checks(acting_user=team["dm"], study=study, now=NOW)
    assert [(q.field, q.value) for q in third.opened] == [("age", "71")]


def test_checks_button_runs_for_the_data_manager_only(team: dict[str, Any]) -> None:
    study = team["study"]
    Participant.objects.create(
        study=study,
        site=team["north"],
        code="P-9002",
        referral_source="clinic",
        referral_date=dt.date(2025, 12, 1),
        status=Status.RANDOMIZED,
    )
    dm = _client(team["dm"])
    page = dm.get(f"/studies/{study.pk}/queries/checks/").content.decode()
    assert "Missing required forms" in page and "Attendance beyond the calendar" in page
    done = dm.post(f"/studies/{study.pk}/queries/checks/", follow=True).content.decode()
    assert re.search(r"5 finding\(s\), 5 new queries opened, 0 already had one", done)
    again = dm.post(f"/studies/{study.pk}/queries/checks/", follow=True).content.decode()
    assert "5 finding(s), 0 new queries opened, 5 already had one" in again
    assert _client(team["coord"]).post(f"/studies/{study.pk}/queries/checks/").status_code == 404
    assert DataQuery.objects.count() == 5


def test_cli_check_opens_queries(team: dict[str, Any]) -> None:
    from typer.testing import CliRunner

    from mindtrial.cli.main import app

    make_participant(team["study"], team["north"])
    Participant.objects.create(
        study=team["study"],
        site=team["north"],
        code="P-9003",
        referral_source="clinic",
        referral_date=dt.date(2025, 12, 1),
        status=Status.RANDOMIZED,
    )
    result = CliRunner().invoke(app, ["check", "--study", str(team["study"].pk), "--open-queries"])
    assert "data checks found 5 problem(s); 5 new data queries opened" in result.output
    assert DataQuery.objects.filter(opened_by=None).count() == 5
