"""The data manager's audit page: filter, read, export as CSV."""

from __future__ import annotations

import csv
import json

from django import forms
from django.http import HttpResponse

from mindtrial.csv_cells import escape_row
from mindtrial.web.audit.models import AuditAction
from mindtrial.web.audit_pages.lists import audit_list_spec, object_types
from mindtrial.web.audit_pages.selectors import audit_events_for_study
from mindtrial.web.enrolment.selectors import participants_for
from mindtrial.web.listing import list_response
from mindtrial.web.studies.selectors import access_study_by_id
from mindtrial.web.viewutils import AuthedRequest, staff_view


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(choices=[("", "any"), *AuditAction.choices], required=False)
    object_type = forms.CharField(required=False, max_length=64)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


def _filtered(request: AuthedRequest, study_id: int) -> tuple[object, AuditFilterForm, object]:
    study = access_study_by_id(request.user, study_id)
    form = AuditFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    events = audit_events_for_study(
        request.user,
        study,
        action=filters.get("action") or "",
        object_type=filters.get("object_type") or "",
        since=filters.get("since"),
        until=filters.get("until"),
    )
    return study, form, events


@staff_view
def audit_list(request: AuthedRequest, study_id: int) -> HttpResponse:
    study = access_study_by_id(request.user, study_id)
    events = audit_events_for_study(request.user, study)
    spec = audit_list_spec(study, participants_for(request.user, study), object_types(events))
    return list_response(
        request,
        spec,
        events,
        template="audit/list.html",
        context={"study": study},
        filename=f"audit-study-{study.pk}",
    )


@staff_view
def audit_export(request: AuthedRequest, study_id: int) -> HttpResponse:
    _study, _form, events = _filtered(request, study_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-study-{study_id}.csv"'
    writer = csv.writer(response)  # every row through escape_row: reasons are typed text
    writer.writerow(
        ["id", "acted_at", "user", "action", "object_type", "object_id", "old", "new", "reason"]
    )
    for e in events:  # type: ignore[attr-defined]
        writer.writerow(
            escape_row(
                [
                    e.pk,
                    e.acted_at.isoformat(),
                    e.actor_label,
                    e.action,
                    e.object_type,
                    e.object_id,
                    json.dumps(e.old_values, sort_keys=True) if e.old_values is not None else "",
                    json.dumps(e.new_values, sort_keys=True) if e.new_values is not None else "",
                    e.reason,
                ]
            )
        )
    return response
