"""Schemathesis against the API's own OpenAPI schema, as every role: no answer is a 5xx.

Bounded: a few examples per operation and role (``SCHEMATHESIS_EXAMPLES``, default 6), so the
whole run takes a minute or two. Half the generated path ids are replaced by real ones, so
the cases reach objects and not only 404s.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mindtrial.web.accounts.models import Role
from mindtrial.web.accounts.services import api_token_issue

from ..factories import grant, make_user
from ..programme.factories import World

pytestmark = pytest.mark.django_db
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "6"))


@pytest.fixture
def _keep_test_transaction() -> Iterator[None]:
    """Requests go straight to the WSGI handler, which would close the test's connection
    (and its transaction) after each one; Django's test client does the same."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.usefixtures("_keep_test_transaction")
def test_no_operation_answers_5xx_for_any_role() -> None:
    world = World(n=2)
    ids = {
        "study_id": world.study.pk,
        "participant_id": world.participants[0].pk,
        "instrument": "ocs",
    }
    tokens: dict[str, str] = {}
    for role in Role.values:
        user = world.coordinator if role == Role.COORDINATOR else make_user(f"st-{role}", role)
        if role != Role.COORDINATOR:
            grant(user, world.study, world.site if role == Role.FACILITATOR else None)
        tokens[role] = api_token_issue(acting_user=user, user=user)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", WSGIHandler())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    failures: list[str] = []
    seen: Counter[int] = Counter()

    def check(strategy: Any, token: str, role: str) -> None:
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(data=st.data())
        def run(data: Any) -> None:
            case = data.draw(strategy)
            for name, value in ids.items():
                if name in (case.path_parameters or {}) and data.draw(st.booleans()):
                    case.path_parameters[name] = value
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            seen[response.status_code // 100] += 1
            if response.status_code >= 500:
                failures.append(
                    f"{role}: {case.method} {case.formatted_path} {case.body!r:.200} -> "
                    f"{response.status_code}: {response.text[:300]}"
                )

        run()

    for operation in operations:
        strategy = operation.as_strategy()
        for role, token in tokens.items():
            check(strategy, token, role)
    assert failures == [], "\n".join(failures[:20])
    # The run reached real objects (2xx) and was refused bad input (4xx), signed in as each role.
    assert seen[2] > 0 and seen[4] > 0, seen
