"""Every "today" is the date where the group meets, not the server's UTC date (frozen clock)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.test import Client, override_settings

from mindtrial.design.schedules import concealed_test_days
from mindtrial.web.common import ServiceError, latest_today, local_date
from mindtrial.web.enrolment import services as enrolment
from mindtrial.web.toxicology.models import ToxTest
from mindtrial.web.toxicology.selectors import today_test_list

from ..factories import SETUP, make_site, make_study
from ..programme.factories import START, World
from ..programme.records import PANEL

pytestmark = pytest.mark.django_db
SECRET = "a-test-secret-of-at-least-16-bytes"
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def test_local_date_and_the_latest_date_on_earth() -> None:
    # 2026-03-02 00:30 UTC is 19:30 on 1 March in New York (EST, UTC-5) and 14:30 on
    # 2 March in Kiritimati (UTC+14); 2026-03-02 11:00 UTC is already 3 March there.
    moment = dt.datetime(2026, 3, 2, 0, 30, tzinfo=dt.UTC)
    assert local_date("America/New_York", moment) == dt.date(2026, 3, 1)
    assert local_date("Asia/Tokyo", moment) == dt.date(2026, 3, 2)
    assert latest_today(moment) == dt.date(2026, 3, 2)
    assert latest_today(dt.datetime(2026, 3, 2, 11, 0, tzinfo=dt.UTC)) == dt.date(2026, 3, 3)


def first_test_day(world: World) -> tuple[Any, dt.date]:
    for p in world.participants:
        days = concealed_test_days(
            secret=SECRET.encode(),
            participant_id=f"{world.study.pk}:{p.code}",
            start=START,
            n_weeks=24,
            window_weeks=2,
            tests_per_window=1,
            allowed_weekdays=[0],
        )
        return p, days[0]
    raise AssertionError("no participants")


@override_settings(MINDTRIAL_TOX_SECRET=SECRET)
def test_an_evening_new_york_group_keeps_its_test_on_the_list_after_utc_midnight(
    tmp_path: Path,
) -> None:
    world = World(n=2)  # the cohort meets Mondays 18:00 in New York
    p, day = first_test_day(world)
    # 19:00 in New York on the test day is already the next day in UTC.
    evening = dt.datetime.combine(day, dt.time(19, 0), NEW_YORK)
    assert evening.astimezone(dt.UTC).date() == day + dt.timedelta(days=1)
    listed = today_test_list(world.coordinator, world.study, now=evening)
    assert [(d.participant.pk, d.day) for d in listed if d.participant.pk == p.pk] == [(p.pk, day)]
    client = Client()
    client.force_login(world.coordinator)
    data: dict[str, Any] = {"status": "completed", "reason": ""}
    data |= {f"a_{a}": "negative" for a in PANEL}
    with time_machine.travel(evening, tick=False), override_settings(MEDIA_ROOT=str(tmp_path)):
        page = client.get(f"/studies/{world.study.pk}/tests/today/").content.decode()
        assert p.code in page
        response = client.post(f"/participants/{p.pk}/tests/record/", data)
        assert response.status_code == 302
    test = ToxTest.objects.get(participant=p)
    assert test.test_date == day and test.week == (day - START).days // 7 + 1
    # The next morning in New York the list has moved on (the test day has passed).
    morning = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(9, 0), NEW_YORK)
    assert p.pk not in {
        d.participant.pk for d in today_test_list(world.coordinator, world.study, now=morning)
    }


def test_a_referral_dated_today_in_tokyo_is_not_in_the_future_at_utc_afternoon() -> None:
    study = make_study()
    site = make_site(study)
    # 16:00 UTC on 1 March is 01:00 on 2 March in Tokyo.
    with time_machine.travel(dt.datetime(2026, 3, 1, 16, 0, tzinfo=dt.UTC), tick=False):
        p = enrolment.participant_refer(
            acting_user=SETUP,
            study=study,
            site=site,
            referral_source="clinic",
            referral_date=dt.date(2026, 3, 2),
        )
        assert p.referral_date == dt.date(2026, 3, 2)
        with pytest.raises(ServiceError) as info:  # no time zone has reached 4 March yet
            enrolment.participant_refer(
                acting_user=SETUP,
                study=study,
                site=site,
                referral_source="clinic",
                referral_date=dt.date(2026, 3, 4),
            )
    assert set(info.value.errors) == {"referral_date"}
