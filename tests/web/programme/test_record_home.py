"""A participant's record home: badges, the weeks (due, done, missing) and each action for
the roles allowed to take it, arm-free for blinded roles."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from mindtrial.simulate import simulate_trial
from mindtrial.web.accounts.models import Role
from mindtrial.web.checkin.services import checkin_submit
from mindtrial.web.enrolment.calendar import study_protocol
from mindtrial.web.enrolment.models import Participant, Randomization
from mindtrial.web.exports.services import dataset_load
from mindtrial.web.programme.services import attendance_record
from mindtrial.web.queries.services import query_open
from mindtrial.web.record.home import record_actions, record_home
from mindtrial.web.safety.services import participant_withdraw

from ..factories import SETUP, grant, make_participant, make_study, make_user
from .factories import WEEK1_ANSWERS, World, cohort_today, draw_tests_today, make_facilitator

pytestmark = pytest.mark.django_db


def _four_weeks_in() -> World:
    """A cohort that started 4 weeks ago (today is week 5, on the group's weekday)."""
    return World(n=1, start=cohort_today() - dt.timedelta(weeks=4))


def _keys(actions: list[Any]) -> list[str]:
    return [a.key for a in actions]


def test_coordinator_sees_what_is_due_done_and_missing(settings: Any) -> None:
    world = _four_weeks_in()
    p = world.participants[0]
    draw_tests_today(settings, [p], everyone=True)
    week1_day = world.cohort.start_date + dt.timedelta(days=1)
    checkin_submit(
        participant=p, week=1, answers=WEEK1_ANSWERS, idempotency_key="home-0001", today=week1_day
    )
    attendance_record(acting_user=world.coordinator, participant=p, week=1, status="present")
    attendance_record(acting_user=world.coordinator, participant=p, week=2, status="absent")

    home = record_home(p, world.coordinator)
    assert home.current_week == 5
    badges = {b.key: b.label for b in home.badges}
    assert set(badges) >= {"screened", "consented", "randomized", "checkin_overdue", "test_due"}
    # Weeks 2, 3 and 4 had a check-in and none was sent; week 5's is due now.
    assert badges["checkin_overdue"] == "Check-ins overdue: weeks 2, 3, 4"
    assert badges["checkin_due"] == "Check-in due this week"
    assert "withdrawn" not in badges and home.status_label == "Randomized"
    weeks = {w.week: w for w in home.timeline}
    assert weeks[1].checkin is not None and weeks[1].checkin.state == "done"
    assert weeks[2].checkin is not None and weeks[2].checkin.state == "missing"
    assert weeks[5].checkin is not None and weeks[5].checkin.state == "due" and weeks[5].current
    assert weeks[6].checkin is not None and weeks[6].checkin.state == "upcoming"
    assert [weeks[w].attendance.state for w in (1, 2, 3)] == ["done", "missing", "missing"]  # type: ignore[union-attr]
    assert weeks[3].attendance is not None and weeks[3].attendance.label == "not marked"
    assert weeks[5].test is not None and weeks[5].test.state == "due"
    assert all(w.test is None for w in home.timeline if w.week > 5)  # the future stays hidden
    keys = _keys(home.actions)
    assert keys[:2] == ["cohort", "record_test"]
    assert set(keys) >= {
        "link", "checkins", "tests", "programme", "ae_report", "withdraw", "corrections",
        "queries",
    }  # fmt: skip
    assert "screen" not in keys and "randomize" not in keys

    client = Client()
    client.force_login(world.coordinator)
    page = client.get(f"/participants/{p.pk}/").content.decode()
    assert 'data-badge="test_due"' in page and "Record today&#x27;s test" in page
    assert f'href="/participants/{p.pk}/tests/record/?from=record"' in page


def test_a_withdrawn_participant_is_not_shown_as_randomized() -> None:
    world = _four_weeks_in()
    p = world.participants[0]
    participant_withdraw(
        acting_user=world.coordinator, participant=p, kind="withdrawn", week=3, reason="moved away"
    )
    home = record_home(p, world.coordinator)
    assert home.status_label == "Withdrew (from week 3)"
    badges = {b.key: b.label for b in home.badges}
    assert badges["withdrawn"] == "Withdrew from week 3"
    # Weeks 1 and 2 were due before they left (nothing sent); weeks 3 on are not collected.
    assert badges["checkin_overdue"] == "Check-ins overdue: weeks 1, 2"
    weeks = {w.week: w for w in home.timeline}
    assert weeks[4].checkin is not None and weeks[4].checkin.state == "not_collected"
    keys = _keys(home.actions)
    assert not {"link", "withdraw", "ae_report", "cohort", "record_test"} & set(keys)
    assert {"checkins", "tests", "programme", "corrections"} <= set(keys)
    investigator = make_user("pi", Role.INVESTIGATOR)
    grant(investigator, world.study)
    client = Client()
    client.force_login(investigator)
    status = client.get(f"/participants/{p.pk}/").content.decode()
    assert '<dd id="status">Withdrew (from week 3)</dd>' in status


def test_imported_participants_are_not_shown_as_not_screened() -> None:
    study = make_study(name="Loaded")
    dataset_load(acting_user=SETUP, study=study, dataset=simulate_trial("mrocc-2025", n=6, seed=3))
    coordinator = make_user("dm", Role.DATA_MANAGER)
    grant(coordinator, study)
    p = Participant.objects.get(study=study, code="P0001")
    home = record_home(p, coordinator)
    badges = {b.key: b.label for b in home.badges}
    assert badges["screened"] == "Screened (loaded from a study dataset)"
    assert "consented" in badges and "not_screened" not in badges
    client = Client()
    client.force_login(coordinator)
    page = client.get(f"/participants/{p.pk}/").content.decode()
    assert "Not screened yet" not in page and "loaded from a study dataset" in page


@pytest.mark.parametrize("role", [Role.INVESTIGATOR, Role.STATISTICIAN])
def test_blinded_roles_get_no_weeks_and_no_arm_dependent_action(role: str) -> None:
    world = _four_weeks_in()
    p = world.participants[0]
    blinded = make_user("blind", role)
    grant(blinded, world.study)
    home = record_home(p, blinded)
    assert not home.shows_timeline and home.timeline == []
    assert home.view.arm is None
    assert _keys(home.actions) == ["programme", "ae_report"]
    assert {b.key for b in home.badges} == {"screened", "consented", "randomized"}


def test_facilitator_sees_attendance_only_and_no_enrolment_record() -> None:
    world = _four_weeks_in()
    p = world.participants[0]
    assert p.group is not None
    facilitator = make_facilitator(world.study, p.group)
    home = record_home(p, facilitator)
    assert home.timeline and all(w.checkin is None and w.test is None for w in home.timeline)
    assert {b.key for b in home.badges} == {"randomized"}
    # The continuation choice exists in one arm only: offered when the participant's has it.
    arm_id = Randomization.objects.get(participant=p).entry.arm_id
    arm = next(a for a in study_protocol(world.study).arms if a.id == arm_id)
    expected = {"programme", "attendance", "ae_report", "corrections"}
    if arm.continuation_choice is not None:
        expected.add("continuation")
    assert set(_keys(record_actions(p, facilitator))) == expected
    client = Client()
    client.force_login(facilitator)
    page = client.get(f"/participants/{p.pk}/").content.decode()
    assert "Consent" not in page and "Screening" not in page


def test_a_referral_offers_screening_to_writers_only() -> None:
    world = World(n=0)
    p = make_participant(world.study, world.site)
    assert _keys(record_actions(p, world.coordinator)) == ["screen"]
    safety = make_user("safety", Role.SAFETY_MONITOR)
    grant(safety, world.study)
    assert record_actions(p, safety) == []
    badges = record_home(p, world.coordinator).badges
    assert [(b.key, b.label) for b in badges] == [("not_screened", "Not screened yet")]


def test_data_queries_are_offered_with_their_open_count_to_query_readers_only() -> None:
    world = _four_weeks_in()
    p = world.participants[0]
    manager = make_user("dm", Role.DATA_MANAGER)
    grant(manager, world.study)
    for message in ("Age looks mistyped", "Dose above the protocol's range"):
        query_open(acting_user=manager, participant=p, form="screening", message=message)
    labels = {a.key: a.label for a in record_actions(p, world.coordinator)}
    assert labels["queries"] == "Data queries (2 open)"
    assert labels["corrections"] == "Correct a record"
    investigator = make_user("pi", Role.INVESTIGATOR)
    grant(investigator, world.study)
    assert not {"queries", "corrections"} & {a.key for a in record_actions(p, investigator)}


def test_the_baseline_is_listed_by_instrument_name_with_its_scores_in_words() -> None:
    world = _four_weeks_in()
    p = world.participants[0]
    client = Client()
    client.force_login(world.coordinator)
    page = client.get(f"/participants/{p.pk}/").content.decode()
    # The factory's PROMIS Anxiety 8a answers sum to 20: T-score 58.4 in the official table.
    assert "PROMIS Anxiety Short Form 8a: recorded (raw score 20, T-score 58.4)" in page
    assert "Baseline characteristics: recorded" in page
    assert "promis_anxiety_8a" not in page.replace('/promis_anxiety_8a/"', "")
    assert "t_score" not in page
