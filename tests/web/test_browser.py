"""End to end in Debian's Chromium (Playwright): set-up, the enrolment path, the blinded view.

Screenshots of each step go to ``test-output/web/``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from mindtrial.web.accounts.models import Role
from mindtrial.web.enrolment.models import Participant, Status
from mindtrial.web.studies.models import Site, Study

from .factories import (
    COVARIATES,
    ELIGIBLE_RECORD,
    OCS_ANSWERS,
    PASSWORD,
    PROMIS_ANSWERS,
    grant,
    make_user,
)

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "web"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing (install Debian's chromium)")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between browser steps are ordinary synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as pw:
            instance = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            yield instance
            instance.close()
        _wait_for_server_connections()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def _wait_for_server_connections() -> None:
    """The live server's request threads hold a database connection while the browser keeps
    its HTTP connection alive; on PostgreSQL wait for them to close (so the test database
    can be dropped), ending any that outlive the wait."""
    if connection.vendor != "postgresql":
        return
    others = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()"
    )
    with connection.cursor() as cursor:
        for _ in range(50):
            cursor.execute(others)
            if not cursor.fetchall():
                return
            time.sleep(0.1)
        cursor.execute(f"SELECT pg_terminate_backend(pid) FROM ({others}) AS lingering")


def sign_in(browser: Any, base: str, username: str, *, phone: bool = False) -> Any:
    viewport = {"width": 390, "height": 844} if phone else {"width": 1100, "height": 900}
    page = browser.new_context(viewport=viewport).new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit] >> text=Sign in")
    page.wait_for_url(f"{base}/")
    return page


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _answer(page: Any, name: str, value: Any) -> None:
    radio = page.locator(f"input[name={name}][value='{value}']")
    if radio.count():
        radio.check()
        return
    field = page.locator(f"[name={name}]")
    if field.evaluate("e => e.tagName") == "SELECT":
        text = "yes" if value is True else "no" if value is False else str(value)
        field.select_option(text)
    else:
        field.fill(str(value))


def _fill(page: Any, answers: dict[str, Any]) -> None:
    for name, value in answers.items():
        _answer(page, name, value)


def _refer(page: Any, base: str, study: Study) -> str:
    page.goto(f"{base}/studies/{study.pk}/participants/new/")
    page.fill("input[name=referral_date]", "2025-12-01")
    page.select_option("select[name=referral_source]", "clinic")
    page.select_option("select[name=site]", index=1)  # nothing is pre-selected
    page.click("button >> text=Refer")
    page.wait_for_url("**/participants/*/")
    return str(page.url)


def test_setup_enrol_randomize_and_blinded_view(live_server: Any, browser: Any) -> None:
    base = live_server.url
    make_user("admin", Role.ADMINISTRATOR)
    coordinator = make_user("coord", Role.COORDINATOR)
    investigator = make_user("pi", Role.INVESTIGATOR)

    # 1. The administrator sets up a study: protocol, site, cohort.
    admin = sign_in(browser, base, "admin")
    admin.click("a:text-is('New study')")
    admin.select_option("select[name=protocol_id]", "mrocc-2025")
    admin.fill("input[name=name]", "Browser pilot")
    admin.click("button >> text=Create study")
    admin.wait_for_url("**/studies/*/")
    shot(admin, "01-admin-study-created")
    admin.click("a:text-is('Add a site')")
    admin.fill("input[name=code]", "north")
    admin.fill("input[name=name]", "North clinic")
    admin.click("button >> text=Add site")
    admin.click("a:text-is('Add a cohort')")
    admin.fill("input[name=start_date]", "2026-01-05")
    admin.select_option("select[name=weekday]", "0")
    admin.fill("input[name=meeting_time]", "18:00")
    admin.fill("input[name=timezone]", "America/New_York")
    admin.click("button >> text=Add cohort")
    admin.wait_for_url("**/studies/*/")
    shot(admin, "02-admin-site-and-cohort")
    study = Study.objects.get(name="Browser pilot")
    assert Site.objects.filter(study=study, code="north").exists()
    grant(coordinator, study, Site.objects.get(study=study))
    grant(investigator, study)

    # 2. The coordinator refers two people, screens one ineligible and one eligible.
    coord = sign_in(browser, base, "coord")
    first = _refer(coord, base, study)
    coord.click("a:text-is('Screen')")
    _fill(coord, dict(ELIGIBLE_RECORD, age=17, prior_mindfulness_group=True))
    shot(coord, "03-coordinator-screening-form")
    coord.click("button >> text=Check eligibility")
    coord.wait_for_url(first)
    assert "Not eligible" in coord.content()
    assert coord.locator("#failed-criteria li").count() == 2
    shot(coord, "04-coordinator-ineligible")

    second = _refer(coord, base, study)
    coord.click("a:text-is('Screen')")
    _fill(coord, ELIGIBLE_RECORD)
    coord.click("button >> text=Check eligibility")
    coord.wait_for_url(second)
    coord.click("a:text-is('Record consent')")
    coord.fill("input[name=form_version]", "v2.1")
    coord.fill("input[name=consent_date]", "2025-12-02")
    coord.select_option("select[name=obtained_by]", label="coord")
    coord.click("button >> text=Record consent")
    coord.wait_for_url(second)
    shot(coord, "05-coordinator-consented")
    for step, answers in (
        ("ocs", OCS_ANSWERS),
        ("promis_anxiety_8a", PROMIS_ANSWERS),
        ("covariates", COVARIATES),
    ):
        coord.goto(f"{second}baseline/{step}/")
        _fill(coord, answers)
        if step == "promis_anxiety_8a":
            shot(coord, "06-coordinator-baseline-promis")
        coord.click("button >> text=Save")
        coord.wait_for_url(second)
    assert "Baseline complete" in coord.content()
    coord.click("a:text-is('Randomize')")
    coord.check("input[name=confirm]")
    coord.click("button >> text=Randomize")
    coord.wait_for_url(second)
    coord.click("a:text-is('Assign cohort')")
    coord.select_option("select[name=cohort]", index=1)
    coord.click("button >> text=Assign cohort")
    coord.wait_for_url(second)
    shot(coord, "07-coordinator-randomized")
    randomized = Participant.objects.get(status=Status.RANDOMIZED)
    arm_label = study.arm_label(randomized.randomization.entry.arm_id)
    assert arm_label in coord.locator("#arm").inner_text()  # unblinded staff see the arm

    # 3. The blinded investigator sees progress, on a phone, and never an arm.
    pi = sign_in(browser, base, "pi", phone=True)
    forbidden = {s.lower() for a in study.arms for s in (a["id"], a["label"])} | {"m-rocc"}
    pages = [
        (f"/studies/{study.pk}/", "08-investigator-progress"),
        (f"/studies/{study.pk}/participants/", "09-investigator-participants"),
        (f"/participants/{randomized.pk}/", "10-investigator-participant"),
    ]
    for path, name in pages:
        pi.goto(base + path)
        shot(pi, name)
        text = pi.content().lower()
        for word in forbidden:
            assert word not in text, f"investigator saw {word!r} on {path}"
    pi.goto(f"{base}/studies/{study.pk}/")
    rows = {
        r.locator("td").nth(0).inner_text(): r.locator("td").nth(1).inner_text()
        for r in pi.locator("tbody tr").all()[:7]
    }
    assert rows["Randomized"] == "1" and rows["Not eligible at screening"] == "1"
