"""Settings shared by every environment.

Storage: SQLite under ``var/`` (``MINDTRIAL_VAR_DIR`` moves it, ``MINDTRIAL_SQLITE_PATH`` names
the file) unless ``DATABASE_URL`` is set, in which case dj-database-url reads it (PostgreSQL on
the development and CI machines).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url

WEB_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(os.environ.get("MINDTRIAL_VAR_DIR", Path.cwd() / "var")).resolve()


def database_from_env() -> dict[str, Any]:
    """PostgreSQL (or anything dj-database-url reads) from DATABASE_URL, else SQLite."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return dict(dj_database_url.parse(url, conn_max_age=0))
    path = Path(os.environ.get("MINDTRIAL_SQLITE_PATH", VAR_DIR / "mindtrial.sqlite3"))
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
    }


DATABASES = {"default": database_from_env()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    # First, so its audited ``createsuperuser`` replaces django.contrib.auth's.
    "mindtrial.web.accounts",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "ninja",
    "mindtrial.web.audit",
    "mindtrial.web.studies",
    "mindtrial.web.enrolment",
    "mindtrial.web.api",
    # Web app II: the weekly programme.
    "mindtrial.web.programme",
    "mindtrial.web.checkin",
    "mindtrial.web.toxicology",
    "mindtrial.web.safety",
    "mindtrial.web.dashboards",
    "mindtrial.web.exports",
    "mindtrial.web.queries",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy, Permissions-Policy (see the module for the policies).
    "mindtrial.web.security_headers.SecurityHeadersMiddleware",
    # 400 for a NUL character anywhere a database text column could receive it.
    "mindtrial.web.null_characters.NullCharacterMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so a locked-out login never reaches a view.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mindtrial.web.config.urls"
WSGI_APPLICATION = "mindtrial.web.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [WEB_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses locked-out credentials before the model backend checks them.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Behind a reverse proxy: the proxies whose X-Forwarded-For is believed (addresses or CIDR
# networks, comma-separated in the environment). The login lock-out and the check-in code
# throttle then key on the real client, not on the proxy (see web/client_address.py).
MINDTRIAL_TRUSTED_PROXIES = [
    p.strip() for p in os.environ.get("MINDTRIAL_TRUSTED_PROXIES", "").split(",") if p.strip()
]

# Lock-out after repeated failures (django-axes): 5 failures per username+IP, 30 minutes.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.5  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_CLIENT_IP_CALLABLE = "mindtrial.web.client_address.axes_client_ip"

# Sessions expire after 8 hours and when the browser closes.
SESSION_COOKIE_AGE = 8 * 60 * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# A page's address never leaves the site in a Referer. Not "no-referrer" everywhere: under
# it browsers send "Origin: null" with every form POST, which Django's CSRF check refuses.
# The one address that holds a secret (a check-in link, /c/?t=…) answers with its own
# "no-referrer" and redirects at once (checkin.views.checkin).
SECURE_REFERRER_POLICY = "same-origin"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [WEB_DIR / "static"]
STATIC_ROOT: Path | None = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

NINJA_PAGINATION_PER_PAGE = 100

# E-mail (safety alerts, through the outbox): the console backend unless MINDTRIAL_EMAIL_HOST
# names an SMTP server; MINDTRIAL_EMAIL_BACKEND overrides the backend class outright.
EMAIL_HOST = os.environ.get("MINDTRIAL_EMAIL_HOST", "").strip() or "localhost"
EMAIL_PORT = int(os.environ.get("MINDTRIAL_EMAIL_PORT", "") or "25")
EMAIL_HOST_USER = os.environ.get("MINDTRIAL_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("MINDTRIAL_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = os.environ.get("MINDTRIAL_EMAIL_STARTTLS", "") == "1"
EMAIL_USE_SSL = os.environ.get("MINDTRIAL_EMAIL_SSL", "") == "1"
EMAIL_TIMEOUT = int(os.environ.get("MINDTRIAL_EMAIL_TIMEOUT", "") or "10")
DEFAULT_FROM_EMAIL = os.environ.get("MINDTRIAL_EMAIL_FROM", "") or "mindtrial@localhost"
EMAIL_BACKEND = os.environ.get("MINDTRIAL_EMAIL_BACKEND", "").strip() or (
    "django.core.mail.backends.smtp.EmailBackend"
    if os.environ.get("MINDTRIAL_EMAIL_HOST", "").strip()
    else "django.core.mail.backends.console.EmailBackend"
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
