"""Settings: storage from the environment, Argon2 first, production refuses to run without a key."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from mindtrial.web.config.settings import base


def _fresh(module: str) -> Any:
    sys.modules.pop(module, None)
    return importlib.import_module(module)


def test_sqlite_by_default_and_postgresql_from_database_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("MINDTRIAL_SQLITE_PATH", f"{tmp_path}/x.sqlite3")
    sqlite = base.database_from_env()
    assert (
        sqlite["ENGINE"] == "django.db.backends.sqlite3"
        and sqlite["NAME"] == f"{tmp_path}/x.sqlite3"
    )
    monkeypatch.setenv("DATABASE_URL", "postgresql://alice:pw@db.example.org:5433/trial")
    pg = base.database_from_env()
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["HOST"], pg["PORT"], pg["NAME"], pg["USER"]) == (
        "db.example.org",
        5433,
        "trial",
        "alice",
    )


def test_argon2_is_the_first_hasher() -> None:
    assert base.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_production_needs_a_secret_key_and_sets_secure_cookies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = "mindtrial.web.config.settings.production"
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    monkeypatch.delenv("MINDTRIAL_INSECURE_HTTP", raising=False)
    try:
        with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY"):
            _fresh(name)
        monkeypatch.setenv("DJANGO_SECRET_KEY", "k" * 50)
        prod = _fresh(name)
        assert prod.DEBUG is False
        assert prod.SESSION_COOKIE_SECURE and prod.CSRF_COOKIE_SECURE
        assert prod.SECURE_HSTS_SECONDS == 31536000 and prod.SECURE_SSL_REDIRECT
    finally:
        sys.modules.pop(name, None)


def test_production_keeps_postgresql_connections_between_requests(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    name, base_name = "mindtrial.web.config.settings.production", base.__name__
    monkeypatch.setenv("DJANGO_SECRET_KEY", "k" * 50)
    try:
        monkeypatch.setenv("DATABASE_URL", "postgresql://alice:pw@db.example.org:5433/trial")
        sys.modules.pop(base_name)
        database = _fresh(name).DATABASES["default"]
        assert database["ENGINE"] == "django.db.backends.postgresql"
        assert database["CONN_MAX_AGE"] == 600 and database["CONN_HEALTH_CHECKS"] is True
        # base's dict, which the other settings modules share, is left as it was
        assert sys.modules[base_name].DATABASES["default"]["CONN_MAX_AGE"] == 0
        monkeypatch.delenv("DATABASE_URL")
        monkeypatch.setenv("MINDTRIAL_SQLITE_PATH", f"{tmp_path}/x.sqlite3")
        sys.modules.pop(base_name)
        sqlite = _fresh(name).DATABASES["default"]
        assert sqlite["ENGINE"] == "django.db.backends.sqlite3" and "CONN_MAX_AGE" not in sqlite
    finally:
        sys.modules.pop(name, None)
        sys.modules[base_name] = base


def test_production_cache_and_sessions_in_redis_only_when_a_url_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every gunicorn worker must see the code throttle's counts: files under var/ by
    default, Redis (which then also keeps the sessions, still server-side) when named."""
    name = "mindtrial.web.config.settings.production"
    monkeypatch.setenv("DJANGO_SECRET_KEY", "k" * 50)
    try:
        monkeypatch.delenv("MINDTRIAL_REDIS_URL", raising=False)
        files = _fresh(name)
        assert files.CACHES["default"]["BACKEND"].endswith("filebased.FileBasedCache")
        assert not hasattr(files, "SESSION_ENGINE")  # Django's default: database rows
        monkeypatch.setenv("MINDTRIAL_REDIS_URL", "redis://:pw@cache.example.org:6379/2")
        redis = _fresh(name)
        assert redis.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
        assert redis.CACHES["default"]["LOCATION"] == "redis://:pw@cache.example.org:6379/2"
        assert redis.SESSION_ENGINE == "django.contrib.sessions.backends.cache"
    finally:
        sys.modules.pop(name, None)
