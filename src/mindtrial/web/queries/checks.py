"""Automatic data checks: each reads the stored records of some participants and returns
findings; :func:`mindtrial.web.queries.services.queries_run_checks` opens one query per new
finding.

Every limit comes from data: instrument item ranges from the instrument YAML, covariate
ranges (ages, doses) from the protocol, required baseline forms from the protocol's week-0
assessments, the session calendar from the cohort and the protocol. No check names an
instrument, covariate or protocol.

A finding's ``key`` names the check, the form, the field and the value, so running the
checks again finds the same key and opens nothing new; a corrected value that is still
wrong is a new finding.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from mindtrial.instruments.schema import Instrument, ItemType
from mindtrial.protocols import Protocol
from mindtrial.web.checkin.models import CheckIn
from mindtrial.web.common import latest_today
from mindtrial.web.enrolment.calendar import cohort_sessions
from mindtrial.web.enrolment.models import BaselineAssessment, Consent, Participant, Status
from mindtrial.web.enrolment.services import COVARIATES, baseline_steps
from mindtrial.web.programme.models import Attendance
from mindtrial.web.safety.models import AdverseEvent
from mindtrial.web.studies.protocol_access import get_instrument
from mindtrial.web.toxicology.models import ToxTest

KEY_LENGTH = 200


@dataclass(frozen=True)
class Finding:
    participant_id: int
    check: str
    form: str
    field: str
    value: str
    message: str

    @property
    def key(self) -> str:
        return f"{self.check}|{self.form}|{self.field}|{self.value}"[:KEY_LENGTH]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _shown(number: float) -> str:
    return f"{number:g}"


def _out_of_range(
    value: Any, low: float | None, high: float | None, what: str
) -> tuple[str, str] | None:
    """(value as text, message) when ``value`` is a number outside ``low..high``."""
    number = _number(value)
    if number is None or (low is None and high is None):
        return None
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f"{_shown(low) if low is not None else '…'} to {_shown(high) if high is not None else '…'}"
        return _shown(number), f"{what} is {_shown(number)}, outside the allowed {bounds}."
    return None


def _instrument_findings(
    participant_id: int,
    form: str,
    instrument: Instrument,
    answers: Mapping[str, Any],
) -> list[Finding]:
    found = []
    for item in instrument.items:
        if item.type not in (ItemType.INTEGER, ItemType.NUMBER) or item.id not in answers:
            continue
        problem = _out_of_range(answers[item.id], item.min, item.max, item.id)
        if problem is not None:
            found.append(Finding(participant_id, "range", form, item.id, *problem))
    return found


def _instrument(instrument_id: str) -> Instrument | None:
    try:
        return get_instrument(instrument_id)
    except KeyError:
        return None


def values_out_of_range(participants: QuerySet[Participant], protocol: Protocol) -> list[Finding]:
    """Baseline and check-in answers outside their item's range; baseline characteristics
    (ages, doses…) outside the protocol's covariate range."""
    found: list[Finding] = []
    covariates = {c.name: c for c in protocol.baseline_covariates}
    for b in BaselineAssessment.objects.filter(participant__in=participants).order_by("id"):
        form = f"Baseline: {b.instrument}"
        answers = b.answers if isinstance(b.answers, dict) else {}
        if b.instrument == COVARIATES:
            for name, value in answers.items():
                covariate = covariates.get(name)
                if covariate is None:
                    continue
                problem = _out_of_range(
                    value, covariate.minimum, covariate.maximum, covariate.label
                )
                if problem is not None:
                    found.append(Finding(b.participant_id, "range", form, name, *problem))
            continue
        instrument = _instrument(b.instrument)
        if instrument is not None:
            found.extend(_instrument_findings(b.participant_id, form, instrument, answers))
    for c in CheckIn.objects.filter(participant__in=participants).order_by("id"):
        answers = c.answers if isinstance(c.answers, dict) else {}
        for instrument_id, items in answers.items():
            instrument = _instrument(str(instrument_id))
            if instrument is not None and isinstance(items, dict):
                form = f"Check-in week {c.week}: {instrument_id}"
                found.extend(_instrument_findings(c.participant_id, form, instrument, items))
    return found


def missing_required_forms(
    participants: QuerySet[Participant], protocol: Protocol
) -> list[Finding]:
    """A randomized participant without screening, consent or a baseline form."""
    randomized = participants.filter(status=Status.RANDOMIZED)
    consented = set(
        Consent.objects.filter(participant__in=randomized).values_list("participant_id", flat=True)
    )
    recorded: dict[int, set[str]] = {}
    for pid, instrument in BaselineAssessment.objects.filter(
        participant__in=randomized
    ).values_list("participant_id", "instrument"):
        recorded.setdefault(pid, set()).add(instrument)
    found = []
    for p in randomized.select_related("screening", "study"):
        if not hasattr(p, "screening"):
            found.append(_missing(p, "Screening"))
        if p.pk not in consented:
            found.append(_missing(p, "Consent"))
        for step in baseline_steps(p):
            if step not in recorded.get(p.pk, set()):
                found.append(_missing(p, f"Baseline: {step}"))
    return found


