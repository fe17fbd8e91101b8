"""Data query pages: the study's and a participant's lists, opening a query, its thread with
the answer / close / re-open forms, and the automatic checks' button."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from mindtrial.web.accounts.selectors import can_read_audit
from mindtrial.web.audit.models import AuditAction
from mindtrial.web.common import NotFound, ServiceError
from mindtrial.web.enrolment.selectors import access_participant_by_id
from mindtrial.web.listing import list_response, query_string
from mindtrial.web.queries import services
from mindtrial.web.queries.checks import CHECKS
from mindtrial.web.queries.forms import (
    QueryAnswerForm,
    QueryCloseForm,
    QueryOpenForm,
    QueryReopenForm,
)
from mindtrial.web.queries.lists import query_list_rows, query_list_spec
from mindtrial.web.queries.models import DataQuery
from mindtrial.web.queries.selectors import (
    access_query_by_id,
    can_manage_queries,
    participant_forms,
    queries_for,
    queries_of_participant,
    query_steps,
    query_thread,
)
from mindtrial.web.studies.selectors import access_study_by_id
from mindtrial.web.viewutils import AuthedRequest, add_service_errors, staff_view


@staff_view
def study_queries(request: AuthedRequest, study_id: int) -> HttpResponse:
    study = access_study_by_id(request.user, study_id)
    found = queries_for(request.user, study)
    return list_response(
        request,
        query_list_spec(request.user, study),
        query_list_rows(found),
        template="queries/list.html",
        context={"study": study, "can_manage": can_manage_queries(request.user)},
        filename=f"queries-study-{study.pk}",
    )


@staff_view
def participant_queries(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    found = queries_of_participant(request.user, participant)
    return list_response(
        request,
        query_list_spec(request.user, participant.study, with_site=False),
        query_list_rows(found),
        template="queries/list.html",
        context={
            "study": participant.study,
            "participant": participant,
            "can_manage": can_manage_queries(request.user),
        },
        filename=f"queries-{participant.code}",
    )


@staff_view
def query_open(request: AuthedRequest, participant_id: int) -> HttpResponse:
    participant = access_participant_by_id(request.user, participant_id)
    if not can_manage_queries(request.user):
        raise NotFound("page")
    form = QueryOpenForm(request.POST or None, forms_of_participant=participant_forms(participant))
    if request.method == "POST" and form.is_valid():
        try:
            query = services.query_open(
                acting_user=request.user, participant=participant, **form.cleaned_data
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Query Q{query.pk} opened for {participant.code}.")
            return redirect("query_detail", query_id=query.pk)
    return render(
        request,
        "queries/open.html",
        {"form": form, "participant": participant},
    )


ACTIONS = {"answer": QueryAnswerForm, "close": QueryCloseForm, "reopen": QueryReopenForm}


@staff_view
def query_detail(request: AuthedRequest, query_id: int) -> HttpResponse:
    query = access_query_by_id(request.user, query_id)
    action = request.POST.get("action", "") if request.method == "POST" else ""
    forms = {
        name: ACTIONS[name](request.POST if action == name else None, prefix=name)
        for name in query_steps(request.user, query)
    }
    if action:
        if action not in forms:
            messages.error(request, "This step is not available for this query now.")
            return redirect("query_detail", query_id=query.pk)
        form = forms[action]
        if form.is_valid():
            try:
                _apply(request, query, action, form.cleaned_data)
            except ServiceError as exc:
                add_service_errors(form, exc)
            else:
                return redirect("query_detail", query_id=query.pk)
    return render(
        request,
        "queries/detail.html",
        {
            "q": query,
            "thread": query_thread(query),
            "forms": forms,
            "corrections_url": (
                reverse("audit_list", args=[query.study_id])
                + query_string(participant=query.participant.code, action=AuditAction.CORRECT)
                if can_read_audit(request.user)
                else ""
            ),
        },
        status=400 if action else 200,
    )


def _apply(request: AuthedRequest, query: DataQuery, action: str, data: dict[str, Any]) -> None:
    if action == "answer":
        services.query_answer(
            acting_user=request.user,
            query=query,
            answer=str(data["answer"]),
            corrected=bool(data["corrected"]),
        )
        messages.success(request, f"Answer to Q{query.pk} sent.")
    elif action == "close":
        services.query_close(acting_user=request.user, query=query, note=str(data["note"] or ""))
        messages.success(request, f"Q{query.pk} closed.")
    else:
        services.query_reopen(acting_user=request.user, query=query, message=str(data["message"]))
        messages.success(request, f"Q{query.pk} re-opened.")


@staff_view
def query_checks(request: AuthedRequest, study_id: int) -> HttpResponse:
    study = access_study_by_id(request.user, study_id)
    if not can_manage_queries(request.user):
        raise NotFound("page")
    if request.method == "POST":
        try:
            run = services.queries_run_checks(acting_user=request.user, study=study)
        except ServiceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                f"Checks done: {run.findings} finding(s), {len(run.opened)} new quer"
                f"{'y' if len(run.opened) == 1 else 'ies'} opened, {run.already_open} already had one.",
            )
        return redirect("study_queries", study_id=study.pk)
    checks = [label for label, _check in CHECKS.values()]
    return render(request, "queries/checks.html", {"study": study, "checks": checks})
