"""Enrolment forms; screening, instrument and covariate forms are built from protocol data.

No answer is pre-selected: every choice starts on an empty "—" option (a required one must be
changed), so a form saved without looking never records the first option of a list.
"""

from __future__ import annotations

from typing import Any

from django import forms

from mindtrial.instruments.schema import Instrument, Item, ItemType
from mindtrial.protocols import Protocol
from mindtrial.protocols.criteria import Criterion
from mindtrial.web.accounts.models import User
from mindtrial.web.enrolment.models import ReferralSource
from mindtrial.web.studies.models import Cohort, Site
from mindtrial.web.studies.protocol_access import screening_conditions
from mindtrial.web.viewutils import yes_no_field

_BOOLEAN_OPS = {"is_true", "is_false"}
_NUMERIC_OPS = {"ge", "le", "gt", "lt", "between"}


EMPTY = ("", "—")


class ReferForm(forms.Form):
    site = forms.ModelChoiceField(queryset=Site.objects.none(), empty_label=EMPTY[1])
    referral_source = forms.ChoiceField(choices=[EMPTY, *ReferralSource.choices])
    referral_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, sites: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites  # type: ignore[attr-defined]


def _condition_field(condition: Criterion) -> forms.Field:
    """The record field as the question (e.g. "Days abstinent"), the criterion as the hint."""
    label = condition.field.replace("_", " ").capitalize()
    field: forms.Field
    if condition.op in _BOOLEAN_OPS:
        field = yes_no_field(label, required=False)
    elif condition.op in _NUMERIC_OPS:
        field = forms.FloatField(label=label, required=False)
    elif condition.op in {"in", "not_in"} and isinstance(condition.value, tuple):
        options = [("", "—")] + [(str(v), str(v)) for v in condition.value]
        field = forms.ChoiceField(label=label, choices=options, required=False)
    else:
        field = forms.CharField(label=label, required=False, max_length=200)
    field.help_text = f"Criterion: {condition.description}"
    return field


class ScreeningForm(forms.Form):
    """One field per eligibility condition; blanks are allowed and reported by the service."""

    def __init__(self, *args: Any, protocol: Protocol, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for condition in screening_conditions(protocol):
            self.fields[condition.field] = _condition_field(condition)


class ConsentForm(forms.Form):
    form_version = forms.CharField(max_length=64, label="Consent form version")
    consent_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    obtained_by = forms.ModelChoiceField(queryset=User.objects.none(), empty_label=EMPTY[1])

    def __init__(self, *args: Any, staff: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["obtained_by"].queryset = staff  # type: ignore[attr-defined]


def _item_field(item: Item) -> forms.Field:
    label = item.text or item.id
    if item.unit:
        label = f"{label} ({item.unit})"
    required = item.required
    if item.type is ItemType.INTEGER and item.labels:
        assert item.min is not None and item.max is not None
        choices = [
            (str(v), f"{v} {item.labels.get(v, '')}".strip())
            for v in range(int(item.min), int(item.max) + 1)
        ]
        return forms.ChoiceField(
            label=label, choices=choices, widget=forms.RadioSelect, required=required
        )
    if item.type is ItemType.INTEGER:
        return forms.IntegerField(
            label=label,
            min_value=None if item.min is None else int(item.min),
            max_value=None if item.max is None else int(item.max),
            required=required,
        )
    if item.type is ItemType.NUMBER:
        return forms.FloatField(
            label=label, min_value=item.min, max_value=item.max, required=required
        )
    if item.type is ItemType.BOOLEAN:
        return yes_no_field(label, required=required)
    if item.type is ItemType.CHOICE:
        options = [EMPTY] + [(str(c.code), c.label) for c in item.choices]
        return forms.ChoiceField(label=label, choices=options, required=required)
    if item.type is ItemType.DATE:
        return forms.DateField(
            label=label, required=required, widget=forms.DateInput(attrs={"type": "date"})
        )
    return forms.CharField(label=label, required=required, max_length=item.max_length or 500)


def _reason_field() -> forms.CharField:
    return forms.CharField(
        required=True,
        max_length=500,
        label="Reason for the correction",
        help_text="This form was saved before; the audit trail keeps old and new values.",
    )


class InstrumentForm(forms.Form):
    def __init__(
        self, *args: Any, instrument: Instrument, correcting: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        for item in instrument.items:
            self.fields[item.id] = _item_field(item)
        if correcting:
            self.fields["reason"] = _reason_field()


class CovariateForm(forms.Form):
    def __init__(
        self, *args: Any, protocol: Protocol, correcting: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        for covariate in protocol.baseline_covariates:
            label = covariate.label + (f" ({covariate.unit})" if covariate.unit else "")
            field: forms.Field
            if covariate.type == "boolean":
                field = yes_no_field(label, required=True)
            elif covariate.type == "category":
                field = forms.ChoiceField(
                    label=label, choices=[EMPTY] + [(v, v) for v in covariate.levels]
                )
            else:
                field = forms.FloatField(
                    label=label, min_value=covariate.minimum, max_value=covariate.maximum
                )
            self.fields[covariate.name] = field
        if correcting:
            self.fields["reason"] = _reason_field()


class RandomizeForm(forms.Form):
    confirm = forms.BooleanField(
        label="I confirm consent and baseline are complete; randomize now (this cannot be undone)."
    )


class CohortAssignForm(forms.Form):
    cohort = forms.ModelChoiceField(queryset=Cohort.objects.none(), empty_label=EMPTY[1])
    reason = forms.CharField(
        required=False,
        max_length=500,
        label="Reason for the move",
        help_text="Needed when data is recorded already or the new cohort has ended.",
    )

    def __init__(self, *args: Any, cohorts: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["cohort"].queryset = cohorts  # type: ignore[attr-defined]


class ExitForm(forms.Form):
    reason = forms.CharField(max_length=500, help_text="e.g. did not complete baseline")
