"""Attendance per weekly session and the M-ROCC week-8 continuation decision."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models

from mindtrial.web.enrolment.models import Participant


class AttendanceStatus(models.TextChoices):
    PRESENT = "present", "Present"
    ABSENT = "absent", "Absent"
    EXCUSED = "excused", "Excused"


class Attendance(models.Model):
    """Whether a participant attended their group's session of one study week."""

    weekly_record: ClassVar[str] = "attendance"
    """A weekly record of the participant (see :mod:`mindtrial.web.enrolment.weekly`)."""

    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="attendance"
    )
    week = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=AttendanceStatus.choices)
    recorded_at = models.DateTimeField(auto_now=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(fields=["participant", "week"], name="one_attendance_per_week")
        ]
        ordering: ClassVar[list[str]] = ["participant_id", "week"]

    def __str__(self) -> str:
        return f"attendance {self.participant_id} week {self.week}"


class ContinuationDecision(models.Model):
    """A participant's choice at the protocol's continuation point (M-ROCC week 8)."""

    participant = models.OneToOneField(
        Participant, on_delete=models.PROTECT, related_name="continuation"
    )
    continues = models.BooleanField()
    decided_on = models.DateField()
    recorded_at = models.DateTimeField(auto_now=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    def __str__(self) -> str:
        return f"continuation of {self.participant_id}"
