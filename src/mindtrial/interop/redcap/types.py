"""Typed pieces of a REDCap project: fields, choices, events, arms and problems."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal[
    "string",  # free text, notes, e-mail, phone, file names ...
    "integer",  # Int64
    "number",  # Float64 (decimal point or decimal comma in the file)
    "date",  # datetime64[ns] at midnight
    "datetime",  # datetime64[ns]
    "time",  # timedelta64[ns] since midnight (or minutes:seconds)
    "boolean",  # yes/no, true/false
    "categorical",  # radio/dropdown: labels as a Categorical plus the raw code
    "checkbox",  # one nullable boolean column per option
    "none",  # descriptive text: no data
]

FIELD_TYPES = (
    "text",
    "notes",
    "calc",
    "dropdown",
    "radio",
    "checkbox",
    "yesno",
    "truefalse",
    "file",
    "slider",
    "descriptive",
    "sql",
)

COMPLETE_LABELS = ("Incomplete", "Unverified", "Complete")


class RedcapFormatError(ValueError):
    """The files given are not a REDCap export (or not one this reader can make sense of)."""


@dataclass(frozen=True, slots=True)
class Choice:
    """One option of a radio, dropdown or checkbox field."""

    code: str
    label: str


@dataclass(frozen=True, slots=True)
class Field:
    """One row of the data dictionary."""

    name: str
    form: str
    field_type: str
    label: str = ""
    choices: tuple[Choice, ...] = ()
    validation: str = ""
    validation_min: str = ""
    validation_max: str = ""
    calculation: str = ""
    slider_labels: tuple[str, ...] = ()
    note: str = ""
    section_header: str = ""
    identifier: bool = False
    branching_logic: str = ""
    required: bool = False
    matrix_group: str = ""
    annotation: str = ""

    @property
    def type_name(self) -> str:
        """A short type string: the validation for validated text boxes, else the field type."""
        if self.field_type == "text" and self.validation:
            return self.validation
        return self.field_type

    def checkbox_column(self, code: str) -> str:
        """The export column of one checkbox option (``field___code``)."""
        return f"{self.name}___{checkbox_code_suffix(code)}"

    @property
    def checkbox_columns(self) -> tuple[str, ...]:
        return tuple(self.checkbox_column(c.code) for c in self.choices)


def checkbox_code_suffix(code: str) -> str:
    """REDCap lower-cases checkbox codes and turns anything but letters/digits into ``_``."""
    return "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in code.lower())


@dataclass(frozen=True, slots=True)
class Arm:
    number: int
    name: str


@dataclass(frozen=True, slots=True)
class Event:
    unique_name: str
    name: str
    arm: int
    custom_label: str = ""
    event_id: str = ""
    day_offset: float | None = None
    forms: tuple[str, ...] = ()  # instruments designated on the event (empty when unknown)


@dataclass(frozen=True, slots=True)
class RepeatSetting:
    """A repeating instrument (``instrument`` set) or a repeating event (``instrument`` None)."""

    event: str | None
    instrument: str | None


@dataclass(frozen=True, slots=True)
class Problem:
    """A value that does not fit its field. Errors are set missing; warnings keep the value."""

    record: str
    event: str | None
    field: str
    value: str
    reason: str
    instance: int | None = None
    severity: Literal["error", "warning"] = "error"

    def as_dict(self) -> dict[str, str | int | None]:
        return {
            "record": self.record,
            "event": self.event,
            "instance": self.instance,
            "field": self.field,
            "value": self.value,
            "reason": self.reason,
            "severity": self.severity,
        }


@dataclass(frozen=True, slots=True)
class ProjectMetadata:
    """What a project XML (or the dictionary + event/arm files) says about the project."""

    fields: tuple[Field, ...]
    events: tuple[Event, ...] = ()
    arms: tuple[Arm, ...] = ()
    repeating: tuple[RepeatSetting, ...] = ()
    data_access_groups: tuple[str, ...] = ()
    missing_codes: tuple[Choice, ...] = ()
    survey_forms: tuple[str, ...] = ()
    title: str = ""
    notes: tuple[str, ...] = field(default=())
