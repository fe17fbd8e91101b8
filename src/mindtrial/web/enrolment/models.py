"""Participants and each step of their enrolment; the status field is the CONSORT funnel."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models

from mindtrial.web.studies.models import AllocationEntry, Cohort, Group, Site, Study


class Status(models.TextChoices):
    REFERRED = "referred", "Referred"
    SCREEN_FAILED = "screen_failed", "Not eligible at screening"
    ELIGIBLE = "eligible", "Eligible, awaiting consent"
    CONSENTED = "consented", "Consented, baseline in progress"
    BASELINE_COMPLETE = "baseline_complete", "Baseline complete, ready to randomize"
    RANDOMIZED = "randomized", "Randomized"
    NOT_RANDOMIZED = "not_randomized", "Left before randomization"


FUNNEL_ORDER = [
    Status.REFERRED,
    Status.SCREEN_FAILED,
    Status.ELIGIBLE,
    Status.CONSENTED,
    Status.BASELINE_COMPLETE,
    Status.RANDOMIZED,
    Status.NOT_RANDOMIZED,
]


class ReferralSource(models.TextChoices):
    CLINIC = "clinic", "Clinic or prescriber"
    SELF = "self", "Self-referral"
    ADVERTISEMENT = "advertisement", "Advertisement"
    COMMUNITY = "community", "Community organisation"
    OTHER = "other", "Other"


class Participant(models.Model):
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="participants")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="participants")
    code = models.CharField(max_length=16)
    referral_source = models.CharField(max_length=32, choices=ReferralSource.choices)
    referral_date = models.DateField()
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.REFERRED)
    status_reason = models.TextField(blank=True, default="")
    covariates = models.JSONField(default=dict, blank=True)
    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, null=True, blank=True)
    group = models.ForeignKey(Group, on_delete=models.PROTECT, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(fields=["study", "code"], name="participant_code_unique")
        ]
        ordering: ClassVar[list[str]] = ["code"]

    def __str__(self) -> str:
        return self.code


class Screening(models.Model):
    participant = models.OneToOneField(
        Participant, on_delete=models.PROTECT, related_name="screening"
    )
    record = models.JSONField()
    eligible = models.BooleanField()
    failed = models.JSONField(help_text="every failed criterion: id, kind, description, reason")
    missing = models.JSONField(help_text="fields the criteria needed that were not given")
    protocol_version = models.CharField(max_length=32)
    screened_at = models.DateTimeField(auto_now_add=True)
    screened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    def __str__(self) -> str:
        return f"screening of {self.participant_id}"


class Consent(models.Model):
    participant = models.OneToOneField(
        Participant, on_delete=models.PROTECT, related_name="consent"
    )
    form_version = models.CharField(max_length=64)
    consent_date = models.DateField()
    obtained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"consent of {self.participant_id}"


class BaselineAssessment(models.Model):
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="baseline")
    instrument = models.CharField(max_length=64)
    answers = models.JSONField()
    scores = models.JSONField(help_text="ScoreResult.to_dict() of the instruments layer")
    recorded_at = models.DateTimeField(auto_now=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(
                fields=["participant", "instrument"], name="one_baseline_per_instrument"
            )
        ]

    def __str__(self) -> str:
        return f"{self.instrument} of {self.participant_id}"


class Randomization(models.Model):
    """The participant's assignment: one allocation entry, once, never chosen by a person."""

    participant = models.OneToOneField(
        Participant, on_delete=models.PROTECT, related_name="randomization"
    )
    entry = models.OneToOneField(AllocationEntry, on_delete=models.PROTECT, related_name="+")
    randomized_at = models.DateTimeField(auto_now_add=True)
    randomized_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    def __str__(self) -> str:
        return f"randomization of {self.participant_id}"
