"""AE report form (any staff), AE list and review (unblinded), alerts, withdrawal."""

from __future__ import annotations

from collections import Counter

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from mindtrial.web.accounts.models import Role, User
from mindtrial.web.common import NotFound, ServiceError
from mindtrial.web.enrolment.access import STAFF_WRITERS
from mindtrial.web.enrolment.models import Participant
from mindtrial.web.enrolment.selectors import access_participant_by_id, study_arms
from mindtrial.web.listing import list_response
from mindtrial.web.safety import services
from mindtrial.web.safety.forms import (
    AdverseEventCorrectionForm,
    AdverseEventForm,
    FollowUpForm,
    ReviewForm,
    UndoWithdrawalForm,
    WithdrawalCorrectionForm,
    WithdrawalForm,
)
from mindtrial.web.safety.lists import adverse_event_list_rows, adverse_event_list_spec
from mindtrial.web.safety.models import RESOLVED_OUTCOMES, AdverseEvent, ExitKind
from mindtrial.web.safety.selectors import (
    access_adverse_event_by_id,
    adverse_event_by_submission_key,
    adverse_events_for,
    alert_delivery,
    outcome_label,
    unread_alerts,
    withdrawal_of,
)
from mindtrial.web.studies.models import Study
from mindtrial.web.studies.selectors import access_study_by_id
from mindtrial.web.viewutils import (
    AuthedRequest,
    add_service_errors,
    correction_page,
    query_int,
    require_role,
    staff_view,
)


