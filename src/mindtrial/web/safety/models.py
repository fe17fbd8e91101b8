"""Adverse events (the protocol's AE form), safety alerts, withdrawal and loss to follow-up."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models

from mindtrial.web.enrolment.models import Participant


class AdverseEvent(models.Model):
    """One adverse event report; the answers follow the ``adverse_event`` instrument."""

    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="adverse_events"
    )
    code = models.CharField(max_length=32, help_text="AE00001, unique in the study")
    onset_week = models.PositiveIntegerField()
    onset_date = models.DateField(null=True, blank=True)
    description = models.TextField(blank=True, default="")
    severity = models.CharField(max_length=16)
    serious = models.BooleanField()
    relatedness = models.CharField(max_length=32, blank=True, default="")
    related = models.BooleanField()
    expected = models.BooleanField()
    outcome = models.CharField(max_length=32, blank=True, default="")
    outcome_date = models.DateField(
        null=True, blank=True, help_text="When the current outcome was known (resolution date)"
    )
    action_taken = models.CharField(max_length=32, blank=True, default="")
    reported_at = models.DateTimeField(auto_now_add=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    review_note = models.TextField(blank=True, default="")
    submission_key = models.UUIDField(
        null=True,
        blank=True,
        editable=False,
        help_text="The form's one-time key: submitting the same form again adds nothing",
    )

    class Meta:
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(fields=["participant", "code"], name="ae_code_unique"),
            models.UniqueConstraint(fields=["submission_key"], name="ae_submission_key_unique"),
        ]
        ordering: ClassVar[list[str]] = ["-reported_at", "-id"]

    def __str__(self) -> str:
        return self.code


RESOLVED_OUTCOMES = frozenset({"recovered", "recovered_with_sequelae", "fatal"})
"""Outcome codes of the ``adverse_event`` form that end the follow-up of an event."""


class AdverseEventFollowUp(models.Model):
    """One follow-up of an adverse event: its outcome on a date, until it is resolved."""

    adverse_event = models.ForeignKey(
        AdverseEvent, on_delete=models.PROTECT, related_name="follow_ups"
    )
    outcome = models.CharField(max_length=32)
    outcome_date = models.DateField()
    note = models.TextField(blank=True, default="")
    recorded_at = models.DateTimeField(auto_now_add=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        ordering: ClassVar[list[str]] = ["outcome_date", "id"]

    def __str__(self) -> str:
        return f"follow-up {self.pk} of {self.adverse_event_id}"


class SafetyAlert(models.Model):
    """An in-app alert to one safety monitor about a serious adverse event."""

    adverse_event = models.ForeignKey(AdverseEvent, on_delete=models.PROTECT, related_name="alerts")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="safety_alerts"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"alert {self.adverse_event_id} -> {self.recipient_id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class AlertEmail(models.Model):
    """The e-mail copy of one safety alert: the outbox row, written in the same transaction
    as the adverse event and sent afterwards (with retries) by :mod:`..outbox`."""

    alert = models.OneToOneField(SafetyAlert, on_delete=models.PROTECT, related_name="email")
    address = models.EmailField()
    subject = models.CharField(max_length=200)
    body = models.TextField()
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=200, blank=True, default="")
    next_attempt_at = models.DateTimeField(help_text="When a pending e-mail is tried next")
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes: ClassVar[list[Any]] = [
            models.Index(fields=["status", "next_attempt_at"], name="alert_email_due")
        ]

    def __str__(self) -> str:
        return f"e-mail for alert {self.alert_id} ({self.status})"


class ExitKind(models.TextChoices):
    WITHDRAWN = "withdrawn", "Withdrew"
    LOST = "lost_to_follow_up", "Lost to follow-up"


class Withdrawal(models.Model):
    """The participant left the study: nothing is collected from ``week`` on."""

    participant = models.OneToOneField(
        Participant, on_delete=models.PROTECT, related_name="withdrawal"
    )
    kind = models.CharField(max_length=32, choices=ExitKind.choices)
    week = models.PositiveIntegerField(help_text="first study week with no data collected")
    reason = models.TextField()
    recorded_at = models.DateTimeField(auto_now_add=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    def __str__(self) -> str:
        return f"withdrawal of {self.participant_id}"
