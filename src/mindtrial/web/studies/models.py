"""Study set-up: a study copies what it needs from its protocol when it is created.

The allocation list (:class:`AllocationEntry`) is never exposed by a view, the API or an
admin page; only the randomization service reads it, and a participant's arm is reached
through :mod:`mindtrial.web.enrolment.selectors`, which hides it from blinded roles.
"""

from __future__ import annotations

import secrets
from typing import Any, ClassVar

from django.conf import settings
from django.db import models

PUBLIC_ID_BYTES = 8
"""Random bytes of a public id (16 hex characters)."""


def new_public_id() -> str:
    """An opaque id for URLs, pages and the API: random, so it says nothing of the arm,
    the creation order or the primary key."""
    return secrets.token_hex(PUBLIC_ID_BYTES)


class Study(models.Model):
    name = models.CharField(max_length=200)
    protocol_id = models.CharField(max_length=64)
    protocol_version = models.CharField(max_length=32)
    protocol_title = models.CharField(max_length=300)
    arms = models.JSONField(help_text="[{id, label}] in protocol order")
    ratio = models.JSONField(help_text="arm id -> allocation weight")
    block_sizes = models.JSONField()
    strata = models.JSONField(default=list, help_text="stratification field names")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when created from the command line by the operator.",
    )

    def __str__(self) -> str:
        return self.name

    @property
    def arm_ids(self) -> list[str]:
        return [str(arm["id"]) for arm in self.arms]

    def arm_label(self, arm_id: str) -> str:
        for arm in self.arms:
            if arm["id"] == arm_id:
                return str(arm["label"])
        raise KeyError(arm_id)


class Site(models.Model):
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="sites")
    code = models.SlugField(max_length=32)
    name = models.CharField(max_length=200)

    class Meta:
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(fields=["study", "code"], name="site_code_unique_in_study")
        ]
        ordering: ClassVar[list[str]] = ["code"]

    def __str__(self) -> str:
        return self.name


class StudyAccess(models.Model):
    """A user's access to a study, limited to one site when ``site`` is set (like a REDCap DAG)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="study_access"
    )
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="access")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True)

    class Meta:
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(
                fields=["user", "study", "site"], name="access_unique", nulls_distinct=False
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} -> {self.study_id}/{self.site_id or '*'}"


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class Cohort(models.Model):
    """Participants who start together; every arm's group meets on the same day and time."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="cohorts")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    number = models.PositiveIntegerField()
    start_date = models.DateField()
    weekday = models.IntegerField(choices=Weekday.choices)
    meeting_time = models.TimeField()
    timezone = models.CharField(max_length=64)

    class Meta:
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(fields=["study", "number"], name="cohort_number_unique")
        ]
        ordering: ClassVar[list[str]] = ["number"]

    def __str__(self) -> str:
        return f"Cohort {self.number}"


class Group(models.Model):
    """One arm's group in a cohort. ``code`` (e.g. ``G-3A``, a random letter) and
    ``public_id`` (random) are all blinded roles ever see; the primary key never leaves
    the database (a cohort's groups are created in random order, but it is not needed)."""

    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, related_name="groups")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    arm_id = models.CharField(max_length=64)
    code = models.CharField(max_length=16)
    meeting_link = models.URLField(blank=True, default="")
    facilitators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="facilitated_groups"
    )

    class Meta:
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(fields=["cohort", "arm_id"], name="one_group_per_arm"),
            models.UniqueConstraint(fields=["cohort", "code"], name="group_code_unique"),
        ]
        ordering: ClassVar[list[str]] = ["code"]

    def __str__(self) -> str:
        return self.code


class AllocationSource(models.TextChoices):
    GENERATED = "generated", "Generated at set-up"
    REDCAP_UPLOAD = "redcap_upload", "Uploaded REDCap allocation table"


class AllocationEntry(models.Model):
    """One line of the concealed list. ``assigned`` flips once, under a row lock."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="+")
    stratum = models.CharField(max_length=200, blank=True, default="")
    sequence = models.PositiveIntegerField()
    block = models.PositiveIntegerField(default=0)
    block_size = models.PositiveIntegerField(default=0)
    arm_id = models.CharField(max_length=64)
    source = models.CharField(max_length=16, choices=AllocationSource.choices)
    assigned = models.BooleanField(default=False)

    class Meta:
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(
                fields=["study", "stratum", "sequence"], name="allocation_sequence_unique"
            )
        ]
        indexes: ClassVar[list[Any]] = [
            models.Index(fields=["study", "stratum", "assigned", "sequence"], name="alloc_next")
        ]

    def __str__(self) -> str:
        # Deliberately without the arm: this string may end up in a log or an error.
        return f"allocation {self.stratum or '-'}#{self.sequence}"
