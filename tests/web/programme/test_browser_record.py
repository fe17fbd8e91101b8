"""The record home and partial check-ins in Debian's Chromium (Playwright), on a desktop and a
390-px phone. Screenshots: test-output/web/record/.

A coordinator opens a participant's record home, sees what is due, and records today's test
from it (by keyboard on the phone); a participant declines a question in the check-in.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from mindtrial.web.checkin.models import CheckIn
from mindtrial.web.checkin.services import participant_link_issue
from mindtrial.web.checkin.views import checkin_url
from mindtrial.web.toxicology.models import ToxTest

from ..test_browser import sign_in
from .factories import World, cohort_today, draw_tests_today
from .records import PANEL

SHOTS = Path(__file__).resolve().parents[3] / "test-output" / "web" / "record"
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _record_negative_panel(page: Any) -> None:
    page.check("input[name=status][value=completed]")
    for analyte in PANEL:  # nothing is pre-selected: every result is chosen
        page.check(f"input[name=a_{analyte}][value=negative]")


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_coordinator_records_a_test_from_the_record_home(
    live_server: Any, browser: Any, settings: Any, phone: bool
) -> None:
    world = World(n=1, start=cohort_today() - dt.timedelta(weeks=4))  # today is week 5
    p = world.participants[0]
    draw_tests_today(settings, world.participants, everyone=True)
    tag = "phone" if phone else "desktop"
    page = sign_in(browser, live_server.url, "coord", phone=phone)
    page.goto(f"{live_server.url}/participants/{p.pk}/")
    _shot(page, f"01-{tag}-record-home")
    badges = page.locator("#badges li")
    assert "Test due today" in badges.all_inner_texts()
    assert "Check-ins overdue: weeks 1, 2, 3, 4" in badges.all_inner_texts()
    current = page.locator("#timeline tr.current")
    assert current.get_attribute("data-week") == "5"
    assert "due today" in current.inner_text()
    # Nothing is wider than the phone's screen.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= (390 if phone else 1100)

    if phone:  # by keyboard: Tab to the action, Enter to follow it
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.dataset.action") == "record_test":
                break
        else:  # pragma: no cover
            raise AssertionError("the test action is not reachable by Tab")
        _shot(page, f"02-{tag}-action-focused")
        page.keyboard.press("Enter")
    else:
        page.click("a[data-action=record_test]")
    page.wait_for_url("**/tests/record/?from=record")
    _record_negative_panel(page)
    _shot(page, f"03-{tag}-test-form")
    page.click("button >> text=Save result")
    page.wait_for_url(f"**/participants/{p.pk}/")
    _shot(page, f"04-{tag}-test-recorded")
    test = ToxTest.objects.get(participant=p)
    assert test.week == 5 and test.results == dict.fromkeys(PANEL, "negative")
    assert "Test due today" not in page.locator("#badges li").all_inner_texts()
    assert "completed" in page.locator("#timeline tr.current").inner_text()
    assert page.locator("a[data-action=record_test]").count() == 0


def test_participant_declines_a_question_on_the_phone(live_server: Any, browser: Any) -> None:
    today = cohort_today()
    world = World(n=1, start=today - dt.timedelta(days=today.weekday()))  # this week is week 1
    p = world.participants[0]
    issued = participant_link_issue(acting_user=world.coordinator, participant=p)
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
    phone.goto(live_server.url + checkin_url(issued.token))
    assert "Prefer not to answer" in phone.content()
    for item in ("opioids", "cocaine", "methamphetamine", "alcohol"):
        phone.check(f"input[name=substance_use_7d__{item}][value=no]")
    phone.check("input[name=substance_use_7d__benzodiazepines][value='-']")  # declined
    phone.check("input[name=ocs__ocs_1][value='4']")
    phone.check("input[name=ocs__ocs_2][value='-']")  # declined
    phone.check("input[name=ocs__ocs_3][value='2']")
    phone.fill("input[name=home_practice__formal_minutes]", "30")
    phone.fill("input[name=home_practice__informal_minutes]", "10")
    phone.check("input[name=home_practice__days_practised][value='3']")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.locator("#q-ocs__ocs_2").scroll_into_view_if_needed()
    _shot(phone, "05-phone-checkin-declined")
    phone.click("button >> text=Send my answers")
    phone.wait_for_selector("#done")
    _shot(phone, "06-phone-checkin-thanks")
    saved = CheckIn.objects.get(participant=p)
    assert saved.answers["ocs"] == {"ocs_1": "4", "ocs_3": "2"}
    assert "benzodiazepines" not in saved.answers["substance_use_7d"]
    assert "ocs" not in saved.scores  # the craving mean needs all three answers
    assert saved.scores["home_practice"]["total_minutes"] == 40.0
