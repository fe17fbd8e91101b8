"""Raw REDCap strings -> typed pandas columns, with every misfit reported, never coerced.

Each converter takes the raw column (strings, ``""`` where blank) and returns the typed
column plus a list of :class:`Issue` (a row mask and why). Rows flagged ``error`` are missing
in the typed column; rows flagged ``warning`` keep their value (REDCap range checks are soft).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from mindtrial.interop.redcap.types import COMPLETE_LABELS, Choice, Field, Kind

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Issue:
    mask: pd.Series  # boolean, aligned with the raw column
    reason: str
    severity: Severity = "error"


Converted = tuple[pd.Series, list[Issue]]

_INTEGER = r"[-+]?\d{1,18}"
_NUMBER_POINT = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_NUMBER_COMMA = r"[-+]?(?:\d+(?:,\d*)?|,\d+)"
_NUMBER_DP = re.compile(r"number_(\d)dp(_comma_decimal)?")

# Text validations that stay text but whose shape REDCap checks.
_TEXT_PATTERNS: dict[str, str] = {
    "email": r"[^@\s]+@[^@\s]+\.[^@\s]+",
    "phone": r"\(?[2-9]\d{2}\)?[-. ]*[2-9]\d{2}[-. ]*\d{4}(?:\s*(?:#|x\.?|ext\.?|extension)\s*\d+)?",
    "zipcode": r"\d{5}(?:-\d{4})?",
    "alpha_only": r"[A-Za-z]+",
    "ssn": r"\d{3}-\d{2}-\d{4}",
    "mrn_10d": r"\d{10}",
    "postalcode_french": r"\d{5}",
    "postalcode_germany": r"\d{5}",
    "postalcode_australia": r"\d{4}",
    "postalcode_canada": r"[A-Za-z]\d[A-Za-z] ?\d[A-Za-z]\d",
}
_TEXT_OK = {"", "mrn_generic", "vmrn", "phone_australia", "signature"}

DATE_ORDERS = {"ymd": "Y-M-D", "mdy": "M-D-Y", "dmy": "D-M-Y"}


def kind_of(field: Field) -> Kind:
    """What a field's values become in the typed tables."""
    ft = field.field_type
    if ft == "descriptive":
        return "none"
    if ft in {"radio", "dropdown"}:
        return "categorical"
    if ft == "checkbox":
        return "checkbox"
    if ft in {"yesno", "truefalse"}:
        return "boolean"
    if ft == "calc":
        return "number"
    if ft == "slider":
        return "integer"
    if ft != "text":
        return "string"
    v = field.validation
    if v == "integer":
        return "integer"
    if v == "number" or _NUMBER_DP.fullmatch(v) or v == "number_comma_decimal":
        return "number"
    if v.startswith("datetime_"):
        return "datetime"
    if v.startswith("date_"):
        return "date"
    if v in {"time", "time_hh_mm_ss", "time_mm_ss"}:
        return "time"
    return "string"


def is_known_validation(validation: str) -> bool:
    return (
        validation in _TEXT_OK
        or validation in _TEXT_PATTERNS
        or validation in {"integer", "number", "number_comma_decimal"}
        or bool(_NUMBER_DP.fullmatch(validation))
        or validation in {"time", "time_hh_mm_ss", "time_mm_ss"}
        or bool(re.fullmatch(r"date_(ymd|mdy|dmy)|datetime_(seconds_)?(ymd|mdy|dmy)", validation))
    )


def _full(raw: pd.Series, pattern: str) -> pd.Series:
    return raw.str.fullmatch(pattern).fillna(False).astype(bool)


def parse_integer(raw: pd.Series, blank: pd.Series) -> Converted:
    ok = _full(raw, _INTEGER) & ~blank
    values = pd.to_numeric(raw.where(ok), errors="coerce").astype("Int64")
    return values, [Issue(~ok & ~blank, "not a whole number")]


