"""Who may write what about a participant during the programme (shared by the weekly apps).

A :class:`~mindtrial.web.accounts.actors.SystemActor` is the operator at the command line
(``mindtrial load``), named in the audit rows it writes; a staff writer needs one of the allowed roles *and* must be able to see the participant (study
access, site scope). A facilitator may write only for the groups they facilitate.
"""

from __future__ import annotations

from collections.abc import Iterable

from mindtrial.web.accounts.actors import Actor, staff_user
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
    acting_user: Actor, participant: Participant, roles: Iterable[str], *, what: str
) -> None:
    """Refuse (ServiceError) unless ``acting_user`` may write ``what`` for ``participant``
    (TypeError if it is not an actor at all)."""
    user = staff_user(acting_user)
    if user is None:
        return
    allowed = set(roles)
    if not (user.is_superuser or user.role in allowed):
        raise ServiceError(f"Your role cannot record {what}.")
    if not participants_for(user, participant.study).filter(pk=participant.pk).exists():
        raise ServiceError("You do not have access to this participant.")
    if user.role == Role.FACILITATOR and not facilitates(user, participant.group):
        raise ServiceError(f"Only the group's own facilitators can record {what}.")
