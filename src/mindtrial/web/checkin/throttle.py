"""Throttle for the participant short-code fallback (``/c/`` code form).

An 8-character code from a 32-letter alphabet has 32**8 (about 10**12) values, but an
unthrottled form would still let a script try codes without end. Failed attempts are counted
in Django's cache, in a fixed window, both

* per client address (:func:`mindtrial.web.client_address.client_ip`: ``REMOTE_ADDR``, or
  behind a proxy listed in ``MINDTRIAL_TRUSTED_PROXIES`` the address it forwards; an IPv6
  client counts by its /64 network, which one household or phone usually holds whole), and
* per code tried (so one code cannot be hammered from many addresses).

Once either count reaches its limit, the form refuses every attempt from that address (or for
that code) until the window ends, valid codes included, with a plain-language message. Other
people's valid codes keep working.

Settings (all optional):

``CHECKIN_CODE_FAILURES_PER_CLIENT`` (default 10), ``CHECKIN_CODE_FAILURES_PER_CODE``
(default 5), ``CHECKIN_CODE_WINDOW_SECONDS`` (default 900).

The counts live in the ``default`` cache. Django's default is the per-process local-memory
cache, which is what development and the tests use; a production server with several worker
processes should set ``CACHES`` to a cache they share (the database cache or Redis), or each
worker counts on its own. Cache keys hold SHA-256 digests, never the address or the code, and
the log line written on a refusal names neither.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from mindtrial.web.client_address import client_ip

logger = logging.getLogger(__name__)

DEFAULT_FAILURES_PER_CLIENT = 10
DEFAULT_FAILURES_PER_CODE = 5
DEFAULT_WINDOW_SECONDS = 15 * 60
_PREFIX = "mindtrial:checkin-code"
REFUSED_MESSAGE = (
    "Too many codes were tried from here. For your safety the check-in is paused for a while. "
    "Please try again later, or call the study team."
)


@dataclass(frozen=True)
class CodeThrottle:
    """Limits for the code form; :func:`code_throttle` reads them from the settings."""

    failures_per_client: int
    failures_per_code: int
    window_seconds: int


def code_throttle() -> CodeThrottle:
    return CodeThrottle(
        failures_per_client=int(
            getattr(settings, "CHECKIN_CODE_FAILURES_PER_CLIENT", DEFAULT_FAILURES_PER_CLIENT)
        ),
        failures_per_code=int(
            getattr(settings, "CHECKIN_CODE_FAILURES_PER_CODE", DEFAULT_FAILURES_PER_CODE)
        ),
        window_seconds=int(
            getattr(settings, "CHECKIN_CODE_WINDOW_SECONDS", DEFAULT_WINDOW_SECONDS)
        ),
    )


def _digest(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def normalise_code(code: str) -> str:
    """The code as the lookup compares it (case, spaces and dashes forgiven)."""
    return code.strip().upper().replace("-", "").replace(" ", "")


def client_address(request: HttpRequest) -> str:
    """The throttle's client key: the real client address (an IPv6 one as its /64)."""
    text = client_ip(request)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return text


def _keys(client: str, code: str) -> tuple[str, str]:
    return (
        f"{_PREFIX}:client:{_digest('client', client)}",
        f"{_PREFIX}:code:{_digest('code', normalise_code(code))}",
    )


def code_attempt_allowed(*, client: str, code: str, limits: CodeThrottle | None = None) -> bool:
    """False once ``client`` or ``code`` has used up its failed attempts in this window."""
    limits = limits or code_throttle()
    client_key, code_key = _keys(client, code)
    counts = cache.get_many([client_key, code_key])
    allowed = (
        int(counts.get(client_key, 0)) < limits.failures_per_client
        and int(counts.get(code_key, 0)) < limits.failures_per_code
    )
    if not allowed:
        logger.warning("check-in code form: attempt refused by the throttle")
    return allowed


def code_attempt_failed(*, client: str, code: str, limits: CodeThrottle | None = None) -> None:
    """Count one failed attempt for ``client`` and for ``code``."""
    limits = limits or code_throttle()
    for key in _keys(client, code):
        # add() starts the window only if the key is new; incr() keeps its expiry.
        cache.add(key, 0, timeout=limits.window_seconds)
        try:
            cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.set(key, 1, timeout=limits.window_seconds)
