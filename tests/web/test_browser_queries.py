"""In Debian's Chromium (Playwright), desktop and a 390-px phone: a coordinator finds a
participant by code in the list; a data manager opens a data query, the coordinator answers
it and the data manager closes it. Screenshots go to ``test-output/web/``."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from mindtrial.web.accounts.models import Role
from mindtrial.web.queries.models import DataQuery, QueryStatus

from .factories import (
    grant,
    make_participant,
    make_ready_participant,
    make_site,
    make_study,
    make_user,
)
from .test_browser import ARGS, CHROMIUM, SHOTS, shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium, as in test_browser.py."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing (install Debian's chromium)")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

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
    """On PostgreSQL, wait until the live server's request threads have closed their
    database connections (the browser's keep-alive connections are gone). Unlike
    test_browser.py's helper this never terminates a backend: the next test of this
    module runs in the same session, and a terminated backend can be its own."""
    if connection.vendor != "postgresql":
        return
    others = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()"
    )
    with connection.cursor() as cursor:
        for _ in range(50):
            cursor.execute(others)
            if cursor.fetchone() == (0,):
                return
            time.sleep(0.1)


@pytest.fixture(scope="module", autouse=True)
def _end_lingering_connections(django_db_blocker: Any) -> Iterator[None]:
    """After this module's last test, end any server connection that outlived the waits
    (so the test database can be dropped at the end of the session)."""
    yield
    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


def _fresh_connection() -> None:
    """test_browser.py ends every other backend after its test, and the connection the test
    body uses can be among them (Playwright's sync API runs the fixture in another context,
    so its ``connection`` is not this one): start from a fresh connection. Harmless
    otherwise, as a transactional test holds no open transaction here."""
    connection.close()


def _no_sideways_scroll(page: Any) -> None:
    """The page body fits the viewport (tables may scroll inside themselves)."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px"


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_coordinator_finds_a_participant_by_code(
    live_server: Any, browser: Any, phone: bool
) -> None:
    _fresh_connection()
    study = make_study()
    site = make_site(study)
    for _ in range(57):
        make_participant(study, site)
    coordinator = make_user("coord", Role.COORDINATOR)
    grant(coordinator, study)
    base = live_server.url
    page = sign_in(browser, base, "coord", phone=phone)
    page.goto(f"{base}/studies/{study.pk}/")
    page.click("a:text-is('Participants')")
    page.wait_for_url("**/participants/")
    assert page.locator("table.list tbody tr").count() == 50
    assert page.locator("p.list-count").inner_text().startswith("Rows 1–50 of 57")
    suffix = "phone" if phone else "desktop"
    shot(page, f"lists-01-participants-{suffix}")
    _no_sideways_scroll(page)
    # By keyboard: type the code in the search box and press Enter.
    page.focus("#list-q")
    page.keyboard.type("p-0042")
    page.keyboard.press("Enter")
    page.wait_for_url("**/participants/?q=p-0042*")
    rows = page.locator("table.list tbody tr")
    assert rows.count() == 1 and rows.first.locator("td").first.inner_text() == "P-0042"
    shot(page, f"lists-02-search-{suffix}")
    page.click("table.list a:text-is('P-0042')")
    page.wait_for_url("**/participants/*/")
    assert "P-0042" in page.locator("h1").inner_text()
    # Page links: page 2 holds the last seven.
    page.goto(f"{base}/studies/{study.pk}/participants/")
    page.click("nav.pages a:text-is('2')")
    assert page.locator("table.list tbody tr").count() == 7
    _no_sideways_scroll(page)


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_query_opened_answered_and_closed(live_server: Any, browser: Any, phone: bool) -> None:
    _fresh_connection()
    study = make_study()
    site = make_site(study)
    participant = make_ready_participant(study, site)
    for user in (make_user("dm", Role.DATA_MANAGER), make_user("coord", Role.COORDINATOR)):
        grant(user, study)
    base = live_server.url
    suffix = "phone" if phone else "desktop"

    dm = sign_in(browser, base, "dm", phone=phone)
    dm.goto(f"{base}/participants/{participant.pk}/queries/")
    dm.click("a:text-is('Open a query')")
    dm.select_option("select[name=form]", "Baseline: ocs")
    dm.fill("input[name=field]", "ocs_1")
    dm.fill("input[name=value]", "6")
    dm.fill("textarea[name=message]", "Source document says 8: please check.")
    shot(dm, f"queries-01-open-{suffix}")
    _no_sideways_scroll(dm)
    dm.click("button:text-is('Open the query')")
    dm.wait_for_url("**/queries/*/")
    assert dm.locator("#query-status").inner_text() == "Open"
    query = DataQuery.objects.get(participant=participant)

    coord = sign_in(browser, base, "coord", phone=phone)
    coord.goto(f"{base}/studies/{study.pk}/")
    coord.click("a:text-is('Data queries')")
    coord.click(f"a:text-is('Q{query.pk}')")
    assert coord.locator("button:text-is('Close the query')").count() == 0
    coord.fill("textarea[name=answer-answer]", "Checked the source: it is 8, corrected.")
    coord.select_option("select[name=answer-corrected]", "yes")
    coord.click("button:text-is('Send the answer')")
    coord.wait_for_url(f"**/queries/{query.pk}/")
    assert coord.locator("#query-status").inner_text() == "Answered"
    shot(coord, f"queries-02-answered-{suffix}")
    _no_sideways_scroll(coord)

    dm.goto(f"{base}/studies/{study.pk}/queries/")
    assert dm.locator("table.list tbody tr").first.locator("td").nth(6).inner_text() == "Answered"
    shot(dm, f"queries-03-list-{suffix}")
    dm.click(f"a:text-is('Q{query.pk}')")
    dm.fill("textarea[name=close-note]", "Thank you.")
    dm.click("button:text-is('Close the query')")
    dm.wait_for_url(f"**/queries/{query.pk}/")
    assert dm.locator("#query-status").inner_text() == "Closed"
    assert dm.locator("ol.thread li").count() == 3
    shot(dm, f"queries-04-closed-{suffix}")
    query.refresh_from_db()
    assert (query.status, query.corrected) == (QueryStatus.CLOSED, True)
    # The audit trail of the query, filtered by participant, old → new as a table.
    dm.goto(f"{base}/studies/{study.pk}/audit/")
    dm.fill("#list-participant", participant.code)
    dm.select_option("#list-object_type", label="Data query")
    dm.click("button:text-is('Show')")
    dm.wait_for_url("**/audit/?*object_type=queries.dataquery*")
    rows = dm.locator("table.list > tbody > tr")
    assert rows.count() == 3
    assert "answered" in rows.nth(0).locator("table.changes").inner_text()
    shot(dm, f"queries-05-audit-{suffix}")
    _no_sideways_scroll(dm)
