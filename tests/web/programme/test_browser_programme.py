"""The weekly programme in Debian's Chromium (Playwright). Screenshots: test-output/web/programme/.

A participant checks in on a phone and a retried submission is not duplicated; a
coordinator records today's test; a facilitator takes attendance; the safety monitor
receives a serious adverse event.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.core import mail

from mindtrial.web.accounts.models import Role
from mindtrial.web.accounts.services import user_create
from mindtrial.web.checkin.models import CheckIn
from mindtrial.web.checkin.services import checkin_submit, participant_link_issue
from mindtrial.web.checkin.views import checkin_url
from mindtrial.web.programme.models import Attendance
from mindtrial.web.programme.services import attendance_record
from mindtrial.web.safety.models import AdverseEvent, SafetyAlert
from mindtrial.web.toxicology.models import ToxTest

from ..factories import PASSWORD, SETUP, grant
from ..test_browser import sign_in
from .factories import (
    WEEK1_ANSWERS,
    World,
    cohort_monday,
    cohort_today,
    draw_tests_today,
    make_facilitator,
)
from .records import PANEL

SHOTS = Path(__file__).resolve().parents[3] / "test-output" / "web" / "programme"
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_participant_checks_in_on_a_phone_and_a_retry_does_not_duplicate(
    live_server: Any, browser: Any
) -> None:
    world = World(n=1, start=cohort_monday())
    p = world.participants[0]
    issued = participant_link_issue(acting_user=world.coordinator, participant=p)
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
    phone.goto(live_server.url + checkin_url(issued.token))
    assert "Week 1 check-in" in phone.content()
    _shot(phone, "01-phone-checkin-form")
    for item in ("opioids", "benzodiazepines", "cocaine", "methamphetamine", "alcohol"):
        phone.check(f"input[name=substance_use_7d__{item}][value=no]")
    for item, value in (("ocs_1", 4), ("ocs_2", 3), ("ocs_3", 2)):
        phone.check(f"input[name=ocs__{item}][value='{value}']")
    phone.fill("input[name=home_practice__formal_minutes]", "45")
    phone.fill("input[name=home_practice__informal_minutes]", "15")
    phone.check("input[name=home_practice__days_practised][value='4']")
    _shot(phone, "02-phone-checkin-filled")

    # The phone's connection drops after the server saved the answers, so the same request
    # (same idempotency key) reaches the server a second time.
    sent: list[int] = []

    def flaky(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        first = route.fetch(max_redirects=0)
        sent.append(first.status)
        again = route.fetch(max_redirects=0)
        sent.append(again.status)
        route.fulfill(response=again)

    phone.route("**/c/**", flaky)
    phone.click("button >> text=Send my answers")
    phone.wait_for_selector("#done")
    _shot(phone, "03-phone-checkin-thanks")
    assert sent == [302, 302]
    assert CheckIn.objects.filter(participant=p).count() == 1
    saved = CheckIn.objects.get(participant=p)
    assert saved.scores["ocs"]["mean"] == 3.0
    assert saved.answers["home_practice"]["formal_minutes"] == "45"


def test_coordinator_records_todays_test(
    live_server: Any, browser: Any, tmp_path: Path, settings: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    today = cohort_today()
    world = World(n=8, start=today - dt.timedelta(weeks=4))
    due = draw_tests_today(settings, world.participants)
    page = sign_in(browser, live_server.url, "coord")
    page.goto(f"{live_server.url}/studies/{world.study.pk}/tests/today/")
    _shot(page, "04-coordinator-tests-today")
    assert page.locator("#today tbody tr").count() == len(due)
    page.locator("#today a:text-is('Record test')").first.click()
    page.check("input[name=status][value=completed]")
    for analyte in PANEL:  # nothing is pre-selected: every result is chosen
        page.check(
            f"input[name=a_{analyte}][value={'positive' if analyte == 'fentanyl' else 'negative'}]"
        )
    capture = tmp_path / "capture.png"
    capture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    page.set_input_files("input[name=capture]", str(capture))
    _shot(page, "05-coordinator-test-form")
    page.click("button >> text=Save result")
    page.wait_for_url("**/tests/today/")
    _shot(page, "06-coordinator-test-recorded")
    test = ToxTest.objects.get(participant=due[0])
    assert test.results["fentanyl"] == "positive" and test.results["opiates"] == "negative"
    assert test.capture_sha256 and (tmp_path / test.capture_path).exists()


def test_facilitator_takes_attendance(live_server: Any, browser: Any) -> None:
    world = World(n=4, start=cohort_monday() - dt.timedelta(weeks=2))
    group = world.participants[0].group
    assert group is not None
    make_facilitator(world.study, group, "fac")
    members = sorted(
        (p for p in world.participants if p.group_id == group.pk), key=lambda p: p.code
    )
    page = sign_in(browser, live_server.url, "fac", phone=True)
    page.goto(f"{live_server.url}/groups/{group.public_id}/programme/")
    _shot(page, "07-facilitator-group")
    page.select_option("select[name=week]", "3")
    page.wait_for_url("**week=3")
    marks = ["present", "absent", "excused", "present"]
    for p, mark in zip(members, marks, strict=False):
        page.check(f"input[name=p{p.pk}][value={mark}]")
    page.click("button >> text=Save attendance")
    page.wait_for_selector(".messages")
    _shot(page, "08-facilitator-attendance-saved")
    saved = dict(Attendance.objects.filter(week=3).values_list("participant_id", "status"))
    assert saved == {p.pk: m for p, m in zip(members, marks, strict=False)}

    # Their dashboard: craving trends and gentle flags. The first member's craving rose from
    # a baseline mean of 5 (tests/web/factories.py) to 8, and they missed weeks 2 and 3.
    first = members[0]
    for week, (a, b, c) in ((1, (5, 5, 5)), (2, (8, 7, 9))):
        answers = {**WEEK1_ANSWERS, "ocs": {"ocs_1": a, "ocs_2": b, "ocs_3": c}}
        checkin_submit(
            participant=first,
            week=week,
            answers=answers,
            idempotency_key=f"browser-{week}",
            acting_user=world.coordinator,
            source="staff",
        )
    attendance_record(acting_user=world.coordinator, participant=first, week=2, status="absent")
    attendance_record(
        acting_user=world.coordinator,
        participant=first,
        week=3,
        status="absent",
        reason="marked on the phone call",
    )
    page.goto(f"{live_server.url}/studies/{world.study.pk}/dashboard/")
    _shot(page, "09-facilitator-dashboard")
    flags = page.locator(".flag").all_inner_texts()
    assert any("Craving is higher" in f for f in flags)
    assert any("Missed the last two sessions" in f for f in flags)
    assert page.locator("svg.spark").count() == len(members)


def test_safety_monitor_receives_a_serious_adverse_event(live_server: Any, browser: Any) -> None:
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
    coord = sign_in(browser, live_server.url, "coord")
    coord.goto(f"{live_server.url}/participants/{p.pk}/programme/")
    coord.click("a:text-is('Report an adverse event')")
    coord.fill("textarea[name=description]", "Overnight hospital stay after a fall")
    coord.fill("input[name=onset_date]", (cohort_today() - dt.timedelta(days=1)).isoformat())
    coord.select_option("select[name=severity]", "severe")
    coord.check("input[name=serious][value=yes]")
    coord.select_option("select[name=relatedness]", "not_related")
    coord.check("input[name=expected][value=no]")
    coord.select_option("select[name=outcome]", "recovering")
    coord.select_option("select[name=action_taken]", "none")
    _shot(coord, "10-coordinator-ae-form")
    coord.click("button >> text=Report")
    coord.wait_for_selector(".messages")
    assert "1 safety monitor(s) alerted in MindTrial. E-mails: 1 sent." in coord.content()
    event = AdverseEvent.objects.get(participant=p)
    assert SafetyAlert.objects.filter(recipient=monitor, adverse_event=event).exists()
    assert mail.outbox and mail.outbox[-1].to == ["dsmb@example.org"]

    dsmb = sign_in(browser, live_server.url, "dsmb")
    dsmb.click("a:text-is('Safety alerts')")
    _shot(dsmb, "11-monitor-alerts")
    dsmb.click(f"#alerts a:text-is('{event.code}')")
    dsmb.fill("textarea[name=note]", "Unrelated to the intervention; follow up at week 4.")
    dsmb.click("button >> text=Save review")
    dsmb.wait_for_selector("#review")
    _shot(dsmb, "12-monitor-reviewed")
    event.refresh_from_db()
    assert event.reviewed_by == monitor
    dsmb.goto(f"{live_server.url}/studies/{world.study.pk}/dashboard/")
    _shot(dsmb, "13-monitor-dashboard-by-arm")
    assert dsmb.locator("#safety-by-arm tbody tr").count() == 2
