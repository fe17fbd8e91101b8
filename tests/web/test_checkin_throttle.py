"""The short-code form (/c/) stops brute force per client address and per code."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.test import Client

from mindtrial.web.checkin.services import participant_link_issue
from mindtrial.web.checkin.throttle import REFUSED_MESSAGE

from .programme.factories import World

pytestmark = pytest.mark.django_db

LIMITS = {
    "CHECKIN_CODE_FAILURES_PER_CLIENT": 4,
    "CHECKIN_CODE_FAILURES_PER_CODE": 3,
    "CHECKIN_CODE_WINDOW_SECONDS": 600,
}


@pytest.fixture(autouse=True)
def _limits(settings: object) -> Iterator[None]:
    for name, value in LIMITS.items():
        setattr(settings, name, value)
    cache.clear()
    yield
    cache.clear()


def _try(code: str, ip: str) -> tuple[int, str, str]:
    response = Client(REMOTE_ADDR=ip).post("/c/", {"code": code})
    return response.status_code, response.headers.get("Location", ""), response.content.decode()


def _wrong_codes(n: int) -> list[str]:
    # Distinct well-formed codes none of which is issued (issued codes are random 8-letter
    # strings; these contain the digit 0, which CODE_ALPHABET lacks, so they can never match).
    return [f"0ZZZ{i:04d}" for i in range(n)]


def test_brute_force_from_one_address_is_stopped_and_others_still_get_in(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World(n=2)
    mine = participant_link_issue(acting_user=world.coordinator, participant=world.participants[0])
    theirs = participant_link_issue(
        acting_user=world.coordinator, participant=world.participants[1]
    )
    attacker = "203.0.113.7"
    caplog.set_level(logging.WARNING)
    outcomes = [_try(code, attacker) for code in _wrong_codes(6)]
    # The first 4 failures get the ordinary "did not work" answer...
    assert [status for status, _, _ in outcomes[:4]] == [200] * 4
    assert all("That code did not work" in body for _, _, body in outcomes[:4])
    # ...then the address is refused, in plain words, with 429.
    assert [status for status, _, _ in outcomes[4:]] == [429, 429]
    assert all("Too many codes were tried" in body for _, _, body in outcomes[4:])
    # Even a correct code is refused from the blocked address while the window lasts...
    status, location, body = _try(mine.code, attacker)
    assert (status, location) == (429, "")
    assert REFUSED_MESSAGE.split(".")[0] in body
    # ...but another participant on another address gets in with their valid code.
    status, location, _ = _try(theirs.code, "198.51.100.20")
    assert status == 302 and location == "/c/"  # the session holds the link
    # The log says a refusal happened without naming the address or any code.
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "refused by the throttle" in logged
    assert attacker not in logged
    assert all(code not in logged for code in [*_wrong_codes(6), mine.code, theirs.code])


def test_one_code_hammered_from_many_addresses_is_stopped() -> None:
    world = World(n=1)
    valid = participant_link_issue(acting_user=world.coordinator, participant=world.participants[0])
    guess = "0AAA-AAAA"
    statuses = [_try(guess, f"192.0.2.{i}")[0] for i in range(1, 6)]
    assert statuses == [200, 200, 200, 429, 429]  # 3 failures per code, then refused
    # The same guess typed differently (case, dash) counts as the same code.
    assert _try("0aaaaaaa", "192.0.2.99")[0] == 429
    # A valid code from a fresh address is untouched by another code's lock.
    status, location, _ = _try(valid.code, "192.0.2.100")
    assert status == 302 and location == "/c/"  # the session holds the link


def test_valid_code_does_not_count_as_a_failure() -> None:
    world = World(n=1)
    valid = participant_link_issue(acting_user=world.coordinator, participant=world.participants[0])
    ip = "198.51.100.5"
    for _ in range(8):  # more than either limit
        status, location, _ = _try(valid.code, ip)
        assert status == 302 and location == "/c/"  # the session holds the link
