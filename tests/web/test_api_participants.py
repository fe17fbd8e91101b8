"""Participants over the JSON API: a list (and a study's cohorts) costs the same number of
queries whatever its length, and a participant who left the study is labelled as the record
home labels them (one function), for blinded and unblinded roles alike."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mindtrial.web.accounts.models import Role, User
from mindtrial.web.accounts.services import api_token_issue
from mindtrial.web.enrolment.models import Participant
from mindtrial.web.record.home import record_home
from mindtrial.web.safety.services import participant_withdraw

from .factories import grant, make_participant, make_user
from .programme.factories import START, World, make_cohort_on, make_randomized

pytestmark = pytest.mark.django_db

AssertNumQueries = Callable[..., Any]


def _api(user: User) -> Client:
    return Client(
        headers={"Authorization": f"Bearer {api_token_issue(acting_user=user, user=user)}"}
    )


def _add_three(world: World, coordinator: User) -> None:
    """One of each kind of row: a referral (no cohort, group or arm), a randomized member of a
    group and a randomized member who withdrew (the withdrawal joined in too)."""
    make_participant(world.study, world.site)
    make_randomized(world.study, world.site, world.cohort)
    gone = make_randomized(world.study, world.site, world.cohort)
    participant_withdraw(
        acting_user=coordinator, participant=gone, kind="withdrawn", week=3, reason="moved"
    )


def _arm_words(world: World) -> list[str]:
    return [w for arm in world.study.arms for w in (str(arm["id"]), str(arm["label"]).lower())]


# The five queries of the participant list, for 3 participants or 12:
#   1. the bearer token and its user (TokenAuth);
#   2. the study among the user's studies (access_study_by_id);
#   3. whether the user may see that study (participants_for);
#   4. the user's sites in the study (site_ids_for; none recorded means all sites);
#   5. the participants, with site, cohort, group -> cohort -> study, withdrawal and (for
#      unblinded roles only) randomization -> allocation entry joined in (participant_views).
LIST_QUERIES = 5


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.INVESTIGATOR])
def test_participant_list_costs_the_same_queries_for_3_and_12_participants(
    role: str, django_assert_num_queries: AssertNumQueries
) -> None:
    world = World(n=0)
    reader = world.coordinator if role == Role.COORDINATOR else make_user("pi", role)
    grant(reader, world.study)
    api = _api(reader)
    path = f"/api/studies/{world.study.pk}/participants"

    _add_three(world, world.coordinator)
    with django_assert_num_queries(LIST_QUERIES):
        three = api.get(path)
    for _ in range(3):
        _add_three(world, world.coordinator)
    with django_assert_num_queries(LIST_QUERIES):
        twelve = api.get(path)

    assert len(three.json()) == 3 and len(twelve.json()) == 12
    labels = [row["status_label"] for row in twelve.json()]
    assert labels == ["Referred", "Randomized", "Withdrew (from week 3)"] * 4
    arms = [row["arm"] for row in twelve.json()]
    if role == Role.INVESTIGATOR:  # blinded: the joins change nothing of what is shown
        assert arms == [None] * 12
        text = twelve.content.decode().lower()
        assert not [w for w in _arm_words(world) if w in text]
    else:
        assert arms[0::3] == [None] * 4 and all(a in world.study.arm_ids for a in arms[1::3])


def test_study_detail_costs_the_same_queries_for_one_cohort_and_three(
    django_assert_num_queries: AssertNumQueries,
) -> None:
    world = World(n=0)
    api = _api(world.coordinator)
    path = f"/api/studies/{world.study.pk}"
    # 11 queries: the token and its user; the study among the user's studies; the funnel's
    # study-access check, the user's sites and the counts by status; the user's sites again
    # and the site list; the groups the user may reach; the cohorts with their study joined
    # (each group's label reads it); their groups; the groups' facilitators.
    with django_assert_num_queries(11):
        one = api.get(path)
    for weeks in (12, 24):
        make_cohort_on(world.study, START + dt.timedelta(weeks=weeks))
    with django_assert_num_queries(11):
        three = api.get(path)
    assert len(one.json()["cohorts"]) == 1 and len(three.json()["cohorts"]) == 3
    labels = [g["label"] for c in three.json()["cohorts"] for g in c["groups"]]
    assert len(labels) == 6 and all(" · " in label for label in labels)  # code · arm label


def test_group_page_members_cost_the_same_queries_for_any_number(
    django_assert_num_queries: AssertNumQueries,
) -> None:
    world = World(n=1)
    client = Client()
    client.force_login(world.coordinator)
    group = world.participants[0].group
    assert group is not None
    path = reverse("group_detail", args=[group.public_id])
    with CaptureQueriesContext(connection) as one_member:
        client.get(path)
    for _ in range(8):
        make_randomized(world.study, world.site, world.cohort)
    members = Participant.objects.filter(group=group).count()
    assert members > 2  # the allocation list sends some of the eight into this group
    with django_assert_num_queries(len(one_member.captured_queries)):
        page = client.get(path)
    assert page.content.decode().count('href="/participants/') == members


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.INVESTIGATOR])
def test_a_withdrawn_participant_is_labelled_as_the_pages_label_them(role: str) -> None:
    world = World(n=3)
    stays, gone, lost = world.participants
    participant_withdraw(
        acting_user=world.coordinator, participant=gone, kind="withdrawn", week=3, reason="moved"
    )
    participant_withdraw(
        acting_user=world.coordinator,
        participant=lost,
        kind="lost_to_follow_up",
        week=5,
        reason="no contact since week 4",
    )
    reader = world.coordinator if role == Role.COORDINATOR else make_user("pi", role)
    grant(reader, world.study)
    api = _api(reader)

    expected = {
        stays.code: "Randomized",
        gone.code: "Withdrew (from week 3)",
        lost.code: "Lost to follow-up (from week 5)",
    }
    listed = api.get(f"/api/studies/{world.study.pk}/participants").json()
    assert {row["code"]: row["status_label"] for row in listed} == expected
    for p in (stays, gone, lost):
        detail = api.get(f"/api/participants/{p.pk}").json()
        assert detail["status_label"] == expected[p.code]
        assert detail["status"] == "randomized"  # the enrolment status is kept
        # The record home (the page) says the same words.
        fresh = Participant.objects.get(pk=p.pk)
        assert record_home(fresh, reader).status_label == expected[p.code]
    if role == Role.INVESTIGATOR:
        assert all(row["arm"] is None for row in listed)
