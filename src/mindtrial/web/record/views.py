"""The participant's record home and corrections page: they compose every app's records
(enrolment, programme, check-ins, tests, safety, queries), so they sit above them all."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render

from mindtrial.web.enrolment.selectors import access_participant_by_id
from mindtrial.web.programme.services import ATTENDANCE_WRITERS
from mindtrial.web.record.correctable import correctable_records
from mindtrial.web.record.home import record_home
from mindtrial.web.viewutils import AuthedRequest, require_role, staff_view


@staff_view
def participant_detail(request: AuthedRequest, participant_id: int) -> HttpResponse:
    """The participant's record home: status, weeks, and every action the user may take."""
    participant = access_participant_by_id(request.user, participant_id)
    home = record_home(participant, request.user)
    return render(request, "enrolment/detail.html", {"home": home, "p": participant})


@staff_view
def participant_corrections(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, ATTENDANCE_WRITERS)
    return render(
        request,
        "corrections/list.html",
        {"p": participant, "sections": correctable_records(request.user, participant)},
    )
