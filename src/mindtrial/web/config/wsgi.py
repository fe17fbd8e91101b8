"""WSGI entry point (gunicorn ``mindtrial.web.config.wsgi:application``).

Each gunicorn worker imports this module when it starts, before it accepts a request: what
the first requests would otherwise load while their clients wait is loaded here instead
(every view module, through the URLconf; the Redis client library when the cache is Redis,
about 0.3 s to import). bench/checkin_load.py saw those first requests as a 1 s tail.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mindtrial.web.config.settings.production")

application = get_wsgi_application()

get_resolver().url_patterns  # noqa: B018  (imports every view module)
if settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    import redis  # noqa: F401
