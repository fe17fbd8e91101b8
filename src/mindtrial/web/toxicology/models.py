"""Observed toxicology tests: one per participant and scheduled day, a result per analyte."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models

from mindtrial.web.enrolment.models import Participant


class TestStatus(models.TextChoices):
    COMPLETED = "completed", "Completed (result per analyte)"
    INVALID = "invalid", "Invalid test"
    REFUSED = "refused", "Refused"
    MISSED = "missed", "Missed"


class ToxTest(models.Model):
    """``results`` maps every analyte of the protocol's panel to positive/negative/invalid."""

    weekly_record: ClassVar[str] = "tests"
    """A weekly record of the participant (see :mod:`mindtrial.web.enrolment.weekly`)."""

    __test__ = False  # not a pytest class

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="tests")
    week = models.PositiveIntegerField()
    test_date = models.DateField(null=True, blank=True, help_text="empty for loaded tests")
    status = models.CharField(max_length=16, choices=TestStatus.choices)
    reason = models.TextField(blank=True, default="")
    results = models.JSONField(default=dict)
    capture_path = models.CharField(max_length=300, blank=True, default="")
    capture_sha256 = models.CharField(max_length=64, blank=True, default="")
    capture_content_type = models.CharField(max_length=32, blank=True, default="")
    recorded_at = models.DateTimeField(auto_now=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(fields=["participant", "week"], name="one_test_per_week")
        ]
        ordering: ClassVar[list[str]] = ["participant_id", "week"]

    def __str__(self) -> str:
        return f"test {self.participant_id} week {self.week}"
