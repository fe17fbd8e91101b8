"""Every record of one participant that the user may correct, for the corrections page.

Coordinators, data managers and administrators correct everything; a facilitator only the
attendance of their own groups' members (the caller reached the participant through
:func:`~mindtrial.web.enrolment.selectors.access_participant_by_id`, which limits a
facilitator to those); every other role corrects nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.urls import reverse

from mindtrial.web.checkin.models import CheckIn, Source
from mindtrial.web.enrolment.access import STAFF_WRITERS
from mindtrial.web.enrolment.models import BaselineAssessment, Consent, Participant, Screening
from mindtrial.web.enrolment.services import (
    ENROLMENT_WRITERS,
    baseline_step_title,
    baseline_steps,
    scores_in_words,
)
from mindtrial.web.programme.models import Attendance
from mindtrial.web.programme.services import ATTENDANCE_WRITERS
from mindtrial.web.safety.models import RESOLVED_OUTCOMES, AdverseEvent
from mindtrial.web.safety.selectors import outcome_label, withdrawal_of
from mindtrial.web.toxicology.models import ToxTest

if TYPE_CHECKING:
    from mindtrial.web.accounts.models import User


@dataclass(frozen=True)
class Link:
    text: str
    url: str


@dataclass(frozen=True)
class CorrectableRecord:
    label: str
    """What the record is (e.g. "Screening", "Week 3 check-in")."""
    summary: str
    """What it says now, in a few words."""
    links: tuple[Link, ...]


@dataclass(frozen=True)
class Section:
    title: str
    records: list[CorrectableRecord]


def _allowed(user: User, roles: frozenset[str]) -> bool:
    return user.is_superuser or user.role in roles


def _url(name: str, participant: Participant, *args: str, **query: int) -> str:
    path = reverse(name, args=[participant.pk, *args])
    return f"{path}?{urlencode(query)}" if query else path


def _enrolment(participant: Participant) -> list[CorrectableRecord]:
    found: list[CorrectableRecord] = []
    screening = Screening.objects.filter(participant=participant).first()
    if screening is not None:
        if screening.eligible:
            summary = "Eligible"
        else:
            summary = "Not eligible: " + "; ".join(f["description"] for f in screening.failed)
        found.append(
            CorrectableRecord(
                "Screening",
                summary,
                (Link("Correct", _url("correct_screening", participant)),),
            )
        )
    consent = Consent.objects.filter(participant=participant).select_related("obtained_by")
    for c in consent:
        found.append(
            CorrectableRecord(
                "Consent",
                f"Form {c.form_version}, {c.consent_date.isoformat()}, {c.obtained_by.username}",
                (Link("Correct", _url("correct_consent", participant)),),
            )
        )
    recorded = {b.instrument: b for b in BaselineAssessment.objects.filter(participant=participant)}
    for step in baseline_steps(participant):
        record = recorded.get(step)
        if record is None:
            continue
        summary = scores_in_words(record) or "Recorded"
        found.append(
            CorrectableRecord(
                f"Baseline: {baseline_step_title(step)}",
                summary,
                (Link("Correct", _url("correct_baseline", participant, step)),),
            )
        )
    return found


def _checkins(participant: Participant) -> list[CorrectableRecord]:
    found = []
    for c in CheckIn.objects.filter(participant=participant).order_by("week"):
        scores = "; ".join(
            f"{inst}: " + ", ".join(f"{k} {v:g}" for k, v in s.items())
            for inst, s in c.scores.items()
        )
        links = (
            ()
            if c.source == Source.IMPORT
            else (Link("Correct", _url("checkin_correct", participant, week=c.week)),)
        )
        summary = scores or c.get_source_display()
        found.append(CorrectableRecord(f"Week {c.week} check-in", summary, links))
    return found


def _tests(participant: Participant) -> list[CorrectableRecord]:
    found = []
    for t in ToxTest.objects.filter(participant=participant).order_by("week"):
        positive = [a for a, r in t.results.items() if r == "positive"]
        summary = t.get_status_display()
        if t.status == "completed":
            summary = "Positive: " + ", ".join(positive) if positive else "All negative"
        found.append(
            CorrectableRecord(
                f"Week {t.week} test",
                summary,
                (Link("Correct", _url("correct_tox_test", participant, week=t.week)),),
            )
        )
    return found


def _attendance(participant: Participant) -> list[CorrectableRecord]:
    return [
        CorrectableRecord(
            f"Week {a.week} session",
            a.get_status_display(),
            (Link("Correct", _url("correct_attendance", participant, week=a.week)),),
        )
        for a in Attendance.objects.filter(participant=participant).order_by("week")
    ]


def _adverse_events(participant: Participant) -> list[CorrectableRecord]:
    found = []
    for e in AdverseEvent.objects.filter(participant=participant).order_by("code"):
        links = [Link("Correct", _url("correct_adverse_event", participant, ae=e.pk))]
        if e.outcome not in RESOLVED_OUTCOMES:
            links.append(Link("Follow up", _url("ae_follow_up", participant, ae=e.pk)))
        kind = "Serious adverse event" if e.serious else "Adverse event"
        summary = f"{kind}, {e.severity}; outcome: {outcome_label(e.outcome)}"
        if e.outcome_date:
            summary += f" ({e.outcome_date.isoformat()})"
        found.append(CorrectableRecord(e.code, summary, tuple(links)))
    return found


def _withdrawal(participant: Participant) -> list[CorrectableRecord]:
    withdrawal = withdrawal_of(participant)
    if withdrawal is None:
        return []
    return [
        CorrectableRecord(
            withdrawal.get_kind_display(),
            f"From week {withdrawal.week}: {withdrawal.reason}",
            (
                Link("Correct", _url("correct_withdrawal", participant)),
                Link("Undo", _url("undo_withdrawal", participant)),
            ),
        )
    ]


def correctable_records(user: User, participant: Participant) -> list[Section]:
    """The participant's records the user may correct, by kind (empty kinds left out)."""
    sections: list[Section] = []
    if _allowed(user, ENROLMENT_WRITERS):
        sections.append(Section("Enrolment", _enrolment(participant)))
    if _allowed(user, STAFF_WRITERS):
        sections.append(Section("Check-ins", _checkins(participant)))
        sections.append(Section("Toxicology tests", _tests(participant)))
    if _allowed(user, ATTENDANCE_WRITERS):
        sections.append(Section("Attendance", _attendance(participant)))
    if _allowed(user, STAFF_WRITERS):
        sections.append(Section("Adverse events", _adverse_events(participant)))
        sections.append(Section("Withdrawal", _withdrawal(participant)))
    return [s for s in sections if s.records]
