"""Clinical forms start with nothing chosen; replacing a check-in link needs a confirmation."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
import time_machine
from django.test import Client, override_settings

from mindtrial.web.checkin.models import ParticipantLink
from mindtrial.web.checkin.services import participant_link_issue
from mindtrial.web.enrolment.models import BaselineAssessment
from mindtrial.web.toxicology.models import ToxTest

from ..factories import grant, make_participant, make_site, make_study, make_user
from ..programme.factories import World
from .test_time_zones import SECRET, first_test_day

pytestmark = pytest.mark.django_db
CHECKED = re.compile(r"<input[^>]*\bchecked\b[^>]*>")
SELECTED = re.compile(r'<option value="([^"]*)"[^>]*\bselected\b')
FIRST_OPTION = re.compile(r'<select[^>]*name="([^"]+)"[^>]*>\s*<option value="([^"]*)"')


def _nothing_chosen(page: str) -> None:
    """No option is selected but the empty one, and every list starts with the empty one
    (a browser shows, and submits, a list's first option when none is selected)."""
    assert all(value == "" for value in SELECTED.findall(page))
    firsts = FIRST_OPTION.findall(page)
    assert firsts and all(value == "" for _, value in firsts), firsts


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


@override_settings(MINDTRIAL_TOX_SECRET=SECRET)
def test_the_test_result_form_preselects_no_result_and_a_bare_post_saves_nothing() -> None:
    world = World(n=2)
    p, day = first_test_day(world)
    client = _client(world.coordinator)
    session = dt.datetime.combine(day, dt.time(18, 30), zoneinfo.ZoneInfo("America/New_York"))
    with time_machine.travel(session, tick=False):
        page = client.get(f"/participants/{p.pk}/tests/record/").content.decode()
        assert 'name="a_opiates"' in page
        assert CHECKED.findall(page) == []  # was: all 14 analytes pre-set to Negative
        response = client.post(f"/participants/{p.pk}/tests/record/", {"status": "completed"})
    assert response.status_code == 200
    assert "tramadol" in response.content.decode().lower()
    assert ToxTest.objects.count() == 0


def test_baseline_characteristics_preselect_no_category() -> None:
    study = make_study()
    site = make_site(study)
    coord = make_user("coord")
    grant(coord, study, site)
    p = make_participant(study, site, by=coord)
    client = _client(coord)
    page = client.get(f"/participants/{p.pk}/baseline/covariates/").content.decode()
    assert 'name="income_category"' in page and 'name="sex"' in page
    _nothing_chosen(page)  # was "<10k" and "female"
    response = client.post(
        f"/participants/{p.pk}/baseline/covariates/",
        {"bup_dose_mg": "16", "cocaine_use_baseline": "no", "age": "41"},
    )
    assert response.status_code == 200
    assert not BaselineAssessment.objects.filter(participant=p).exists()


def test_refer_and_consent_forms_preselect_no_site_source_or_consenter() -> None:
    study = make_study()
    site = make_site(study)
    coord = make_user("coord")
    grant(coord, study, site)
    p = make_participant(study, site, by=coord)
    client = _client(coord)
    for path in (f"/studies/{study.pk}/participants/new/", f"/participants/{p.pk}/consent/"):
        page = client.get(path).content.decode()
        _nothing_chosen(page)


def test_a_new_check_in_link_needs_a_confirmation() -> None:
    world = World(n=1)
    p = world.participants[0]
    old = participant_link_issue(acting_user=world.coordinator, participant=p)
    client = _client(world.coordinator)
    refused = client.post(f"/participants/{p.pk}/link/", {"action": "issue"})
    assert refused.status_code == 200 and "Tick the box" in refused.content.decode()
    assert list(ParticipantLink.objects.filter(participant=p, revoked_at__isnull=True)) == [
        old.link
    ]
    issued = client.post(f"/participants/{p.pk}/link/", {"action": "issue", "confirm": "1"})
    assert issued.status_code == 200
    active = ParticipantLink.objects.get(participant=p, revoked_at__isnull=True)
    assert active.pk != old.link.pk
