"""Partial check-ins: a participant may decline questions where the instrument allows; each
instrument's own missing-item rule scores what is left, the answers are kept, the audit row
names what was not answered, and a retry still never duplicates."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from django.test import Client

from mindtrial.web.accounts.services import api_token_issue
from mindtrial.web.audit.models import AuditEvent
from mindtrial.web.checkin.models import CheckIn
from mindtrial.web.checkin.services import checkin_submit, participant_link_issue
from mindtrial.web.checkin.views import checkin_url
from mindtrial.web.common import ServiceError, local_date

from .factories import START, WEEK1_ANSWERS, World

pytestmark = pytest.mark.django_db
WEEK8_DAY = START + dt.timedelta(weeks=7, days=2)
SIX_PROMIS = {"EDANX01": 2, "EDANX40": 3, "EDANX41": 3, "EDANX53": 2, "EDANX46": 4, "EDANX07": 3}
WEEK8 = {
    "substance_use_7d": WEEK1_ANSWERS["substance_use_7d"],
    "ocs": {"ocs_1": 6, "ocs_3": 5},
    "promis_anxiety_8a": SIX_PROMIS,
    "home_practice": WEEK1_ANSWERS["home_practice"],
}
DECLINED = {"ocs": ["ocs_2"], "promis_anxiety_8a": ["EDANX05", "EDANX54"]}


def test_declined_items_are_scored_by_each_instruments_rule() -> None:
    world = World(n=1)
    p = world.participants[0]
    checkin, created = checkin_submit(
        participant=p,
        week=8,
        answers=WEEK8,
        skipped=DECLINED,
        idempotency_key="partial-0001",
        today=WEEK8_DAY,
    )
    assert created
    # PROMIS: six answers summing to 17, prorated raw round(17 × 8 / 6) = 23 -> T 61.4.
    assert checkin.scores["promis_anxiety_8a"] == {"raw": 23.0, "t_score": 61.4}
    # OCS has no missing-item rule: no mean from 2 of 3, but both answers are kept.
    assert "ocs" not in checkin.scores
    assert checkin.answers["ocs"] == {"ocs_1": "6", "ocs_3": "5"}
    assert checkin.scores["substance_use_7d"] == {"any": 1.0, "count": 1.0}
    event = AuditEvent.objects.get(object_type="checkin.checkin")
    assert event.new_values is not None
    assert event.new_values["not_answered"] == DECLINED
    # A retry of the same submission returns it; nothing is added.
    again, created_again = checkin_submit(
        participant=p,
        week=8,
        answers=WEEK8,
        skipped=DECLINED,
        idempotency_key="partial-0001",
        today=WEEK8_DAY,
    )
    assert (again.pk, created_again) == (checkin.pk, False)
    assert (
        CheckIn.objects.count() == 1
        and AuditEvent.objects.filter(object_type="checkin.checkin").count() == 1
    )


def test_an_unanswered_question_must_be_declined_explicitly() -> None:
    world = World(n=1)
    p = world.participants[0]
    with pytest.raises(ServiceError) as info:
        checkin_submit(
            participant=p,
            week=8,
            answers=WEEK8,
            skipped={"ocs": ["ocs_2"]},  # the two PROMIS items are neither answered nor declined
            idempotency_key="partial-0002",
            today=WEEK8_DAY,
        )
    assert set(info.value.errors) == {"promis_anxiety_8a.EDANX05", "promis_anxiety_8a.EDANX54"}
    assert not CheckIn.objects.exists()


def test_an_instrument_without_the_choice_cannot_be_declined() -> None:
    world = World(n=1)
    p = world.participants[0]
    answers = {**WEEK8, "home_practice": {"formal_minutes": 10, "informal_minutes": 5}}
    with pytest.raises(ServiceError) as info:
        checkin_submit(
            participant=p,
            week=8,
            answers=answers,
            skipped={**DECLINED, "home_practice": ["days_practised"]},
            idempotency_key="partial-0003",
            today=WEEK8_DAY,
        )
    assert info.value.errors == {"home_practice.days_practised": "Please answer this question."}


def test_phone_form_offers_prefer_not_to_answer() -> None:
    today = local_date("America/New_York")  # where the factories' cohorts meet
    world = World(n=1, start=today - dt.timedelta(days=today.weekday()))  # this week is week 1
    p = world.participants[0]
    issued = participant_link_issue(acting_user=world.coordinator, participant=p)
    client = Client()
    client.get(checkin_url(issued.token))
    page = client.get("/c/").content.decode()
    assert 'value="-"' in page and "Prefer not to answer" in page
    assert 'name="home_practice__days_practised" value="-"' not in page  # not declinable
    form = {
        "idempotency_key": uuid.uuid4().hex,
        "substance_use_7d__opioids": "no",
        "substance_use_7d__benzodiazepines": "-",
        "substance_use_7d__cocaine": "no",
        "substance_use_7d__methamphetamine": "no",
        "substance_use_7d__alcohol": "yes",
        "ocs__ocs_1": "3",
        "ocs__ocs_2": "2",
        "ocs__ocs_3": "1",
        "home_practice__formal_minutes": "20",
        "home_practice__informal_minutes": "10",
        "home_practice__days_practised": "3",
    }
    response = client.post("/c/", form)
    assert response.status_code == 302
    saved = CheckIn.objects.get(participant=p)
    assert "benzodiazepines" not in saved.answers["substance_use_7d"]
    assert saved.answers["substance_use_7d"]["alcohol"] == "1"
    assert "substance_use_7d" not in saved.scores  # "any" needs all five answers
    assert saved.scores["ocs"] == {"mean": 2.0}  # (3 + 2 + 1) / 3


def test_staff_enter_a_partial_check_in_through_the_api() -> None:
    world = World(n=1)  # started 2026-01-05: week 8 is long past
    p = world.participants[0]
    token = api_token_issue(acting_user=world.coordinator, user=world.coordinator)
    api = Client(headers={"Authorization": f"Bearer {token}"})
    body = {"week": 8, "idempotency_key": "api-partial-01", "answers": WEEK8, "declined": DECLINED}
    response = api.post(
        f"/api/participants/{p.pk}/checkins", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 201, response.content
    saved = response.json()
    assert saved["scores"]["promis_anxiety_8a"] == {"raw": 23.0, "t_score": 61.4}
    assert saved["answers"]["ocs"] == {"ocs_1": "6", "ocs_3": "5"} and "ocs" not in saved["scores"]


def test_correcting_a_partial_check_in_keeps_the_declined_items() -> None:
    world = World(n=1)
    p = world.participants[0]
    checkin, _ = checkin_submit(
        participant=p,
        week=8,
        answers=WEEK8,
        skipped=DECLINED,
        idempotency_key="partial-0004",
        today=WEEK8_DAY,
    )
    client = Client()
    client.force_login(world.coordinator)
    url = f"/participants/{p.pk}/checkins/correct/?week=8"
    form = client.get(url).context["form"]
    assert form.initial["ocs__ocs_2"] == "-"  # declined, and shown so
    data = {**form.initial, "ocs__ocs_1": "2", "reason": "participant phoned: meant 2"}
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    checkin.refresh_from_db()
    assert checkin.answers["ocs"] == {"ocs_1": "2", "ocs_3": "5"}
    assert checkin.scores["promis_anxiety_8a"] == {"raw": 23.0, "t_score": 61.4}
