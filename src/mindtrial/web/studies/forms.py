"""Set-up forms: parse input only; the services decide what is allowed."""

from __future__ import annotations

from typing import Any

from django import forms

from mindtrial.web.accounts.models import Role, User
from mindtrial.web.studies.models import Site, Study, Weekday
from mindtrial.web.studies.protocol_access import shipped_protocol_ids


class StudyCreateForm(forms.Form):
    protocol_id = forms.ChoiceField(label="Protocol")
    name = forms.CharField(max_length=200, label="Study name")
    upload_list = forms.BooleanField(
        required=False,
        label="I will upload a REDCap allocation table instead of generating the list",
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["protocol_id"].choices = [(p, p) for p in shipped_protocol_ids()]  # type: ignore[attr-defined]


class SiteForm(forms.Form):
    code = forms.SlugField(max_length=32, help_text="Short code, e.g. boston")
    name = forms.CharField(max_length=200)


class CohortForm(forms.Form):
    start_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    weekday = forms.TypedChoiceField(choices=Weekday.choices, coerce=int)
    meeting_time = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}))
    timezone = forms.CharField(
        max_length=64, initial="America/New_York", help_text="e.g. America/New_York"
    )


class GroupForm(forms.Form):
    meeting_link = forms.URLField(required=False, assume_scheme="https", label="Video meeting link")
    facilitators = forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(role=Role.FACILITATOR, is_active=True),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


class AccessForm(forms.Form):
    user = forms.ModelChoiceField(queryset=User.objects.filter(is_active=True).order_by("username"))
    site = forms.ModelChoiceField(
        queryset=Site.objects.none(), required=False, empty_label="all sites"
    )

    def __init__(self, *args: Any, study: Study, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = Site.objects.filter(study=study)  # type: ignore[attr-defined]


class AllocationUploadForm(forms.Form):
    file = forms.FileField(label="REDCap allocation table (CSV)")
