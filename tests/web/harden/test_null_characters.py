"""A NUL character never reaches the database, where PostgreSQL refuses it in text (a 500).

Found by the schemathesis run on PostgreSQL: POST /api/participants/{id}/cohort with a
cohort id holding U+0000 answered 500 (``PostgreSQL text fields cannot contain NUL``).
"""

from __future__ import annotations

import pytest
from django.test import Client

from mindtrial.web.accounts.services import api_token_issue
from mindtrial.web.enrolment.models import Participant

from ..programme.factories import World


@pytest.mark.django_db
def test_api_refuses_a_nul_in_json_path_and_query() -> None:
    world = World(n=1)
    token = api_token_issue(acting_user=world.coordinator, user=world.coordinator)
    api = Client(headers={"Authorization": f"Bearer {token}"})
    participant = world.participants[0]
    cohort_before = Participant.objects.get(pk=participant.pk).cohort_id
    moved = api.post(
        f"/api/participants/{participant.pk}/cohort",
        data='{"cohort_id": "ab\\u0000cd"}',
        content_type="application/json",
    )
    assert moved.status_code == 400
    assert "NUL" in moved.json()["detail"]
    assert Participant.objects.get(pk=participant.pk).cohort_id == cohort_before
    assert api.get(f"/api/studies/{world.study.pk}?x=%00").status_code == 400
    # Text without NUL still goes through to the view (here: an unknown cohort).
    assert api.post(
        f"/api/participants/{participant.pk}/cohort",
        data='{"cohort_id": "abcd"}',
        content_type="application/json",
    ).status_code in (404, 422)


@pytest.mark.django_db
def test_a_form_post_with_a_nul_is_refused() -> None:
    world = World(n=1)
    staff = Client()
    staff.force_login(world.coordinator)
    answer = staff.post(
        f"/participants/{world.participants[0].pk}/withdraw/",
        data="reason=a%00b&week=3",
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status_code == 400
