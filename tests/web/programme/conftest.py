"""A Playwright browser for this folder's browser tests (Debian's Chromium).

Unlike Web app I's fixture, teardown only *waits* for the live server's request threads to
release their PostgreSQL connections: the live server lives for the whole session, so a
connection terminated here would break the next test's requests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from ..test_browser import ARGS, CHROMIUM


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing (install Debian's chromium)")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            instance = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            yield instance
            instance.close()
        _wait_for_idle_server()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def _wait_for_idle_server() -> None:
    if connection.vendor != "postgresql":
        return
    others = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND state <> 'idle'"
    )
    with connection.cursor() as cursor:
        for _ in range(50):
            cursor.execute(others)
            row = cursor.fetchone()
            if row is None or row[0] == 0:
                return
            time.sleep(0.1)


@pytest.fixture(scope="session", autouse=True)
def _end_lingering_connections(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """After the last test (before the test database is dropped), end the connections a
    live-server request thread may still hold; doing it earlier would break later tests."""
    yield
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
