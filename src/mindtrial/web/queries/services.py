"""Writing data queries: open, answer, close, re-open, and the automatic checks.

Each step is one transaction that locks the query, appends a step to its thread and writes
the audit row (old → new status). A system actor is the operator at the command line
(``mindtrial check --open-queries``), as elsewhere in the app.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from mindtrial.web.accounts.actors import Actor, staff_user
from mindtrial.web.audit.models import AuditAction
from mindtrial.web.audit.services import audit_record
from mindtrial.web.common import ServiceError
from mindtrial.web.enrolment.calendar import study_protocol
from mindtrial.web.enrolment.models import Participant
from mindtrial.web.enrolment.selectors import participants_for
from mindtrial.web.queries.checks import Finding, run_checks
from mindtrial.web.queries.models import (
    DataQuery,
    EntryKind,
    QueryEntry,
    QueryOrigin,
    QueryStatus,
)
from mindtrial.web.queries.selectors import can_manage_queries, can_read_queries

if TYPE_CHECKING:
    from mindtrial.web.studies.models import Study

MAX_TEXT = 4000


def require_query_writer(acting_user: Actor, participant: Participant, *, manage: bool) -> None:
    """Roles that read (answer) or manage (open, close, re-open) queries, with access to the
    participant; the operator at the command line may do all."""
    user = staff_user(acting_user)
    if user is None:
        return
    allowed = can_manage_queries(user) if manage else can_read_queries(user)
    if not allowed:
        raise ServiceError("Your role cannot do this to a data query.")
    if not participants_for(user, participant.study).filter(pk=participant.pk).exists():
        raise ServiceError("You do not have access to this participant.")


def _text(value: str, field: str, *, required: bool) -> str:
    text = value.strip()
    if required and not text:
        raise ServiceError({field: "Write a few words."})
    if len(text) > MAX_TEXT:
        raise ServiceError({field: f"At most {MAX_TEXT} characters."})
    return text


def _snapshot(query: DataQuery) -> dict[str, object]:
    return {"status": query.status, "answer": query.answer, "corrected": query.corrected}


def query_open(
    *,
    acting_user: Actor,
    participant: Participant,
    form: str,
    field: str = "",
    value: str = "",
    message: str,
    origin: QueryOrigin = QueryOrigin.MANUAL,
    check_key: str = "",
) -> DataQuery:
    """Open a query on one value of ``participant``'s ``form``."""
    require_query_writer(acting_user, participant, manage=True)
    form = _text(form, "form", required=True)[:64]
    message = _text(message, "message", required=True)
    now = timezone.now()
    with transaction.atomic():
        query = DataQuery.objects.create(
            study=participant.study,
            participant=participant,
            form=form,
            field=field.strip()[:64],
            value=value.strip()[:200],
            message=message,
            origin=origin,
            check_key=check_key,
            opened_at=now,
            opened_by=staff_user(acting_user),
            updated_at=now,
        )
        QueryEntry.objects.create(
            query=query, kind=EntryKind.OPEN, text=message, at=now, by=staff_user(acting_user)
        )
        audit_record(
            acting_user=acting_user,
            action=AuditAction.CREATE,
            target=query,
            study=participant.study,
            new={
                "participant": participant.code,
                "form": query.form,
                "field": query.field,
                "value": query.value,
                "message": message,
                "origin": origin,
                "status": query.status,
            },
        )
    return query


def _step(
    *,
    acting_user: Actor,
    query: DataQuery,
    kind: EntryKind,
    allowed_from: set[str],
    to: QueryStatus,
    text: str,
    manage: bool,
    answer: str | None = None,
    corrected: bool | None = None,
) -> DataQuery:
    require_query_writer(acting_user, query.participant, manage=manage)
    now = timezone.now()
    with transaction.atomic():
        locked = DataQuery.objects.select_for_update().get(pk=query.pk)
        if locked.status not in allowed_from:
            raise ServiceError(
                f"This query is {locked.get_status_display().lower()}: it cannot be "
                f"{EntryKind(kind).label.lower()} now."
            )
        old = _snapshot(locked)
        locked.status = to
        if answer is not None:
            locked.answer = answer
            locked.corrected = corrected
        locked.updated_at = now
        locked.save(update_fields=["status", "answer", "corrected", "updated_at"])
        QueryEntry.objects.create(
            query=locked, kind=kind, text=text, at=now, by=staff_user(acting_user)
        )
        audit_record(
            acting_user=acting_user,
            action=AuditAction.UPDATE,
            target=locked,
            study=locked.study,
            old=old,
            new=_snapshot(locked),
            reason=text,
        )
    return locked