def _missing(p: Participant, form: str) -> Finding:
    return Finding(
        p.pk, "missing", form, "", "", f"{form} is missing for a randomized participant."
    )


def impossible_dates(participants: QuerySet[Participant], today: dt.date) -> list[Finding]:
    """Dates after today, consent before referral, AE onset or a test before consent."""
    found: list[Finding] = []
    consent_dates: dict[int, dt.date] = {}
    for c in Consent.objects.filter(participant__in=participants).select_related("participant"):
        consent_dates[c.participant_id] = c.consent_date
        shown = c.consent_date.isoformat()
        if c.consent_date > today:
            found.append(
                Finding(
                    c.participant_id,
                    "date",
                    "Consent",
                    "consent_date",
                    shown,
                    f"Consent date {shown} is in the future.",
                )
            )
        if c.consent_date < c.participant.referral_date:
            found.append(
                Finding(
                    c.participant_id,
                    "date",
                    "Consent",
                    "consent_date",
                    shown,
                    f"Consent date {shown} is before the referral date "
                    f"{c.participant.referral_date.isoformat()}.",
                )
            )
    dated: Iterable[tuple[int, str, str, dt.date | None]] = [
        *(
            (e.participant_id, f"Adverse event {e.code}", "onset_date", e.onset_date)
            for e in AdverseEvent.objects.filter(participant__in=participants)
        ),
        *(
            (t.participant_id, f"Test week {t.week}", "test_date", t.test_date)
            for t in ToxTest.objects.filter(participant__in=participants)
        ),
    ]
    for pid, form, field, when in dated:
        if when is None:
            continue
        text = when.isoformat()
        consented = consent_dates.get(pid)
        if when > today:
            found.append(
                Finding(pid, "date", form, field, text, f"{form}: {text} is in the future.")
            )
        elif consented is not None and when < consented:
            found.append(
                Finding(
                    pid,
                    "date",
                    form,
                    field,
                    text,
                    f"{form}: {text} is before consent ({consented.isoformat()}).",
                )
            )
    return found


def attendance_beyond_calendar(
    participants: QuerySet[Participant], protocol: Protocol, now: dt.datetime
) -> list[Finding]:
    """Attendance for a week with no session in the calendar, or whose session has not
    started yet, or for a participant in no cohort."""
    found = []
    n_sessions = protocol.session.n_sessions
    calendars: dict[int, dict[int, dt.datetime]] = {}
    for a in (
        Attendance.objects.filter(participant__in=participants)
        .select_related("participant__cohort__study")
        .order_by("id")
    ):
        form, field, value = f"Attendance week {a.week}", "status", a.get_status_display()
        cohort = a.participant.cohort
        if cohort is None:
            message = (
                f"Attendance is recorded for week {a.week} but the participant is in no cohort."
            )
        elif not 1 <= a.week <= n_sessions:
            message = (
                f"Attendance is recorded for week {a.week}; sessions are weeks 1 to {n_sessions}."
            )
        else:
            if cohort.pk not in calendars:
                calendars[cohort.pk] = {s.week: s.starts_at for s in cohort_sessions(cohort)}
            starts = calendars[cohort.pk].get(a.week)
            if starts is None or starts <= now:
                continue
            message = (
                f"Attendance is recorded for week {a.week}, whose session is on "
                f"{starts.date().isoformat()} (not yet held)."
            )
        found.append(Finding(a.participant_id, "calendar", form, field, value, message))
    return found


CheckFunction = Callable[[QuerySet[Participant], Protocol, dt.datetime], list[Finding]]

CHECKS: dict[str, tuple[str, CheckFunction]] = {
    "range": ("Values out of range", lambda ps, pr, now: values_out_of_range(ps, pr)),
    "missing": ("Missing required forms", lambda ps, pr, now: missing_required_forms(ps, pr)),
    "date": ("Impossible dates", lambda ps, pr, now: impossible_dates(ps, latest_today(now))),
    "calendar": ("Attendance beyond the calendar", attendance_beyond_calendar),
}
"""Every automatic check: id → (label, function)."""


def run_checks(
    participants: QuerySet[Participant], protocol: Protocol, now: dt.datetime
) -> list[Finding]:
    """Every finding of every check, in check order."""
    found: list[Finding] = []
    for _label, check in CHECKS.values():
        found.extend(check(participants, protocol, now))
    return found
