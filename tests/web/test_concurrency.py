"""Randomization under concurrency (PostgreSQL): 200 participants from 50 threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from mindtrial.web.enrolment.models import Participant, Randomization
from mindtrial.web.enrolment.services import participant_randomize
from mindtrial.web.studies.models import AllocationEntry

from .factories import grant, make_ready_participant, make_site, make_study, make_user

N = 200
THREADS = 50


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_200_participants_from_50_threads_no_duplicate_no_gap_in_order() -> None:
    assert connection.vendor == "postgresql"
    study = make_study(allocation_size=N, seed=2024)
    site = make_site(study)
    coordinator = make_user("coordinator")
    grant(coordinator, study, site)
    people = [make_ready_participant(study, site, by=coordinator) for _ in range(N)]
    start = threading.Barrier(THREADS)

    def randomize(chunk: list[Participant]) -> int:
        try:
            start.wait()
            for p in chunk:
                participant_randomize(acting_user=coordinator, participant=p)
            return len(chunk)
        finally:
            connections.close_all()

    chunks = [people[i::THREADS] for i in range(THREADS)]
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        done = sum(pool.map(randomize, chunks))
    assert done == N

    rows = list(Randomization.objects.select_related("entry").order_by("id"))
    sequences = [r.entry.sequence for r in rows]
    assert len(rows) == N
    assert len({r.participant_id for r in rows}) == N  # each participant once
    assert len({r.entry_id for r in rows}) == N  # no entry used twice
    assert sorted(sequences) == list(range(1, N + 1))  # no gap
    assert sequences == sorted(sequences)  # taken in list order
    assert AllocationEntry.objects.filter(study=study, assigned=False).count() == 0
    # The arms given are the list's arms, in its order.
    listed = list(
        AllocationEntry.objects.filter(study=study)
        .order_by("sequence")
        .values_list("arm_id", flat=True)
    )
    assert [r.entry.arm_id for r in rows] == listed
