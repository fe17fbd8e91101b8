"""JSON API for the weekly programme: attendance, staff-entered check-ins, toxicology tests
and adverse events. Mounted on :data:`mindtrial.web.api.api.api` (same auth, same error
shapes); each endpoint reaches the participant through ``access_participant_by_id`` and
calls one service, so the pages' blinding and audit hold here too. No answer names an arm.

Bad payloads get 422 with ``detail`` as a list of ``{loc, msg}`` naming the field (from the
schema or from the service) and change nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from mindtrial.web.accounts.models import User
from mindtrial.web.checkin.models import Source
from mindtrial.web.checkin.services import checkin_submit
from mindtrial.web.enrolment.selectors import access_participant_by_id
from mindtrial.web.programme.services import attendance_record
from mindtrial.web.safety.services import adverse_event_report
from mindtrial.web.toxicology.services import tox_test_record

router = Router(tags=["weekly programme"])


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


class AttendanceIn(Schema):
    week: int = Field(ge=1)
    status: str = Field(description="present, absent or excused")
    reason: str = Field("", description="Required when changing a saved mark.")


class AttendanceOut(Schema):
    participant: str
    week: int
    status: str


class CheckInIn(Schema):
    week: int = Field(ge=1)
    idempotency_key: str = Field(
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Choose one per check-in; a retry with the same key returns the saved one.",
    )
    answers: dict[str, dict[str, Any]] = Field(
        description="instrument id -> item id -> answer, for the instruments due that week"
    )
    declined: dict[str, list[str]] = Field(
        default_factory=dict,
        description="instrument id -> item ids the participant preferred not to answer "
        "(only where the instrument allows it; scored by its missing-item rule)",
    )


class CheckInOut(Schema):
    participant: str
    week: int
    source: str
    created: bool
    answers: dict[str, Any]
    scores: dict[str, Any]


class ToxTestIn(Schema):
    test_date: dt.date
    status: str = Field(description="completed, invalid, refused or missed")
    results: dict[str, str] = Field(default_factory=dict, description="analyte -> result")
    reason: str = ""


class ToxTestOut(Schema):
    participant: str
    week: int
    test_date: dt.date | None
    status: str
    results: dict[str, str]
    reason: str


class AdverseEventIn(Schema):
    answers: dict[str, Any] = Field(description="the protocol's adverse-event form")


class AdverseEventOut(Schema):
    participant: str
    code: str
    onset_week: int
    onset_date: dt.date | None
    severity: str
    serious: bool
    related: bool
    expected: bool


@router.post("/participants/{participant_id}/attendance", response={200: AttendanceOut})
def record_attendance(
    request: HttpRequest, participant_id: int, payload: AttendanceIn
) -> dict[str, Any]:
    user = _user(request)
    p = access_participant_by_id(user, participant_id)
    record = attendance_record(
        acting_user=user,
        participant=p,
        week=payload.week,
        status=payload.status,
        reason=payload.reason,
    )
    return {"participant": p.code, "week": record.week, "status": record.status}


@router.post("/participants/{participant_id}/checkins", response={200: CheckInOut, 201: CheckInOut})
def submit_checkin(
    request: HttpRequest, participant_id: int, payload: CheckInIn
) -> Status[dict[str, Any]]:
    """Staff enter a participant's check-in (source ``staff``); 201 when saved, 200 when the
    same idempotency key was seen before (nothing saved twice)."""
    user = _user(request)
    p = access_participant_by_id(user, participant_id)
    checkin, created = checkin_submit(
        acting_user=user,
        participant=p,
        week=payload.week,
        answers=payload.answers,
        idempotency_key=payload.idempotency_key,
        source=Source.STAFF,
        skipped=payload.declined,
    )
    body = {
        "participant": p.code,
        "week": checkin.week,
        "source": checkin.source,
        "created": created,
        "answers": dict(checkin.answers),
        "scores": dict(checkin.scores or {}),
    }
    return Status(201 if created else 200, body)


@router.post("/participants/{participant_id}/toxicology", response={201: ToxTestOut})
def record_tox_test(
    request: HttpRequest, participant_id: int, payload: ToxTestIn
) -> Status[dict[str, Any]]:
    user = _user(request)
    p = access_participant_by_id(user, participant_id)
    test = tox_test_record(
        acting_user=user,
        participant=p,
        test_date=payload.test_date,
        status=payload.status,
        results=payload.results,
        reason=payload.reason,
    )
    return Status(
        201,
        {
            "participant": p.code,
            "week": test.week,
            "test_date": test.test_date,
            "status": test.status,
            "results": dict(test.results),
            "reason": test.reason,
        },
    )


@router.post("/participants/{participant_id}/adverse-events", response={201: AdverseEventOut})
def report_adverse_event(
    request: HttpRequest, participant_id: int, payload: AdverseEventIn
) -> Status[dict[str, Any]]:
    user = _user(request)
    p = access_participant_by_id(user, participant_id)
    event = adverse_event_report(acting_user=user, participant=p, answers=payload.answers)
    return Status(
        201,
        {
            "participant": p.code,
            "code": event.code,
            "onset_week": event.onset_week,
            "onset_date": event.onset_date,
            "severity": event.severity,
            "serious": event.serious,
            "related": event.related,
            "expected": event.expected,
        },
    )
