"""The query forms: open (data manager), answer (coordinator), close and re-open."""

from __future__ import annotations

from typing import Any

from django import forms

from mindtrial.web.viewutils import yes_no_field

TEXTAREA = forms.Textarea(attrs={"rows": 4})


class QueryOpenForm(forms.Form):
    form = forms.ChoiceField(label="Form or record", choices=())
    field = forms.CharField(label="Field (item or column)", max_length=64, required=False)
    value = forms.CharField(label="Value as recorded", max_length=200, required=False)
    message = forms.CharField(label="Question for the site", widget=TEXTAREA, max_length=4000)

    def __init__(self, *args: Any, forms_of_participant: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["form"].choices = [("", "—"), *forms_of_participant]  # type: ignore[attr-defined]


class QueryAnswerForm(forms.Form):
    answer = forms.CharField(label="Answer", widget=TEXTAREA, max_length=4000)
    corrected = yes_no_field("Did you correct the value?", required=True)


class QueryCloseForm(forms.Form):
    note = forms.CharField(
        label="Note (optional)", widget=TEXTAREA, max_length=4000, required=False
    )


class QueryReopenForm(forms.Form):
    message = forms.CharField(label="Why it is re-opened", widget=TEXTAREA, max_length=4000)
