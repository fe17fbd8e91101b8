"""Behind a trusted proxy the lock-out and the code throttle key on the real client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.test import Client, RequestFactory, override_settings

from mindtrial.web.checkin.services import participant_link_issue
from mindtrial.web.checkin.throttle import client_address
from mindtrial.web.client_address import axes_client_ip, client_ip, parse_trusted_proxies

from ..factories import PASSWORD, make_user
from ..programme.factories import World

pytestmark = pytest.mark.django_db
PROXY = "10.0.0.5"
TRUSTED = override_settings(MINDTRIAL_TRUSTED_PROXIES=["10.0.0.0/24", "fd00::/64"])


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def _ip(remote: str, forwarded: str | None = None) -> str:
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client_ip(RequestFactory().get("/", REMOTE_ADDR=remote, **extra))


@TRUSTED
def test_the_client_is_the_rightmost_untrusted_forwarded_address() -> None:
    assert _ip(PROXY, "203.0.113.9") == "203.0.113.9"
    # The client wrote the left part itself; the proxy appended the real address.
    assert _ip(PROXY, "1.2.3.4, 203.0.113.9") == "203.0.113.9"
    # Two trusted proxies in a row are skipped.
    assert _ip(PROXY, "198.51.100.7, 10.0.0.9") == "198.51.100.7"
    assert _ip("fd00::1", "2001:db8::42") == "2001:db8::42"
    # Garbage never becomes the client: the last good hop is used.
    assert _ip(PROXY, "not-an-ip, 10.0.0.9") == "10.0.0.9"
    assert _ip(PROXY, "") == PROXY
    # From an untrusted peer the header is ignored (a client cannot choose its address).
    assert _ip("203.0.113.50", "1.2.3.4") == "203.0.113.50"
    assert _ip("", "1.2.3.4") == "unknown"
    # django-axes stores the address in an inet column: a missing one is None, not "unknown".
    assert axes_client_ip(HttpRequest()) is None


def test_without_trusted_proxies_forwarded_addresses_are_ignored() -> None:
    assert _ip(PROXY, "203.0.113.9") == PROXY


def test_a_bad_setting_names_the_entry() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"'10\.0\.0\.300'"):
        parse_trusted_proxies(["10.0.0.1", "10.0.0.300"])


@TRUSTED
def test_ipv6_clients_are_counted_by_their_64_network() -> None:
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="2001:db8:1:2::7")
    assert client_address(request) == "2001:db8:1:2::/64"


def _code(code: str, forwarded: str) -> int:
    client = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded)
    return client.post("/c/", {"code": code}).status_code


@TRUSTED
def test_ten_bad_codes_from_one_client_do_not_block_another_behind_the_same_proxy() -> None:
    world = World(n=1)
    theirs = participant_link_issue(
        acting_user=world.coordinator, participant=world.participants[0]
    )
    attacker = "203.0.113.7"
    statuses = [_code(f"0ZZZ{i:04d}", attacker) for i in range(10)]
    assert statuses == [200] * 10  # the default limit: 10 failures per client
    assert _code("0ZZZ9999", attacker) == 429
    assert _code(theirs.code, attacker) == 429  # the attacker's address is paused...
    # ...but the participant, behind the same proxy, still gets in with their code.
    assert _code(theirs.code, "198.51.100.20") == 302


@TRUSTED
def test_a_lock_out_from_one_client_does_not_lock_the_user_out_elsewhere() -> None:
    make_user("coord")
    attacker = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.7")
    for _ in range(3):  # AXES_FAILURE_LIMIT in the test settings
        attacker.post("/accounts/login/", {"username": "coord", "password": "wrong password"})
    locked = attacker.post("/accounts/login/", {"username": "coord", "password": PASSWORD})
    assert locked.status_code == 429
    owner = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.20")
    response = owner.post("/accounts/login/", {"username": "coord", "password": PASSWORD})
    assert response.status_code == 302
