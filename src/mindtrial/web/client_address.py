"""The real client address behind a reverse proxy (``MINDTRIAL_TRUSTED_PROXIES``).

Behind the recommended TLS proxy every request arrives from the proxy, so ``REMOTE_ADDR``
is the same for every participant, and a throttle or lock-out keyed on it would let one
person block everybody. The proxy appends the address it received the request from to
``X-Forwarded-For``; that header is believed only when the direct peer is a proxy listed in
``settings.MINDTRIAL_TRUSTED_PROXIES`` (addresses or CIDR networks; the environment
variable of the same name, comma-separated, sets it). The client is then the rightmost
address in ``X-Forwarded-For`` that is not a trusted proxy: addresses further left were
written by the client itself and can be anything.

With no trusted proxies (the default) ``X-Forwarded-For`` is ignored and ``REMOTE_ADDR``
is the client; a request that carries the header from an untrusted peer logs one warning
per process so a forgotten setting is noticed.

:func:`client_ip` is the check-in code throttle's client key and, as
:func:`axes_client_ip`, django-axes' ``AXES_CLIENT_IP_CALLABLE``.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

logger = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
UNKNOWN = "unknown"


def parse_trusted_proxies(entries: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or CIDR networks (``10.0.0.1``, ``10.0.0.0/8``, ``::1``); a bad entry is an
    :class:`ImproperlyConfigured` naming it."""
    networks: list[Network] = []
    for entry in entries:
        text = entry.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"MINDTRIAL_TRUSTED_PROXIES: {text!r} is not an IP address or CIDR network"
            ) from None
    return tuple(networks)


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_trusted_proxies(entries)


def trusted_proxies() -> tuple[Network, ...]:
    return _networks(tuple(getattr(settings, "MINDTRIAL_TRUSTED_PROXIES", ()) or ()))


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


@functools.lru_cache(maxsize=1)
def _warn_untrusted_forwarding() -> None:
    logger.warning(
        "X-Forwarded-For ignored: the request did not come from a trusted proxy. Behind a "
        "reverse proxy set MINDTRIAL_TRUSTED_PROXIES, or every client shares its address."
    )


def client_ip(request: HttpRequest) -> str:
    """The client's address as text (``"unknown"`` when the peer address is missing)."""
    peer = _address(str(request.META.get("REMOTE_ADDR") or ""))
    if peer is None:
        return UNKNOWN
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR") or "")
    networks = trusted_proxies()
    if not _trusted(peer, networks):
        if forwarded:
            _warn_untrusted_forwarding()
        return str(peer)
    client = peer
    for hop in reversed([h for h in forwarded.split(",") if h.strip()]):
        address = _address(hop)
        if address is None:
            break  # written by the client, not by a proxy: stop at the last good hop
        client = address
        if not _trusted(address, networks):
            break
    return str(client)


def axes_client_ip(request: HttpRequest) -> str | None:
    """:func:`client_ip` for django-axes, which stores it in an address column: None (not
    ``"unknown"``) when the peer address is missing, e.g. for a session made in a test."""
    address = client_ip(request)
    return None if address == UNKNOWN else address
