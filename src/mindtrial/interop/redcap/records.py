"""Read REDCap records (flat CSV or EAV) as strings, exactly as written."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from mindtrial.interop.redcap.dictionary import DataDictionary
from mindtrial.interop.redcap.types import RedcapFormatError

RecordFormat = Literal["auto", "flat", "eav"]

EVENT = "redcap_event_name"
REPEAT_INSTRUMENT = "redcap_repeat_instrument"
REPEAT_INSTANCE = "redcap_repeat_instance"
DAG = "redcap_data_access_group"
SURVEY_ID = "redcap_survey_identifier"
EVENT_ID = "event_id"  # the event column of an EAV export from the API
EAV_KEYS = ("record", "field_name", "value")


@dataclass(frozen=True, slots=True)
class RawRecords:
    """The records as REDCap wrote them: every cell a string, ``""`` where blank."""

    frame: pd.DataFrame
    format: Literal["flat", "eav"]
    missing_strings: frozenset[str]
    notes: tuple[str, ...] = ()


def check_file(path: Path, what: str) -> None:
    """A clear error for a path that is missing, a folder, or unreadable."""
    if not path.exists():
        raise RedcapFormatError(f"{what} file {path} does not exist")
    if path.is_dir():
        raise RedcapFormatError(f"{what} {path} is a folder: give the file itself")
    if not os.access(path, os.R_OK):
        raise RedcapFormatError(f"{what} file {path} cannot be read (permission denied)")


def _read_csv(path: Path) -> pd.DataFrame | None:
    """The CSV as strings; None when the file holds no records at all (REDCap's API
    answers a request that matches no record with a lone newline)."""
    check_file(path, "records")
    try:
        head = path.read_bytes()
    except OSError as exc:
        raise RedcapFormatError(f"records file {path} cannot be read: {exc}") from None
    if not head.strip():
        return None
    first_line = head.split(b"\n", 1)[0]
    # REDCap's API can write ";" or tab-separated CSV (csvDelimiter); the header tells which
    sep = ","
    if b"," not in first_line:
        sep = next((s for s in (";", "\t", "|", "^") if s.encode() in first_line), ",")
    try:
        return pd.read_csv(
            path,
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8-sig",
        )
    except FileNotFoundError:
        raise RedcapFormatError(f"records file {path} does not exist") from None
    except pd.errors.EmptyDataError:
        return None
    except UnicodeDecodeError as exc:
        raise RedcapFormatError(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}): REDCap exports "
            "are UTF-8; re-export it, or convert it to UTF-8"
        ) from None
    except pd.errors.ParserError as exc:
        raise RedcapFormatError(f"{path} is not a readable CSV file: {exc}") from None


def read_records(
    path: Path | str,
    *,
    dictionary: DataDictionary,
    record_format: RecordFormat = "auto",
    missing_strings: frozenset[str] | None = None,
    rename: Callable[[list[str]], list[str] | None] | None = None,
) -> RawRecords:
    """Read the records file; an EAV file is turned into REDCap's flat layout. ``rename``
    may name the columns of a header without the record id (a header of field labels)."""
    path = Path(path)
    read = _read_csv(path)
    notes: list[str] = []
    if read is None:
        notes.append(f"{path.name} holds no records: the tables are empty")
        read = pd.DataFrame(
            {col: pd.Series([], dtype=str) for col in flat_layout(dictionary, set())}
        )
    frame = read
    missing = set(missing_strings) if missing_strings is not None else {""}
    first = str(frame.columns[0]) if len(frame.columns) else ""
    if first.startswith("Unnamed: 0") and frame.iloc[:, 0].tolist() == [
        str(i) for i in range(1, len(frame) + 1)
    ]:
        frame = frame.iloc[:, 1:]
        notes.append(
            f"{path.name} was written by R's write.csv: its row-number column was dropped"
            + ("" if missing_strings is not None else " and 'NA' is read as missing")
        )
        if missing_strings is None:
            missing.add("NA")
    columns = set(map(str, frame.columns))
    is_eav = set(EAV_KEYS) <= columns and dictionary.record_id not in columns
    if record_format == "eav" or (record_format == "auto" and is_eav):
        if not set(EAV_KEYS) <= columns:
            raise RedcapFormatError(
                f"{path} is not an EAV export: it needs the columns record, field_name, value"
            )
        if EVENT_ID in columns and EVENT not in columns:
            frame = frame.rename(columns={EVENT_ID: EVENT})
            notes.append(
                f"{path.name} names its events in an {EVENT_ID!r} column (as REDCap's API "
                "does): read as the event of each value"
            )
        frame = eav_to_flat(frame, dictionary=dictionary, source=path.name)
        fmt: Literal["flat", "eav"] = "eav"
    else:
        fmt = "flat"
    if dictionary.record_id not in frame.columns and rename is not None:
        names = rename(list(map(str, frame.columns)))
        if names is not None:
            frame = frame.set_axis(names, axis=1)
            notes.append(
                f"{path.name} has field labels as its header (a label export): its columns "
                "were named by their position, as REDCap orders them"
            )
    if dictionary.record_id not in frame.columns:
        raise RedcapFormatError(
            f"{path} is not a REDCap records export for this dictionary: it has no record id "
            f"column {dictionary.record_id!r} (the dictionary's first field); its columns "
            f"start {list(map(str, frame.columns[:5]))}"
        )
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    return RawRecords(
        frame=frame, format=fmt, missing_strings=frozenset(missing), notes=tuple(notes)
    )


def eav_to_flat(
    eav: pd.DataFrame, *, dictionary: DataDictionary, source: str = "the EAV file"
) -> pd.DataFrame:
    """REDCap's EAV layout (one row per value) -> its flat layout (one row per record x event
    x repeat). Checkbox rows carry the checked code as the value; an option not listed is
    unchecked ("0") where the row holds any value of the checkbox's instrument, else blank."""
    keys = ["record"] + [k for k in (EVENT, REPEAT_INSTRUMENT, REPEAT_INSTANCE) if k in eav]
    fields = dictionary.by_name
    rows: dict[tuple[str, ...], dict[str, str]] = {}
    order: list[str] = [dictionary.record_id]
    seen_cols = {dictionary.record_id}
    for rec in eav.to_dict("records"):
        key = tuple(str(rec[k]) for k in keys)
        row = rows.setdefault(key, {})
        name = str(rec["field_name"])
        value = str(rec["value"])
        field = fields.get(name)
        if field is not None and field.field_type == "checkbox":
            col = field.checkbox_column(value)
            row[col] = "1"
        else:
            col = name
            if row.get(col, value) != value:
                where = ", ".join(f"{k} {v!r}" for k, v in zip(keys, key, strict=True))
                raise RedcapFormatError(
                    f"{source} gives field {name!r} two values ({row[col]!r} and {value!r}) "
                    f"for {where}: the file's columns ({', '.join(map(str, eav.columns))}) "
                    "do not say which event or instance each value belongs to"
                )
            row[col] = value
        if col not in seen_cols:
            seen_cols.add(col)
            order.append(col)
    layout = flat_layout(dictionary, seen_cols)
    order = (
        [c for c in order if c in (DAG, SURVEY_ID)]
        + layout
        + [c for c in order if c not in layout and c not in (DAG, SURVEY_ID)]
    )
    form_cols: dict[str, list[str]] = {}
    for f in dictionary.fields:
        cols = list(f.checkbox_columns) if f.field_type == "checkbox" else [f.name]
        form_cols.setdefault(f.form, []).extend(cols)
    for form, cols in form_cols.items():
        form_cols[form] = [*cols, f"{form}_complete", f"{form}_timestamp"]
    out: list[dict[str, str]] = []
    for key, row in rows.items():
        flat = dict(zip(keys, key, strict=True))
        flat[dictionary.record_id] = key[0]
        with_data = _forms_with_data(row, form_cols, exclude=dictionary.record_id)
        for f in dictionary.fields:
            if f.field_type != "checkbox":
                continue
            fill = "0" if f.form in with_data else ""
            for col in f.checkbox_columns:
                row.setdefault(col, fill)
        flat.update(row)
        out.append(flat)
    frame = pd.DataFrame(out, dtype=str).reindex(columns=[*keys[1:], *order]).fillna("")
    rid = dictionary.record_id
    front = [rid, *keys[1:]]
    return frame[[*front, *[c for c in frame.columns if c not in front]]]


