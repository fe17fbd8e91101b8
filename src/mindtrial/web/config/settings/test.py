"""Settings for the test suite (and for mypy's django-stubs plugin).

SQLite by default; ``DATABASE_URL`` switches to PostgreSQL exactly as in production.
"""

from __future__ import annotations

from mindtrial.web.config.settings.base import *  # noqa: F403
from mindtrial.web.config.settings.base import PASSWORD_HASHERS

DEBUG = False
SECRET_KEY = "test-only-insecure-key"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
# Argon2 stays first (as in production) so tests exercise the real hasher.
PASSWORD_HASHERS = list(PASSWORD_HASHERS)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STATIC_ROOT = None
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
AXES_FAILURE_LIMIT = 3
