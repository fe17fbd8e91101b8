"""Participant check-in pages (no password: a personal link or a short code) and staff pages."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from mindtrial.web.checkin import services, throttle
from mindtrial.web.checkin.forms import (
    DECLINE,
    DECLINE_LABEL,
    CheckInForm,
    KeyForm,
    blank_questions,
    field_errors,
    initial_from,
)
from mindtrial.web.checkin.models import CheckIn, ParticipantLink, Source
from mindtrial.web.common import NotFound, ServiceError, only_or_none
from mindtrial.web.enrolment.access import STAFF_WRITERS
from mindtrial.web.enrolment.calendar import study_protocol
from mindtrial.web.enrolment.selectors import access_participant_by_id
from mindtrial.web.viewutils import (
    MAX_WEEK,
    AuthedRequest,
    add_service_errors,
    query_int,
    require_role,
    staff_view,
)


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Your check-in code",
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )


def checkin_url(token: str) -> str:
    """The personal link's path: ``/c/?t=<signed token>``."""
    return f"{reverse('checkin')}?{urlencode({'t': token})}"


SESSION_TOKEN = "checkin_token"
"""The session key that holds a participant's link token once it has left the URL."""


@never_cache
def checkin(request: HttpRequest) -> HttpResponse:
    """``/c/?t=TOKEN`` (a participant's personal link) is exchanged for a session and
    redirected to ``/c/``, so the token is in no later URL, access log line or Referer;
    ``/c/`` shows that participant's check-in, or asks for the short code."""
    token = request.GET.get("t", "")
    if token:
        try:
            services.link_from_token(token)
        except NotFound:
            return render(request, "checkin/unavailable.html", status=404)
        _remember(request, token)
        response = redirect("checkin")
        response["Referrer-Policy"] = "no-referrer"  # the URL held the token
        return response
    token = request.session.get(SESSION_TOKEN, "")
    if token:
        return _participant_checkin(request, str(token))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        client = throttle.client_address(request)
        if not throttle.code_attempt_allowed(client=client, code=code):
            form.add_error("code", throttle.REFUSED_MESSAGE)
            return render(request, "checkin/code.html", {"form": form}, status=429)
        try:
            link = services.link_from_code(code)
        except NotFound:
            throttle.code_attempt_failed(client=client, code=code)
            form.add_error(
                "code", "That code did not work. Please check it, or call the study team."
            )
        else:
            _remember(request, services.link_token(link))
            return redirect("checkin")
    return render(request, "checkin/code.html", {"form": form})


def _remember(request: HttpRequest, token: str) -> None:
    """Keep the token server-side in a fresh session (a new session id: no fixation).

    A browser that sent no session cookie gets a new id when the session is first saved;
    only a cookie naming a session is cycled (cycling writes the session twice)."""
    if request.session.session_key is not None:
        request.session.cycle_key()
    request.session[SESSION_TOKEN] = token


