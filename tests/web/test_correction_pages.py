"""Each correction page over HTTP: it shows the recorded values, refuses a blank reason with
a message (nothing changes), and saves a correction with one audit row."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from mindtrial.web.audit.models import AuditAction, AuditEvent
from mindtrial.web.enrolment.models import BaselineAssessment, Consent
from mindtrial.web.programme.models import Attendance
from mindtrial.web.programme.services import attendance_record
from mindtrial.web.safety.models import AdverseEvent
from mindtrial.web.safety.selectors import withdrawal_of
from mindtrial.web.safety.services import adverse_event_report, participant_withdraw
from mindtrial.web.toxicology.models import ToxTest
from mindtrial.web.toxicology.services import tox_test_import

from .factories import ELIGIBLE_RECORD, SETUP
from .programme.factories import START, World
from .programme.records import PANEL, ae_answers

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> World:
    return World(n=1)


def _client(world: World) -> Client:
    client = Client()
    client.force_login(world.coordinator)
    return client


def _corrections() -> int:
    return AuditEvent.objects.filter(action=AuditAction.CORRECT).count()


def _check(client: Client, path: str, data: dict[str, Any], shown: str) -> None:
    """GET shows ``shown``; a POST without a reason is refused; with one it is saved."""
    page = client.get(path)
    assert page.status_code == 200 and shown in page.content.decode(), path
    before = _corrections()
    refused = client.post(path, data)
    assert refused.status_code == 200 and "reason is required" in refused.content.decode()
    assert _corrections() == before
    saved = client.post(path, {**data, "reason": "checked against the source document"})
    assert saved.status_code == 302, saved.content.decode()[-2000:]
    assert _corrections() == before + 1


def test_consent_page(world: World) -> None:
    p = world.participants[0]
    _check(
        _client(world),
        f"/participants/{p.pk}/corrections/consent/",
        {
            "form_version": "v2.2",
            "consent_date": "2025-12-02",
            "obtained_by": str(Consent.objects.get(participant=p).obtained_by_id),
        },
        'value="v2.1"',
    )
    assert Consent.objects.get(participant=p).form_version == "v2.2"


def test_covariates_page_shows_yes_no_answers_as_recorded(world: World) -> None:
    p = world.participants[0]
    path = f"/participants/{p.pk}/corrections/baseline/covariates/"
    page = _client(world).get(path).content.decode()
    assert '<option value="no" selected>' in page  # cocaine_use_baseline recorded as False
    _check(
        _client(world),
        path,
        {
            "bup_dose_mg": "24",
            "cocaine_use_baseline": "no",
            "income_category": "10k-30k",
            "sex": "female",
            "age": "41",
        },
        'value="16',
    )
    p.refresh_from_db()
    assert p.covariates["bup_dose_mg"] == 24
    covariates = BaselineAssessment.objects.get(participant=p, instrument="covariates")
    assert covariates.answers["bup_dose_mg"] == 24


def test_test_result_page(world: World) -> None:
    p = world.participants[0]
    tox_test_import(
        acting_user=SETUP, participant=p, week=2, results=dict.fromkeys(PANEL, "negative")
    )
    client = _client(world)
    path = f"/participants/{p.pk}/corrections/tests/?week=2"
    data = {"status": "completed", **{f"a_{a}": "negative" for a in PANEL}, "a_thc": "positive"}
    assert client.get(path).status_code == 200
    refused = client.post(path, data)
    assert "reason is required" in refused.content.decode()
    saved = client.post(path, {**data, "correction_reason": "wrong window read"})
    assert saved.status_code == 302
    assert ToxTest.objects.get(participant=p, week=2).results["thc"] == "positive"
    assert f'href="/participants/{p.pk}/corrections/tests/?week=2"' in (
        client.get(f"/participants/{p.pk}/tests/").content.decode()
    )


def test_attendance_page(world: World) -> None:
    p = world.participants[0]
    attendance_record(acting_user=SETUP, participant=p, week=1, status="absent")
    _check(
        _client(world),
        f"/participants/{p.pk}/corrections/attendance/?week=1",
        {"status": "present"},
        'value="absent" required id="id_status_1" checked',
    )
    assert Attendance.objects.get(participant=p, week=1).status == "present"


def test_adverse_event_page_shows_the_report_and_corrects_it(world: World) -> None:
    p = world.participants[0]
    onset = START + dt.timedelta(days=20)
    event = adverse_event_report(
        acting_user=world.coordinator, participant=p, answers=ae_answers(onset, serious=False)
    )
    data = {**ae_answers(onset, serious=False), "severity": "severe"}
    _check(
        _client(world),
        f"/participants/{p.pk}/corrections/adverse-events/?ae={event.pk}",
        data,
        "Felt faint after a long walk",
    )
    assert AdverseEvent.objects.get(pk=event.pk).severity == "severe"
    detail = _client(world).get(f"/studies/{world.study.pk}/adverse-events/review/?ae={event.pk}")
    assert "Correct" in detail.content.decode()


def test_withdrawal_pages_correct_and_undo(world: World) -> None:
    p = world.participants[0]
    participant_withdraw(
        acting_user=world.coordinator, participant=p, kind="withdrawn", week=5, reason="moved"
    )
    client = _client(world)
    _check(
        client,
        f"/participants/{p.pk}/corrections/withdrawal/",
        {"kind": "withdrawn", "week": "6", "exit_reason": "moved"},
        'value="5"',
    )
    assert withdrawal_of(p).week == 6  # type: ignore[union-attr]
    _check(client, f"/participants/{p.pk}/corrections/withdrawal/undo/", {"confirm": "on"}, "6")
    assert withdrawal_of(p) is None
    assert client.get(f"/participants/{p.pk}/corrections/withdrawal/").status_code == 404


def test_a_randomized_participant_made_ineligible_is_told_plainly(world: World) -> None:
    p = world.participants[0]
    data = {
        k: ("yes" if v is True else "no" if v is False else v) for k, v in ELIGIBLE_RECORD.items()
    }
    response = _client(world).post(
        f"/participants/{p.pk}/corrections/screening/",
        dict(data, age="72", reason="date of birth misread"),  # "Age 18 to 70" fails
        follow=True,
    )
    text = response.content.decode()
    assert "no longer meets the eligibility criteria" in text
    assert "they stay randomized (intention to treat)" in text
    assert "Not eligible: Age 18 to 70" in text  # the corrections page shows the decision
    p.refresh_from_db()
    assert p.status == "randomized"