def flat_layout(dictionary: DataDictionary, present: set[str]) -> list[str]:
    """Every column of the dictionary, in the order REDCap's flat export writes them (a
    survey timestamp only where ``present`` has it)."""
    layout: list[str] = [dictionary.record_id]
    for form in dictionary.instruments:
        if f"{form}_timestamp" in present:
            layout.append(f"{form}_timestamp")
        for f in dictionary.fields_of(form):
            if f.field_type == "descriptive" or f.name == dictionary.record_id:
                continue
            layout.extend(f.checkbox_columns if f.field_type == "checkbox" else [f.name])
        layout.append(f"{form}_complete")
    return layout


def _forms_with_data(
    row: dict[str, str], form_cols: dict[str, list[str]], *, exclude: str
) -> set[str]:
    return {
        form
        for form, cols in form_cols.items()
        if any(row.get(c, "") != "" for c in cols if c != exclude)
    }


def read_small_csv(
    path: Path | str, *, what: str, required: tuple[str, ...]
) -> list[dict[str, str]]:
    """Rows of a small REDCap side file (events, arms) as dicts, header checked."""
    path = Path(path)
    check_file(path, what)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in required if c not in header]
            if missing:
                raise RedcapFormatError(
                    f"{path} is not a REDCap {what} file: it lacks the column(s) "
                    f"{', '.join(missing)} (found {header})"
                )
            return [{(k or "").strip(): (v or "") for k, v in row.items()} for row in reader]
    except UnicodeDecodeError as exc:
        raise RedcapFormatError(f"{what} file {path} is not UTF-8 text: {exc.reason}") from None
    except csv.Error as exc:
        raise RedcapFormatError(f"{what} file {path} is not a readable CSV file: {exc}") from None
