"""The enrolment corrections (screening, consent, baseline): parse, authorize, call one
``correct_*`` service, render. The participant's corrections page that links every
correction is :mod:`mindtrial.web.record.views`."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect

from mindtrial.web.accounts.models import BLINDED_ROLES, User
from mindtrial.web.common import NotFound, ServiceError
from mindtrial.web.enrolment import services
from mindtrial.web.enrolment.forms import ConsentForm, CovariateForm, InstrumentForm, ScreeningForm
from mindtrial.web.enrolment.models import BaselineAssessment, Consent, Screening
from mindtrial.web.enrolment.selectors import access_participant_by_id
from mindtrial.web.studies.protocol_access import get_instrument, load_protocol
from mindtrial.web.viewutils import (
    REASON,
    AuthedRequest,
    add_service_errors,
    as_initial,
    correction_page,
    correction_reason_field,
    require_role,
    staff_view,
)

WRITERS = services.ENROLMENT_WRITERS


@staff_view
def correct_screening(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, WRITERS)
    screening = Screening.objects.filter(participant=participant).first()
    if screening is None:
        raise NotFound("screening")
    form = ScreeningForm(
        request.POST or None,
        protocol=load_protocol(participant.study.protocol_id),
        initial=as_initial(dict(screening.record)),
    )
    form.fields[REASON] = correction_reason_field()
    if request.method == "POST" and form.is_valid():
        record = dict(form.cleaned_data)
        reason = record.pop(REASON)
        try:
            result = services.correct_screening(
                acting_user=request.user, participant=participant, record=record, reason=reason
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            decision = "eligible" if result.eligible else "not eligible"
            if result.randomized_ineligible:
                messages.warning(
                    request,
                    f"Screening corrected. {participant.code} is randomized but no longer meets "
                    "the eligibility criteria; they stay randomized (intention to treat). "
                    "Tell the data manager and the investigator.",
                )
            elif result.eligible != result.was_eligible:
                was = "eligible" if result.was_eligible else "not eligible"
                messages.success(
                    request,
                    f"Screening corrected: {participant.code} is now {decision} (was {was}).",
                )
            else:
                messages.success(
                    request, f"Screening corrected: {participant.code} is still {decision}."
                )
            return redirect("participant_corrections", participant_id=participant.pk)
    return correction_page(
        request,
        participant,
        form,
        "Correct screening",
        intro="Eligibility is judged again from the protocol's criteria when you save.",
    )


@staff_view
def correct_consent(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, WRITERS)
    consent = Consent.objects.filter(participant=participant).first()
    if consent is None:
        raise NotFound("consent")
    staff = User.objects.filter(is_active=True).exclude(role__in=BLINDED_ROLES).order_by("username")
    form = ConsentForm(
        request.POST or None,
        staff=staff,
        initial={
            "form_version": consent.form_version,
            "consent_date": consent.consent_date,
            "obtained_by": consent.obtained_by_id,
        },
    )
    form.fields[REASON] = correction_reason_field()
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        reason = data.pop(REASON)
        try:
            services.correct_consent(
                acting_user=request.user, participant=participant, reason=reason, **data
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Consent of {participant.code} corrected.")
            return redirect("participant_corrections", participant_id=participant.pk)
    return correction_page(request, participant, form, "Correct consent")


@staff_view
def correct_baseline(request: AuthedRequest, participant_id: int, instrument: str) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, WRITERS)
    assessment = BaselineAssessment.objects.filter(
        participant=participant, instrument=instrument
    ).first()
    if assessment is None or instrument not in services.baseline_steps(participant):
        raise NotFound("baseline")
    initial = as_initial(dict(assessment.answers))
    form: forms.Form
    if instrument == services.COVARIATES:
        protocol = load_protocol(participant.study.protocol_id)
        form = CovariateForm(request.POST or None, protocol=protocol, initial=initial)
        name = "baseline characteristics"
    else:
        definition = get_instrument(instrument)
        form = InstrumentForm(request.POST or None, instrument=definition, initial=initial)
        name = f"baseline {definition.name}"
    form.fields[REASON] = correction_reason_field()
    if request.method == "POST" and form.is_valid():
        answers = dict(form.cleaned_data)
        reason = answers.pop(REASON)
        try:
            services.correct_baseline(
                acting_user=request.user,
                participant=participant,
                instrument_id=instrument,
                answers=answers,
                reason=reason,
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"The {name} of {participant.code} corrected.")
            return redirect("participant_corrections", participant_id=participant.pk)
    return correction_page(
        request,
        participant,
        form,
        f"Correct {name}",
        intro="Scores are worked out again when you save.",
    )
