"""Blinding holds against an attacker: a blinded role's whole reach says nothing of the arms.

Sixteen M-ROCC studies (1:1), two cohorts each, two randomized participants per cohort
(64 in all), with toxicology tests and attendance recorded. As the investigator and as the
statistician, :mod:`.attacker` collects every page reachable by links, every GET of the API
and the masked dataset, then guesses each participant's arm in many ways (id order, creation
order, list order, group sizes, number and timing of tests, masked codes…). For each way the
exact two-sided p of its accuracy, if arm labels were hidden, must stay above 1e-4; with 16
studies the smallest possible p is 2 / 2**16 ≈ 3e-5, so a way that is right (or wrong)
everywhere fails. On the code before blinding by construction, "group id in the API, lower
first" and "group id in page links" were right for 64 of 64.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from mindtrial.web.accounts.models import Role, User
from mindtrial.web.accounts.services import api_token_issue
from mindtrial.web.enrolment import services as enrolment
from mindtrial.web.enrolment.calendar import study_protocol
from mindtrial.web.enrolment.models import Participant, Randomization
from mindtrial.web.programme.services import attendance_record
from mindtrial.web.studies import services as studies
from mindtrial.web.toxicology.schedule import past_test_days
from mindtrial.web.toxicology.services import tox_test_record

from .attacker import STRATEGIES, collect, permutation_p, views_of
from .factories import SETUP, grant, make_ready_participant, make_site, make_study, make_user

pytestmark = pytest.mark.django_db

N_STUDIES = 16
COHORTS_PER_STUDY = 2
PER_COHORT = 2
ALPHA = 1e-4
TODAY = dt.date(2026, 3, 2)


def _world() -> dict[tuple[int, str], int]:
    """Build the studies; (study id, participant code) -> true arm (0 = first arm)."""
    truth: dict[tuple[int, str], int] = {}
    blinded = [make_user("investigator", Role.INVESTIGATOR), make_user("stat", Role.STATISTICIAN)]
    for s in range(N_STUDIES):
        study = make_study(name=f"Study {s}", allocation_size=12, seed=100 + s)
        site = make_site(study)
        for user in blinded:
            grant(user, study)
        for c in range(COHORTS_PER_STUDY):
            cohort = studies.cohort_create(
                acting_user=SETUP,
                study=study,
                start_date=dt.date(2026, 1, 5) + dt.timedelta(weeks=c),
                weekday=0,
                meeting_time=dt.time(18, 0),
                timezone="America/New_York",
            )
            for _ in range(PER_COHORT):
                p = make_ready_participant(study, site)
                enrolment.participant_randomize(acting_user=SETUP, participant=p)
                enrolment.participant_assign_cohort(acting_user=SETUP, participant=p, cohort=cohort)
                p = Participant.objects.get(pk=p.pk)
                _programme(p)
                arm = Randomization.objects.get(participant=p).entry.arm_id
                truth[(study.pk, p.code)] = study.arm_ids.index(arm)
    return truth


def _programme(p: Participant) -> None:
    """The same for every participant: attendance weeks 1-4, every test day so far."""
    for week in range(1, 5):
        attendance_record(acting_user=SETUP, participant=p, week=week, status="present")
    protocol = study_protocol(p.study)
    assert protocol.toxicology is not None
    panel_negative = dict.fromkeys(protocol.toxicology.panel, "negative")
    for day in past_test_days(p, today=TODAY):
        tox_test_record(
            acting_user=SETUP,
            participant=p,
            test_date=day,
            status="completed",
            results=panel_negative,
            today=TODAY,
        )


def test_blinded_roles_guess_arms_at_chance() -> None:
    truth = _world()
    failures = []
    for user in User.objects.filter(role__in=[Role.INVESTIGATOR, Role.STATISTICIAN]):
        client = Client()
        client.force_login(user)
        token = api_token_issue(acting_user=user, user=user)
        knowledge = views_of(collect(client, token))
        known = knowledge.participants
        # The attacker really saw every randomized participant, their group and masked arm.
        assert set(known) == set(truth)
        assert all(k.group and k.masked_arm and k.tox_weeks for k in known.values())
        assert len(knowledge.groups) == N_STUDIES * COHORTS_PER_STUDY * 2
        report = []
        for name, strategy in STRATEGIES.items():
            guess = strategy(knowledge)
            per_study: dict[int, tuple[int, int]] = {}
            for key, arm in truth.items():
                right, n = per_study.get(key[0], (0, 0))
                per_study[key[0]] = (right + (guess[key] == arm), n + 1)
            p = permutation_p(per_study)
            right = sum(r for r, _ in per_study.values())
            report.append(f"{user.role}, {name}: {right}/{len(truth)} right, p = {p:.2g}")
            if p < ALPHA:
                failures.append(report[-1])
        print("\n".join(report))
    assert not failures, f"a blinded role can tell the arms apart: {failures}"


def test_the_permutation_p_is_exact() -> None:
    """Hand-worked. Two studies of 2, both guessed right: the four swaps give 4, 2, 2, 0
    right, and 4 and 0 are as far from 2 as the observed 4: p = 2/4. One of 2 right in the
    first study and 2 of 2 in the second: totals 3 or 1 and 3 or 1 (p = 1)."""
    assert permutation_p({1: (2, 2), 2: (2, 2)}) == pytest.approx(0.5)
    assert permutation_p({1: (1, 2), 2: (2, 2)}) == pytest.approx(1.0)
    # 16 studies all right: only "all right" and "all wrong" are as extreme.
    assert permutation_p(dict.fromkeys(range(16), (6, 6))) == pytest.approx(2 / 2**16)


def test_held_out_no_order_of_a_cohorts_groups_follows_the_arms() -> None:
    """Held out from the attacker: over 120 cohorts, the group with the lower primary key,
    the lower public id and the letter A are each the protocol's first arm about half the
    time (two-sided binomial test, p must stay above 1e-4; before the groups were made in
    random order, the lower key was the first arm in 120 of 120)."""
    from scipy.stats import binomtest

    from mindtrial.web.studies.models import Group

    study = make_study(name="Many cohorts", allocation_size=4)
    n = 120
    for i in range(n):
        studies.cohort_create(
            acting_user=SETUP,
            study=study,
            start_date=dt.date(2026, 1, 5) + dt.timedelta(weeks=i),
            weekday=0,
            meeting_time=dt.time(18, 0),
            timezone="America/New_York",
        )
    first = study.arm_ids[0]
    orders = {"primary key": "pk", "public id": "public_id", "code": "code"}
    for what, field in orders.items():
        hits = 0
        for cohort_groups in _groups_by_cohort(Group.objects.filter(cohort__study=study)):
            hits += min(cohort_groups, key=lambda g: getattr(g, field)).arm_id == first
        p = binomtest(hits, n, 0.5).pvalue
        assert p > ALPHA, f"the lower {what} is the first arm in {hits} of {n} cohorts"


def _groups_by_cohort(groups: Any) -> list[list[Any]]:
    by_cohort: dict[int, list[Any]] = {}
    for g in groups:
        by_cohort.setdefault(g.cohort_id, []).append(g)
    return list(by_cohort.values())