@staff_view
def report(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    form = AdverseEventForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        answers = dict(form.cleaned_data)
        key = answers.pop("submission_key", None)
        earlier = adverse_event_by_submission_key(participant, key) if key else None
        if earlier is not None:
            messages.info(request, f"This form was already recorded as {earlier.code}.")
            return redirect("participant_detail", participant_id=participant.pk)
        try:
            event = services.adverse_event_report(
                acting_user=request.user,
                participant=participant,
                answers=answers,
                submission_key=key,
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Adverse event {event.code} recorded.{_alert_note(event)}")
            return redirect("participant_detail", participant_id=participant.pk)
    return render(
        request,
        "form.html",
        {
            "form": form,
            "title": f"Report an adverse event · {participant.code}",
            "submit": "Report",
            "participant": participant,
        },
    )


def _alert_note(event: AdverseEvent) -> str:
    """What really happened to the alerts (the e-mails were tried when the event committed)."""
    if not event.serious:
        return ""
    state = alert_delivery(event)
    note = f" {len(state)} safety monitor(s) alerted in MindTrial."
    counts = Counter(a.email.status for a in state if hasattr(a, "email"))
    if counts:
        note += " E-mails: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        note += "."
    return note


@staff_view
def event_list(request: AuthedRequest, study_id: int) -> HttpResponse:
    study = access_study_by_id(request.user, study_id)
    events = adverse_events_for(request.user, study)
    return list_response(
        request,
        adverse_event_list_spec(request.user, study),
        adverse_event_list_rows(events),
        template="safety/list.html",
        context={"study": study, "by_arm": _by_arm(request.user, study, events)},
        filename=f"adverse-events-study-{study.pk}",
    )


def _by_arm(user: User, study: Study, events: QuerySet[AdverseEvent]) -> list[tuple[str, int, int]]:
    """Events and serious events per arm, for the safety monitor and administrators only."""
    if not (user.role == Role.SAFETY_MONITOR or user.is_administrator):
        return []
    arms = study_arms(study)
    pairs = list(events.values_list("participant_id", "serious"))
    total = Counter(arms.get(pid, "") for pid, _serious in pairs)
    serious = Counter(arms.get(pid, "") for pid, is_serious in pairs if is_serious)
    return [(study.arm_label(a), total[a], serious[a]) for a in study.arm_ids]


def ae_url(event: AdverseEvent) -> str:
    """``/studies/<id>/adverse-events/review/?ae=<id>``."""
    path = reverse("ae_detail", args=[event.participant.study_id])
    return f"{path}?ae={event.pk}"


@staff_view
def event_detail(request: AuthedRequest, study_id: int) -> HttpResponse:
    study = access_study_by_id(request.user, study_id)
    asked = query_int(request, "ae", low=1)
    if asked is None:
        raise NotFound("adverse event")
    event = access_adverse_event_by_id(request.user, asked)
    if event.participant.study_id != study.pk:
        raise NotFound("adverse event")
    can_review = request.user.role == Role.SAFETY_MONITOR or request.user.is_superuser
    form = ReviewForm(request.POST or None) if can_review else None
    if request.method == "POST" and form is not None and form.is_valid():
        try:
            services.adverse_event_review(
                acting_user=request.user, event=event, note=form.cleaned_data["note"]
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Review of {event.code} saved.")
            return redirect(ae_url(event))
    return render(
        request,
        "safety/detail.html",
        {
            "e": event,
            "form": form,
            "deliveries": alert_delivery(event),
            "follow_ups": [
                (f, outcome_label(f.outcome))
                for f in event.follow_ups.select_related("recorded_by")
            ],
            "outcome": outcome_label(event.outcome),
            "resolved": event.outcome in RESOLVED_OUTCOMES,
            "can_correct": request.user.is_superuser or request.user.role in STAFF_WRITERS,
        },
    )


@staff_view
def alerts(request: AuthedRequest) -> HttpResponse:
    return render(request, "safety/alerts.html", {"alerts": unread_alerts(request.user)})


@staff_view
def withdraw(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, STAFF_WRITERS)
    existing = withdrawal_of(participant)
    if existing is not None:
        messages.info(request, f"{participant.code} left the study in week {existing.week}.")
        return redirect("participant_detail", participant_id=participant.pk)
    form = WithdrawalForm(request.POST or None)
    editing = request.POST.get("edit") == "1"  # back from the confirmation to the form
    if request.method == "POST" and not editing and form.is_valid():
        chosen = {
            "kind": form.cleaned_data["kind"],
            "week": form.cleaned_data["week"],
            "reason": form.cleaned_data["reason"],
        }
        confirmed = request.POST.get("confirmed") == "yes"
        try:
            if not confirmed:  # the irreversible step is shown once more before it is taken
                services.participant_withdraw_check(
                    acting_user=request.user, participant=participant, **chosen
                )
            else:
                services.participant_withdraw(
                    acting_user=request.user, participant=participant, **chosen
                )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            if not confirmed:
                return render(
                    request,
                    "safety/withdraw_confirm.html",
                    {
                        "participant": participant,
                        "chosen": chosen,
                        "kind_label": ExitKind(chosen["kind"]).label,
                    },
                )
            messages.success(request, f"Recorded: {participant.code} left the study.")
            return redirect("participant_detail", participant_id=participant.pk)
    return render(
        request,
        "form.html",
        {
            "form": form,
            "title": f"Withdrawal or loss to follow-up · {participant.code}",
            "submit": "Continue",
            "participant": participant,
        },
    )


def _participant_event(request: AuthedRequest, participant: Participant) -> AdverseEvent:
    """The AE ``?ae=<id>`` of this participant (the same 404 for missing and forbidden)."""
    asked = query_int(request, "ae", low=1)
    if asked is None:
        raise NotFound("adverse event")
    event = access_adverse_event_by_id(request.user, asked)
    if event.participant_id != participant.pk:
        raise NotFound("adverse event")
    return event


def _event_initial(event: AdverseEvent) -> dict[str, object]:
    initial: dict[str, object] = {
        "description": event.description,
        "onset_date": event.onset_date,
        "severity": event.severity,
        "relatedness": event.relatedness,
        "outcome": event.outcome,
        "outcome_date": event.outcome_date,
        "action_taken": event.action_taken,
    }
    initial |= {k: "yes" if getattr(event, k) else "no" for k in ("serious", "expected")}
    return initial


@staff_view
def correct_event(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, STAFF_WRITERS)
    event = _participant_event(request, participant)
    form = AdverseEventCorrectionForm(request.POST or None, initial=_event_initial(event))
    if request.method == "POST" and form.is_valid():
        answers = dict(form.cleaned_data)
        reason, outcome_date = answers.pop("reason"), answers.pop("outcome_date")
        try:
            services.correct_adverse_event(
                acting_user=request.user,
                event=event,
                answers=answers,
                outcome_date=outcome_date,
                reason=reason,
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Adverse event {event.code} corrected.{_alert_note(event)}")
            return redirect(ae_url(event))
    return correction_page(request, participant, form, f"Correct adverse event {event.code}")


@staff_view
def follow_up(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, STAFF_WRITERS)
    event = _participant_event(request, participant)
    if event.outcome in RESOLVED_OUTCOMES:
        messages.info(request, f"{event.code} is resolved; correct it if that was wrong.")
        return redirect(ae_url(event))
    form = FollowUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.adverse_event_follow_up(
                acting_user=request.user, event=event, **form.cleaned_data
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            event.refresh_from_db()
            done = " It is resolved." if event.outcome in RESOLVED_OUTCOMES else ""
            messages.success(request, f"Follow-up of {event.code} recorded.{done}")
            return redirect(ae_url(event))
    current = outcome_label(event.outcome)
    since = f" since {event.outcome_date.isoformat()}" if event.outcome_date else ""
    return correction_page(
        request,
        participant,
        form,
        f"Follow up adverse event {event.code}",
        intro=f"Outcome so far: {current}{since}. Follow up until the event is resolved.",
        submit="Record follow-up",
        reason_name="",
    )


@staff_view
def correct_withdrawal(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, STAFF_WRITERS)
    withdrawal = withdrawal_of(participant)
    if withdrawal is None:
        raise NotFound("withdrawal")
    form = WithdrawalCorrectionForm(
        request.POST or None,
        initial={
            "kind": withdrawal.kind,
            "week": withdrawal.week,
            "exit_reason": withdrawal.reason,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.correct_withdrawal(
                acting_user=request.user, withdrawal=withdrawal, **form.cleaned_data
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"The withdrawal of {participant.code} corrected.")
            return redirect("participant_corrections", participant_id=participant.pk)
    return correction_page(request, participant, form, "Correct the withdrawal")


@staff_view
def undo_withdrawal(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, STAFF_WRITERS)
    withdrawal = withdrawal_of(participant)
    if withdrawal is None:
        raise NotFound("withdrawal")
    form = UndoWithdrawalForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.correct_undo_withdrawal(
                acting_user=request.user,
                withdrawal=withdrawal,
                reason=form.cleaned_data["reason"],
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request, f"Withdrawal removed: data are collected for {participant.code} again."
            )
            return redirect("participant_corrections", participant_id=participant.pk)
    return correction_page(
        request,
        participant,
        form,
        "Undo the withdrawal",
        intro=(
            f"Recorded: {withdrawal.get_kind_display()} from week {withdrawal.week} "
            f"({withdrawal.reason}). The audit trail keeps this record."
        ),
        submit="Undo the withdrawal",
    )
