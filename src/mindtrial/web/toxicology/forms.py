"""The result form: one choice per analyte of the protocol's panel, or a reason.

Nothing is pre-selected: each analyte's result (and the test's status) must be chosen, so a
single click can never save a panel of negatives nobody read.
"""

from __future__ import annotations

from typing import Any

from django import forms

from mindtrial.instruments.registry import get_instrument
from mindtrial.web.toxicology.models import TestStatus
from mindtrial.web.toxicology.services import MAX_CAPTURE_BYTES
from mindtrial.web.viewutils import correction_reason_field

RESULT_CHOICES = [("negative", "Negative"), ("positive", "Positive"), ("invalid", "Invalid")]


class TestResultForm(forms.Form):
    __test__ = False

    status = forms.ChoiceField(choices=TestStatus.choices, widget=forms.RadioSelect)
    reason = forms.CharField(
        required=False,
        max_length=500,
        help_text="Needed when the test is invalid, refused or missed.",
    )
    capture = forms.FileField(
        required=False,
        label="Screen capture (PNG, JPEG or WebP)",
        help_text=f"At most {MAX_CAPTURE_BYTES // (1024 * 1024)} MB.",
    )

    def __init__(self, *args: Any, panel: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        labels = {i.id: i.text or i.id for i in get_instrument("toxicology_14").items}
        self.panel = panel
        for analyte in panel:
            self.fields[f"a_{analyte}"] = forms.ChoiceField(
                label=labels.get(analyte, analyte),
                choices=RESULT_CHOICES,
                widget=forms.RadioSelect,
                required=False,  # the service names every missing analyte of a completed test
            )

    def results(self) -> dict[str, str]:
        if self.cleaned_data.get("status") != TestStatus.COMPLETED:
            return {}
        return {a: self.cleaned_data.get(f"a_{a}") or "" for a in self.panel}

    def analyte_fields(self) -> list[forms.BoundField]:
        return [self[f"a_{a}"] for a in self.panel]


class TestCorrectionForm(TestResultForm):
    """The result form for a recorded test (no new capture), with the correction's reason."""

    __test__ = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["capture"]
        self.fields["reason"].label = "Why the test is invalid, refused or missed"
        self.fields["correction_reason"] = correction_reason_field()
