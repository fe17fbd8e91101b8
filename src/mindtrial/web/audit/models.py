"""Audit events: who acted, when, on what, old and new values, and why.

Rows are append-only. The model refuses ``save()`` on an existing row and ``delete()``; the
query set refuses ``update()`` and ``delete()``; on PostgreSQL a trigger (migration 0002)
rejects UPDATE and DELETE from any database role the app uses. Only
:func:`mindtrial.web.audit.services.audit_record` creates rows.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models


class AuditAction(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Updated"
    CORRECT = "correct", "Corrected (submitted data)"
    GENERATE_ALLOCATION = "generate_allocation", "Allocation list generated"
    IMPORT_ALLOCATION = "import_allocation", "Allocation list imported"
    REFER = "refer", "Referred"
    SCREEN = "screen", "Screened"
    CONSENT = "consent", "Consented"
    BASELINE = "baseline", "Baseline recorded"
    RANDOMIZE = "randomize", "Randomized"
    ASSIGN_COHORT = "assign_cohort", "Cohort assigned"
    EXIT = "exit", "Left before randomization"
    GRANT_ACCESS = "grant_access", "Access granted"
    ISSUE_TOKEN = "issue_token", "API token issued"


class AppendOnlyError(RuntimeError):
    """Audit rows cannot be changed or deleted."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("audit events cannot be updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit events cannot be deleted")


class AuditEvent(models.Model):
    acted_at = models.DateTimeField(db_index=True)
    acting_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
        help_text="The staff user who acted; empty when a system process or the participant did.",
    )
    acting_as = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text=(
            "Who acted when no staff user did: 'system: <process>' (e.g. 'system: cli: "
            "mindtrial load') or 'participant' (their own check-in link). Empty on rows "
            "written before system actors were named."
        ),
    )
    study = models.ForeignKey(
        "studies.Study", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    object_type = models.CharField(max_length=64, db_index=True)
    object_id = models.CharField(max_length=64, db_index=True)
    action = models.CharField(max_length=32, choices=AuditAction.choices, db_index=True)
    old_values = models.JSONField(null=True, blank=True)
    new_values = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True, default="")
    reveals_allocation = models.BooleanField(
        default=False, help_text="Values name an arm: never shown to blinded roles."
    )

    objects: ClassVar[models.Manager[AuditEvent]] = AuditEventQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering: ClassVar[list[str]] = ["-acted_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}#{self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding or self.pk is not None:
            raise AppendOnlyError("audit events cannot be changed")
        if not getattr(self, "_written_by_audit_service", False):
            raise AppendOnlyError("audit events are written only by audit_record()")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit events cannot be deleted")

    @property
    def actor_label(self) -> str:
        """The "who" of the row: the username, the system process, or the participant."""
        if self.acting_user is not None:
            return self.acting_user.get_username()
        return self.acting_as or "(command line)"
