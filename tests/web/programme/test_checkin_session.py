"""Issue 10, items 7 and 10: the personal link's token leaves the URL at once (exchanged
for a session; no Referer is ever sent), and a second check-in for a recorded week is
never reported as saved."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from mindtrial.web.checkin.models import CheckIn
from mindtrial.web.checkin.services import participant_link_issue, participant_link_revoke
from mindtrial.web.checkin.views import checkin_url

from .factories import World

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _a_fixed_wednesday() -> Iterator[None]:
    """These tests count weeks from "this Monday": a frozen clock (a Wednesday afternoon in
    every time zone the fixtures use) keeps them from depending on the day they run."""
    with time_machine.travel(dt.datetime(2026, 3, 4, 17, 0, tzinfo=dt.UTC), tick=False):
        yield


def _this_monday() -> dt.date:
    today = timezone.localdate()
    return today - dt.timedelta(days=today.weekday())


def _answers(key: str, ocs: tuple[int, int, int]) -> dict[str, str]:
    return {
        "idempotency_key": key,
        "substance_use_7d__opioids": "no", "substance_use_7d__benzodiazepines": "no",
        "substance_use_7d__cocaine": "no", "substance_use_7d__methamphetamine": "no",
        "substance_use_7d__alcohol": "no",
        "ocs__ocs_1": str(ocs[0]), "ocs__ocs_2": str(ocs[1]), "ocs__ocs_3": str(ocs[2]),
        "home_practice__formal_minutes": "20", "home_practice__informal_minutes": "0",
        "home_practice__days_practised": "2",
    }  # fmt: skip


def test_token_is_exchanged_for_a_session_and_never_appears_again() -> None:
    world = World(n=1, start=_this_monday())
    issued = participant_link_issue(
        acting_user=world.coordinator, participant=world.participants[0]
    )
    client = Client()
    first = client.get(checkin_url(issued.token))
    assert first.status_code == 302 and first["Location"] == "/c/"
    assert first["Referrer-Policy"] == "no-referrer"
    page = client.get("/c/")
    assert page.status_code == 200 and "Week 1 check-in" in page.content.decode()
    assert issued.token not in page.content.decode()
    # Same-origin pages keep the site's policy: under no-referrer a browser's form POST
    # carries "Origin: null" and fails CSRF (tests/web/programme/test_browser_programme.py).
    assert page["Referrer-Policy"] == "same-origin"
    saved = client.post("/c/", _answers("k" * 16, (3, 2, 1)))
    assert saved.status_code == 302 and saved["Location"] == "/c/"
    assert CheckIn.objects.count() == 1
    # Another browser without the session gets the code form, not the participant's page.
    assert "check-in code" in Client().get("/c/").content.decode()
    # A revoked link stops working in the session too; the code form comes back after.
    participant_link_revoke(acting_user=world.coordinator, link=issued.link)
    assert client.get("/c/").status_code == 404
    assert "check-in code" in client.get("/c/").content.decode()


def test_second_checkin_for_a_recorded_week_says_it_was_not_saved() -> None:
    world = World(n=1, start=_this_monday())
    issued = participant_link_issue(
        acting_user=world.coordinator, participant=world.participants[0]
    )
    phone, tablet = Client(), Client()
    for device in (phone, tablet):  # both open the week's form before either sends it
        device.get(checkin_url(issued.token))
        assert device.get("/c/").status_code == 200
    assert phone.post("/c/", _answers("phone-key-1", (3, 2, 1))).status_code == 302
    second = tablet.post("/c/", _answers("tablet-key-1", (9, 9, 9)))
    body = second.content.decode()
    assert second.status_code == 409
    assert "were not saved" in body and "is saved" not in body
    checkin = CheckIn.objects.get()
    assert checkin.answers["ocs"] == {"ocs_1": "3", "ocs_2": "2", "ocs_3": "1"}
    # The same form sent twice (a retry) is still simply "saved".
    retry = phone.post("/c/", _answers("phone-key-1", (3, 2, 1)), follow=True)
    assert "is saved" in retry.content.decode()


def test_with_sessions_in_the_cache_a_link_writes_no_row_and_revocation_still_holds(
    settings: Any,
) -> None:
    """Production with MINDTRIAL_REDIS_URL keeps sessions in the cache (here the tests'
    local-memory cache stands for Redis): opening a link writes no session row, a second
    link opened in the same browser gets a new session id (the old one is deleted: no
    fixation), and a revoked link stops working in the session at once."""
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    world = World(n=1, start=_this_monday())
    issued = participant_link_issue(
        acting_user=world.coordinator, participant=world.participants[0]
    )
    client = Client()
    assert client.get(checkin_url(issued.token)).status_code == 302
    first_id = client.cookies["sessionid"].value
    assert client.get(checkin_url(issued.token)).status_code == 302
    second_id = client.cookies["sessionid"].value
    assert second_id != first_id
    stale = Client()
    stale.cookies["sessionid"] = first_id  # the old id names no session any more
    assert "check-in code" in stale.get("/c/").content.decode()
    assert client.post("/c/", _answers("cache-key-1", (3, 2, 1))).status_code == 302
    assert CheckIn.objects.count() == 1
    assert Session.objects.count() == 0
    participant_link_revoke(acting_user=world.coordinator, link=issued.link)
    assert client.get("/c/").status_code == 404
