"""Reading safety data: withdrawal state for every writer, AEs for unblinded roles only."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.db.models import QuerySet

from mindtrial.dataset.validate import Rules
from mindtrial.web.accounts.models import Role
from mindtrial.web.common import NotFound, ServiceError, only_or_none
from mindtrial.web.enrolment.models import Participant
from mindtrial.web.enrolment.selectors import participants_for
from mindtrial.web.programme.calendar import study_protocol
from mindtrial.web.safety.models import AdverseEvent, SafetyAlert, Withdrawal

if TYPE_CHECKING:
    from mindtrial.web.accounts.models import User
    from mindtrial.web.studies.models import Study

AE_READERS = frozenset(
    {Role.ADMINISTRATOR, Role.COORDINATOR, Role.DATA_MANAGER, Role.SAFETY_MONITOR}
)
"""Unblinded roles that read adverse-event reports (blinded roles and facilitators do not)."""


def withdrawal_of(participant: Participant) -> Withdrawal | None:
    return only_or_none(Withdrawal.objects.filter(participant=participant))


def last_study_week(participant: Participant) -> int:
    """The protocol's last study week (its programme or latest follow-up visit): the largest
    week a study dataset accepts, so nothing written within it can break an export."""
    return Rules.from_protocol(study_protocol(participant.study)).max_week


def week_out_of_range(participant: Participant, week: int) -> str | None:
    """Why ``week`` is not a study week of the participant's protocol (None when it is)."""
    last = last_study_week(participant)
    if 0 <= week <= last:
        return None
    return f"Week {week} is outside the study weeks 0..{last} of this protocol."


def require_collecting(participant: Participant, week: int) -> None:
    """Refuse data for a week outside the protocol's study weeks, and for ``week`` once the
    participant has left (from the withdrawal week on)."""
    problem = week_out_of_range(participant, week)
    if problem is not None:
        raise ServiceError(problem)
    withdrawal = withdrawal_of(participant)
    if withdrawal is not None and week >= withdrawal.week:
        raise ServiceError(
            f"{participant.code} left the study in week {withdrawal.week}: "
            "nothing is collected after withdrawal."
        )


def can_read_adverse_events(user: User) -> bool:
    return user.is_superuser or user.role in AE_READERS


def adverse_events_for(user: User, study: Study) -> QuerySet[AdverseEvent]:
    """The study's AEs at the user's sites; NotFound for roles that may not read them."""
    if not can_read_adverse_events(user):
        raise NotFound("adverse events")
    return AdverseEvent.objects.filter(
        participant__in=participants_for(user, study)
    ).select_related("participant", "reported_by", "reviewed_by")


def access_adverse_event_by_id(user: User, ae_id: int) -> AdverseEvent:
    try:
        event = AdverseEvent.objects.select_related("participant__study").get(pk=ae_id)
    except AdverseEvent.DoesNotExist:
        raise NotFound("adverse event") from None
    if not adverse_events_for(user, event.participant.study).filter(pk=event.pk).exists():
        raise NotFound("adverse event")
    return event


def unread_alerts(user: User) -> QuerySet[SafetyAlert]:
    """The user's unread alerts, each with its e-mail's delivery state (``alert.email``)."""
    return SafetyAlert.objects.filter(recipient=user, read_at__isnull=True).select_related(
        "adverse_event__participant", "email"
    )


def alert_delivery(event: AdverseEvent) -> list[SafetyAlert]:
    """Every alert about ``event`` with its recipient and e-mail state (for the AE page;
    the caller has already reached the event through :func:`access_adverse_event_by_id`)."""
    return list(
        SafetyAlert.objects.filter(adverse_event=event)
        .select_related("recipient", "email")
        .order_by("recipient__username")
    )


def adverse_event_by_submission_key(
    participant: Participant, key: uuid.UUID
) -> AdverseEvent | None:
    """The event a form with this one-time key already recorded for the participant."""
    return AdverseEvent.objects.filter(participant=participant, submission_key=key).first()
