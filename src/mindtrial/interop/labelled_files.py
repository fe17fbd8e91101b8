"""DataFrames out to Stata (.dta), SPSS (.sav) and Parquet, keeping variable and value labels.

Stata and SPSS have no nullable integers, booleans or categoricals, so a frame is first
turned into what both understand, and every such change is stated, not hidden:

* categorical -> numeric codes 1..k with the categories as value labels;
* boolean -> 0/1 with value labels ``0 False`` / ``1 True``;
* nullable integers/floats -> double, missing as the system missing value;
* timedelta -> seconds (the variable label says so);
* ``datetime.date`` values -> dates (Stata %td, SPSS DATE; Parquet date32);
* text -> text; Stata and SPSS strings cannot be missing, so a missing text is ``""``;
  Stata text longer than 2,045 bytes is written as a strL (and noted).

Writes are all-or-nothing: the file is written beside the target and moved into place only
when complete. Names that the format cannot hold raise :class:`FormatWriteError` naming them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyreadstat

from mindtrial.atomic_files import replace_file

Format = Literal["stata", "spss"]
_PARQUET_KEY = b"mindtrial.labels"

_STATA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
_STATA_RESERVED = {
    "_all", "_b", "byte", "_coef", "_cons", "double", "float", "if", "in", "int", "long",
    "_n", "_N", "_pi", "_pred", "_rc", "_skip", "str", "strL", "using", "with",
}  # fmt: skip
_SPSS_NAME = re.compile(r"[A-Za-z@#$][A-Za-z0-9@#$_.]{0,63}")
_SPSS_RESERVED = {"ALL", "AND", "BY", "EQ", "GE", "GT", "LE", "LT", "NE", "NOT", "OR", "TO", "WITH"}
_STATA_LABEL_MAX = 80
_STATA_NAME_MAX = 32
_STATA_STR_MAX = 2045  # bytes of a fixed-width Stata string


class FormatWriteError(ValueError):
    """The frame cannot be written to the format as it is (nothing was written)."""


@dataclass(frozen=True, slots=True)
class LabelledFrame:
    """A frame with its variable labels and value labels (code -> label per variable)."""

    frame: pd.DataFrame
    variable_labels: Mapping[str, str]
    value_labels: Mapping[str, Mapping[float, str]]


@dataclass(frozen=True, slots=True)
class WriteResult:
    path: Path
    rows: int
    columns: int
    notes: tuple[str, ...] = ()


def _check_names(frame: pd.DataFrame, fmt: Format) -> None:
    bad: list[str] = []
    for name in frame.columns:
        text = str(name)
        if fmt == "stata":
            ok = bool(_STATA_NAME.fullmatch(text)) and text not in _STATA_RESERVED
        else:
            ok = (
                bool(_SPSS_NAME.fullmatch(text))
                and len(text.encode()) <= 64
                and not text.endswith(".")
                and text.upper() not in _SPSS_RESERVED
            )
        if not ok:
            bad.append(text)
    if bad:
        rule = (
            "Stata names are 1-32 letters, digits or _, not starting with a digit"
            if fmt == "stata"
            else "SPSS names are up to 64 bytes of letters, digits, @ # $ _ . starting with a letter"
        )
        raise FormatWriteError(
            f"{len(bad)} column name(s) cannot be {fmt.upper()} variable names ({rule}): "
            + ", ".join(repr(b) for b in bad[:20])
            + "; rename them first"
        )
    if frame.columns.duplicated().any():
        raise FormatWriteError("column names must be unique")


def to_readstat(
    frame: pd.DataFrame,
    *,
    fmt: Format,
    variable_labels: Mapping[str, str] | None = None,
    value_labels: Mapping[str, Mapping[float, str]] | None = None,
) -> tuple[pd.DataFrame, dict[str, str], dict[str, dict[float, str]], list[str]]:
    """The frame as Stata/SPSS hold it, with the labels to write and notes on what changed."""
    _check_names(frame, fmt)
    var_labels = {str(k): v for k, v in (variable_labels or {}).items()}
    val_labels: dict[str, dict[float, str]] = {
        str(k): dict(v) for k, v in (value_labels or {}).items()
    }
    unknown = sorted(set(var_labels) - set(map(str, frame.columns))) + sorted(
        set(val_labels) - set(map(str, frame.columns))
    )
    if unknown:
        raise FormatWriteError(f"labels given for columns the frame does not have: {unknown}")
    out: dict[str, pd.Series] = {}
    notes: list[str] = []
    for name in frame.columns:
        col = str(name)
        s = frame[name]
        dtype = s.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            if col in val_labels:
                raise FormatWriteError(
                    f"column {col!r} is categorical: its categories are its value labels; "
                    "do not pass value labels for it"
                )
            codes = s.cat.codes.astype("float64").replace(-1.0, np.nan)
            out[col] = codes + 1.0
            val_labels[col] = {float(i + 1): str(c) for i, c in enumerate(dtype.categories)}
        elif pd.api.types.is_bool_dtype(dtype):
            out[col] = s.astype("Float64").astype("float64")
            val_labels.setdefault(col, {0.0: "False", 1.0: "True"})
        elif pd.api.types.is_numeric_dtype(dtype):
            out[col] = s.astype("Float64").astype("float64")
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            if getattr(dtype, "tz", None) is not None:
                raise FormatWriteError(
                    f"column {col!r} has time zone {dtype}: convert it to local time first"
                )
            out[col] = s.astype("datetime64[ns]")
        elif pd.api.types.is_timedelta64_dtype(dtype):
            out[col] = s.dt.total_seconds()
            var_labels[col] = (var_labels.get(col, col) + " (seconds)").strip()
            notes.append(f"{col}: durations written as seconds")
        elif _is_date_column(s):
            # datetime.date values: pyreadstat writes them as dates (Stata %td, SPSS DATE)
            out[col] = s.astype("object").where(s.notna(), None)
        elif pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
            values = s.astype("object")
            not_text = [v for v in values if not (isinstance(v, str) or pd.isna(v))]
            if not_text:
                raise FormatWriteError(
                    f"column {col!r} mixes text with {type(not_text[0]).__name__} values"
                )
            n_missing = int(values.isna().sum())
            if n_missing:
                notes.append(f"{col}: {n_missing} missing text value(s) written as empty text")
            text = values.where(values.notna(), "")
            if fmt == "stata":
                longest = max((len(str(v).encode()) for v in text), default=0)
                if longest > _STATA_STR_MAX:
                    notes.append(
                        f"{col}: text of up to {longest} bytes written as a Stata strL "
                        "(long string; Stata 13 or later)"
                    )
            out[col] = text
        else:
            raise FormatWriteError(f"column {col!r} has type {dtype}, which {fmt} cannot hold")
        if col in val_labels and fmt == "stata":
            bad_keys = [k for k in val_labels[col] if float(k) != int(k)]
            if bad_keys:
                raise FormatWriteError(
                    f"column {col!r}: Stata value labels need whole-number codes, got {bad_keys}"
                )
            present = out[col].dropna()
            if len(present) and not bool((present == present.round()).all()):
                raise FormatWriteError(
                    f"column {col!r} has value labels but holds non-whole numbers"
                )
    if fmt == "stata":
        # pyreadstat names a variable's value-label set "<name><column position>", and Stata
        # label names, like variable names, hold at most 32 characters
        too_long = [
            col
            for i, col in enumerate(out)
            if col in val_labels and len(col) + len(str(i)) > _STATA_NAME_MAX
        ]
        if too_long:
            raise FormatWriteError(
                "value-labelled Stata variables need names short enough to add their column "
                f"number (at most {_STATA_NAME_MAX} characters in all): "
                + ", ".join(repr(c) for c in too_long)
            )
        for col, label in list(var_labels.items()):
            if len(label) > _STATA_LABEL_MAX:
                var_labels[col] = label[: _STATA_LABEL_MAX - 1] + "…"
                notes.append(f"{col}: variable label cut to Stata's {_STATA_LABEL_MAX} characters")
    return pd.DataFrame(out, index=range(len(frame))), var_labels, val_labels, notes


def _is_date_column(s: pd.Series) -> bool:
    if not pd.api.types.is_object_dtype(s.dtype):
        return False
    present = [v for v in s if not (v is None or (isinstance(v, float) and np.isnan(v)))]
    return bool(present) and all(
        isinstance(v, date) and not isinstance(v, datetime) for v in present
    )


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        replace_file(path, write=write)
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError) as exc:
        raise FormatWriteError(f"could not write {path.name}: {exc}") from None


def write_stata(
    frame: pd.DataFrame,
    path: Path | str,
    *,
    variable_labels: Mapping[str, str] | None = None,
    value_labels: Mapping[str, Mapping[float, str]] | None = None,
    file_label: str = "",
) -> WriteResult:
    """Write a Stata 15 ``.dta`` with variable and value labels."""
    path = Path(path)
    data, var_labels, val_labels, notes = to_readstat(
        frame, fmt="stata", variable_labels=variable_labels, value_labels=value_labels
    )
    _atomic(
        path,
        lambda tmp: pyreadstat.write_dta(
            data,
            str(tmp),
            file_label=file_label[:80],
            column_labels=dict(var_labels),
            variable_value_labels={
                k: {int(c): v for c, v in m.items()} for k, m in val_labels.items()
            },
            version=15,
        ),
    )
    return WriteResult(path=path, rows=len(data), columns=data.shape[1], notes=tuple(notes))


def write_spss(
    frame: pd.DataFrame,
    path: Path | str,
    *,
    variable_labels: Mapping[str, str] | None = None,
    value_labels: Mapping[str, Mapping[float, str]] | None = None,
    file_label: str = "",
) -> WriteResult:
    """Write an SPSS ``.sav`` with variable and value labels (measure: nominal for labelled
    categoricals, scale for numbers)."""
    path = Path(path)
    data, var_labels, val_labels, notes = to_readstat(
        frame, fmt="spss", variable_labels=variable_labels, value_labels=value_labels
    )
    measure = {
        col: ("nominal" if col in val_labels else "scale")
        for col in data.columns
        if pd.api.types.is_float_dtype(data[col].dtype)
    }
    for col in data.columns:
        original = frame[col].dtype
        if isinstance(original, pd.CategoricalDtype) and original.ordered:
            measure[col] = "ordinal"
    _atomic(
        path,
        lambda tmp: pyreadstat.write_sav(
            data,
            str(tmp),
            file_label=file_label,
            column_labels=dict(var_labels),
            variable_value_labels=val_labels,
            variable_measure=measure,
        ),
    )
    return WriteResult(path=path, rows=len(data), columns=data.shape[1], notes=tuple(notes))


def write_parquet(
    frame: pd.DataFrame,
    path: Path | str,
    *,
    variable_labels: Mapping[str, str] | None = None,
    value_labels: Mapping[str, Mapping[float, str]] | None = None,
) -> WriteResult:
    """Write Parquet (pyarrow), dtypes kept as they are; labels go in the file's metadata."""
    path = Path(path)
    if frame.columns.duplicated().any():
        raise FormatWriteError("column names must be unique")
    labels = {
        "variable_labels": {str(k): v for k, v in (variable_labels or {}).items()},
        "value_labels": {
            str(k): {repr(float(c)): v for c, v in m.items()}
            for k, m in (value_labels or {}).items()
        },
    }
    try:
        table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise FormatWriteError(f"the frame cannot be written to Parquet: {exc}") from None
    meta = dict(table.schema.metadata or {})
    meta[_PARQUET_KEY] = json.dumps(labels, ensure_ascii=False).encode()
    table = table.replace_schema_metadata(meta)
    _atomic(path, lambda tmp: pq.write_table(table, str(tmp)))
    return WriteResult(path=path, rows=len(frame), columns=frame.shape[1])


def read_stata(path: Path | str) -> LabelledFrame:
    frame, meta = pyreadstat.read_dta(str(path))
    return _from_meta(frame, meta)


def read_spss(path: Path | str) -> LabelledFrame:
    frame, meta = pyreadstat.read_sav(str(path))
    return _from_meta(frame, meta)


def _from_meta(frame: pd.DataFrame, meta: object) -> LabelledFrame:
    names = getattr(meta, "column_names_to_labels", {}) or {}
    values = getattr(meta, "variable_value_labels", {}) or {}
    return LabelledFrame(
        frame=frame,
        variable_labels={k: v for k, v in names.items() if v},
        value_labels={k: {float(c): str(lab) for c, lab in m.items()} for k, m in values.items()},
    )


def read_parquet(path: Path | str) -> LabelledFrame:
    table = pq.read_table(str(path))
    raw = (table.schema.metadata or {}).get(_PARQUET_KEY)
    labels = json.loads(raw) if raw else {"variable_labels": {}, "value_labels": {}}
    return LabelledFrame(
        frame=table.to_pandas(),
        variable_labels=labels["variable_labels"],
        value_labels={
            k: {float(c): v for c, v in m.items()} for k, m in labels["value_labels"].items()
        },
    )
