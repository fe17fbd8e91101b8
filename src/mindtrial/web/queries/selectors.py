"""Reading data queries: unblinded study staff only (a query about a dose, a test or an
adverse event could reveal an arm, so blinded roles reach none), at their own sites."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from mindtrial.web.accounts.models import Role
from mindtrial.web.common import NotFound
from mindtrial.web.enrolment.selectors import participants_for
from mindtrial.web.queries.models import DataQuery, QueryEntry, QueryStatus

if TYPE_CHECKING:
    from mindtrial.web.accounts.models import User
    from mindtrial.web.enrolment.models import Participant
    from mindtrial.web.studies.models import Study

QUERY_READERS = frozenset({Role.ADMINISTRATOR, Role.COORDINATOR, Role.DATA_MANAGER})
"""Who reads and answers queries."""
QUERY_MANAGERS = frozenset({Role.ADMINISTRATOR, Role.DATA_MANAGER})
"""Who opens, closes and re-opens queries and runs the automatic checks."""


def can_read_queries(user: User) -> bool:
    return not user.is_blinded and (user.is_superuser or user.role in QUERY_READERS)


def can_manage_queries(user: User) -> bool:
    return not user.is_blinded and (user.is_superuser or user.role in QUERY_MANAGERS)


def queries_for(user: User, study: Study) -> QuerySet[DataQuery]:
    """The study's queries about participants the user may see; NotFound for other roles."""
    if not can_read_queries(user):
        raise NotFound("queries")
    return DataQuery.objects.filter(study=study, participant__in=participants_for(user, study))


def queries_of_participant(user: User, participant: Participant) -> QuerySet[DataQuery]:
    return queries_for(user, participant.study).filter(participant=participant)


def access_query_by_id(user: User, query_id: int) -> DataQuery:
    try:
        query = DataQuery.objects.select_related("participant__study", "opened_by").get(pk=query_id)
    except DataQuery.DoesNotExist:
        raise NotFound("query") from None
    if not queries_for(user, query.participant.study).filter(pk=query.pk).exists():
        raise NotFound("query")
    return query


def query_steps(user: User, query: DataQuery) -> list[str]:
    """The steps ``user`` may take on ``query`` now: answer (open or answered), close
    (not closed) and re-open (not open), the last two for data managers only."""
    steps = ["answer"] if query.status != QueryStatus.CLOSED else []
    if can_manage_queries(user):
        if query.status != QueryStatus.CLOSED:
            steps.append("close")
        if query.status != QueryStatus.OPEN:
            steps.append("reopen")
    return steps


def query_thread(query: DataQuery) -> QuerySet[QueryEntry]:
    return QueryEntry.objects.filter(query=query).select_related("by")


def participant_forms(participant: Participant) -> list[tuple[str, str]]:
    """The participant's recorded forms, as a query names them (value = label)."""
    from mindtrial.web.checkin.models import CheckIn
    from mindtrial.web.enrolment.models import BaselineAssessment, Consent, Screening
    from mindtrial.web.programme.models import Attendance
    from mindtrial.web.safety.models import AdverseEvent, Withdrawal
    from mindtrial.web.toxicology.models import ToxTest

    names = ["Participant record"]
    if Screening.objects.filter(participant=participant).exists():
        names.append("Screening")
    if Consent.objects.filter(participant=participant).exists():
        names.append("Consent")
    names += [
        f"Baseline: {i}"
        for i in BaselineAssessment.objects.filter(participant=participant)
        .order_by("id")
        .values_list("instrument", flat=True)
    ]
    names += [
        f"Check-in week {w}"
        for w in CheckIn.objects.filter(participant=participant).values_list("week", flat=True)
    ]
    names += [
        f"Attendance week {w}"
        for w in Attendance.objects.filter(participant=participant).values_list("week", flat=True)
    ]
    names += [
        f"Test week {w}"
        for w in ToxTest.objects.filter(participant=participant).values_list("week", flat=True)
    ]
    names += [
        f"Adverse event {c}"
        for c in AdverseEvent.objects.filter(participant=participant)
        .order_by("code")
        .values_list("code", flat=True)
    ]
    if Withdrawal.objects.filter(participant=participant).exists():
        names.append("Withdrawal")
    return [(n, n) for n in names]
