"""The coordinator's "today" list, the result form and captures (served only to staff)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from mindtrial.web.common import NotFound, ServiceError
from mindtrial.web.enrolment.access import STAFF_WRITERS
from mindtrial.web.enrolment.calendar import participant_today, study_protocol
from mindtrial.web.enrolment.models import Participant
from mindtrial.web.enrolment.selectors import access_participant_by_id
from mindtrial.web.listing import list_response
from mindtrial.web.studies.selectors import access_study_by_id
from mindtrial.web.toxicology.forms import TestCorrectionForm, TestResultForm
from mindtrial.web.toxicology.lists import tox_test_list_rows, tox_test_list_spec
from mindtrial.web.toxicology.models import ToxTest
from mindtrial.web.toxicology.schedule import is_test_day
from mindtrial.web.toxicology.selectors import tests_for, today_test_list
from mindtrial.web.toxicology.services import capture_storage, correct_tox_test, tox_test_record
from mindtrial.web.viewutils import (
    MAX_WEEK,
    AuthedRequest,
    add_service_errors,
    query_int,
    require_role,
    staff_view,
)


@staff_view
def today(request: AuthedRequest, study_id: int) -> HttpResponse:
    study = access_study_by_id(request.user, study_id)
    require_role(request.user, STAFF_WRITERS)
    now = timezone.now()
    return render(
        request,
        "toxicology/today.html",
        {"study": study, "now": now, "due": today_test_list(request.user, study, now=now)},
    )


@staff_view
def study_tests(request: AuthedRequest, study_id: int) -> HttpResponse:
    study = access_study_by_id(request.user, study_id)
    require_role(request.user, STAFF_WRITERS)
    return list_response(
        request,
        tox_test_list_spec(request.user, study),
        tox_test_list_rows(tests_for(request.user, study)),
        template="toxicology/study_list.html",
        context={"study": study},
        filename=f"tests-study-{study.pk}",
    )


@staff_view
def record(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, STAFF_WRITERS)
    day = participant_today(participant)
    protocol = study_protocol(participant.study)
    panel = list(protocol.toxicology.panel) if protocol.toxicology else []
    if not panel or not is_test_day(participant, day, today=day):
        return render(request, "toxicology/no_test.html", {"p": participant}, status=200)
    form = TestResultForm(request.POST or None, request.FILES or None, panel=panel)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data.get("capture")
        try:
            tox_test_record(
                acting_user=request.user,
                participant=participant,
                test_date=day,
                status=form.cleaned_data["status"],
                results=form.results(),
                reason=form.cleaned_data["reason"],
                capture=upload.read() if upload else None,
                today=day,
            )
        except ServiceError as exc:
            add_service_errors(
                form,
                ServiceError({f"a_{k}" if k in panel else k: v for k, v in exc.errors.items()}),
            )
        else:
            messages.success(request, f"Test recorded for {participant.code}.")
            if request.GET.get("from") == "record":  # opened from the record home
                return redirect("participant_detail", participant_id=participant.pk)
            return redirect("tox_today", study_id=participant.study_id)
    return render(request, "toxicology/record.html", {"p": participant, "form": form, "day": day})


@staff_view
def tests(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, STAFF_WRITERS)
    found = ToxTest.objects.filter(participant=participant).order_by("week")
    return render(request, "toxicology/list.html", {"p": participant, "tests": found})


@staff_view
def capture(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, STAFF_WRITERS)
    week = query_int(request, "week", high=MAX_WEEK)
    found = ToxTest.objects.filter(participant=participant).exclude(capture_path="")
    test = found.filter(week=week).first() if week is not None else None
    if test is None:
        raise NotFound("capture")
    with capture_storage().open(test.capture_path, "rb") as handle:
        data = handle.read()  # at most MAX_CAPTURE_BYTES
    response = HttpResponse(data, content_type=test.capture_content_type)
    response["Content-Disposition"] = f'inline; filename="test-{participant.code}-week{test.week}"'
    return response


@staff_view
def correct(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, STAFF_WRITERS)
    week = query_int(request, "week", high=MAX_WEEK)
    test = (
        None if week is None else ToxTest.objects.filter(participant=participant, week=week).first()
    )
    if test is None:
        raise NotFound("test")
    panel = list(test.results) or _panel(participant)
    initial = {"status": test.status, "reason": test.reason}
    initial |= {f"a_{a}": r for a, r in test.results.items()}
    form = TestCorrectionForm(request.POST or None, panel=panel, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            correct_tox_test(
                acting_user=request.user,
                test=test,
                status=form.cleaned_data["status"],
                results=form.results(),
                test_reason=form.cleaned_data["reason"],
                reason=form.cleaned_data["correction_reason"],
            )
        except ServiceError as exc:
            errors = {f"a_{k}" if k in panel else k: v for k, v in exc.errors.items()}
            add_service_errors(form, ServiceError(errors))
        else:
            messages.success(request, f"Week {test.week} test of {participant.code} corrected.")
            return redirect("participant_corrections", participant_id=participant.pk)
    return render(request, "toxicology/correct.html", {"p": participant, "t": test, "form": form})


def _panel(participant: Participant) -> list[str]:
    protocol = study_protocol(participant.study)
    return list(protocol.toxicology.panel) if protocol.toxicology else []