def parse_number(raw: pd.Series, blank: pd.Series, *, comma: bool) -> Converted:
    pattern = _NUMBER_COMMA if comma else _NUMBER_POINT
    ok = _full(raw, pattern) & ~blank
    text = raw.where(ok)
    if comma:
        text = text.str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(text, errors="coerce").astype("float64")
    overflow = ok & ~pd.Series(np.isfinite(numbers.to_numpy()), index=raw.index)
    values = numbers.where(~overflow).astype("Float64")
    reason = "not a number with a decimal comma" if comma else "not a number"
    return values, [
        Issue(~ok & ~blank, reason),
        Issue(overflow, "too large to hold as a number (beyond about 1.8e308)"),
    ]


def _assemble_datetime(
    parts: pd.DataFrame, ok: pd.Series, *, with_time: bool
) -> tuple[pd.Series, pd.Series]:
    y = parts["y"].str.zfill(4)
    m = parts["m"].str.zfill(2)
    d = parts["d"].str.zfill(2)
    text = y + "-" + m + "-" + d
    fmt = "%Y-%m-%d"
    if with_time:
        hh = parts["H"].str.zfill(2)
        mm = parts["M"]
        ss = parts["S"].fillna("00") if "S" in parts else "00"
        text = text + " " + hh + ":" + mm + ":" + ss
        fmt = "%Y-%m-%d %H:%M:%S"
    values = pd.to_datetime(text.where(ok), format=fmt, errors="coerce")
    return values.astype("datetime64[ns]"), ok & values.isna()


def _date_patterns(order: str, *, with_time: bool, seconds: bool | None) -> list[str]:
    time = ""
    if with_time:
        sec = r"(?::(?P<S>\d{2}))?" if seconds is None else (r":(?P<S>\d{2})" if seconds else "")
        time = r"[ T](?P<H>\d{1,2}):(?P<M>\d{2})" + sec
    iso = r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})" + time
    pats = [iso]
    if order == "mdy":
        pats.append(r"(?P<m>\d{1,2})[-/.](?P<d>\d{1,2})[-/.](?P<y>\d{4})" + time)
    elif order == "dmy":
        pats.append(r"(?P<d>\d{1,2})[-/.](?P<m>\d{1,2})[-/.](?P<y>\d{4})" + time)
    return pats


def parse_dates(
    raw: pd.Series, blank: pd.Series, *, order: str, with_time: bool, seconds: bool | None
) -> Converted:
    """Raw exports write dates Y-M-D whatever the display order; the display order is
    accepted too (``date_dmy``: 31-12-2020 or 31/12/2020)."""
    values = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    matched = pd.Series(False, index=raw.index)
    impossible = pd.Series(False, index=raw.index)
    display = pd.Series(False, index=raw.index)
    ambiguous = pd.Series(False, index=raw.index)
    patterns = _date_patterns(order, with_time=with_time, seconds=seconds)
    for n, pattern in enumerate(patterns):
        todo = ~matched & ~blank
        if not todo.any():
            break
        parts = raw[todo].str.extract(f"^{pattern}$")
        ok = parts["y"].notna()
        if not ok.any():
            continue
        parsed, bad = _assemble_datetime(parts, ok, with_time=with_time)
        good = ok & ~bad
        values.loc[good[good].index] = parsed[good]
        matched.loc[ok[ok].index] = True
        impossible.loc[bad[bad].index] = True
        if n > 0:
            display.loc[good[good].index] = True
            day = pd.to_numeric(parts["d"], errors="coerce")
            month = pd.to_numeric(parts["m"], errors="coerce")
            either = good & (day <= 12) & (month <= 12) & (day != month)
            ambiguous.loc[either[either].index] = True
    what = "date and time" if with_time else "date"
    clock = (" H:M" + (":S" if seconds else "")) if with_time else ""
    shape = "Y-M-D" + clock
    if order != "ymd":
        shape += f" or {DATE_ORDERS[order]}{clock}"
    shown = DATE_ORDERS.get(order, "")
    return values, [
        Issue(~matched & ~blank, f"not a {what} ({shape})"),
        Issue(impossible, f"not a real calendar {what} (or outside 1677-2262)"),
        Issue(
            display & ~ambiguous,
            f"written {shown} (the field's display order), not Y-M-D as REDCap's raw "
            f"exports write dates: read as {shown}",
            "warning",
        ),
        Issue(
            ambiguous,
            f"ambiguous: written {shown} (the field's display order) with day and month "
            f"both 12 or less, not Y-M-D as REDCap's raw exports write dates: read as "
            f"{shown}; check it",
            "warning",
        ),
    ]


