"""Corrections in Debian's Chromium (Playwright), on a desktop and a 390-px phone, by
keyboard where a person would use one (the browser fixture is this folder's, which keeps the
live server's PostgreSQL connections between tests). Screenshots:
``test-output/web/corrections/``.

A coordinator corrects a mistyped age (75 for 57) with a reason and sees the eligibility
decision follow; a coordinator follows a serious adverse event up to its resolution.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from mindtrial.web.audit.models import AuditAction, AuditEvent
from mindtrial.web.enrolment import services as enrolment
from mindtrial.web.enrolment.models import Participant, Status
from mindtrial.web.safety.models import AdverseEvent, AdverseEventFollowUp
from mindtrial.web.safety.services import adverse_event_report

from ..factories import ELIGIBLE_RECORD, grant, make_participant, make_site, make_study, make_user
from ..test_browser import sign_in
from .factories import START, World
from .records import ae_answers

SHOTS = Path(__file__).resolve().parents[3] / "test-output" / "web" / "corrections"
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
DEVICES = [pytest.param(False, id="desktop"), pytest.param(True, id="phone")]


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _press_link(page: Any, name: str) -> None:
    """Reach a link by keyboard focus and follow it with Enter."""
    page.get_by_role("link", name=name).focus()
    page.keyboard.press("Enter")


def _fits(page: Any) -> None:
    """Nothing is wider than the screen (no sideways scrolling of the page)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width


@pytest.mark.parametrize("phone", DEVICES)
def test_coordinator_corrects_a_mistyped_age_and_eligibility_follows(
    live_server: Any, browser: Any, phone: bool
) -> None:
    device = "phone" if phone else "desktop"
    study = make_study()
    site = make_site(study)
    coordinator = make_user("coord")
    grant(coordinator, study, site)
    p = make_participant(study, site, by=coordinator)
    enrolment.participant_screen(
        acting_user=coordinator, participant=p, record=dict(ELIGIBLE_RECORD, age=75)
    )
    base = live_server.url
    page = sign_in(browser, base, "coord", phone=phone)
    page.goto(f"{base}/participants/{p.pk}/corrections/")
    assert "Not eligible: Age 18 to 70" in page.locator("table.corrections").inner_text()
    _fits(page)
    _shot(page, f"01-{device}-corrections-before")

    _press_link(page, "Correct: Screening")
    page.wait_for_url(f"**/participants/{p.pk}/corrections/screening/")
    age = page.locator("input[name=age]")
    assert age.input_value() == "75"  # the recorded answer, to be corrected
    age.focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("57")
    page.locator("input[name=reason]").focus()
    page.keyboard.press("Enter")  # no reason yet: refused, with a message
    page.wait_for_load_state()
    assert "A reason is required" in page.locator("#error-reason").inner_text()
    assert Participant.objects.get(pk=p.pk).status == Status.SCREEN_FAILED
    _shot(page, f"02-{device}-reason-required")
    page.locator("input[name=reason]").focus()
    page.keyboard.type("Age typed as 75; the ID card says 57")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/participants/{p.pk}/corrections/")

    message = page.locator(".messages").inner_text()
    assert f"{p.code} is now eligible (was not eligible)" in message
    row = page.locator("table.corrections tr", has_text="Screening").inner_text()
    assert "Eligible" in row and "Not eligible" not in row
    _fits(page)
    _shot(page, f"03-{device}-corrections-after")
    p.refresh_from_db()
    assert p.status == Status.ELIGIBLE
    audit = AuditEvent.objects.get(action=AuditAction.CORRECT)
    assert (audit.old_values["record.age"], audit.new_values["record.age"]) == (75, 57)
    assert audit.acting_user == coordinator
    assert audit.reason == "Age typed as 75; the ID card says 57"


@pytest.mark.parametrize("phone", DEVICES)
def test_coordinator_follows_a_serious_adverse_event_to_resolution(
    live_server: Any, browser: Any, phone: bool
) -> None:
    device = "phone" if phone else "desktop"
    world = World(n=1)
    p = world.participants[0]
    onset = START + dt.timedelta(days=20)
    event = adverse_event_report(
        acting_user=world.coordinator,
        participant=p,
        answers=dict(ae_answers(onset, serious=True), outcome="not_recovered"),
        today=onset,
    )
    base = live_server.url
    page = sign_in(browser, base, "coord", phone=phone)
    page.goto(f"{base}/participants/{p.pk}/corrections/")
    _shot(page, f"04-{device}-corrections-sae")

    steps = [
        ("recovering", onset + dt.timedelta(days=2), "Discharged home; still dizzy"),
        ("recovered", onset + dt.timedelta(days=16), "Seen at the clinic: no symptoms"),
    ]
    for i, (outcome, day, note) in enumerate(steps):
        if i == 0:
            _press_link(page, f"Follow up: {event.code}")
        else:
            page.get_by_role("link", name="Follow up", exact=True).focus()
            page.keyboard.press("Enter")
        page.wait_for_url("**/adverse-events/follow-up/?ae=*")
        page.select_option("select[name=outcome]", outcome)
        page.fill("input[name=outcome_date]", day.isoformat())
        page.locator("textarea[name=note]").focus()
        page.keyboard.type(note)
        if i == 0:
            _fits(page)
            _shot(page, f"05-{device}-follow-up-form")
        page.get_by_role("button", name="Record follow-up").focus()
        page.keyboard.press("Enter")
        page.wait_for_url("**/adverse-events/review/?ae=*")

    outcome_text = page.locator("#outcome").inner_text()
    assert "Recovered" in outcome_text and "resolved" in outcome_text
    assert (onset + dt.timedelta(days=16)).isoformat() in outcome_text
    rows = page.locator("#follow-ups tbody tr")
    assert rows.count() == 2
    assert "Recovering" in rows.nth(0).inner_text() and "Recovered" in rows.nth(1).inner_text()
    assert page.get_by_role("link", name="Follow up", exact=True).count() == 0  # resolved
    _fits(page)
    _shot(page, f"06-{device}-sae-resolved")
    event = AdverseEvent.objects.get(pk=event.pk)
    assert (event.outcome, event.outcome_date) == ("recovered", onset + dt.timedelta(days=16))
    assert [f.outcome for f in AdverseEventFollowUp.objects.filter(adverse_event=event)] == [
        "recovering",
        "recovered",
    ]
