"""The AE form (from the protocol's ``adverse_event`` instrument) and the withdrawal form."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms

from mindtrial.instruments.registry import get_instrument
from mindtrial.instruments.schema import ItemType
from mindtrial.web.safety.models import ExitKind
from mindtrial.web.viewutils import correction_reason_field


class AdverseEventForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for item in get_instrument("adverse_event").items:
            label = item.text or item.id
            field: forms.Field
            if item.type is ItemType.TEXT:
                field = forms.CharField(
                    label=label, widget=forms.Textarea(attrs={"rows": 3}), required=False
                )
            elif item.type is ItemType.DATE:
                field = forms.DateField(
                    label=label, widget=forms.DateInput(attrs={"type": "date"}), required=False
                )
            elif item.type is ItemType.BOOLEAN:
                field = forms.ChoiceField(
                    label=label,
                    choices=[("yes", "Yes"), ("no", "No")],
                    widget=forms.RadioSelect,
                    required=False,
                )
            else:
                field = forms.ChoiceField(
                    label=label,
                    choices=[("", "—"), *((c.code, c.label) for c in item.choices)],
                    required=False,
                )
            self.fields[item.id] = field
        # A new key each time the empty form is shown: resubmitting it records nothing new.
        self.fields["submission_key"] = forms.UUIDField(
            widget=forms.HiddenInput, initial=uuid.uuid4, required=False
        )


class ReviewForm(forms.Form):
    note = forms.CharField(
        label="Review note", widget=forms.Textarea(attrs={"rows": 3}), required=False
    )


class WithdrawalForm(forms.Form):
    kind = forms.ChoiceField(choices=ExitKind.choices, widget=forms.RadioSelect)
    week = forms.IntegerField(min_value=0, help_text="The first study week with no data collected.")
    reason = forms.CharField(
        max_length=500, required=False, help_text="No names or other identifying details."
    )


def _outcome_choices() -> list[tuple[str, str]]:
    item = get_instrument("adverse_event").item("outcome")
    return [("", "—"), *((c.code, c.label) for c in item.choices)]


class AdverseEventCorrectionForm(AdverseEventForm):
    """Every answer of the AE form, the outcome's date and the correction's reason."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["submission_key"]
        fields = dict(self.fields)
        self.fields.clear()
        for name, field in fields.items():
            self.fields[name] = field
            if name == "outcome":
                self.fields["outcome_date"] = forms.DateField(
                    label="Date of the outcome (e.g. when it resolved)",
                    widget=forms.DateInput(attrs={"type": "date"}),
                    required=False,
                )
        self.fields["reason"] = correction_reason_field()


class FollowUpForm(forms.Form):
    outcome = forms.ChoiceField(label="Outcome now", choices=_outcome_choices)
    outcome_date = forms.DateField(
        label="As of (date)", widget=forms.DateInput(attrs={"type": "date"})
    )
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="e.g. discharged from hospital; no names or other identifying details.",
    )


class WithdrawalCorrectionForm(forms.Form):
    kind = forms.ChoiceField(choices=ExitKind.choices, widget=forms.RadioSelect)
    week = forms.IntegerField(min_value=0, help_text="The first study week with no data collected.")
    exit_reason = forms.CharField(
        label="Why the participant left",
        max_length=500,
        required=False,
        help_text="No names or other identifying details.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"] = correction_reason_field()


class UndoWithdrawalForm(forms.Form):
    confirm = forms.BooleanField(
        label="The withdrawal was entered in error: the participant did not leave the study."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"] = correction_reason_field()
