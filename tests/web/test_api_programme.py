"""The weekly programme over the JSON API: attendance, check-ins (idempotent), toxicology
tests and adverse events; field-level 422s that change nothing; no arm for blinded roles."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from mindtrial.protocols import load_protocol
from mindtrial.web.accounts.models import Role
from mindtrial.web.accounts.services import api_token_issue
from mindtrial.web.audit.models import AuditAction, AuditEvent
from mindtrial.web.checkin.models import CheckIn
from mindtrial.web.programme.models import Attendance
from mindtrial.web.safety.models import AdverseEvent
from mindtrial.web.toxicology.models import ToxTest
from mindtrial.web.toxicology.schedule import past_test_days

from .factories import grant, make_user
from .programme.factories import START, WEEK1_ANSWERS, World, cohort_today
from .programme.records import ae_answers

pytestmark = pytest.mark.django_db
PANEL = list(load_protocol("mrocc-2025").toxicology.panel)  # type: ignore[union-attr]


def _api(user: Any) -> Client:
    token = api_token_issue(acting_user=user, user=user)
    return Client(headers={"Authorization": f"Bearer {token}"})


def _post(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, body, content_type="application/json")


def _fields(response: Any) -> set[str]:
    """The field names a 422 answer points at (last part of each ``loc``)."""
    assert response.status_code == 422, response.content
    return {str(d["loc"][-1]) for d in response.json()["detail"]}


def _changes() -> tuple[int, ...]:
    return (
        Attendance.objects.count(),
        CheckIn.objects.count(),
        ToxTest.objects.count(),
        AdverseEvent.objects.count(),
        AuditEvent.objects.count(),
    )


@pytest.fixture
def world() -> World:
    return World(n=2)


def test_attendance_is_recorded_and_bad_input_changes_nothing(world: World) -> None:
    p = world.participants[0]
    api = _api(world.coordinator)
    url = f"/api/participants/{p.pk}/attendance"
    ok = _post(api, url, {"week": 1, "status": "present"})
    assert ok.status_code == 200
    assert ok.json() == {"participant": p.code, "week": 1, "status": "present"}
    assert Attendance.objects.get(participant=p, week=1).status == "present"
    audit = AuditEvent.objects.filter(object_type="programme.attendance").latest("id")
    assert audit.acting_user == world.coordinator and audit.action == AuditAction.CREATE
    before = _changes()
    assert _fields(_post(api, url, {"week": 1, "status": "absent"})) == {"reason"}
    assert _fields(_post(api, url, {"week": 1, "status": "here"})) == {"status"}
    assert _fields(_post(api, url, {"week": 0, "status": "present"})) == {"week"}
    assert _fields(_post(api, url, {"status": "present"})) == {"week"}
    assert _changes() == before
    changed = _post(api, url, {"week": 1, "status": "excused", "reason": "Hospital visit"})
    assert changed.status_code == 200 and changed.json()["status"] == "excused"
    corrected = AuditEvent.objects.filter(object_type="programme.attendance").latest("id")
    assert corrected.action == AuditAction.CORRECT and corrected.reason == "Hospital visit"
    assert corrected.old_values == {"status": "present"}


def test_checkin_is_saved_once_per_key_and_week(world: World) -> None:
    p, other = world.participants
    api = _api(world.coordinator)
    url = f"/api/participants/{p.pk}/checkins"
    body = {"week": 1, "idempotency_key": "week1-retry-0001", "answers": WEEK1_ANSWERS}
    first = _post(api, url, body)
    assert first.status_code == 201, first.content
    saved = CheckIn.objects.get(participant=p, week=1)
    assert saved.source == "staff" and first.json()["created"] is True
    # OCS score = mean of the three ratings: (6 + 4 + 5) / 3 = 5.
    assert first.json()["scores"]["ocs"] == {"mean": pytest.approx(5.0)}
    retry = _post(api, url, body)  # a dropped connection retried: the same check-in
    assert retry.status_code == 200 and retry.json()["created"] is False
    assert CheckIn.objects.filter(participant=p).count() == 1
    before = _changes()
    again = _post(api, url, body | {"idempotency_key": "week1-other-0002"})
    assert again.status_code == 422 and "already sent" in again.content.decode()
    bad = {"week": 1, "idempotency_key": "bad-answers-01", "answers": WEEK1_ANSWERS}
    bad["answers"] = WEEK1_ANSWERS | {"ocs": {"ocs_1": 11, "ocs_2": 4, "ocs_3": 5}}
    response = _post(api, f"/api/participants/{other.pk}/checkins", bad)
    assert response.status_code == 422 and "ocs_1" in response.content.decode()
    assert _fields(_post(api, url, {"week": 1, "answers": WEEK1_ANSWERS})) == {"idempotency_key"}
    short = body | {"idempotency_key": "short"}
    assert _fields(_post(api, url, short)) == {"idempotency_key"}
    future = {"week": 60, "idempotency_key": "future-week-1", "answers": WEEK1_ANSWERS}
    assert _fields(_post(api, f"/api/participants/{other.pk}/checkins", future)) == {"week"}
    assert _changes() == before
    # The same key may not be reused for someone else.
    stolen = _post(api, f"/api/participants/{other.pk}/checkins", body)
    assert _fields(stolen) == {"idempotency_key"}


def test_toxicology_test_is_recorded_per_analyte(world: World) -> None:
    p = world.participants[0]
    api = _api(world.coordinator)
    url = f"/api/participants/{p.pk}/toxicology"
    day = past_test_days(p, today=cohort_today())[0]
    before = _changes()
    not_a_day = day + dt.timedelta(days=1)
    results = dict.fromkeys(PANEL, "negative") | {"fentanyl": "positive"}
    body = {"test_date": not_a_day.isoformat(), "status": "completed", "results": results}
    assert _fields(_post(api, url, body)) == {"test_date"}
    odd = body | {"test_date": day.isoformat(), "results": results | {"unicorn": "negative"}}
    assert "unicorn" in _fields(_post(api, url, odd))
    assert _fields(_post(api, url, body | {"test_date": "31/12/2026"})) == {"test_date"}
    assert _changes() == before
    ok = _post(api, url, body | {"test_date": day.isoformat()})
    assert ok.status_code == 201, ok.content
    assert ok.json()["week"] == (day - START).days // 7 + 1
    test = ToxTest.objects.get(participant=p)
    assert test.results == results and test.recorded_by == world.coordinator
    assert AuditEvent.objects.filter(object_type="toxicology.toxtest").count() == 1


def test_adverse_event_is_reported(world: World) -> None:
    p = world.participants[0]
    api = _api(world.coordinator)
    url = f"/api/participants/{p.pk}/adverse-events"
    onset = START + dt.timedelta(days=10)  # study week 2
    before = _changes()
    bad = ae_answers(onset, serious=False) | {"severity": "extreme"}
    assert "severity" in _fields(_post(api, url, {"answers": bad}))
    assert _fields(_post(api, url, {})) == {"answers"}
    assert _changes() == before
    ok = _post(api, url, {"answers": ae_answers(onset, serious=False)})
    assert ok.status_code == 201, ok.content
    body = ok.json()
    assert (body["onset_week"], body["severity"], body["serious"]) == (2, "moderate", False)
    event = AdverseEvent.objects.get(participant=p)
    assert event.code == body["code"] and event.reported_by == world.coordinator
    assert AuditEvent.objects.filter(object_type="safety.adverseevent").count() == 1


def test_blinded_roles_get_no_arm_from_the_programme_api(world: World) -> None:
    p = world.participants[0]
    study = world.study
    forbidden = {s.lower() for a in study.arms for s in (a["id"], a["label"])} | {
        "m-rocc",
        "recovery support",
    }
    onset = START + dt.timedelta(days=10)
    for role in (Role.INVESTIGATOR, Role.STATISTICIAN):
        user = make_user(f"blind-{role}", role)
        grant(user, study)
        api = _api(user)
        answers = [
            _post(api, f"/api/participants/{p.pk}/attendance", {"week": 2, "status": "present"}),
            _post(
                api,
                f"/api/participants/{p.pk}/checkins",
                {"week": 1, "idempotency_key": f"blind-{role}-01", "answers": WEEK1_ANSWERS},
            ),
            _post(
                api,
                f"/api/participants/{p.pk}/toxicology",
                {"test_date": "2026-01-05", "status": "missed", "reason": "x"},
            ),
            _post(
                api,
                f"/api/participants/{p.pk}/adverse-events",
                {"answers": ae_answers(onset, serious=True)},
            ),
            _post(api, f"/api/participants/{p.pk}/adverse-events", {"answers": {}}),
        ]
        # Blinded roles may report an AE (any staff may); the rest is refused, in words.
        assert [r.status_code for r in answers] == [422, 422, 422, 201, 422]
        for response in answers:
            text = json.dumps(response.json()).lower()
            assert not any(word in text for word in forbidden), text
        assert "arm" not in answers[3].json()
    assert AdverseEvent.objects.filter(participant=p).count() == 2
    assert not Attendance.objects.filter(participant=p).exists()


def test_openapi_lists_the_programme_endpoints() -> None:
    paths = Client().get("/api/openapi.json").json()["paths"]
    for tail in ("attendance", "checkins", "toxicology", "adverse-events"):
        assert f"/api/participants/{{participant_id}}/{tail}" in paths
