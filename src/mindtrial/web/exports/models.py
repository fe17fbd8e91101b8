"""What a loaded study dataset says that the enrolment records do not hold themselves."""

from __future__ import annotations

from django.db import models

from mindtrial.web.enrolment.models import Participant


class ImportedRecord(models.Model):
    """The dataset's own labels for a loaded referral, so an export gives them back."""

    participant = models.OneToOneField(
        Participant, on_delete=models.PROTECT, related_name="imported"
    )
    referral_id = models.CharField(max_length=64)
    stage = models.CharField(max_length=16)
    exclusion_reason = models.TextField(blank=True, default="")
    has_exclusion_reason = models.BooleanField(default=False)
    site_blank = models.BooleanField(default=False)
    cohort_label = models.CharField(max_length=64, blank=True, default="")
    has_cohort = models.BooleanField(default=False)
    in_screening = models.BooleanField(
        default=True, help_text="False when the dataset had no screening row for them"
    )

    def __str__(self) -> str:
        return f"imported {self.referral_id}"