def query_answer(
    *, acting_user: Actor, query: DataQuery, answer: str, corrected: bool
) -> DataQuery:
    """The coordinator's answer (``corrected``: the value was corrected, with its own
    reason, on the record's page)."""
    text = _text(answer, "answer", required=True)
    return _step(
        acting_user=acting_user,
        query=query,
        kind=EntryKind.ANSWER,
        allowed_from={QueryStatus.OPEN, QueryStatus.ANSWERED},
        to=QueryStatus.ANSWERED,
        text=text,
        manage=False,
        answer=text,
        corrected=corrected,
    )


def query_close(*, acting_user: Actor, query: DataQuery, note: str = "") -> DataQuery:
    """The data manager accepts the answer (or withdraws the question)."""
    return _step(
        acting_user=acting_user,
        query=query,
        kind=EntryKind.CLOSE,
        allowed_from={QueryStatus.OPEN, QueryStatus.ANSWERED},
        to=QueryStatus.CLOSED,
        text=_text(note, "note", required=False),
        manage=True,
    )


def query_reopen(*, acting_user: Actor, query: DataQuery, message: str) -> DataQuery:
    """The data manager is not satisfied: the query is open again, with why."""
    return _step(
        acting_user=acting_user,
        query=query,
        kind=EntryKind.REOPEN,
        allowed_from={QueryStatus.ANSWERED, QueryStatus.CLOSED},
        to=QueryStatus.OPEN,
        text=_text(message, "message", required=True),
        manage=True,
    )


@dataclass(frozen=True)
class ChecksRun:
    findings: int
    opened: list[DataQuery]

    @property
    def already_open(self) -> int:
        """Findings that already had a query (from an earlier run)."""
        return self.findings - len(self.opened)


def require_checks_runner(acting_user: Actor, study: Study) -> QuerySet[Participant]:
    """The participants whose data the actor may check (all of the study's for the operator
    at the command line); ServiceError for roles that cannot manage queries."""
    user = staff_user(acting_user)
    if user is None:
        return Participant.objects.filter(study=study)
    if not can_manage_queries(user):
        raise ServiceError("Your role cannot run the data checks.")
    return participants_for(user, study)


def queries_run_checks(
    *, acting_user: Actor, study: Study, now: dt.datetime | None = None
) -> ChecksRun:
    """Run every automatic check on the participants the user may see and open one query
    per finding that has none yet (running it twice opens nothing the second time)."""
    participants = require_checks_runner(acting_user, study)
    moment = now if now is not None else timezone.now()
    findings = run_checks(participants, study_protocol(study), moment)
    known = set(
        DataQuery.objects.filter(study=study)
        .exclude(check_key="")
        .values_list("participant_id", "check_key")
    )
    by_id = {p.pk: p for p in participants.select_related("study")}
    opened: list[DataQuery] = []
    seen: set[tuple[int, str]] = set()
    for finding in findings:
        mark = (finding.participant_id, finding.key)
        if mark in known or mark in seen:
            continue
        seen.add(mark)
        query = _open_finding(acting_user, by_id[finding.participant_id], finding)
        if query is not None:
            opened.append(query)
    distinct = {(f.participant_id, f.key) for f in findings}
    return ChecksRun(findings=len(distinct), opened=opened)


def _open_finding(
    acting_user: Actor, participant: Participant, finding: Finding
) -> DataQuery | None:
    try:
        with transaction.atomic():
            return query_open(
                acting_user=acting_user,
                participant=participant,
                form=finding.form,
                field=finding.field,
                value=finding.value,
                message=finding.message,
                origin=QueryOrigin.CHECK,
                check_key=finding.key,
            )
    except IntegrityError:  # opened by a run at the same moment
        return None
