"""The facilitator's group page: next session, this week's curriculum, attendance in a few taps."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from mindtrial.web.common import NotFound, ServiceError
from mindtrial.web.enrolment.calendar import (
    cohort_sessions,
    curriculum_week,
    next_session,
    participant_today,
    study_protocol,
)
from mindtrial.web.enrolment.models import Randomization
from mindtrial.web.enrolment.selectors import access_participant_by_id
from mindtrial.web.programme import services
from mindtrial.web.programme.models import Attendance, AttendanceStatus
from mindtrial.web.programme.selectors import (
    access_group_for_programme,
    adherence,
    continuation_of,
    group_members,
)
from mindtrial.web.viewutils import (
    MAX_WEEK,
    AuthedRequest,
    add_service_errors,
    correction_page,
    correction_reason_field,
    query_int,
    require_role,
    staff_view,
)


@staff_view
def group_programme(request: AuthedRequest, group_id: str) -> HttpResponse:
    group = access_group_for_programme(request.user, group_id)
    cohort = group.cohort
    protocol = study_protocol(cohort.study)
    now = timezone.now()
    upcoming = next_session(cohort, now)
    sessions = cohort_sessions(cohort)
    started = [s for s in sessions if s.starts_at <= now]
    asked = query_int(request, "week", low=1, high=len(sessions))
    week = asked or (started[-1].week if started else 1)
    members = list(group_members(request.user, group))
    if request.method == "POST":
        saved = 0
        for p in members:
            status = request.POST.get(f"p{p.pk}", "")
            if not status:
                continue
            try:
                services.attendance_record(
                    acting_user=request.user,
                    participant=p,
                    week=week,
                    status=status,
                    reason=request.POST.get("reason", ""),
                )
                saved += 1
            except ServiceError as exc:
                messages.error(request, f"{p.code}: {exc}")
        if saved:
            messages.success(request, f"Attendance saved for week {week} ({saved}).")
        return redirect(f"{request.path}?week={week}")
    marks = {
        a.participant_id: a.status
        for a in Attendance.objects.filter(participant__in=members, week=week)
    }
    rows = []
    for p in members:
        choice = continuation_of(p)
        rows.append(
            {
                "p": p,
                "mark": marks.get(p.pk, ""),
                "adherence": adherence(p),
                "continues": choice,
                "topic": curriculum_week(protocol, group.arm_id, week, continues=choice),
            }
        )
    arm = next(a for a in protocol.arms if a.id == group.arm_id)
    return render(
        request,
        "programme/group.html",
        {
            "group": group,
            "cohort": cohort,
            "arm_label": arm.label,
            "upcoming": upcoming,
            "upcoming_topic": curriculum_week(protocol, group.arm_id, upcoming.week)
            if upcoming
            else None,
            "week": week,
            "weeks": range(1, protocol.session.n_sessions + 1),
            "topic": curriculum_week(protocol, group.arm_id, week),
            "rows": rows,
            "statuses": AttendanceStatus.choices,
        },
    )


class ContinuationForm(forms.Form):
    continues = forms.TypedChoiceField(
        label="Does the participant choose to continue?",
        choices=[("yes", "Yes, continue"), ("no", "No, stop attending groups")],
        coerce=lambda v: v == "yes",
        widget=forms.RadioSelect,
    )
    decided_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))


@staff_view
def continuation(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    if (
        request.user.is_blinded
        or not Randomization.objects.filter(participant=participant).exists()
    ):
        return redirect("participant_detail", participant_id=participant.pk)
    form = ContinuationForm(
        request.POST or None, initial={"decided_on": participant_today(participant)}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.continuation_record(
                acting_user=request.user,
                participant=participant,
                continues=form.cleaned_data["continues"],
                decided_on=form.cleaned_data["decided_on"],
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Continuation choice recorded.")
            return redirect("participant_detail", participant_id=participant.pk)
    return render(
        request,
        "form.html",
        {
            "form": form,
            "title": f"Continuation choice · {participant.code}",
            "submit": "Save",
            "participant": participant,
        },
    )


@staff_view
def hub(request: AuthedRequest) -> HttpResponse:
    """Where the weekly programme starts: each study's pages for this role."""
    from mindtrial.web.studies.selectors import studies_for_user

    return render(request, "programme/hub.html", {"studies": studies_for_user(request.user)})


@staff_view
def study_weekly(request: AuthedRequest, study_id: int) -> HttpResponse:
    from mindtrial.web.enrolment.models import Status
    from mindtrial.web.enrolment.selectors import participants_for
    from mindtrial.web.programme.selectors import facilitated_groups
    from mindtrial.web.studies.models import Group
    from mindtrial.web.studies.selectors import access_study_by_id

    study = access_study_by_id(request.user, study_id)
    user = request.user
    if user.is_blinded:
        groups: list[Group] = []
    elif user.role == "facilitator":
        groups = list(facilitated_groups(user).filter(cohort__study=study))
    else:
        groups = list(Group.objects.filter(cohort__study=study).select_related("cohort"))
    participants = participants_for(user, study).filter(status=Status.RANDOMIZED)
    return render(
        request,
        "programme/study.html",
        {"study": study, "groups": groups, "participants": participants},
    )


@staff_view
def participant_programme(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    return render(request, "programme/participant.html", {"p": participant})


class AttendanceCorrectionForm(forms.Form):
    status = forms.ChoiceField(
        label="Attendance", choices=AttendanceStatus.choices, widget=forms.RadioSelect
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["reason"] = correction_reason_field()


@staff_view
def correct_attendance(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    require_role(request.user, services.ATTENDANCE_WRITERS)
    week = query_int(request, "week", high=MAX_WEEK)
    mark = (
        None
        if week is None
        else Attendance.objects.filter(participant=participant, week=week).first()
    )
    if mark is None:
        raise NotFound("attendance")
    form = AttendanceCorrectionForm(request.POST or None, initial={"status": mark.status})
    if request.method == "POST" and form.is_valid():
        try:
            services.correct_attendance(
                acting_user=request.user,
                attendance=mark,
                status=form.cleaned_data["status"],
                reason=form.cleaned_data["reason"],
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Week {week} attendance of {participant.code} corrected.")
            return redirect("participant_corrections", participant_id=participant.pk)
    return correction_page(request, participant, form, f"Correct week {week} attendance")