def parse_time(raw: pd.Series, blank: pd.Series, *, validation: str) -> Converted:
    if validation == "time_mm_ss":
        pattern, shape = r"(?P<M>[0-5]?\d):(?P<S>[0-5]\d)", "MM:SS"
    elif validation == "time_hh_mm_ss":
        pattern, shape = r"(?P<H>[01]?\d|2[0-3]):(?P<M>[0-5]\d):(?P<S>[0-5]\d)", "HH:MM:SS"
    else:
        pattern, shape = r"(?P<H>[01]?\d|2[0-3]):(?P<M>[0-5]\d)", "HH:MM"
    parts = raw.str.extract(f"^{pattern}$")
    ok = parts["M"].notna() & ~blank
    seconds = pd.Series(0.0, index=raw.index)
    for name, factor in (("H", 3600.0), ("M", 60.0), ("S", 1.0)):
        if name in parts:
            seconds = seconds + pd.to_numeric(parts[name], errors="coerce").fillna(0) * factor
    values = pd.to_timedelta(seconds.where(ok), unit="s")
    return values, [Issue(~ok & ~blank, f"not a time ({shape})")]


def parse_text(raw: pd.Series, blank: pd.Series, *, validation: str) -> Converted:
    values = raw.where(~blank).astype("string")
    pattern = _TEXT_PATTERNS.get(validation)
    if pattern is None:
        return values, []
    ok = _full(raw.str.strip(), pattern) | blank
    return values.where(ok), [Issue(~ok, f"does not look like a valid {validation}")]


def _coded(
    raw: pd.Series, blank: pd.Series, mapping: dict[str, object], what: str
) -> tuple[pd.Series, pd.Series]:
    key = raw.str.strip()
    ok = key.isin(list(mapping)) & ~blank
    return key.where(ok), ~ok & ~blank


def parse_boolean(raw: pd.Series, blank: pd.Series, *, field_type: str) -> Converted:
    key, bad = _coded(raw, blank, {"1": True, "0": False}, field_type)
    values = key.map({"1": True, "0": False}).astype("boolean")
    names = "1 (yes) or 0 (no)" if field_type == "yesno" else "1 (true) or 0 (false)"
    return values, [Issue(bad, f"not {names}")]


def parse_checkbox_option(raw: pd.Series, blank: pd.Series) -> Converted:
    key, bad = _coded(raw, blank, {"1": True, "0": False}, "checkbox")
    values = key.map({"1": True, "0": False}).astype("boolean")
    return values, [Issue(bad, "a checkbox option must be 1 (checked) or 0 (unchecked)")]


def unique_labels(choices: tuple[Choice, ...]) -> list[str]:
    """Choice labels, made unique (a Categorical needs distinct categories)."""
    labels = [c.label for c in choices]
    counts = pd.Series(labels).value_counts()
    return [f"{c.label} ({c.code})" if counts[c.label] > 1 else c.label for c in choices]


def parse_categorical(
    raw: pd.Series, blank: pd.Series, *, choices: tuple[Choice, ...]
) -> Converted:
    """Labels as a Categorical in the dictionary's order (the code column is added by the caller)."""
    labels = unique_labels(choices)
    mapping = {c.code: label for c, label in zip(choices, labels, strict=True)}
    key, bad = _coded(raw, blank, dict(mapping), "choice")
    values = pd.Series(
        pd.Categorical(key.map(mapping), categories=labels, ordered=False), index=raw.index
    )
    codes = ", ".join(c.code for c in choices)
    return values, [Issue(bad, f"not one of the field's codes ({codes})")]


