"""Each role's reach is the table "Roles' reach" of ARCHITECTURE.md, checked cell by cell.

The test reads the table from the document (so the document cannot drift from the app):
✓ means the page or endpoint answers 200, — means 403 or 404. Paths name objects of a
study with two groups: ``{own}`` is a randomized participant of group ``{own_group}`` (the
one the facilitator runs), ``{other}`` one of ``{other_group}``, ``{referral}`` a referral
who failed screening.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from mindtrial.web.accounts.models import Role, User
from mindtrial.web.accounts.services import api_token_issue
from mindtrial.web.checkin.services import checkin_submit
from mindtrial.web.enrolment import services as enrolment
from mindtrial.web.enrolment.models import Participant
from mindtrial.web.programme.services import attendance_record
from mindtrial.web.safety.services import adverse_event_report, participant_withdraw
from mindtrial.web.studies.models import Group
from mindtrial.web.studies.services import group_update
from mindtrial.web.toxicology.services import tox_test_import

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
from .programme.records import PANEL, WEEK1, ae_answers

pytestmark = pytest.mark.django_db

ARCHITECTURE = Path(__file__).resolve().parents[2] / "ARCHITECTURE.md"
ROLES = [str(r) for r in Role.values]


def reach_table() -> list[tuple[str, str, dict[str, bool]]]:
    """(what, path template, role -> allowed) for each row of the table."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("## Roles' reach", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[2:] == ROLES, f"the table's role columns must be {ROLES}, not {header[2:]}"
    rows = []
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        path = cells[1].strip("`")
        assert set(cells[2:]) <= {"✓", "—"}, line
        rows.append((cells[0], path, {r: c == "✓" for r, c in zip(ROLES, cells[2:], strict=True)}))
    assert rows, "ARCHITECTURE.md has no Roles' reach table"
    return rows


ROWS = reach_table()


@pytest.fixture
def world() -> dict[str, Any]:
    study = make_study(allocation_size=40, seed=3)
    site = make_site(study)
    cohort = make_cohort(study)
    own_group, other_group = sorted(Group.objects.filter(cohort=cohort), key=lambda g: g.code)
    users = {role: make_user(f"u-{role}", role) for role in ROLES}
    for user in users.values():
        grant(user, study)
    group_update(
        acting_user=SETUP,
        group=own_group,
        meeting_link="https://meet.example.org/own",
        facilitators=[users[Role.FACILITATOR]],
    )
    members: dict[int, Participant] = {}
    while len(members) < 2:
        p = make_ready_participant(study, site)
        enrolment.participant_randomize(acting_user=SETUP, participant=p)
        enrolment.participant_assign_cohort(acting_user=SETUP, participant=p, cohort=cohort)
        p.refresh_from_db()
        assert p.group_id is not None
        members.setdefault(p.group_id, p)
    referral = make_participant(study, site)
    enrolment.participant_screen(
        acting_user=SETUP, participant=referral, record=dict(ELIGIBLE_RECORD, mania=True)
    )
    own, other = members[own_group.pk], members[other_group.pk]
    start = cohort.start_date
    for member in (own, other):
        attendance_record(acting_user=SETUP, participant=member, week=1, status="present")
    checkin_submit(
        participant=own,
        week=1,
        answers=WEEK1,
        idempotency_key=f"reach-checkin-{own.pk}",
        today=start + dt.timedelta(days=1),
    )
    tox_test_import(
        acting_user=SETUP, participant=own, week=2, results=dict.fromkeys(PANEL, "negative")
    )
    event = adverse_event_report(
        acting_user=SETUP,
        participant=own,
        answers=dict(ae_answers(start + dt.timedelta(days=20), serious=True), outcome="recovering"),
        today=start + dt.timedelta(days=30),
    )
    participant_withdraw(
        acting_user=SETUP, participant=other, kind="withdrawn", week=20, reason="moved away"
    )
    values = {
        "study": str(study.pk),
        "own_ae": str(event.pk),
        "own": str(members[own_group.pk].pk),
        "other": str(members[other_group.pk].pk),
        "referral": str(referral.pk),
        "own_group": own_group.public_id,
        "other_group": other_group.public_id,
    }
    return {"users": users, "values": values}


def _status(user: User, path: str) -> int:
    client = Client()
    if path.startswith("/api/"):
        token = api_token_issue(acting_user=user, user=user)
        return int(client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}").status_code)
    client.force_login(user)
    return int(client.get(path).status_code)


def test_every_role_reaches_exactly_what_the_table_says(world: dict[str, Any]) -> None:
    wrong = []
    for what, template, allowed in ROWS:
        path = template.format(**world["values"])
        for role in ROLES:
            status = _status(world["users"][role], path)
            ok = status == 200 if allowed[role] else status in (403, 404)
            if not ok:
                wrong.append(f"{role} · {what} ({path}): {status}")
    assert not wrong, "\n".join(wrong)


def test_a_facilitator_lists_only_their_groups_members(world: dict[str, Any]) -> None:
    """The finding: a facilitator saw every referral, screening-failure reasons and other
    groups' rosters. Now lists, pages and the API hold their own group's members only."""
    users, values = world["users"], world["values"]
    own, other, referral = (
        Participant.objects.get(pk=values[k]) for k in ("own", "other", "referral")
    )
    client = Client()
    client.force_login(users[Role.FACILITATOR])
    page = client.get(f"/studies/{values['study']}/participants/").content.decode()
    assert own.code in page
    assert other.code not in page and referral.code not in page
    token = api_token_issue(acting_user=users[Role.FACILITATOR], user=users[Role.FACILITATOR])
    listed = client.get(
        f"/api/studies/{values['study']}/participants", HTTP_AUTHORIZATION=f"Bearer {token}"
    ).json()
    assert [p["code"] for p in listed] == [own.code]
    study_page = client.get(f"/studies/{values['study']}/").content.decode()
    assert values["own_group"] in study_page and values["other_group"] not in study_page
    detail = client.get(f"/participants/{own.pk}/").content.decode()
    assert own.code in detail and "<h2>Screening</h2>" not in detail and "Consent" not in detail


@pytest.mark.parametrize("role", [Role.INVESTIGATOR, Role.STATISTICIAN])
def test_blinded_roles_see_no_meeting_link_or_facilitators(
    world: dict[str, Any], role: str
) -> None:
    """The finding: a blinded role opening a group page saw the video meeting link and the
    facilitators' names (both can name the arm). The group is opened by the study page's
    link, as the user would."""
    users, values = world["users"], world["values"]
    facilitator = users[Role.FACILITATOR].username
    client = Client()
    client.force_login(users[role])
    study_page = client.get(f"/studies/{values['study']}/").content.decode()
    links = sorted(set(re.findall(r'href="(/groups/[^"]+/)"', study_page)))
    assert len(links) == 2
    for link in links:
        page = client.get(link).content.decode()
        assert "meet.example.org" not in page and facilitator not in page
    token = api_token_issue(acting_user=users[role], user=users[role])
    body = client.get(
        f"/api/studies/{values['study']}", HTTP_AUTHORIZATION=f"Bearer {token}"
    ).content.decode()
    assert "meet.example.org" not in body and facilitator not in body
    # Unblinded staff still see both.
    coordinator = Client()
    coordinator.force_login(users[Role.COORDINATOR])
    page = coordinator.get(f"/groups/{values['own_group']}/").content.decode()
    assert "meet.example.org/own" in page and facilitator in page
