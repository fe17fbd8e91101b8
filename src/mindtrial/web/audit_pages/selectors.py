"""Reading the audit trail: unblinded data managers and administrators only."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db.models import QuerySet

from mindtrial.web.accounts.selectors import can_read_audit
from mindtrial.web.audit.models import AuditEvent
from mindtrial.web.common import NotFound

if TYPE_CHECKING:
    from mindtrial.web.accounts.models import User
    from mindtrial.web.studies.models import Study


def audit_events_for_study(
    user: User,
    study: Study,
    *,
    action: str = "",
    object_type: str = "",
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> QuerySet[AuditEvent]:
    """The study's audit rows, filtered; NotFound for roles that may not read the trail."""
    if not can_read_audit(user):
        raise NotFound("audit trail")
    events = AuditEvent.objects.filter(study=study).select_related("acting_user")
    if user.is_blinded:  # pragma: no cover - blinded roles are not audit readers today
        events = events.filter(reveals_allocation=False)
    if action:
        events = events.filter(action=action)
    if object_type:
        events = events.filter(object_type=object_type)
    if since:
        events = events.filter(acted_at__date__gte=since)
    if until:
        events = events.filter(acted_at__date__lte=until)
    return events
