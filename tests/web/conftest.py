"""Django for tests/web only: other test folders never need Django.

``uv run pytest tests/web`` uses SQLite; with ``DATABASE_URL=postgresql://…`` the same tests
run on PostgreSQL (pytest-django creates ``test_<name>``). With ``CI=true`` an unreachable
PostgreSQL is an error, never a skip.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mindtrial.web.config.settings.test")

import django

django.setup()

import pytest  # noqa: E402
from django.db import connection  # noqa: E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``postgres`` tests skip on SQLite; with DATABASE_URL set they always run (and fail if
    PostgreSQL is unreachable)."""
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(
        reason="needs DATABASE_URL=postgresql://… (runs in the PostgreSQL pass)"
    )
    for item in items:
        if "postgres" in item.keywords and "tests/web" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _database_reachable() -> None:
    """A clear error, not a skip, when DATABASE_URL names a server that does not answer."""
    if connection.vendor != "postgresql":
        return
    import psycopg

    settings = connection.settings_dict
    try:
        psycopg.connect(
            host=settings["HOST"] or None,
            port=settings["PORT"] or None,
            user=settings["USER"] or None,
            password=settings["PASSWORD"] or None,
            dbname="postgres",
            connect_timeout=5,
        ).close()
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL from DATABASE_URL is unreachable: {exc}", pytrace=False)
