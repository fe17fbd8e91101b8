"""Production settings: the secret key comes from the environment, cookies are secure.

``mindtrial serve`` uses these behind gunicorn with whitenoise serving collected static
files. ``DJANGO_SECRET_KEY`` must be set; ``DJANGO_ALLOWED_HOSTS`` (comma-separated) adds
host names to 127.0.0.1/localhost. ``MINDTRIAL_INSECURE_HTTP=1`` turns off the HTTPS-only
cookie and redirect settings for a loopback-only demo without TLS.
``MINDTRIAL_REDIS_URL`` (``redis://[:password@]host:6379/0``) moves the cache and the sessions
into that Redis; without it the cache is files under var/ and sessions are database rows.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from mindtrial.web.config.settings.base import *  # noqa: F403
from mindtrial.web.config.settings.base import DATABASES, VAR_DIR

DEBUG = False
try:
    SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
except KeyError:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set: production settings need a secret key from the environment"
    ) from None

ALLOWED_HOSTS = ["127.0.0.1", "localhost"] + [
    host.strip() for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if host.strip()
]

_insecure_http = os.environ.get("MINDTRIAL_INSECURE_HTTP", "") == "1"
SESSION_COOKIE_SECURE = not _insecure_http
CSRF_COOKIE_SECURE = not _insecure_http
SECURE_SSL_REDIRECT = not _insecure_http
SECURE_HSTS_SECONDS = 0 if _insecure_http else 60 * 60 * 24 * 365
SECURE_HSTS_INCLUDE_SUBDOMAINS = not _insecure_http
SECURE_HSTS_PRELOAD = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_NAME = "__Host-sessionid" if not _insecure_http else "sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken" if not _insecure_http else "csrftoken"

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# gunicorn runs several worker processes: the participant code-entry throttle (and
# django-axes' lock-out cache) must count across all of them, so production keeps its cache
# where every worker sees it, never in per-process memory: in Redis when MINDTRIAL_REDIS_URL
# names one, else in files under var/.
REDIS_URL = os.environ.get("MINDTRIAL_REDIS_URL", "").strip()
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "mindtrial",
        }
    }
    # Sessions stay on the server and end when deleted (sign-out, a new session id, expiry), but
    # live in Redis: reading one costs no SQL query, and a participant opening their link no
    # database write. A Redis restart without persistence signs everybody out.
    SESSION_ENGINE = "django.contrib.sessions.backends.cache"
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# Each gunicorn worker keeps its database connection between requests (re-checked before
# reuse) instead of opening one per request: a new PostgreSQL backend costs more than a
# participant's check-in queries (bench/checkin_load.py). SQLite is opened per request.
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    DATABASES = {  # a new dict: base's stays as it was
        "default": {**DATABASES["default"], "CONN_MAX_AGE": 600, "CONN_HEALTH_CHECKS": True}
    }
