"""Programme pages over HTTP: blinding crawl with real records, and the main flows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.test import Client, override_settings

from mindtrial.web.accounts.models import Role
from mindtrial.web.accounts.services import user_create
from mindtrial.web.checkin.models import CheckIn
from mindtrial.web.checkin.services import participant_link_issue
from mindtrial.web.checkin.views import checkin_url
from mindtrial.web.programme.models import Attendance
from mindtrial.web.safety.models import SafetyAlert
from mindtrial.web.toxicology.models import ToxTest

from ..crawl import all_routes, expand
from ..factories import PASSWORD, SETUP, grant, make_user
from .factories import World, cohort_monday, cohort_today, draw_tests_today, make_facilitator
from .records import PANEL, add_programme_records, ae_answers

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _a_fixed_wednesday() -> Iterator[None]:
    """These tests count weeks from "this Monday": a frozen clock (a Wednesday afternoon in
    every time zone the fixtures use) keeps them from depending on the day they run."""
    with time_machine.travel(dt.datetime(2026, 3, 4, 17, 0, tzinfo=dt.UTC), tick=False):
        yield


MY_PREFIXES = ("weekly/", "studies/<int:study_id>/weekly", "groups/<slug:group_id>/programme",
               "c/", "studies/<int:study_id>/tests", "participants/<int:participant_id>/tests",
               "participants/<int:participant_id>/link", "participants/<int:participant_id>/checkins",
               "participants/<int:participant_id>/adverse", "participants/<int:participant_id>/withdraw",
               "participants/<int:participant_id>/continuation", "participants/<int:participant_id>/programme",
               "studies/<int:study_id>/adverse", "alerts/", "studies/<int:study_id>/dashboard",
               "studies/<int:study_id>/export")  # fmt: skip


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("role", [Role.INVESTIGATOR, Role.STATISTICIAN])
def test_blinded_roles_see_no_arm_on_any_programme_page(role: str, tmp_path: Path) -> None:
    world = World(n=4, start=cohort_monday() - dt.timedelta(weeks=3))
    made = add_programme_records(world.participants, media_root=str(tmp_path))
    user = make_user(f"blind-{role}", role)
    grant(user, world.study)
    client = _client(user)
    values = {
        "study_id": [str(world.study.pk)],
        "participant_id": [str(p.pk) for p in world.participants],
        "group_id": [g.public_id for g in world.cohort.groups.all()],
    }
    routes = [r for r, _ in all_routes() if r.startswith(MY_PREFIXES)]
    assert len(routes) >= 18
    paths = [p for r in routes for p in expand(r, values)]
    paths += [checkin_url(link.token) for link in made["links"]]
    paths += [f"/studies/{world.study.pk}/adverse-events/review/?ae={e.pk}" for e in made["events"]]
    forbidden = {s.lower() for a in world.study.arms for s in (a["id"], a["label"])}
    forbidden |= {"m-rocc", "recovery support"}
    shown = 0
    with override_settings(MEDIA_ROOT=str(tmp_path)):
        for path in paths:
            for method in ("get", "post"):
                response = getattr(client, method)(path)
                assert response.status_code < 500, path
                body = response.content.decode("utf-8", errors="replace").lower()
                for word in forbidden:
                    assert word not in body, f"{role} saw {word!r} at {method.upper()} {path}"
                shown += response.status_code == 200
    assert shown > 15
    dashboard = client.get(f"/studies/{world.study.pk}/dashboard/").content.decode()
    assert 'id="retained">4 / 4' in dashboard  # pooled numbers are shown
    # The safety monitor does see arms on the same dashboard (so the check above can fail).
    monitor = make_user("dsmb", Role.SAFETY_MONITOR)
    grant(monitor, world.study)
    assert (
        "M-ROCC" in _client(monitor).get(f"/studies/{world.study.pk}/dashboard/").content.decode()
    )


def test_participant_checkin_over_http_and_a_resubmit_does_not_duplicate() -> None:
    world = World(n=1, start=cohort_monday())
    p = world.participants[0]
    issued = participant_link_issue(acting_user=world.coordinator, participant=p)
    client = Client()
    exchanged = client.get(checkin_url(issued.token))
    assert exchanged.status_code == 302 and exchanged["Location"] == "/c/"
    url = "/c/"  # the token is in the session from now on, never in the URL
    page = client.get(url)
    assert page.status_code == 200 and "Week 1 check-in" in page.content.decode()
    key = page.context["form"].initial["idempotency_key"]
    data = {
        "idempotency_key": key,
        "substance_use_7d__opioids": "no", "substance_use_7d__benzodiazepines": "no",
        "substance_use_7d__cocaine": "no", "substance_use_7d__methamphetamine": "no",
        "substance_use_7d__alcohol": "no",
        "ocs__ocs_1": "3", "ocs__ocs_2": "2", "ocs__ocs_3": "1",
        "home_practice__formal_minutes": "20", "home_practice__informal_minutes": "0",
        "home_practice__days_practised": "2",
    }  # fmt: skip
    missing = client.post(url, {k: v for k, v in data.items() if k != "ocs__ocs_2"})
    page_text = missing.content.decode()
    assert missing.status_code == 200 and "Please answer this question, or choose" in page_text
    assert CheckIn.objects.count() == 0
    first = client.post(url, data)
    assert first.status_code == 302
    retry = client.post(url, data)  # the connection dropped; the phone sends it again
    assert retry.status_code == 302
    assert CheckIn.objects.filter(participant=p).count() == 1
    assert CheckIn.objects.get().scores["ocs"]["mean"] == 2.0
    assert "saved" in client.get(url).content.decode()
    code_page = Client().post("/c/", {"code": issued.code})
    assert code_page.status_code == 302 and code_page["Location"] == "/c/"


def test_coordinator_records_todays_test_with_capture(tmp_path: Path, settings: Any) -> None:
    world = World(n=6, start=cohort_today() - dt.timedelta(weeks=4))  # today's weekday
    due = draw_tests_today(settings, world.participants)
    client = _client(world.coordinator)
    page = client.get(f"/studies/{world.study.pk}/tests/today/").content.decode()
    for p in world.participants:
        assert (p.code in page) == (p in due)
    p = due[0]
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    data: dict[str, Any] = {"status": "completed", "reason": ""}
    data |= {f"a_{a}": "negative" for a in PANEL}
    with override_settings(MEDIA_ROOT=str(tmp_path)):
        from django.core.files.uploadedfile import SimpleUploadedFile

        data["capture"] = SimpleUploadedFile("shot.png", png, content_type="image/png")
        response = client.post(f"/participants/{p.pk}/tests/record/", data)
        assert response.status_code == 302
        test = ToxTest.objects.get(participant=p)
        assert test.results == dict.fromkeys(PANEL, "negative")
        image = client.get(f"/participants/{p.pk}/tests/capture/?week={test.week}")
        assert image.status_code == 200 and image.content == png


def test_facilitator_takes_attendance_in_one_post() -> None:
    world = World(n=4, start=cohort_monday() - dt.timedelta(weeks=1))
    group = world.participants[0].group
    assert group is not None
    facilitator = make_facilitator(world.study, group)
    members = [p for p in world.participants if p.group_id == group.pk]
    client = _client(facilitator)
    page = client.get(f"/groups/{group.public_id}/programme/")
    assert page.status_code == 200 and "https://video.example.org/room-1" in page.content.decode()
    statuses = ["present", "absent", "excused", "present"]
    data = {"week": "2"} | {f"p{p.pk}": s for p, s in zip(members, statuses, strict=False)}
    assert client.post(f"/groups/{group.public_id}/programme/", data).status_code == 302
    saved = dict(Attendance.objects.filter(week=2).values_list("participant_id", "status"))
    assert saved == {p.pk: s for p, s in zip(members, statuses, strict=False)}
    other = world.cohort.groups.exclude(pk=group.pk).get()
    assert client.get(f"/groups/{other.public_id}/programme/").status_code == 404


def test_sae_report_reaches_the_safety_monitor(django_capture_on_commit_callbacks: Any) -> None:
    world = World(n=1, start=cohort_monday() - dt.timedelta(weeks=2))
    monitor = user_create(
        acting_user=SETUP,
        username="dsmb",
        password=PASSWORD,
        role=Role.SAFETY_MONITOR,
        email="dsmb@example.org",
    )
    grant(monitor, world.study)
    p = world.participants[0]
    form = ae_answers(cohort_today() - dt.timedelta(days=1), serious=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = _client(world.coordinator).post(
            f"/participants/{p.pk}/adverse-events/new/", form
        )
    assert response.status_code == 302
    assert SafetyAlert.objects.filter(recipient=monitor).count() == 1
    assert mail.outbox[0].to == ["dsmb@example.org"]
    alerts = _client(monitor).get("/alerts/").content.decode()
    assert "AE00001" in alerts and p.code in alerts
