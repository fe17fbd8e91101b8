"""Enrolment pages: participant list and detail, and one page per step of the path."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render

from mindtrial.web.accounts.models import BLINDED_ROLES, User
from mindtrial.web.common import ServiceError
from mindtrial.web.enrolment import services
from mindtrial.web.enrolment.forms import (
    CohortAssignForm,
    ConsentForm,
    CovariateForm,
    ExitForm,
    InstrumentForm,
    RandomizeForm,
    ReferForm,
    ScreeningForm,
)
from mindtrial.web.enrolment.lists import participant_list_rows, participant_list_spec
from mindtrial.web.enrolment.models import BaselineAssessment, Participant
from mindtrial.web.enrolment.selectors import (
    access_participant_by_id,
    participants_for,
)
from mindtrial.web.listing import list_response
from mindtrial.web.studies.models import Cohort
from mindtrial.web.studies.protocol_access import get_instrument, load_protocol
from mindtrial.web.studies.selectors import access_study_by_id, sites_for
from mindtrial.web.viewutils import AuthedRequest, add_service_errors, require_role, staff_view

WRITERS = services.ENROLMENT_WRITERS


def _form_page(
    request: AuthedRequest, participant: Participant, form: Any, title: str, submit: str
) -> HttpResponse:
    return render(
        request,
        "form.html",
        {
            "form": form,
            "title": f"{title} · {participant.code}",
            "submit": submit,
            "participant": participant,
        },
    )


@staff_view
def participant_list(request: AuthedRequest, study_id: int) -> HttpResponse:
    study = access_study_by_id(request.user, study_id)
    return list_response(
        request,
        participant_list_spec(request.user, study),
        participant_list_rows(participants_for(request.user, study)),
        template="enrolment/list.html",
        context={
            "study": study,
            "can_write": request.user.role in WRITERS or request.user.is_superuser,
        },
        filename=f"participants-study-{study.pk}",
    )


@staff_view
def participant_refer(request: AuthedRequest, study_id: int) -> HttpResponse:
    study = access_study_by_id(request.user, study_id)
    require_role(request.user, WRITERS)
    form = ReferForm(request.POST or None, sites=sites_for(request.user, study))
    if request.method == "POST" and form.is_valid():
        try:
            participant = services.participant_refer(
                acting_user=request.user, study=study, **form.cleaned_data
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{participant.code} referred.")
            return redirect("participant_detail", participant_id=participant.pk)
    return render(
        request,
        "form.html",
        {"form": form, "title": f"Refer a participant · {study.name}", "submit": "Refer"},
    )


@staff_view
def participant_screen(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, WRITERS)
    form = ScreeningForm(
        request.POST or None, protocol=load_protocol(participant.study.protocol_id)
    )
    if request.method == "POST" and form.is_valid():
        try:
            screening = services.participant_screen(
                acting_user=request.user, participant=participant, record=form.cleaned_data
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            if screening.eligible:
                messages.success(request, f"{participant.code} is eligible.")
            else:
                messages.warning(
                    request,
                    f"{participant.code} is not eligible ({len(screening.failed)} criteria).",
                )
            return redirect("participant_detail", participant_id=participant.pk)
    return _form_page(request, participant, form, "Screening", "Check eligibility")


@staff_view
def participant_consent(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, WRITERS)
    staff = User.objects.filter(is_active=True).exclude(role__in=BLINDED_ROLES).order_by("username")
    form = ConsentForm(request.POST or None, staff=staff)
    if request.method == "POST" and form.is_valid():
        try:
            services.participant_consent(
                acting_user=request.user, participant=participant, **form.cleaned_data
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Consent recorded.")
            return redirect("participant_detail", participant_id=participant.pk)
    return _form_page(request, participant, form, "Consent", "Record consent")


@staff_view
def participant_baseline(
    request: AuthedRequest, participant_id: int, instrument: str
) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, WRITERS)
    if instrument not in services.baseline_steps(participant):
        raise Http404("Not found")
    existing = BaselineAssessment.objects.filter(
        participant=participant, instrument=instrument
    ).first()
    initial = dict(existing.answers) if existing else {}
    form: Any
    if instrument == services.COVARIATES:
        protocol = load_protocol(participant.study.protocol_id)
        if not initial and hasattr(participant, "screening"):
            initial = {
                c.name: participant.screening.record.get(c.name)
                for c in protocol.baseline_covariates
            }
        form = CovariateForm(
            request.POST or None,
            protocol=protocol,
            initial=initial,
            correcting=existing is not None,
        )
    else:
        definition = get_instrument(instrument)
        form = InstrumentForm(
            request.POST or None,
            instrument=definition,
            initial=initial,
            correcting=existing is not None,
        )
    title = services.baseline_step_title(instrument)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        reason = data.pop("reason", "") or ""
        try:
            services.participant_record_baseline(
                acting_user=request.user,
                participant=participant,
                instrument_id=instrument,
                answers=data,
                reason=reason,
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{title} saved.")
            return redirect("participant_detail", participant_id=participant.pk)
    return _form_page(request, participant, form, title, "Save")


@staff_view
def participant_randomize(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, WRITERS)
    form = RandomizeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.participant_randomize(acting_user=request.user, participant=participant)
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{participant.code} randomized.")
            return redirect("participant_detail", participant_id=participant.pk)
    return _form_page(request, participant, form, "Randomize", "Randomize")


@staff_view
def participant_cohort(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, WRITERS)
    form = CohortAssignForm(
        request.POST or None, cohorts=Cohort.objects.filter(study=participant.study)
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.participant_assign_cohort(
                acting_user=request.user,
                participant=participant,
                cohort=form.cleaned_data["cohort"],
                reason=form.cleaned_data["reason"],
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Cohort assigned.")
            return redirect("participant_detail", participant_id=participant.pk)
    return _form_page(request, participant, form, "Cohort", "Assign cohort")


@staff_view
def participant_exit(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, WRITERS)
    form = ExitForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.participant_exit(
                acting_user=request.user, participant=participant, **form.cleaned_data
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Recorded as not randomized.")
            return redirect("participant_detail", participant_id=participant.pk)
    return _form_page(request, participant, form, "Left before randomization", "Record")
