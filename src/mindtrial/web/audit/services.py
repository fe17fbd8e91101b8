"""The only writer of audit rows. Call it inside the transaction that makes the change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models, transaction
from django.utils import timezone

from mindtrial.web.audit.actors import ParticipantActor, SystemActor
from mindtrial.web.audit.models import AuditAction, AuditEvent
from mindtrial.web.common import ServiceError, jsonable

AuditActor = AbstractBaseUser | SystemActor | ParticipantActor
"""Whoever may appear in the "who" of an audit row (services narrow it to ``accounts.Actor``)."""


def _who(actor: object) -> tuple[int | None, str]:
    """(staff user id, acting_as label) of the row; TypeError for anything that is not an actor
    (``None`` above all: there is no anonymous god mode)."""
    if isinstance(actor, SystemActor | ParticipantActor):
        return None, actor.label
    if isinstance(actor, AbstractBaseUser) and actor.pk is not None and actor.is_authenticated:
        return int(actor.pk), ""
    raise TypeError(f"acting_user must be a saved staff user or a SystemActor, not {actor!r}")


def audit_record(
    *,
    acting_user: AuditActor,
    action: AuditAction,
    target: models.Model,
    study: models.Model | None = None,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    reason: str = "",
    reveals_allocation: bool = False,
) -> AuditEvent:
    """Append one audit row for a change to ``target``; must run inside the change's transaction."""
    user_id, acting_as = _who(acting_user)
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record() must be called inside the transaction of the change")
    if action == AuditAction.CORRECT and not reason.strip():
        raise ServiceError({"reason": "A reason is required to correct submitted data."})
    event = AuditEvent(
        acted_at=timezone.now(),
        acting_user_id=user_id,
        acting_as=acting_as,
        study_id=study.pk if study is not None else None,
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


def _flat(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat |= _flat(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def changed_values(
    old: Mapping[str, Any], new: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only what a correction changed, as two flat dicts with the same keys (nested values
    become dotted keys, e.g. ``answers.ocs.ocs_1``; a value absent on one side is None):
    one row per key in the audit page's old → new table."""
    before, after = _flat(jsonable(old)), _flat(jsonable(new))
    keys = [k for k in {**before, **after} if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def require_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Refuse a correction that changes nothing (checked before its transaction begins)."""
    if not changed_values(old, new)[0]:
        raise ServiceError("Nothing was changed.")


def audit_correction(
    *,
    acting_user: AuditActor,
    target: models.Model,
    study: models.Model | None,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    reason: str,
) -> AuditEvent:
    """The one ``correct`` row of a correction: only what changed between ``old`` and ``new``
    (:func:`changed_values`) and the required reason. Call it inside the correction's
    transaction, after its writes: "Nothing was changed." there undoes them."""
    before, after = changed_values(old, new)
    if not before:
        raise ServiceError("Nothing was changed.")
    return audit_record(
        acting_user=acting_user,
        action=AuditAction.CORRECT,
        target=target,
        study=study,
        old=before,
        new=after,
        reason=reason,
    )


def require_reason(reason: str) -> str:
    """The stripped reason of a correction; a ServiceError on the ``reason`` field if blank."""
    if not reason.strip():
        raise ServiceError({"reason": "A reason is required to correct submitted data."})
    return reason.strip()