def _participant_checkin(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = services.link_from_token(token)
    except NotFound:  # revoked or expired since: forget it, so the code can be entered
        request.session.pop(SESSION_TOKEN, None)
        return render(request, "checkin/unavailable.html", status=404)
    participant = link.participant
    week = services.current_week(participant)
    protocol = study_protocol(participant.study)
    context = {"week": week}
    # loaded with the link (select_related): no query of its own
    withdrawal = getattr(participant, "withdrawal", None)
    due = services.due_instruments(protocol, week) if week else []
    if (withdrawal is not None and week is not None and week >= withdrawal.week) or not due:
        return render(request, "checkin/nothing_due.html", context)
    assert week is not None
    if request.method != "POST":
        if _week_done(participant.pk, week):
            return render(request, "checkin/thanks.html", context)
        # A blank form: the questions are the same for everybody (rendered once per
        # process); only the idempotency key is this page's own.
        blank = blank_questions(tuple(due))
        key = KeyForm(initial={"idempotency_key": uuid.uuid4().hex})
        return _form_page(request, context, key, blank.html, declinable=blank.declinable)
    form = CheckInForm(request.POST, instruments=due)
    if form.is_valid():
        try:
            services.checkin_submit(
                participant=participant,
                week=week,
                answers=form.answers(),
                idempotency_key=form.cleaned_data["idempotency_key"],
                skipped=form.skipped(),
            )
        except ServiceError as exc:
            done = _checkin_of(participant.pk, week)
            if done is not None:
                # A second, different check-in for a recorded week: say so, never "saved".
                return render(
                    request, "checkin/already.html", {**context, "checkin": done}, status=409
                )
            add_service_errors(form, ServiceError(field_errors(exc.errors)))
        else:
            return redirect("checkin")
    return _form_page(request, context, form, "", declinable=bool(form.declinable))


def _form_page(
    request: HttpRequest,
    context: Mapping[str, object],
    form: KeyForm,
    questions: str,
    *,
    declinable: bool,
) -> HttpResponse:
    """The check-in form: a blank one's cached ``questions``, or ``form``'s own answers."""
    return render(
        request,
        "checkin/form.html",
        {
            **context,
            "form": form,
            "questions": questions,
            "declinable": declinable,
            "decline": DECLINE,
            "decline_label": DECLINE_LABEL,
        },
    )


def _week_done(participant_id: int, week: int) -> bool:
    """Whether the participant's check-in of ``week`` is saved ("thank you" instead of the
    form)."""
    return CheckIn.objects.filter(participant_id=participant_id, week=week).exists()


def _checkin_of(participant_id: int, week: int) -> CheckIn | None:
    """The participant's saved check-in of ``week``; a POST asks only when refused (a retry
    with the same idempotency key is answered by the service without it)."""
    return only_or_none(CheckIn.objects.filter(participant_id=participant_id, week=week))


@staff_view
def participant_link(request: AuthedRequest, participant_id: int) -> HttpResponse:
    """Issue (or revoke) a participant's personal link; the link and code are shown once.

    The new link is shown in the answer to the POST itself (not after a redirect), so the
    secret is never kept in the session or a cookie to survive one."""
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, STAFF_WRITERS)
    issued = None
    if request.method == "POST":
        try:
            if request.POST.get("action") == "revoke":
                for link in ParticipantLink.objects.filter(
                    participant=participant, revoked_at__isnull=True
                ):
                    services.participant_link_revoke(acting_user=request.user, link=link)
                messages.success(request, "The link and code no longer work.")
            elif request.POST.get("action") == "issue":
                # Issuing revokes the participant's current link and code: confirm it first.
                if request.POST.get("confirm") != "1":
                    messages.error(
                        request,
                        "Tick the box to confirm: the current link and code stop working.",
                    )
                else:
                    issued = services.participant_link_issue(
                        acting_user=request.user, participant=participant
                    )
        except ServiceError as exc:
            messages.error(request, str(exc))
    url = request.build_absolute_uri(checkin_url(issued.token)) if issued else ""
    return render(
        request,
        "checkin/link.html",
        {
            "p": participant,
            "issued": issued,
            "url": url,
            "links": ParticipantLink.objects.filter(participant=participant)[:10],
        },
    )


@staff_view
def participant_checkins(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, STAFF_WRITERS)
    checkins = CheckIn.objects.filter(participant=participant).order_by("week")
    return render(request, "checkin/list.html", {"p": participant, "checkins": checkins})


@staff_view
def checkin_correct(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, STAFF_WRITERS)
    asked = query_int(request, "week", high=MAX_WEEK)
    found = CheckIn.objects.filter(participant=participant)
    checkin = found.filter(week=asked).first() if asked is not None else None
    if checkin is None:
        raise NotFound("check-in")
    week = checkin.week
    if checkin.source == Source.IMPORT:
        messages.error(request, "Loaded answers are corrected in the source dataset.")
        return redirect("participant_checkins", participant_id=participant.pk)
    due = services.due_instruments(study_protocol(participant.study), week)
    form = CheckInForm(
        request.POST or None,
        instruments=due,
        with_reason=True,
        initial=initial_from(checkin.answers, due),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.correct_checkin(
                acting_user=request.user,
                checkin=checkin,
                answers=form.answers(),
                reason=form.cleaned_data["reason"],
                skipped=form.skipped(),
            )
        except ServiceError as exc:
            add_service_errors(form, ServiceError(field_errors(exc.errors)))
        else:
            messages.success(request, f"Week {week} corrected.")
            return redirect("participant_checkins", participant_id=participant.pk)
    return render(request, "checkin/correct.html", {"p": participant, "form": form, "week": week})