def parse_complete(raw: pd.Series, blank: pd.Series) -> Converted:
    mapping = {str(i): label for i, label in enumerate(COMPLETE_LABELS)}
    key, bad = _coded(raw, blank, dict(mapping), "status")
    values = pd.Series(
        pd.Categorical(key.map(mapping), categories=list(COMPLETE_LABELS), ordered=True),
        index=raw.index,
    )
    return values, [Issue(bad, "a form status must be 0, 1 or 2")]


def parse_timestamp(raw: pd.Series, blank: pd.Series) -> Converted:
    """Survey timestamps; ``[not completed]`` means the survey was not submitted (missing)."""
    not_done = raw.str.strip() == "[not completed]"
    return parse_dates(raw, blank | not_done, order="ymd", with_time=True, seconds=None)


def range_issues(field: Field, values: pd.Series, kind: Kind, blank: pd.Series) -> list[Issue]:
    """Soft range checks from Text Validation Min/Max (and a slider's 0-100 default)."""
    low, high = field.validation_min, field.validation_max
    if field.field_type == "slider":
        low, high = low or "0", high or "100"
    issues: list[Issue] = []
    for bound, is_low in ((low, True), (high, False)):
        limit = _bound(bound, field, kind)
        if limit is None:
            continue
        present = values.notna()
        if not present.any():
            continue
        cmp = values[present] < limit if is_low else values[present] > limit
        mask = pd.Series(False, index=values.index)
        mask.loc[cmp[cmp.astype(bool)].index] = True
        if mask.any():
            word = "below the minimum" if is_low else "above the maximum"
            issues.append(Issue(mask, f"{word} {bound} set in the dictionary", "warning"))
    return issues


def _bound(text: str, field: Field, kind: Kind) -> object | None:
    if not text:
        return None
    one = pd.Series([text])
    blank = pd.Series([False])
    if kind in {"integer", "number"}:
        comma = field.validation.endswith("comma_decimal")
        value = parse_number(one, blank, comma=comma)[0].iloc[0]
    elif kind in {"date", "datetime"}:
        value = parse_dates(one, blank, order="ymd", with_time=False, seconds=None)[0].iloc[0]
        if pd.isna(value):
            value = parse_dates(one, blank, order="ymd", with_time=True, seconds=None)[0].iloc[0]
    elif kind == "time":
        value = parse_time(one, blank, validation=field.validation)[0].iloc[0]
    else:
        return None
    return None if pd.isna(value) else value


def convert_field(field: Field, raw: pd.Series, blank: pd.Series) -> Converted:
    """Typed values of one (non-checkbox) field."""
    if len(raw) and bool(blank.all()):
        # nothing to check: convert an empty column for the dtype, then fill with missing
        values = convert_field(field, raw.iloc[:0], blank.iloc[:0])[0]
        return values.reindex(raw.index), []
    kind = kind_of(field)
    v = field.validation
    if kind != "string":
        # REDCap trims what is typed; spaces around a number, date or code are not part of it
        raw = raw.str.strip()
        blank = blank | (raw == "")
    if kind == "integer":
        values, issues = parse_integer(raw, blank)
    elif kind == "number":
        comma = v.endswith("comma_decimal")
        values, issues = parse_number(raw, blank, comma=comma)
    elif kind in {"date", "datetime"}:
        order = v.rsplit("_", 1)[-1]
        seconds = "seconds" in v
        values, issues = parse_dates(
            raw, blank, order=order, with_time=kind == "datetime", seconds=seconds
        )
    elif kind == "time":
        values, issues = parse_time(raw, blank, validation=v)
    elif kind == "boolean":
        values, issues = parse_boolean(raw, blank, field_type=field.field_type)
    elif kind == "categorical":
        values, issues = parse_categorical(raw, blank, choices=field.choices)
    else:
        values, issues = parse_text(raw, blank, validation=v if field.field_type == "text" else "")
    if kind in {"integer", "number", "date", "datetime", "time"}:
        issues = issues + range_issues(field, values, kind, blank)
    return values, issues


def empty_mask(index: pd.Index) -> pd.Series:
    return pd.Series(np.zeros(len(index), dtype=bool), index=index)
