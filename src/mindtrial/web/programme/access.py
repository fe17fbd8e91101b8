"""Who may write what about a participant during the programme (shared by the weekly apps).

``acting_user=None`` is the operator at the command line (``mindtrial load``); every other
writer needs one of the allowed roles *and* must be able to see the participant (study
access, site scope). A facilitator may write only for the groups they facilitate.
"""

from __future__ import annotations

from collections.abc import Iterable

from mindtrial.web.accounts.models import Role, User
from mindtrial.web.common import ServiceError
from mindtrial.web.enrolment.models import Participant
from mindtrial.web.enrolment.selectors import participants_for
from mindtrial.web.studies.models import Group

STAFF_WRITERS = frozenset({Role.ADMINISTRATOR, Role.COORDINATOR, Role.DATA_MANAGER})
"""Unblinded staff who record the weekly data."""

ALL_STAFF = frozenset(Role.values)


def facilitates(user: User, group: Group | None) -> bool:
    return group is not None and group.facilitators.filter(pk=user.pk).exists()


def require_writer(
    acting_user: User | None, participant: Participant, roles: Iterable[str], *, what: str
) -> None:
    """Refuse (ServiceError) unless ``acting_user`` may write ``what`` for ``participant``."""
    if acting_user is None:
        return
    allowed = set(roles)
    if not (acting_user.is_superuser or acting_user.role in allowed):
        raise ServiceError(f"Your role cannot record {what}.")
    if not participants_for(acting_user, participant.study).filter(pk=participant.pk).exists():
        raise ServiceError("You do not have access to this participant.")
    if acting_user.role == Role.FACILITATOR and not facilitates(acting_user, participant.group):
        raise ServiceError(f"Only the group's own facilitators can record {what}.")
