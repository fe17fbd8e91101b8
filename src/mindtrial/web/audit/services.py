"""The only writer of audit rows. Call it inside the transaction that makes the change."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models, transaction
from django.utils import timezone

from mindtrial.web.audit.models import AuditAction, AuditEvent
from mindtrial.web.common import ServiceError, jsonable

if TYPE_CHECKING:
    from mindtrial.web.accounts.models import User
    from mindtrial.web.studies.models import Study


def audit_record(
    *,
    acting_user: User | None,
    action: AuditAction,
    target: models.Model,
    study: Study | None = None,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    reason: str = "",
    reveals_allocation: bool = False,
) -> AuditEvent:
    """Append one audit row for a change to ``target``; must run inside the change's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record() must be called inside the transaction of the change")
    if action == AuditAction.CORRECT and not reason.strip():
        raise ServiceError({"reason": "A reason is required to correct submitted data."})
    event = AuditEvent(
        acted_at=timezone.now(),
        acting_user=acting_user,
        study=study,
        object_type=target._meta.label_lower,
        object_id=str(target.pk),
        action=action,
        old_values=jsonable(old) if old is not None else None,
        new_values=jsonable(new) if new is not None else None,
        reason=reason.strip(),
        reveals_allocation=reveals_allocation,
    )
    event._written_by_audit_service = True  # type: ignore[attr-defined]
    event.save()
    return event
