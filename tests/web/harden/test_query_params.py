"""Query parameters that are not plain ASCII numbers within range: a 404/ignored, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client

from mindtrial.web.common import parse_int

from ..factories import make_user
from ..programme.factories import World, make_facilitator

pytestmark = pytest.mark.django_db

# "²" and "١" pass str.isdigit() (and int() takes "١"); the huge one overflows a database integer.
BAD = ["²", "١", "٣", "-1", "+1", " 1", "1 ", "1.0", "", "0x1", "1_0", "99999999999999999999999"]


@pytest.mark.parametrize("text", BAD)
def test_parse_int_takes_only_ascii_digits_within_range(text: str) -> None:
    assert parse_int(text, low=1, high=1000) is None


def test_parse_int_reads_plain_numbers_and_checks_the_range() -> None:
    assert parse_int("7", low=1, high=24) == 7
    assert parse_int("007", low=1, high=24) == 7
    assert parse_int("24", low=1, high=24) == 24
    assert parse_int("25", low=1, high=24) is None
    assert parse_int("0", low=1, high=24) is None
    assert parse_int(None, low=1, high=24) is None


@pytest.mark.parametrize("text", ["²", "١", "99999999999999999999999"])
def test_pages_with_a_week_or_id_parameter_never_answer_500(text: str) -> None:
    world = World(n=1)
    p = world.participants[0]
    group = world.cohort.groups.order_by("pk").first()
    assert group is not None
    fac = make_facilitator(world.study, group)
    coord = Client(raise_request_exception=False)
    coord.force_login(world.coordinator)
    facilitator = Client(raise_request_exception=False)
    facilitator.force_login(fac)
    monitor = Client(raise_request_exception=False)
    monitor.force_login(make_user("monitor-q", "safety_monitor"))
    answers = {
        f"/participants/{p.pk}/tests/capture/?week={text}": coord,
        f"/participants/{p.pk}/checkins/correct/?week={text}": coord,
        f"/studies/{world.study.pk}/adverse-events/review/?ae={text}": coord,
        f"/groups/{group.pk}/programme/?week={text}": facilitator,
    }
    for url, client in answers.items():
        status = client.get(url).status_code
        assert status in (200, 404), (url, status)
