"""Reading programme data: sessions attended, adherence, a group's roster and sessions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import QuerySet

from mindtrial.web.accounts.models import Role
from mindtrial.web.common import NotFound
from mindtrial.web.enrolment.access import facilitates
from mindtrial.web.enrolment.calendar import study_protocol
from mindtrial.web.enrolment.models import Participant, Status
from mindtrial.web.enrolment.selectors import participants_for
from mindtrial.web.programme.models import Attendance, AttendanceStatus, ContinuationDecision
from mindtrial.web.studies.models import Group
from mindtrial.web.studies.selectors import access_group_by_public_id

if TYPE_CHECKING:
    from mindtrial.web.accounts.models import User


@dataclass(frozen=True)
class Adherence:
    attended: int
    required: int
    total: int

    @property
    def adherent(self) -> bool:
        return self.attended >= self.required


def adherence(participant: Participant) -> Adherence:
    """Sessions attended and the protocol's adherence threshold (M-ROCC: 15 of 24)."""
    protocol = study_protocol(participant.study)
    attended = Attendance.objects.filter(
        participant=participant, status=AttendanceStatus.PRESENT
    ).count()
    return Adherence(
        attended=attended,
        required=protocol.outcomes.adherence_sessions,
        total=protocol.outcomes.total_sessions,
    )


def access_group_for_programme(user: User, public_id: str) -> Group:
    """A group whose programme the user may see: its facilitators and unblinded staff.

    Blinded roles never reach a group's programme (its curriculum names the arm)."""
    group = access_group_by_public_id(user, public_id)
    if user.is_blinded:
        raise NotFound("group")
    if user.role == Role.FACILITATOR and not facilitates(user, group):
        raise NotFound("group")
    return group


def group_members(user: User, group: Group) -> QuerySet[Participant]:
    return participants_for(user, group.cohort.study).filter(group=group, status=Status.RANDOMIZED)


def continuation_of(participant: Participant) -> bool | None:
    decision = ContinuationDecision.objects.filter(participant=participant).first()
    return None if decision is None else decision.continues


def facilitated_groups(user: User) -> QuerySet[Group]:
    return Group.objects.filter(facilitators=user).select_related("cohort__study")
