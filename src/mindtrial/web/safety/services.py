"""Safety writes: AE reports (SAEs alert the safety monitors), reviews, withdrawals."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from mindtrial.instruments.registry import get_instrument
from mindtrial.instruments.scoring import ScoringError, score
from mindtrial.web.accounts.actors import Actor, staff_user
from mindtrial.web.accounts.models import Role, User
from mindtrial.web.audit.models import AuditAction
from mindtrial.web.audit.services import (
    audit_correction,
    audit_record,
    require_change,
    require_reason,
)
from mindtrial.web.common import ServiceError
from mindtrial.web.enrolment.access import ALL_STAFF, STAFF_WRITERS, require_writer
from mindtrial.web.enrolment.calendar import participant_today, week_of
from mindtrial.web.enrolment.models import Participant, Status
from mindtrial.web.enrolment.weekly import recorded_from_week
from mindtrial.web.safety.models import (
    RESOLVED_OUTCOMES,
    AdverseEvent,
    AdverseEventFollowUp,
    AlertEmail,
    ExitKind,
    SafetyAlert,
    Withdrawal,
)
from mindtrial.web.safety.outbox import send_after_commit
from mindtrial.web.safety.selectors import require_collecting, week_out_of_range
from mindtrial.web.studies.models import Study

RELATED_CODES = frozenset({"possibly", "probably", "definitely"})
"""Relatedness codes that count as "related" (as in the study dataset)."""


def safety_monitors(study: Study) -> list[User]:
    """Active safety monitors with access to ``study``."""
    return list(
        User.objects.filter(
            role=Role.SAFETY_MONITOR, is_active=True, study_access__study=study
        ).distinct()
    )


def _next_code(participant: Participant) -> str:
    """``AE`` + one more than the highest numbered code in the study (call under the lock)."""
    codes = AdverseEvent.objects.filter(participant__study_id=participant.study_id).values_list(
        "code", flat=True
    )
    numbers = [int(c[2:]) for c in codes if c.startswith("AE") and c[2:].isdigit()]
    return f"AE{max(numbers, default=0) + 1:05d}"


def _submitted(participant: Participant, key: uuid.UUID) -> AdverseEvent | None:
    """The event a form with this one-time key already recorded (for this participant)."""
    earlier = AdverseEvent.objects.filter(submission_key=key).first()
    if earlier is not None and earlier.participant_id != participant.pk:
        raise ServiceError("This form was already used for another participant; open a new one.")
    return earlier


def _require_randomized(participant: Participant) -> None:
    if participant.status != Status.RANDOMIZED:
        raise ServiceError("Only randomized participants have programme data.")


def adverse_event_report(
    *,
    acting_user: Actor,
    participant: Participant,
    answers: Mapping[str, Any],
    today: dt.date | None = None,
    submission_key: uuid.UUID | None = None,
) -> AdverseEvent:
    """Record one AE from the ``adverse_event`` form; a serious AE alerts the safety monitors
    in the app and through the e-mail outbox (sent after the transaction commits).

    ``submission_key`` is the form's one-time key: a second submission of the same form
    returns the event already recorded and adds nothing (no second AE, no second alert)."""
    require_writer(acting_user, participant, ALL_STAFF, what="adverse events")
    _require_randomized(participant)
    if submission_key is not None:
        earlier = _submitted(participant, submission_key)
        if earlier is not None:
            return earlier
    given = {k: v for k, v in answers.items() if v is not None and v != ""}
    try:
        result = score("adverse_event", given)
    except ScoringError as exc:
        raise ServiceError({(p.item_id or ""): str(p) for p in exc.problems}) from None
    cleaned = result.answers
    onset = cleaned["onset_date"]
    assert isinstance(onset, dt.date)
    if onset > (today or participant_today(participant)):
        raise ServiceError({"onset_date": "The onset date is in the future."})
    week = week_of(participant, onset) or 0
    out_of_range = week_out_of_range(participant, week)
    if out_of_range is not None:
        raise ServiceError({"onset_date": f"The onset falls in study week {week}. {out_of_range}"})
    with transaction.atomic():
        # The study row lock serializes code numbering across the study's participants.
        Study.objects.select_for_update().get(pk=participant.study_id)
        if submission_key is not None:  # a concurrent resubmission may have won the lock
            earlier = _submitted(participant, submission_key)
            if earlier is not None:
                return earlier
        locked = Participant.objects.get(pk=participant.pk)
        relatedness = str(cleaned["relatedness"])
        event = AdverseEvent.objects.create(
            participant=locked,
            code=_next_code(locked),
            onset_week=week,
            onset_date=onset,
            description=str(cleaned["description"]),
            severity=str(cleaned["severity"]),
            serious=bool(cleaned["serious"]),
            relatedness=relatedness,
            related=relatedness in RELATED_CODES,
            expected=bool(cleaned["expected"]),
            outcome=str(cleaned["outcome"]),
            action_taken=str(cleaned["action_taken"]),
            reported_by=staff_user(acting_user),
            submission_key=submission_key,
        )
        audit_record(
            acting_user=acting_user,
            action=AuditAction.CREATE,
            target=event,
            study=participant.study,
            new={
                "participant": participant.code,
                "code": event.code,
                "answers": dict(cleaned),
            },
        )
        if event.serious:
            send_after_commit(_alert(event, participant))
    return event


def _alert(event: AdverseEvent, participant: Participant) -> list[int]:
    """In-app alerts for every monitor and, for those with an address, an outbox e-mail
    (in the caller's transaction); the ids of the e-mails to send after commit."""
    # No identifying data in the message: the study, AE and participant codes only.
    subject = f"[MindTrial] Serious adverse event {event.code} in {participant.study.name}"
    body = (
        f"A serious adverse event ({event.code}, severity {event.severity}) was reported for "
        f"participant {participant.code}. Please review it in MindTrial."
    )
    now = timezone.now()
    emails: list[int] = []
    for monitor in safety_monitors(participant.study):
        alert = SafetyAlert.objects.create(adverse_event=event, recipient=monitor)
        if monitor.email:
            email = AlertEmail.objects.create(
                alert=alert, address=monitor.email, subject=subject, body=body, next_attempt_at=now
            )
            emails.append(email.pk)
    return emails


def adverse_event_import(
    *,
    acting_user: Actor,
    participant: Participant,
    code: str,
    onset_week: int,
    severity: str,
    serious: bool,
    related: bool,
    expected: bool,
    relatedness: str = "",
    outcome: str = "",
) -> AdverseEvent:
    """An AE from a study dataset (no alert: it is history, not news)."""
    require_writer(acting_user, participant, STAFF_WRITERS, what="adverse events")
    _require_randomized(participant)
    if relatedness and related != (relatedness in RELATED_CODES):
        raise ServiceError(
            {"related": f"related={related} contradicts relatedness {relatedness!r}"}
        )
    with transaction.atomic():
        event = AdverseEvent.objects.create(
            participant=participant,
            code=code,
            onset_week=onset_week,
            severity=severity,
            serious=serious,
            related=related,
            relatedness=relatedness,
            expected=expected,
            outcome=outcome,
            reported_by=staff_user(acting_user),
        )
        audit_record(
            acting_user=acting_user,
            action=AuditAction.CREATE,
            target=event,
            study=participant.study,
            new={
                "participant": participant.code,
                "code": code,
                "onset_week": onset_week,
                "severity": severity,
                "serious": serious,
                "related": related,
                "expected": expected,
                "source": "import",
            },
        )
    return event


def adverse_event_review(*, acting_user: User, event: AdverseEvent, note: str) -> AdverseEvent:
    """The safety monitor's review; marks that monitor's alerts about the event as read."""
    if not (acting_user.is_superuser or acting_user.role == Role.SAFETY_MONITOR):
        raise ServiceError("Only a safety monitor reviews adverse events.")
    if not note.strip():
        raise ServiceError({"note": "Write a short review note."})
    with transaction.atomic():
        old = {"review_note": event.review_note, "reviewed_at": event.reviewed_at}
        event.review_note = note.strip()
        event.reviewed_by = acting_user
        event.reviewed_at = timezone.now()
        event.save(update_fields=["review_note", "reviewed_by", "reviewed_at"])
        SafetyAlert.objects.filter(
            adverse_event=event, recipient=acting_user, read_at__isnull=True
        ).update(read_at=event.reviewed_at)
        audit_record(
            acting_user=acting_user,
            action=AuditAction.UPDATE,
            target=event,
            study=event.participant.study,
            old=old,
            new={"review_note": event.review_note, "reviewed_at": event.reviewed_at},
        )
    return event


def _data_from_week(participant: Participant, week: int) -> str:
    return ", ".join(recorded_from_week(participant, week))


def participant_withdraw_check(
    *, acting_user: Actor, participant: Participant, kind: str, week: int, reason: str
) -> None:
    """Every check of :func:`participant_withdraw` without writing (for the confirmation
    step): raises ServiceError with the problems."""
    require_writer(acting_user, participant, STAFF_WRITERS, what="withdrawals")
    _require_randomized(participant)
    errors: dict[str, str] = {}
    if kind not in ExitKind.values:
        errors["kind"] = f"Choose one of {', '.join(ExitKind.values)}."
    if not reason.strip():
        errors["reason"] = "Give the reason (no names or other identifying details)."
    out_of_range = week_out_of_range(participant, week)
    if out_of_range is not None:
        errors["week"] = out_of_range
    if errors:
        raise ServiceError(errors)
    require_collecting(participant, week)  # refuses a second withdrawal
    later = _data_from_week(participant, week)
    if later:
        raise ServiceError(
            {"week": f"Data are already recorded from week {week} on ({later}); check the week."}
        )


def participant_withdraw(
    *,
    acting_user: Actor,
    participant: Participant,
    kind: str,
    week: int,
    reason: str,
) -> Withdrawal:
    """Record withdrawal or loss to follow-up; no data is accepted from ``week`` on."""
    participant_withdraw_check(
        acting_user=acting_user, participant=participant, kind=kind, week=week, reason=reason
    )
    with transaction.atomic():
        withdrawal = Withdrawal.objects.create(
            participant=participant,
            kind=kind,
            week=week,
            reason=reason.strip(),
            recorded_by=staff_user(acting_user),
        )
        audit_record(
            acting_user=acting_user,
            action=AuditAction.UPDATE,
            target=withdrawal,
            study=participant.study,
            new={"participant": participant.code, "kind": kind, "week": week},
            reason=reason.strip(),
        )
    return withdrawal


# --------------------------------------------------------------------------- corrections


def _outcome_codes() -> list[str]:
    return [c.code for c in get_instrument("adverse_event").item("outcome").choices]


def _check_outcome(event: AdverseEvent, outcome: str, outcome_date: dt.date | None) -> None:
    errors: dict[str, str] = {}
    if outcome not in _outcome_codes():
        errors["outcome"] = f"Choose one of {', '.join(_outcome_codes())}."
    if outcome_date is not None:
        if outcome_date > participant_today(event.participant):
            errors["outcome_date"] = "The date is in the future."
        elif event.onset_date is not None and outcome_date < event.onset_date:
            errors["outcome_date"] = "The date is before the event began."
    if errors:
        raise ServiceError(errors)


def adverse_event_follow_up(
    *,
    acting_user: Actor,
    event: AdverseEvent,
    outcome: str,
    outcome_date: dt.date,
    note: str = "",
) -> AdverseEventFollowUp:
    """Follow an event up: its outcome on a date (ongoing → resolved, resolved with sequelae
    or fatal). A resolved event takes no more follow-ups; a wrong one is corrected, with a
    reason, through :func:`correct_adverse_event`."""
    participant = event.participant
    require_writer(acting_user, participant, STAFF_WRITERS, what="adverse event follow-ups")
    _check_outcome(event, outcome, outcome_date)
    with transaction.atomic():
        locked = AdverseEvent.objects.select_for_update().get(pk=event.pk)
        if locked.outcome in RESOLVED_OUTCOMES:
            raise ServiceError(
                f"{locked.code} is resolved ({locked.outcome}); to change that, correct it."
            )
        if locked.outcome_date is not None and outcome_date < locked.outcome_date:
            raise ServiceError(
                {"outcome_date": f"The last follow-up was on {locked.outcome_date.isoformat()}."}
            )
        follow_up = AdverseEventFollowUp.objects.create(
            adverse_event=locked,
            outcome=outcome,
            outcome_date=outcome_date,
            note=note.strip(),
            recorded_by=staff_user(acting_user),
        )
        old = {"outcome": locked.outcome, "outcome_date": locked.outcome_date}
        locked.outcome, locked.outcome_date = outcome, outcome_date
        locked.save(update_fields=["outcome", "outcome_date"])
        audit_record(
            acting_user=acting_user,
            action=AuditAction.UPDATE,
            target=locked,
            study=participant.study,
            old=old,
            new={"outcome": outcome, "outcome_date": outcome_date, "note": note.strip()},
        )
    event.refresh_from_db()
    return follow_up


def correct_adverse_event(
    *,
    acting_user: Actor,
    event: AdverseEvent,
    answers: Mapping[str, Any],
    outcome_date: dt.date | None,
    reason: str,
) -> AdverseEvent:
    """Correct an AE report (every answer of the form and the outcome's date); the study week
    and "related" follow the answers, and an event corrected to serious alerts the safety
    monitors as a new serious report does."""
    participant = event.participant
    require_writer(acting_user, participant, STAFF_WRITERS, what="adverse event corrections")
    reason = require_reason(reason)
    given = {k: v for k, v in answers.items() if v is not None and v != ""}
    try:
        cleaned = score("adverse_event", given).answers
    except ScoringError as exc:
        raise ServiceError({(p.item_id or ""): str(p) for p in exc.problems}) from None
    onset = cleaned["onset_date"]
    assert isinstance(onset, dt.date)
    if onset > participant_today(participant):
        raise ServiceError({"onset_date": "The onset date is in the future."})
    week = week_of(participant, onset) or 0
    out_of_range = week_out_of_range(participant, week)
    if out_of_range is not None:
        raise ServiceError({"onset_date": f"The onset falls in study week {week}. {out_of_range}"})
    if outcome_date is not None and outcome_date < onset:
        raise ServiceError({"outcome_date": "The date is before the event began."})
    _check_outcome(event, str(cleaned["outcome"]), outcome_date)
    relatedness = str(cleaned["relatedness"])
    fields = {
        "onset_date": onset,
        "onset_week": week,
        "description": str(cleaned["description"]),
        "severity": str(cleaned["severity"]),
        "serious": bool(cleaned["serious"]),
        "relatedness": relatedness,
        "related": relatedness in RELATED_CODES,
        "expected": bool(cleaned["expected"]),
        "outcome": str(cleaned["outcome"]),
        "outcome_date": outcome_date,
        "action_taken": str(cleaned["action_taken"]),
    }
    old = {k: getattr(event, k) for k in fields}
    require_change(old, fields)
    with transaction.atomic():
        locked = AdverseEvent.objects.select_for_update().get(pk=event.pk)
        became_serious = fields["serious"] and not locked.serious
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save(update_fields=list(fields))
        audit_correction(
            acting_user=acting_user,
            target=locked,
            study=participant.study,
            old=old,
            new=fields,
            reason=reason,
        )
        if became_serious:
            send_after_commit(_alert(locked, participant))
    event.refresh_from_db()
    return event


def correct_withdrawal(
    *,
    acting_user: Actor,
    withdrawal: Withdrawal,
    kind: str,
    week: int,
    exit_reason: str,
    reason: str,
) -> Withdrawal:
    """Correct how and when a participant left (``exit_reason`` is why they left, ``reason``
    why the record is corrected); data recorded from the new week on must not exist."""
    participant = withdrawal.participant
    require_writer(acting_user, participant, STAFF_WRITERS, what="withdrawals")
    reason = require_reason(reason)
    errors: dict[str, str] = {}
    if kind not in ExitKind.values:
        errors["kind"] = f"Choose one of {', '.join(ExitKind.values)}."
    if not exit_reason.strip():
        errors["exit_reason"] = "Give the reason (no names or other identifying details)."
    out_of_range = week_out_of_range(participant, week)
    if out_of_range is not None:
        errors["week"] = out_of_range
    if errors:
        raise ServiceError(errors)
    later = _data_from_week(participant, week)
    if later:
        raise ServiceError(
            {"week": f"Data are already recorded from week {week} on ({later}); check the week."}
        )
    old = {"kind": withdrawal.kind, "week": withdrawal.week, "reason": withdrawal.reason}
    new = {"kind": kind, "week": week, "reason": exit_reason.strip()}
    require_change(old, new)
    with transaction.atomic():
        withdrawal.kind, withdrawal.week, withdrawal.reason = kind, week, exit_reason.strip()
        withdrawal.save(update_fields=["kind", "week", "reason"])
        audit_correction(
            acting_user=acting_user,
            target=withdrawal,
            study=participant.study,
            old=old,
            new=new,
            reason=reason,
        )
    return withdrawal


def correct_undo_withdrawal(
    *, acting_user: Actor, withdrawal: Withdrawal, reason: str
) -> Participant:
    """Remove a withdrawal entered in error (the audit row keeps what it said): data are
    collected again from its week on."""
    participant = withdrawal.participant
    require_writer(acting_user, participant, STAFF_WRITERS, what="withdrawals")
    reason = require_reason(reason)
    with transaction.atomic():
        audit_record(
            acting_user=acting_user,
            action=AuditAction.CORRECT,
            target=withdrawal,
            study=participant.study,
            old={
                "participant": participant.code,
                "kind": withdrawal.kind,
                "week": withdrawal.week,
                "reason": withdrawal.reason,
            },
            new={"participant": participant.code, "kind": None, "week": None, "reason": None},
            reason=reason,
        )
        Withdrawal.objects.filter(pk=withdrawal.pk).delete()
    return participant
