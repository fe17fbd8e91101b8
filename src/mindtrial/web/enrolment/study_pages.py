"""The study overview (with the enrolment funnel) and a group's page (with its members):
study pages that show participants, so they sit in enrolment, above studies."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render

from mindtrial.web.common import ServiceError
from mindtrial.web.enrolment.selectors import funnel_counts, participant_views, participants_for
from mindtrial.web.studies import services
from mindtrial.web.studies.forms import GroupForm
from mindtrial.web.studies.models import Group
from mindtrial.web.studies.selectors import (
    access_group_by_public_id,
    access_study_by_id,
    cohort_views,
    group_view,
    sites_for,
    study_view,
)
from mindtrial.web.viewutils import AuthedRequest, add_service_errors, staff_view


@staff_view
def study_detail(request: AuthedRequest, study_id: int) -> HttpResponse:
    study = access_study_by_id(request.user, study_id)
    return render(
        request,
        "studies/detail.html",
        {
            "study": study,
            "view": study_view(request.user, study),
            "funnel": funnel_counts(request.user, study),
            "sites": sites_for(request.user, study),
            "cohorts": cohort_views(request.user, study),
            "is_admin": request.user.is_administrator,
        },
    )


@staff_view
def group_detail(request: AuthedRequest, group_id: str) -> HttpResponse:
    group: Group = access_group_by_public_id(request.user, group_id)
    form = None
    if request.user.is_administrator:
        form = GroupForm(
            request.POST or None,
            initial={"meeting_link": group.meeting_link, "facilitators": group.facilitators.all()},
        )
        if request.method == "POST" and form.is_valid():
            try:
                services.group_update(
                    acting_user=request.user,
                    group=group,
                    meeting_link=form.cleaned_data["meeting_link"],
                    facilitators=list(form.cleaned_data["facilitators"]),
                )
            except ServiceError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, "Group saved.")
                return redirect("group_detail", group_id=group.public_id)
    members = participants_for(request.user, group.cohort.study).filter(group=group)
    return render(
        request,
        "studies/group.html",
        {
            "group": group_view(request.user, group),
            "cohort": group.cohort,
            "form": form,
            "members": participant_views(request.user, members.order_by("code")),
        },
    )
