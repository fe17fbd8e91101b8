"""The phone check-in form: one field per item of each instrument due, in plain language."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from mindtrial.instruments.registry import get_instrument
from mindtrial.instruments.schema import Item, ItemType

SEP = "__"
"""Field names are ``<instrument>__<item>``."""
DECLINE = "-"
"""The value of the "Prefer not to answer" choice (no item's answer or choice code)."""
DECLINE_LABEL = "Prefer not to answer"

TITLES = {
    "substance_use_7d": "The past 7 days",
    "ocs": "Craving",
    "promis_anxiety_8a": "How you have been feeling (past 7 days)",
    "home_practice": "Practice at home",
    "ema_craving": "Right now",
    "comm": "Your medication (past 30 days)",
    "bpi_sf": "Pain",
    "dass21": "How you have been feeling (past week)",
}


def _field(item: Item, *, decline: bool = False) -> forms.Field:
    """The item's form field; with ``decline``, choice items end with "Prefer not to answer"."""
    label = item.text or item.id
    extra = [(DECLINE, DECLINE_LABEL)] if decline else []
    if item.type is ItemType.BOOLEAN:
        return forms.ChoiceField(
            label=label, choices=[("yes", "Yes"), ("no", "No"), *extra], widget=forms.RadioSelect
        )
    if item.type is ItemType.INTEGER and item.min is not None and item.max is not None:
        low, high = int(item.min), int(item.max)
        if high - low <= 10:
            choices = [
                (str(v), f"{v} {item.labels.get(v, '')}".strip()) for v in range(low, high + 1)
            ]
            return forms.ChoiceField(
                label=label,
                choices=[*choices, *extra],
                widget=forms.RadioSelect(attrs={"class": "scale"}),
            )
        return forms.IntegerField(
            label=label + (f" ({item.unit})" if item.unit else ""),
            min_value=low,
            max_value=high,
            widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        )
    if item.type is ItemType.CHOICE:
        return forms.ChoiceField(
            label=label,
            choices=[*((c.code, c.label) for c in item.choices), *extra],
            widget=forms.RadioSelect,
        )
    if item.type is ItemType.NUMBER:
        return forms.FloatField(label=label, min_value=item.min, max_value=item.max)
    return forms.CharField(label=label, max_length=item.max_length or 500)


class KeyForm(forms.Form):
    """The hidden idempotency key alone: what a blank check-in form needs per participant
    (its questions come from :func:`blank_questions`)."""

    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)


class CheckInForm(KeyForm):
    def __init__(
        self,
        *args: Any,
        instruments: list[str],
        with_reason: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.sections: list[tuple[str, list[str]]] = []
        self.declinable: set[str] = set()
        for instrument_id in instruments:
            instrument = get_instrument(instrument_id)
            may_decline = instrument.missing is not None and instrument.missing.prefer_not_to_answer
            names = []
            for item in instrument.items:
                name = f"{instrument_id}{SEP}{item.id}"
                field = _field(item, decline=may_decline)
                field.required = False  # the service names what is missing
                if may_decline:
                    self.declinable.add(name)
                    if not isinstance(field, forms.ChoiceField):
                        field.help_text = "Leave it empty if you prefer not to answer."
                self.fields[name] = field
                names.append(name)
            self.sections.append((TITLES.get(instrument_id, instrument.name), names))
        if with_reason:
            del self.fields["idempotency_key"]
            self.fields["reason"] = forms.CharField(
                label="Reason for the correction", max_length=500, required=False
            )

    def section_fields(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(title, [self[name] for name in names]) for title, names in self.sections]

    def answers(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for name, value in self.cleaned_data.items():
            if SEP in name and value != DECLINE:
                instrument_id, item_id = name.split(SEP, 1)
                found.setdefault(instrument_id, {})[item_id] = value
        return found

    def skipped(self) -> dict[str, list[str]]:
        """Items answered "Prefer not to answer" (or, for a typed answer, left empty) on a
        form whose instrument allows declining."""
        found: dict[str, list[str]] = {}
        for name in self.declinable:
            value = self.cleaned_data.get(name)
            typed = not isinstance(self.fields[name], forms.ChoiceField)
            if value == DECLINE or (typed and value in (None, "")):
                instrument_id, item_id = name.split(SEP, 1)
                found.setdefault(instrument_id, []).append(item_id)
        return {k: sorted(v) for k, v in found.items()}


@dataclass(frozen=True)
class BlankQuestions:
    html: SafeString
    declinable: bool
    """Whether any question offers "Prefer not to answer"."""


@functools.lru_cache(maxsize=32)
def blank_questions(instruments: tuple[str, ...]) -> BlankQuestions:
    """The questions of an unanswered check-in form for ``instruments``, rendered once per
    process: they are the same for every participant (the CSRF token and the idempotency key
    are outside them), and building and rendering them is most of the form page's time."""
    form = CheckInForm(instruments=list(instruments))
    html = render_to_string("checkin/_questions.html", {"questions_form": form, "decline": DECLINE})
    return BlankQuestions(html=html, declinable=bool(form.declinable))


def initial_from(
    answers: Mapping[str, Mapping[str, str]], instruments: list[str] | None = None
) -> dict[str, str]:
    """Form initial values from saved answers (yes/no items saved as 1/0); for the
    ``instruments`` of the form that allow declining, an unanswered choice item starts as
    "Prefer not to answer" (so a correction keeps what the participant declined)."""
    initial: dict[str, str] = {}
    for instrument_id, items in answers.items():
        instrument = get_instrument(instrument_id)
        for item_id, value in items.items():
            kind = instrument.item(item_id).type
            if kind is ItemType.BOOLEAN:
                value = "yes" if value == "1" else "no"
            initial[f"{instrument_id}{SEP}{item_id}"] = value
    for instrument_id in instruments or []:
        instrument = get_instrument(instrument_id)
        if instrument.missing is None or not instrument.missing.prefer_not_to_answer:
            continue
        for item in instrument.items:
            name = f"{instrument_id}{SEP}{item.id}"
            if name not in initial and isinstance(_field(item), forms.ChoiceField):
                initial[name] = DECLINE
    return initial


def field_errors(errors: Mapping[str, str]) -> dict[str, str]:
    """Service error keys ``instrument.item`` as form field names."""
    return {key.replace(".", SEP, 1): message for key, message in errors.items()}
