"""Data queries (a data resolution workflow): a question about one recorded value, its
answer and its closing, each step kept in the query's thread and in the audit trail."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models

from mindtrial.web.enrolment.models import Participant
from mindtrial.web.studies.models import Study


class QueryStatus(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed"


class QueryOrigin(models.TextChoices):
    MANUAL = "manual", "Data manager"
    CHECK = "check", "Automatic check"


class DataQuery(models.Model):
    """A question about one value of one participant's form (``form`` / ``field``)."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="+")
    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="data_queries"
    )
    form = models.CharField(
        max_length=64, help_text="e.g. 'Baseline: ocs', 'Adverse event AE00001'"
    )
    field = models.CharField(max_length=64, blank=True, default="")
    value = models.CharField(max_length=200, blank=True, default="", help_text="as recorded")
    message = models.TextField()
    status = models.CharField(max_length=16, choices=QueryStatus.choices, default=QueryStatus.OPEN)
    origin = models.CharField(max_length=16, choices=QueryOrigin.choices)
    check_key = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="The automatic check's finding: the same finding never opens a second query",
    )
    opened_at = models.DateTimeField()
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the checks ran from the command line.",
    )
    answer = models.TextField(blank=True, default="")
    corrected = models.BooleanField(
        null=True, blank=True, help_text="The answer says the value was corrected"
    )
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = "data query"
        verbose_name_plural = "data queries"
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(
                fields=["participant", "check_key"],
                condition=~models.Q(check_key=""),
                name="one_query_per_finding",
            )
        ]
        indexes: ClassVar[list[Any]] = [
            models.Index(fields=["study", "status"], name="query_study_status")
        ]
        ordering: ClassVar[list[str]] = ["-opened_at", "-id"]

    def __str__(self) -> str:
        return f"query {self.pk}"


class EntryKind(models.TextChoices):
    OPEN = "open", "Opened"
    ANSWER = "answer", "Answered"
    CLOSE = "close", "Closed"
    REOPEN = "reopen", "Re-opened"


class QueryEntry(models.Model):
    """One step of a query's thread: who said what, when."""

    query = models.ForeignKey(DataQuery, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=EntryKind.choices)
    text = models.TextField(blank=True, default="")
    at = models.DateTimeField()
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = "data query step"
        ordering: ClassVar[list[str]] = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} of query {self.query_id}"
