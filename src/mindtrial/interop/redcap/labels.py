"""REDCap "label" exports (``rawOrLabel=label``) turned back into raw codes with the dictionary.

A label export writes choice labels instead of codes ("Female" for ``1``), ``Yes``/``No``,
``Checked``/``Unchecked``, ``Complete``/``Incomplete``/``Unverified``, and may write the
field labels as its header (``rawOrLabelHeaders=label``). Both are undone here so the values
are typed exactly as a raw export's; a label the dictionary does not know stays as written
and is reported by the reader like any other misfit.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd

from mindtrial.interop.redcap.dictionary import DataDictionary
from mindtrial.interop.redcap.records import (
    DAG,
    EVENT,
    REPEAT_INSTANCE,
    REPEAT_INSTRUMENT,
    SURVEY_ID,
    flat_layout,
)
from mindtrial.interop.redcap.types import COMPLETE_LABELS, Event, RedcapFormatError

ValueMode = Literal["auto", "raw", "label"]

# The header REDCap writes for its own columns in a label-header export.
_KEY_HEADERS = {
    "event name": EVENT,
    "repeat instrument": REPEAT_INSTRUMENT,
    "repeat instance": REPEAT_INSTANCE,
    "data access group": DAG,
    "survey identifier": SURVEY_ID,
}
_CHECKBOX = {"Checked": "1", "Unchecked": "0"}
_BOOLEAN = {
    "yesno": {"Yes": "1", "No": "0"},
    "truefalse": {"True": "1", "False": "0"},
}
_COMPLETE = {label: str(i) for i, label in enumerate(COMPLETE_LABELS)}


def _code_maps(dictionary: DataDictionary) -> dict[str, dict[str, str]]:
    """Export column -> {label: code} for every coded column."""
    out: dict[str, dict[str, str]] = {}
    for f in dictionary.fields:
        if f.field_type in {"radio", "dropdown"}:
            out[f.name] = {c.label.strip(): c.code for c in f.choices}
        elif f.field_type in _BOOLEAN:
            out[f.name] = dict(_BOOLEAN[f.field_type])
        elif f.field_type == "checkbox":
            for col in f.checkbox_columns:
                out[col] = dict(_CHECKBOX)
    for form in dictionary.instruments:
        out[f"{form}_complete"] = dict(_COMPLETE)
    return out


def looks_like_labels(frame: pd.DataFrame, dictionary: DataDictionary) -> bool:
    """More coded values are labels than codes (checked over every coded column)."""
    labels = codes = 0
    for col, mapping in _code_maps(dictionary).items():
        if col not in frame:
            continue
        values = frame[col].str.strip()
        values = values[values != ""]
        code_set = set(mapping.values())
        label_only = set(mapping) - code_set
        labels += int(values.isin(list(label_only)).sum())
        codes += int(values.isin(list(code_set)).sum())
    return labels > codes


def label_headers(columns: list[str], dictionary: DataDictionary) -> list[str] | None:
    """Field names for a header of field labels (REDCap writes the same columns in the same
    order as a raw export), or None when the header is not labels."""
    rid = dictionary.record_id
    if rid in columns:
        return None
    first = dictionary.fields[0].label.strip()
    if not columns or columns[0].strip() != first:
        return None
    layout = flat_layout(dictionary, {f"{form}_timestamp" for form in dictionary.instruments})
    names: list[str] = [rid]
    rest = layout[1:]
    at = 0
    for header in columns[1:]:
        key = _KEY_HEADERS.get(header.strip().lower())
        if key is not None:
            names.append(key)
            continue
        # a survey timestamp column appears only for survey instruments
        while at < len(rest) and rest[at].endswith("_timestamp") and header != "Survey Timestamp":
            at += 1
        if at >= len(rest):
            raise RedcapFormatError(
                f"the header of field labels has more columns than the dictionary ({header!r})"
            )
        names.append(rest[at])
        at += 1
    return names


def event_label_map(events: tuple[Event, ...], arm_names: dict[int, str]) -> dict[str, str]:
    """REDCap's event label in a label export ("Visit 1 (Arm 1: Drug A)") -> unique name."""
    out: dict[str, str] = {}
    for e in events:
        arm = arm_names.get(e.arm, "")
        out[f"{e.name} (Arm {e.arm}: {arm})"] = e.unique_name
        out.setdefault(e.name, e.unique_name)
    return out


def labels_to_codes(
    frame: pd.DataFrame, dictionary: DataDictionary, *, event_labels: dict[str, str]
) -> pd.DataFrame:
    """The frame with labels replaced by codes where the dictionary knows them."""
    out = frame.copy()
    for col, mapping in _code_maps(dictionary).items():
        if col in out:
            stripped = out[col].str.strip()
            out[col] = stripped.map(mapping).fillna(out[col])
    if EVENT in out and event_labels:
        out[EVENT] = out[EVENT].map(event_labels).fillna(out[EVENT])
    if REPEAT_INSTRUMENT in out:
        forms = {_form_label(form): form for form in dictionary.instruments}
        out[REPEAT_INSTRUMENT] = out[REPEAT_INSTRUMENT].map(forms).fillna(out[REPEAT_INSTRUMENT])
    return out


def _form_label(form: str) -> str:
    """REDCap shows an instrument's name as its words capitalised: ``blood_pressure`` ->
    ``Blood Pressure``."""
    return " ".join(part.capitalize() for part in form.split("_"))
