"""The concealed test list, recording results per analyte, and screen captures."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from django.test import override_settings

from mindtrial.design.schedules import concealed_test_days
from mindtrial.web.accounts.models import Role
from mindtrial.web.audit.models import AuditEvent
from mindtrial.web.common import ServiceError
from mindtrial.web.toxicology.models import ToxTest
from mindtrial.web.toxicology.schedule import past_test_days
from mindtrial.web.toxicology.selectors import today_test_list
from mindtrial.web.toxicology.services import MAX_CAPTURE_BYTES, tox_test_record

from ..factories import make_user
from .factories import START, World

pytestmark = pytest.mark.django_db
SECRET = "a-test-secret-of-at-least-16-bytes"
PANEL = ["opiates", "oxycodone", "fentanyl", "methadone", "buprenorphine", "benzodiazepines",
         "cocaine", "amphetamine", "methamphetamine", "thc", "mdma", "barbiturates", "pcp",
         "tramadol"]  # fmt: skip
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _days(world: World, code: str) -> list[dt.date]:
    return concealed_test_days(
        secret=SECRET.encode(),
        participant_id=f"{world.study.pk}:{code}",
        start=START,
        n_weeks=24,
        window_weeks=2,
        tests_per_window=1,
        allowed_weekdays=[0],
    )


@override_settings(MINDTRIAL_TOX_SECRET=SECRET)
def test_today_lists_exactly_who_tests_today_and_never_the_future() -> None:
    world = World(n=4)
    expected = {p.code: _days(world, p.code) for p in world.participants}
    # One Monday test in each 2-week window: 12 windows.
    assert all(len(d) == 12 and all(x.weekday() == 0 for x in d) for d in expected.values())
    day = expected[world.participants[0].code][3]
    listed = {
        d.participant.code for d in today_test_list(world.coordinator, world.study, today=day)
    }
    assert listed == {code for code, days in expected.items() if day in days}
    p = world.participants[0]
    assert past_test_days(p, today=day) == [d for d in expected[p.code] if d <= day]
    blinded = make_user("inv", Role.INVESTIGATOR)
    assert today_test_list(blinded, world.study, today=day) == []


@override_settings(MINDTRIAL_TOX_SECRET=SECRET)
def test_record_results_per_analyte_with_capture(tmp_path: Path) -> None:
    world = World(n=1)
    p = world.participants[0]
    day = _days(world, p.code)[0]
    results = dict.fromkeys(PANEL, "negative") | {"fentanyl": "positive"}
    with override_settings(MEDIA_ROOT=str(tmp_path)):
        test = tox_test_record(
            acting_user=world.coordinator,
            participant=p,
            test_date=day,
            status="completed",
            results=results,
            capture=PNG,
            today=day,
        )
    assert test.week == (day - START).days // 7 + 1
    assert test.results == results
    assert test.capture_sha256 == hashlib.sha256(PNG).hexdigest()
    stored = tmp_path / test.capture_path
    assert stored.read_bytes() == PNG  # on disk, outside the database
    event = AuditEvent.objects.get(object_type="toxicology.toxtest")
    assert event.new_values["results"]["fentanyl"] == "positive"
    assert event.new_values["capture_sha256"] == test.capture_sha256
    with pytest.raises(ServiceError, match="already"):
        tox_test_record(
            acting_user=world.coordinator,
            participant=p,
            test_date=day,
            status="missed",
            results={},
            reason="x",
            today=day,
        )


@override_settings(MINDTRIAL_TOX_SECRET=SECRET)
def test_bad_tests_are_refused_and_change_nothing(tmp_path: Path) -> None:
    world = World(n=1)
    p = world.participants[0]
    days = _days(world, p.code)
    day = days[0]
    common = {"acting_user": world.coordinator, "participant": p, "today": day}
    not_a_test_day = day + dt.timedelta(days=1)
    with pytest.raises(ServiceError) as info:
        tox_test_record(test_date=not_a_test_day, status="completed", results={}, **common)
    assert set(info.value.errors) == {"test_date"}
    with pytest.raises(ServiceError) as info:  # a future test day is not revealed or accepted
        tox_test_record(test_date=days[1], status="missed", results={}, reason="x", **common)
    assert set(info.value.errors) == {"test_date"}
    with pytest.raises(ServiceError) as info:
        tox_test_record(
            test_date=day,
            status="completed",
            results={"opiates": "maybe", "heroin": "positive"},
            **common,
        )
    assert info.value.errors["opiates"] == "Choose positive, negative or invalid."
    assert "heroin" in info.value.errors and "tramadol" in info.value.errors
    with pytest.raises(ServiceError) as info:
        tox_test_record(test_date=day, status="refused", results={}, reason="", **common)
    assert set(info.value.errors) == {"reason"}
    full = dict.fromkeys(PANEL, "negative")
    with override_settings(MEDIA_ROOT=str(tmp_path)):
        with pytest.raises(ServiceError, match="PNG, JPEG or WebP"):
            tox_test_record(
                test_date=day,
                status="completed",
                results=full,
                capture=b"GIF89a" + b"\x00" * 10,
                **common,
            )
        with pytest.raises(ServiceError, match="larger than 5 MB"):
            tox_test_record(
                test_date=day,
                status="completed",
                results=full,
                capture=PNG + b"\x00" * MAX_CAPTURE_BYTES,
                **common,
            )
    assert ToxTest.objects.count() == 0
    assert list(tmp_path.iterdir()) == []
    test = tox_test_record(
        test_date=day, status="invalid", results={}, reason="sample too small", **common
    )
    assert set(test.results.values()) == {"invalid"} and len(test.results) == 14
