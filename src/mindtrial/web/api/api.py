"""The JSON API: the same selectors and services as the pages, so the same blinding.

Authentication: ``Authorization: Bearer <token>`` (``mindtrial user token USERNAME``) or the
signed-in session (with CSRF) for the browser. Errors: 404 ``{"detail": "Not found"}`` for
missing *and* forbidden objects; 422 with ``detail`` as a list of ``{loc, msg}`` naming the
field for bad payloads (nothing is changed); 403 when the role may not write.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, NinjaAPI, Schema, Status
from ninja.security import HttpBearer, django_auth

from mindtrial.web.accounts.models import User
from mindtrial.web.accounts.services import api_token_user
from mindtrial.web.common import Forbidden, NotFound, ServiceError
from mindtrial.web.enrolment import services as enrolment
from mindtrial.web.enrolment.models import BaselineAssessment, Participant
from mindtrial.web.enrolment.selectors import (
    access_participant_by_id,
    funnel_counts,
    participant_view,
    participant_views,
    participants_for,
    sees_enrolment_record,
)
from mindtrial.web.studies import services as study_services
from mindtrial.web.studies.selectors import (
    access_cohort_by_public_id,
    access_site_by_id,
    access_study_by_id,
    cohort_views,
    sites_for,
    studies_for_user,
    study_view,
)


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        user = api_token_user(token)
        if user is not None:
            request.user = user
        return user


api = NinjaAPI(
    title="MindTrial",
    version="1",
    description="Study set-up and enrolment. Blinded roles never receive an arm.",
    auth=[TokenAuth(), django_auth],
    urls_namespace="api",
)


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


@api.exception_handler(NotFound)
def _not_found(request: HttpRequest, exc: NotFound) -> HttpResponse:
    return api.create_response(request, {"detail": "Not found"}, status=404)


@api.exception_handler(ServiceError)
def _refused(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    detail = [
        {"loc": ["body", field] if field else ["body"], "msg": msg}
        for field, msg in exc.errors.items()
    ]
    status = 403 if isinstance(exc, Forbidden) else 422
    return api.create_response(request, {"detail": detail}, status=status)


class ArmOut(Schema):
    id: str
    label: str


class StudyOut(Schema):
    id: int
    name: str
    protocol_id: str | None = None
    arms: list[ArmOut] | None = None


class SiteOut(Schema):
    id: int
    code: str
    name: str


class GroupOut(Schema):
    id: str = Field(description="Random public id (never the arm, order or database key).")
    code: str
    label: str
    arm: str | None = Field(None, description="Empty for blinded roles.")
    meeting_link: str | None = Field(None, description="Empty for blinded roles.")
    facilitators: list[str] | None = Field(None, description="Empty for blinded roles.")


class CohortOut(Schema):
    id: str = Field(description="Random public id.")
    number: int
    start_date: dt.date
    weekday: int
    meeting_time: dt.time
    timezone: str
    groups: list[GroupOut]


class FunnelRow(Schema):
    status: str
    label: str
    count: int


class StudyDetailOut(StudyOut):
    funnel: list[FunnelRow]
    sites: list[SiteOut]
    cohorts: list[CohortOut]


class ParticipantOut(Schema):
    id: int
    code: str
    site: str
    status: str
    status_label: str = Field(
        description="The status in words, as the pages show it: a participant who withdrew or "
        "was lost to follow-up is shown so (``status`` stays ``randomized``)."
    )
    status_reason: str
    referral_source: str
    referral_date: dt.date
    cohort: int | None = Field(description="The cohort's number.")
    cohort_id: str | None = Field(None, description="The cohort's public id.")
    group: str | None = Field(description="The group's label (its neutral code if blinded).")
    group_id: str | None = Field(None, description="The group's public id.")
    arm: str | None = None


class FailedOut(Schema):
    id: str
    kind: str
    description: str
    reason: str


class BaselineOut(Schema):
    instrument: str
    scores: dict[str, Any]


class ParticipantDetailOut(ParticipantOut):
    eligible: bool | None
    failed_criteria: list[FailedOut]
    consent_form_version: str | None
    consent_date: dt.date | None
    baseline: list[BaselineOut]


class ReferIn(Schema):
    site_id: int
    referral_source: str
    referral_date: dt.date


class ScreeningIn(Schema):
    record: dict[str, bool | int | float | str | None]


class ConsentIn(Schema):
    form_version: str
    consent_date: dt.date
    obtained_by: str | None = None


class BaselineIn(Schema):
    answers: dict[str, Any]
    reason: str = ""


class CohortIn(Schema):
    cohort_id: str = Field(description="The cohort's public id (``id`` in the study's cohorts).")
    reason: str = Field(
        default="",
        max_length=500,
        description="Why the participant moves (needed when data is recorded already or the "
        "new cohort has ended; audited).",
    )


class StudyIn(Schema):
    protocol_id: str
    name: str


class SiteIn(Schema):
    code: str
    name: str


class NewCohortIn(Schema):
    start_date: dt.date
    weekday: int
    meeting_time: dt.time
    timezone: str


def _study_out(user: User, study: Any) -> dict[str, Any]:
    return asdict(study_view(user, study))


def _participant_out(user: User, p: Participant) -> dict[str, Any]:
    return asdict(participant_view(user, p))


def _participant_detail(user: User, p: Participant) -> dict[str, Any]:
    out = _participant_out(user, p)
    record = sees_enrolment_record(user)
    screening = getattr(p, "screening", None) if record and hasattr(p, "screening") else None
    consent = p.consent if record and hasattr(p, "consent") else None
    out.update(
        eligible=screening.eligible if screening else None,
        failed_criteria=list(screening.failed) if screening else [],
        consent_form_version=consent.form_version if consent else None,
        consent_date=consent.consent_date if consent else None,
        baseline=[
            {
                "instrument": b.instrument,
                "scores": dict(b.scores.get("scores", {})) if b.scores else {},
            }
            for b in BaselineAssessment.objects.filter(participant=p).order_by("instrument")
            if record
        ],
    )
    return out


@api.get("/studies", response=list[StudyOut])
def list_studies(request: HttpRequest) -> list[dict[str, Any]]:
    user = _user(request)
    return [_study_out(user, s) for s in studies_for_user(user)]


@api.get("/studies/{study_id}", response=StudyDetailOut)
def get_study(request: HttpRequest, study_id: int) -> dict[str, Any]:
    user = _user(request)
    study = access_study_by_id(user, study_id)
    out = _study_out(user, study)
    out["funnel"] = [
        {"status": s, "label": lbl, "count": n} for s, lbl, n in funnel_counts(user, study)
    ]
    out["sites"] = list(sites_for(user, study).values("id", "code", "name"))
    out["cohorts"] = [asdict(c) for c in cohort_views(user, study)]
    return out


@api.post("/studies", response={201: StudyOut})
def create_study(request: HttpRequest, payload: StudyIn) -> Status[dict[str, Any]]:
    user = _user(request)
    if not user.is_administrator:
        raise Forbidden("Only administrators can change the study set-up.")
    study = study_services.study_create(
        acting_user=user, protocol_id=payload.protocol_id, name=payload.name
    )
    return Status(201, _study_out(user, study))


@api.post("/studies/{study_id}/sites", response={201: SiteOut})
def create_site(request: HttpRequest, study_id: int, payload: SiteIn) -> Status[dict[str, Any]]:
    user = _user(request)
    study = access_study_by_id(user, study_id)
    site = study_services.site_create(
        acting_user=user, study=study, code=payload.code, name=payload.name
    )
    return Status(201, {"id": site.pk, "code": site.code, "name": site.name})


@api.post("/studies/{study_id}/cohorts", response={201: StudyDetailOut})
def create_cohort(
    request: HttpRequest, study_id: int, payload: NewCohortIn
) -> Status[dict[str, Any]]:
    user = _user(request)
    study = access_study_by_id(user, study_id)
    study_services.cohort_create(acting_user=user, study=study, **payload.model_dump())
    return Status(201, get_study(request, study_id))


@api.get("/studies/{study_id}/participants", response=list[ParticipantOut])
def list_participants(request: HttpRequest, study_id: int) -> list[dict[str, Any]]:
    user = _user(request)
    study = access_study_by_id(user, study_id)
    return [asdict(v) for v in participant_views(user, participants_for(user, study))]


@api.post("/studies/{study_id}/participants", response={201: ParticipantOut})
def refer_participant(
    request: HttpRequest, study_id: int, payload: ReferIn
) -> Status[dict[str, Any]]:
    user = _user(request)
    study = access_study_by_id(user, study_id)
    try:
        site = access_site_by_id(user, study, payload.site_id)
    except NotFound:
        raise ServiceError({"site_id": "No such site in this study (or not yours)."}) from None
    p = enrolment.participant_refer(
        acting_user=user,
        study=study,
        site=site,
        referral_source=payload.referral_source,
        referral_date=payload.referral_date,
    )
    return Status(201, _participant_out(user, p))


@api.get("/participants/{participant_id}", response=ParticipantDetailOut)
def get_participant(request: HttpRequest, participant_id: int) -> dict[str, Any]:
    user = _user(request)
    return _participant_detail(user, access_participant_by_id(user, participant_id))


@api.post("/participants/{participant_id}/screening", response=ParticipantDetailOut)
def screen_participant(
    request: HttpRequest, participant_id: int, payload: ScreeningIn
) -> dict[str, Any]:
    user = _user(request)
    p = access_participant_by_id(user, participant_id)
    enrolment.participant_screen(acting_user=user, participant=p, record=payload.record)
    return _participant_detail(user, access_participant_by_id(user, participant_id))


@api.post("/participants/{participant_id}/consent", response=ParticipantDetailOut)
def consent_participant(
    request: HttpRequest, participant_id: int, payload: ConsentIn
) -> dict[str, Any]:
    user = _user(request)
    p = access_participant_by_id(user, participant_id)
    obtained_by = user
    if payload.obtained_by:
        found = User.objects.filter(username=payload.obtained_by, is_active=True).first()
        if found is None:
            raise ServiceError({"obtained_by": f"No active staff user '{payload.obtained_by}'."})
        obtained_by = found
    enrolment.participant_consent(
        acting_user=user,
        participant=p,
        form_version=payload.form_version,
        consent_date=payload.consent_date,
        obtained_by=obtained_by,
    )
    return _participant_detail(user, access_participant_by_id(user, participant_id))


@api.post("/participants/{participant_id}/baseline/{instrument}", response=ParticipantDetailOut)
def record_baseline(
    request: HttpRequest, participant_id: int, instrument: str, payload: BaselineIn
) -> dict[str, Any]:
    user = _user(request)
    p = access_participant_by_id(user, participant_id)
    enrolment.participant_record_baseline(
        acting_user=user,
        participant=p,
        instrument_id=instrument,
        answers=payload.answers,
        reason=payload.reason,
    )
    return _participant_detail(user, access_participant_by_id(user, participant_id))


@api.post("/participants/{participant_id}/randomize", response=ParticipantDetailOut)
def randomize(request: HttpRequest, participant_id: int) -> dict[str, Any]:
    user = _user(request)
    p = access_participant_by_id(user, participant_id)
    enrolment.participant_randomize(acting_user=user, participant=p)
    return _participant_detail(user, access_participant_by_id(user, participant_id))


@api.post("/participants/{participant_id}/cohort", response=ParticipantDetailOut)
def assign_cohort(request: HttpRequest, participant_id: int, payload: CohortIn) -> dict[str, Any]:
    user = _user(request)
    p = access_participant_by_id(user, participant_id)
    try:
        cohort = access_cohort_by_public_id(user, payload.cohort_id)
    except NotFound:
        raise ServiceError({"cohort_id": "No such cohort."}) from None
    enrolment.participant_assign_cohort(
        acting_user=user, participant=p, cohort=cohort, reason=payload.reason
    )
    return _participant_detail(user, access_participant_by_id(user, participant_id))


# The weekly programme's endpoints (attendance, check-ins, toxicology, adverse events).
from mindtrial.web.api.programme import router as programme_router  # noqa: E402

api.add_router("", programme_router)
