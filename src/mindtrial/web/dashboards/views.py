"""One dashboard URL per study; what it shows depends on the role (blinded roles: pooled)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from mindtrial.web.accounts.models import Role
from mindtrial.web.dashboards import charts
from mindtrial.web.dashboards.selectors import (
    completeness,
    retention,
    safety_by_arm,
    summarise,
)
from mindtrial.web.enrolment.calendar import study_protocol
from mindtrial.web.enrolment.selectors import funnel_counts
from mindtrial.web.programme.selectors import facilitated_groups, group_members
from mindtrial.web.safety.selectors import unread_alerts
from mindtrial.web.studies.selectors import access_study_by_id
from mindtrial.web.toxicology.selectors import today_test_list
from mindtrial.web.viewutils import AuthedRequest, staff_view

COORDINATING = frozenset({Role.ADMINISTRATOR, Role.COORDINATOR, Role.DATA_MANAGER})


@staff_view
def dashboard(request: AuthedRequest, study_id: int) -> HttpResponse:
    user = request.user
    study = access_study_by_id(user, study_id)
    now = timezone.now()
    context: dict[str, Any] = {"study": study, "now": now}
    data = completeness(user, study, now=now)
    context["completeness"] = data
    context["completeness_chart"] = charts.bars(
        data.percent, label="check-ins received per week, percent"
    )
    randomized, retained = retention(user, study)
    context["randomized"], context["retained"] = randomized, retained
    if user.is_blinded:
        context["view"] = "pooled"
        context["funnel"] = funnel_counts(user, study)
    elif user.role == Role.FACILITATOR:
        context["view"] = "facilitator"
        protocol = study_protocol(study)
        groups = []
        for group in facilitated_groups(user).filter(cohort__study=study):
            rows = []
            for p in group_members(user, group):
                summary = summarise(p, protocol)
                rows.append(
                    (
                        summary,
                        charts.sparkline(
                            summary.craving_so_far, maximum=10, label=f"craving of {p.code}"
                        ),
                    )
                )
            groups.append((group, rows))
        context["groups"] = groups
    elif user.role == Role.SAFETY_MONITOR:
        context["view"] = "safety"
        context["by_arm"] = safety_by_arm(study)
        context["alerts"] = unread_alerts(user).filter(adverse_event__participant__study=study)
    else:
        context["view"] = (
            "coordinator" if user.is_superuser or user.role in COORDINATING else "pooled"
        )
        context["tests_today"] = today_test_list(user, study, now=now)
        context["funnel"] = funnel_counts(user, study)
    return render(request, "dashboards/dashboard.html", context)
