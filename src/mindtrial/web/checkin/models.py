"""Participants' personal check-in links and their weekly check-ins.

A link's token is signed (``django.core.signing``) and names the link row; the row can be
revoked and expires. The short code (for reading out over the phone) is stored only as its
SHA-256. One check-in per participant and week; the submission's idempotency key makes a
retry after a dropped connection return the first submission instead of a second one.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models

from mindtrial.web.enrolment.models import Participant


class ParticipantLink(models.Model):
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="links")
    nonce = models.CharField(max_length=32, unique=True)
    code_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"link {self.pk} of {self.participant_id}"


class Source(models.TextChoices):
    PARTICIPANT = "participant", "Participant (personal link)"
    STAFF = "staff", "Entered by staff"
    IMPORT = "import", "Loaded from a study dataset"


class CheckIn(models.Model):
    """One week's answers: ``answers`` maps instrument id -> item id -> canonical text."""

    weekly_record: ClassVar[str] = "check-ins"
    """A weekly record of the participant (see :mod:`mindtrial.web.enrolment.weekly`)."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="checkins")
    week = models.PositiveIntegerField()
    answers = models.JSONField()
    scores = models.JSONField(default=dict, help_text="instrument id -> score id -> value")
    idempotency_key = models.CharField(max_length=64, unique=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    submitted_at = models.DateTimeField(auto_now_add=True)
    corrected_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(fields=["participant", "week"], name="one_checkin_per_week")
        ]
        ordering: ClassVar[list[str]] = ["participant_id", "week"]

    def __str__(self) -> str:
        return f"check-in {self.participant_id} week {self.week}"
