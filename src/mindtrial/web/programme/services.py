"""Programme writes: attendance per session and the continuation decision."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from mindtrial.web.accounts.actors import Actor, staff_user
from mindtrial.web.accounts.models import Role
from mindtrial.web.audit.models import AuditAction
from mindtrial.web.audit.services import (
    audit_correction,
    audit_record,
    require_change,
    require_reason,
)
from mindtrial.web.common import ServiceError
from mindtrial.web.enrolment.access import STAFF_WRITERS, require_writer
from mindtrial.web.enrolment.calendar import (
    participant_today,
    session_start,
    study_protocol,
    week_has_started,
)
from mindtrial.web.enrolment.models import Participant, Randomization, Status
from mindtrial.web.programme.models import Attendance, AttendanceStatus, ContinuationDecision
from mindtrial.web.safety.selectors import require_collecting

ATTENDANCE_WRITERS = STAFF_WRITERS | {Role.FACILITATOR}


def _require_randomized(participant: Participant) -> None:
    if participant.status != Status.RANDOMIZED:
        raise ServiceError("Only randomized participants attend sessions.")


def attendance_record(
    *,
    acting_user: Actor,
    participant: Participant,
    week: int,
    status: str,
    reason: str = "",
) -> Attendance:
    """Mark a session present/absent/excused; changing a saved mark needs a reason."""
    require_writer(acting_user, participant, ATTENDANCE_WRITERS, what="attendance")
    _require_randomized(participant)
    n_sessions = study_protocol(participant.study).session.n_sessions
    errors: dict[str, str] = {}
    if status not in AttendanceStatus.values:
        errors["status"] = f"Choose one of {', '.join(AttendanceStatus.values)}."
    if not 1 <= week <= n_sessions:
        errors["week"] = f"Sessions are weeks 1 to {n_sessions}."
    if errors:
        raise ServiceError(errors)
    require_collecting(participant, week)
    require_week_started(participant, week, what="Attendance")
    _check_continuation(participant, week, status)
    with transaction.atomic():
        existing = (
            Attendance.objects.select_for_update()
            .filter(participant=participant, week=week)
            .first()
        )
        if existing is None:
            record = Attendance.objects.create(
                participant=participant,
                week=week,
                status=status,
                recorded_by=staff_user(acting_user),
            )
            action, old = AuditAction.CREATE, None
        elif existing.status == status:
            return existing
        else:
            if not reason.strip():
                raise ServiceError(
                    {"reason": "This session was marked already: give a reason for the change."}
                )
            old = {"status": existing.status}
            existing.status, existing.recorded_by = status, staff_user(acting_user)
            existing.save(update_fields=["status", "recorded_by", "recorded_at"])
            record, action = existing, AuditAction.CORRECT
        audit_record(
            acting_user=acting_user,
            action=action,
            target=record,
            study=participant.study,
            old=old,
            new={"participant": participant.code, "week": week, "status": status},
            reason=reason,
        )
    return record


def _check_continuation(participant: Participant, week: int, status: str) -> None:
    """Refuse "present" or "excused" after the week a participant chose not to continue."""
    decision = ContinuationDecision.objects.filter(participant=participant).first()
    if decision is not None and not decision.continues and status != AttendanceStatus.ABSENT:
        choice = _continuation_week(participant)
        if choice is not None and week > choice:
            raise ServiceError(
                {"week": f"{participant.code} chose not to continue after week {choice}."}
            )


def require_week_started(participant: Participant, week: int, *, what: str) -> None:
    """Refuse data for a session (or study week) that has not taken place yet."""
    if week_has_started(participant, week, timezone.now()):
        return
    start = session_start(participant, week)
    when = f" (the group meets on {start:%Y-%m-%d})" if start is not None else ""
    raise ServiceError(
        {"week": f"Week {week} has not happened yet{when}: {what.lower()} is recorded once it has."}
    )


def _continuation_week(participant: Participant) -> int | None:
    randomization = Randomization.objects.select_related("entry").get(participant=participant)
    protocol = study_protocol(participant.study)
    arm = next(a for a in protocol.arms if a.id == randomization.entry.arm_id)
    return arm.continuation_choice.after_week if arm.continuation_choice else None


def continuation_record(
    *,
    acting_user: Actor,
    participant: Participant,
    continues: bool,
    decided_on: dt.date | None = None,
) -> ContinuationDecision:
    """Record the participant's choice at their arm's continuation point (once)."""
    require_writer(acting_user, participant, ATTENDANCE_WRITERS, what="continuation choices")
    _require_randomized(participant)
    randomization = Randomization.objects.select_related("entry").get(participant=participant)
    protocol = study_protocol(participant.study)
    arm = next(a for a in protocol.arms if a.id == randomization.entry.arm_id)
    if arm.continuation_choice is None:
        raise ServiceError("This participant's programme has no continuation choice.")
    if ContinuationDecision.objects.filter(participant=participant).exists():
        raise ServiceError("The continuation choice is recorded already.")
    require_collecting(participant, arm.continuation_choice.after_week)
    day = decided_on or participant_today(participant)
    with transaction.atomic():
        decision = ContinuationDecision.objects.create(
            participant=participant,
            continues=continues,
            decided_on=day,
            recorded_by=staff_user(acting_user),
        )
        audit_record(
            acting_user=acting_user,
            action=AuditAction.CREATE,
            target=decision,
            study=participant.study,
            new={"participant": participant.code, "continues": continues, "decided_on": day},
            reveals_allocation=True,
        )
    return decision


def correct_attendance(
    *, acting_user: Actor, attendance: Attendance, status: str, reason: str
) -> Attendance:
    """Correct a session's mark; a facilitator may correct only their own groups' marks."""
    participant = attendance.participant
    require_writer(acting_user, participant, ATTENDANCE_WRITERS, what="attendance")
    reason = require_reason(reason)
    if status not in AttendanceStatus.values:
        raise ServiceError({"status": f"Choose one of {', '.join(AttendanceStatus.values)}."})
    old, new = {"status": attendance.status}, {"status": status}
    require_change(old, new)
    _check_continuation(participant, attendance.week, status)
    with transaction.atomic():
        attendance.status, attendance.recorded_by = status, staff_user(acting_user)
        attendance.save(update_fields=["status", "recorded_by", "recorded_at"])
        audit_correction(
            acting_user=acting_user,
            target=attendance,
            study=participant.study,
            old=old,
            new=new,
            reason=reason,
        )
    return attendance
