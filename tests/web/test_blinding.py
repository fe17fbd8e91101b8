"""Blinding and concealment, proven by crawling every URL of the URL conf.

1. Blinded roles (investigator, statistician): no page or API response, for GET or POST,
   contains an arm id or label, with real objects (randomized, grouped participants).
2. Concealment: for every role, administrators included, every response is byte-for-byte
   the same after the arms of all *unassigned* allocation entries are flipped; so no view or
   API endpoint reads them.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from mindtrial.web.accounts.models import Role
from mindtrial.web.enrolment import services as enrolment
from mindtrial.web.queries.services import query_open
from mindtrial.web.studies.models import AllocationEntry, Group
from mindtrial.web.studies.services import group_update

from .crawl import all_routes, expand
from .factories import (
    ELIGIBLE_RECORD,
    SETUP,
    grant,
    make_cohort,
    make_participant,
    make_ready_participant,
    make_site,
    make_study,
    make_user,
)

pytestmark = pytest.mark.django_db

SKIP_ROUTES = {"logout"}  # would end the session mid-crawl
# Per-render random values: CSRF tokens and the AE form's one-time submission key.
CSRF = re.compile(
    rb'(name="csrfmiddlewaretoken" value=|data-csrf-token=|name="submission_key" value=)"[^"]*"'
)


@pytest.fixture
def trial() -> dict[str, Any]:
    """A study with participants at every stage, two randomized into a cohort's groups."""
    study = make_study(allocation_size=20, seed=5)
    site = make_site(study)
    cohort = make_cohort(study)
    facilitator = make_user("facil", Role.FACILITATOR)
    for group in Group.objects.filter(cohort=cohort):
        group_update(
            acting_user=SETUP,
            group=group,
            meeting_link="https://meet.example.org/x",
            facilitators=[facilitator],
        )
    randomized = []
    for _ in range(2):
        p = make_ready_participant(study, site)
        enrolment.participant_randomize(acting_user=SETUP, participant=p)
        enrolment.participant_assign_cohort(acting_user=SETUP, participant=p, cohort=cohort)
        randomized.append(p)
    failed = make_participant(study, site)
    enrolment.participant_screen(
        acting_user=SETUP, participant=failed, record=dict(ELIGIBLE_RECORD, mania=True)
    )
    referred = make_participant(study, site)
    users = {role: make_user(f"user-{role}", role) for role in Role.values}
    for user in users.values():
        grant(user, study)
    participants = [*randomized, failed, referred]
    values = {
        "study_id": [str(study.pk)],
        "participant_id": [str(p.pk) for p in participants],
        "group_id": [g.public_id for g in Group.objects.filter(cohort=cohort)],
        "cohort_id": [cohort.public_id],
        "instrument": ["ocs", "promis_anxiety_8a", "covariates"],
        "user_id": [str(u.pk) for u in users.values()],
        "query_id": [
            str(
                query_open(
                    acting_user=SETUP, participant=randomized[0], form="Consent", message="Date?"
                ).pk
            )
        ],
        # ninja's OpenAPI/docs routes have no parameters; anything else must be added here.
    }
    forbidden = {s.lower() for a in study.arms for s in (a["id"], a["label"])} | {
        "m-rocc",
        "recovery support",
    }
    return {
        "study": study,
        "users": users,
        "values": values,
        "forbidden": forbidden,
        "randomized": randomized,
    }


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _paths(values: dict[str, list[str]]) -> list[str]:
    paths = []
    for route, name in all_routes():
        if name in SKIP_ROUTES:
            continue
        paths.extend(expand(route, values))
    return paths


@pytest.mark.slow
@pytest.mark.parametrize("role", [Role.INVESTIGATOR, Role.STATISTICIAN])
def test_blinded_roles_never_see_an_arm(trial: dict[str, Any], role: str) -> None:
    client = _client(trial["users"][role])
    paths = _paths(trial["values"])
    assert len(paths) > 30
    ok = 0
    for path in paths:
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            body = response.content.decode("utf-8", errors="replace").lower()
            headers = " ".join(f"{k}: {v}" for k, v in response.items()).lower()
            for word in trial["forbidden"]:
                assert word not in body, f"{role} saw {word!r} at {method.upper()} {path}"
                assert word not in headers, f"{role} saw {word!r} in headers of {path}"
            ok += response.status_code == 200
    assert ok > 20  # the crawl reached real pages, not just 404s
    # The pages that matter most were really shown (with the neutral group code).
    p = trial["randomized"][0]
    page = client.get(f"/participants/{p.pk}/")
    assert page.status_code == 200 and p.group.code in page.content.decode()
    assert client.get(f"/studies/{trial['study'].pk}/").status_code == 200
    assert client.get(f"/api/participants/{p.pk}").json()["arm"] is None


def test_unblinded_coordinator_does_see_the_arm(trial: dict[str, Any]) -> None:
    """The same page shows the arm to an unblinded role (so the crawl above can fail)."""
    client = _client(trial["users"][Role.COORDINATOR])
    p = trial["randomized"][0]
    arm_id = AllocationEntry.objects.get(pk=p.randomization.entry_id).arm_id
    label = trial["study"].arm_label(arm_id)
    assert label in client.get(f"/participants/{p.pk}/").content.decode()
    assert client.get(f"/api/participants/{p.pk}").json()["arm"] == arm_id


def _snapshot(users: dict[str, Any], paths: list[str]) -> dict[tuple[str, str], tuple[int, bytes]]:
    shots = {}
    for role, user in users.items():
        client = _client(user)
        for path in paths:
            response = client.get(path)
            shots[(role, path)] = (response.status_code, CSRF.sub(b"csrf", response.content))
    return shots


@pytest.mark.slow
def _flip(study: Any) -> int:
    """Swap the arm of every unassigned entry (the list's concealed part)."""
    a, b = study.arm_ids
    flipped = 0
    for entry in AllocationEntry.objects.filter(study=study, assigned=False):
        entry.arm_id = b if entry.arm_id == a else a
        entry.save(update_fields=["arm_id"])
        flipped += 1
    return flipped


def test_no_response_depends_on_unassigned_allocation_entries(trial: dict[str, Any]) -> None:
    paths = _paths(trial["values"])
    before = _snapshot(trial["users"], paths)
    assert _flip(trial["study"]) == 18
    after = _snapshot(trial["users"], paths)
    changed = [key for key in before if before[key] != after[key]]
    # A page that shows the clock may change between two crawls; re-fetch each difference
    # with and without the flip back to back: only a dependence on the list survives that.
    suspects = {role: [path for r, path in changed if r == role] for role, _ in changed}
    flipped = {r: _snapshot({r: trial["users"][r]}, p) for r, p in suspects.items()}
    _flip(trial["study"])
    original = {r: _snapshot({r: trial["users"][r]}, p) for r, p in suspects.items()}
    leaks = [key for r in suspects for key in flipped[r] if flipped[r][key] != original[r][key]]
    assert not leaks, f"responses changed with the concealed list: {leaks[:5]}"
