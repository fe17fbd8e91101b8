"""A whole REDCap project read into typed tidy tables."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import pandas as pd

from mindtrial.interop.labelled_files import LabelledFrame
from mindtrial.interop.redcap.dictionary import DataDictionary, read_dictionary
from mindtrial.interop.redcap.labels import (
    ValueMode,
    event_label_map,
    label_headers,
    labels_to_codes,
    looks_like_labels,
)
from mindtrial.interop.redcap.project_xml import read_clinical_data, read_project_xml
from mindtrial.interop.redcap.records import (
    DAG,
    EVENT,
    REPEAT_INSTANCE,
    REPEAT_INSTRUMENT,
    SURVEY_ID,
    RawRecords,
    RecordFormat,
    read_records,
    read_small_csv,
)
from mindtrial.interop.redcap.types import (
    COMPLETE_LABELS,
    Arm,
    Event,
    Field,
    Problem,
    ProjectMetadata,
    RedcapFormatError,
    RepeatSetting,
)
from mindtrial.interop.redcap.values import (
    Issue,
    convert_field,
    is_known_validation,
    kind_of,
    parse_checkbox_option,
    parse_complete,
    parse_text,
    parse_timestamp,
    unique_labels,
)

Decimal = Literal["auto", ".", ","]
DateOrder = Literal["field", "ymd", "dmy", "mdy"]
ARM = "redcap_arm"
_ARM_SUFFIX = re.compile(r"_arm_(\d+)$")
_TAG = re.compile(r"<[^>]*>")
_BOOLEAN_LABELS: dict[str, dict[float, str]] = {
    "yesno": {0.0: "No", 1.0: "Yes"},
    "truefalse": {0.0: "False", 1.0: "True"},
}
_KEY_LABELS = {
    EVENT: "REDCap event (unique event name)",
    ARM: "REDCap arm number",
    REPEAT_INSTRUMENT: "REDCap repeating instrument",
    REPEAT_INSTANCE: "REDCap repeat instance",
    DAG: "REDCap data access group",
    SURVEY_ID: "REDCap survey identifier",
}


def plain_text(label: str) -> str:
    """A REDCap label without its HTML tags and entities, on one line."""
    return " ".join(html.unescape(_TAG.sub(" ", label)).split())


def _whole_number(code: str) -> int | None:
    try:
        value = float(code)
    except ValueError:
        return None
    return int(value) if value.is_integer() and abs(value) < 2**31 else None


@dataclass(frozen=True, eq=False)
class RedcapProject:
    """A REDCap project: its dictionary, events and arms, and its data as typed tables.

    ``data`` has one row per row of the export with every column typed; ``tables`` has one
    tidy table per instrument: one row per record (x event) for a non-repeating instrument,
    one row per record (x event) x instance for a repeating one.
    """

    dictionary: DataDictionary
    events: tuple[Event, ...]
    arms: tuple[Arm, ...]
    repeating: tuple[RepeatSetting, ...]
    data_access_groups: tuple[str, ...]
    raw: pd.DataFrame
    data: pd.DataFrame
    tables: Mapping[str, pd.DataFrame]
    problems: tuple[Problem, ...]
    notes: tuple[str, ...]
    record_format: Literal["flat", "eav"]
    title: str = ""
    dag_labels: tuple[str, ...] = ()  # DAG names as the project XML spells them

    @property
    def record_id(self) -> str:
        return self.dictionary.record_id

    @property
    def records(self) -> tuple[str, ...]:
        """Distinct record ids, in the order they first appear (strings: zeros kept)."""
        ids = self.raw[self.record_id]
        return tuple(dict.fromkeys(i for i in ids if i != ""))

    @property
    def longitudinal(self) -> bool:
        return EVENT in self.raw.columns

    @property
    def instruments(self) -> tuple[str, ...]:
        return self.dictionary.instruments

    @property
    def repeating_instruments(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.instrument for r in self.repeating if r.instrument))

    @property
    def repeating_events(self) -> tuple[str, ...]:
        return tuple(
            dict.fromkeys(r.event for r in self.repeating if r.instrument is None and r.event)
        )

    def table(self, instrument: str) -> pd.DataFrame:
        try:
            return self.tables[instrument]
        except KeyError:
            raise KeyError(
                f"no instrument {instrument!r}; the project has {', '.join(self.tables)}"
            ) from None

    def variable_labels(self) -> dict[str, str]:
        """Column -> label for the typed tables (for Stata/SPSS): the field label; a checkbox
        option gets "label: option"; a code column "label (code)"."""
        out: dict[str, str] = dict(_KEY_LABELS)
        for f in self.dictionary.fields:
            label = plain_text(f.label) or f.name
            if f.field_type == "checkbox":
                for choice in f.choices:
                    out[f.checkbox_column(choice.code)] = f"{label}: {plain_text(choice.label)}"
                continue
            out[f.name] = label
            if kind_of(f) == "categorical":
                out[f"{f.name}_code"] = f"{label} (code)"
        for form in self.dictionary.instruments:
            out[f"{form}_complete"] = f"{form}: form status"
            out[f"{form}_timestamp"] = f"{form}: survey completed at"
        return {k: v for k, v in out.items() if k in self.data.columns}

    def export_table(self, instrument: str) -> pd.DataFrame:
        """An instrument's table for files: as :meth:`table`, but date fields hold
        ``datetime.date`` values (written as dates: Stata %td, SPSS DATE, Parquet date32)."""
        table = self.table(instrument).copy()
        for f in self.dictionary.fields_of(instrument):
            if kind_of(f) == "date" and f.name in table:
                column = table[f.name]
                table[f.name] = pd.Series(
                    [None if pd.isna(v) else v.date() for v in column],
                    index=table.index,
                    dtype="object",
                )
        return table

    def labelled_table(self, instrument: str) -> LabelledFrame:
        """An instrument's table for Stata/SPSS: radio/dropdown fields (and form status) as
        their REDCap codes with value labels when all codes are whole numbers, so the file
        matches the project's codebook; otherwise (codes like ``0.5`` or ``A``) left
        categorical, which the writers label, beside the ``_code`` column of text codes.
        Yes/no, true/false and checkbox columns get No/Yes, False/True, Unchecked/Checked.
        Labels are plain text (REDCap's HTML tags removed)."""
        table = self.export_table(instrument)
        value_labels: dict[str, dict[float, str]] = {}
        for f in self.dictionary.fields_of(instrument):
            if f.field_type == "checkbox":
                for col in f.checkbox_columns:
                    if col in table:
                        value_labels[col] = {0.0: "Unchecked", 1.0: "Checked"}
                continue
            if f.field_type in _BOOLEAN_LABELS and f.name in table:
                value_labels[f.name] = dict(_BOOLEAN_LABELS[f.field_type])
                continue
            if kind_of(f) != "categorical" or f.name not in table:
                continue
            code_col = f"{f.name}_code"
            codes = [_whole_number(c.code) for c in f.choices]
            if any(c is None for c in codes):
                labels = [plain_text(label) for label in table[f.name].cat.categories]
                if len(set(labels)) == len(labels):
                    table[f.name] = table[f.name].cat.rename_categories(labels)
                continue
            if code_col in table:
                table[f.name] = pd.to_numeric(table[code_col]).astype("Float64")
                table = table.drop(columns=code_col)
            labels = [plain_text(label) for label in unique_labels(f.choices)]
            value_labels[f.name] = {
                float(c): label for c, label in zip(codes, labels, strict=True) if c is not None
            }
        status = f"{instrument}_complete"
        if status in table:
            codes_of = table[status].cat.codes.astype("float64")
            table[status] = codes_of.where(codes_of >= 0).astype("Float64")
            value_labels[status] = {float(i): label for i, label in enumerate(COMPLETE_LABELS)}
        var_labels = {k: v for k, v in self.variable_labels().items() if k in table.columns}
        return LabelledFrame(frame=table, variable_labels=var_labels, value_labels=value_labels)

    def field_types(self) -> dict[str, str]:
        return {f.name: f.type_name for f in self.dictionary.fields}

    def summary(self) -> dict[str, Any]:
        """Everything ``mindtrial redcap inspect --json`` prints."""
        return {
            "title": self.title,
            "record_id_field": self.record_id,
            "records": len(self.records),
            "rows": len(self.raw),
            "record_format": self.record_format,
            "longitudinal": self.longitudinal,
            "arms": [{"number": a.number, "name": a.name} for a in self.arms],
            "events": [
                {"unique_name": e.unique_name, "name": e.name, "arm": e.arm, "forms": list(e.forms)}
                for e in self.events
            ],
            "instruments": {
                name: {"rows": len(t), "columns": len(t.columns)} for name, t in self.tables.items()
            },
            "repeating_instruments": list(self.repeating_instruments),
            "repeating_events": list(self.repeating_events),
            "data_access_groups": list(self.data_access_groups),
            "dag_labels": list(self.dag_labels),
            "fields": self.field_types(),
            "field_details": {
                f.name: {
                    "instrument": f.form,
                    "field_type": f.field_type,
                    "validation": f.validation,
                    "kind": kind_of(f),
                    "choices": {c.code: c.label for c in f.choices},
                }
                for f in self.dictionary.fields
            },
            "problems": [p.as_dict() for p in self.problems],
            "notes": list(self.notes),
        }


def read_project(
    *,
    records: Path | str | None = None,
    dictionary: Path | str | None = None,
    events: Path | str | None = None,
    arms: Path | str | None = None,
    project_xml: Path | str | None = None,
    record_format: RecordFormat = "auto",
    missing_strings: frozenset[str] | None = None,
    missing_codes: Sequence[str] = (),
    values: ValueMode = "auto",
    decimal: Decimal = "auto",
    date_order: DateOrder = "field",
) -> RedcapProject:
    """Read a REDCap export: records (flat or EAV) plus a data dictionary and/or project XML,
    or a project XML alone (its metadata and its clinical data).

    ``values``: ``"raw"`` (codes, REDCap's default), ``"label"`` (a label export: choice
    labels, Yes/No, Checked/Unchecked, Complete ... turned back into codes with the
    dictionary) or ``"auto"`` (label when most coded values are labels, with a note).
    ``decimal``: ``"."`` or ``","`` reads every number field with that decimal mark;
    ``"auto"`` keeps each field's own (``number`` or ``number_comma_decimal``) but reads a
    ``number`` field whose values all have a decimal comma as such, with a note.
    ``date_order``: ``"field"`` reads dates not written Y-M-D in each field's display order;
    ``"dmy"``/``"mdy"`` declare that order for every date field (Y-M-D is always read).
    ``missing_codes`` are REDCap missing-data codes (``UNK``, ``NASK`` ...) read as missing in
    every field, on top of those the project XML declares.
    Raises :class:`RedcapFormatError` when the files are not a REDCap export. Values that do
    not fit their field are listed in ``problems`` and are missing in the typed tables.
    """
    meta = read_project_xml(project_xml) if project_xml is not None else None
    if dictionary is not None:
        dd = read_dictionary(dictionary)
    elif meta is not None:
        dd = DataDictionary(fields=meta.fields)
    else:
        raise RedcapFormatError("a data dictionary or a project XML is needed to type the records")
    if records is not None:
        raw = read_records(
            records,
            dictionary=dd,
            record_format=record_format,
            missing_strings=missing_strings,
            rename=None if values == "raw" else (lambda cols: label_headers(cols, dd)),
        )
    elif project_xml is not None:
        raw = RawRecords(
            frame=read_clinical_data(
                project_xml, dictionary=dd, repeating=meta.repeating if meta else ()
            ),
            format="flat",
            missing_strings=missing_strings or frozenset({""}),
            notes=(f"records read from the project XML {Path(project_xml).name}",),
        )
    else:
        raise RedcapFormatError("give the records file, or a project XML that holds the data")
    event_list, arm_list = _events_and_arms(events, arms, meta, raw)
    raw = _event_ids_to_names(raw, event_list)
    if values == "label" or (values == "auto" and looks_like_labels(raw.frame, dd)):
        event_labels = event_label_map(event_list, {a.number: a.name for a in arm_list})
        raw = RawRecords(
            frame=labels_to_codes(raw.frame, dd, event_labels=event_labels),
            format=raw.format,
            missing_strings=raw.missing_strings,
            notes=(
                *raw.notes,
                "the records hold labels (a label export): turned back into codes with the "
                + "dictionary"
                + ("" if values == "label" else "; give --values raw if that is wrong"),
            ),
        )
    codes = {c.strip() for c in missing_codes if c.strip()}
    return _build(
        dd,
        raw,
        event_list,
        arm_list,
        meta,
        extra_missing=frozenset(codes),
        decimal=decimal,
        date_order=date_order,
    )


def _event_ids_to_names(raw: RawRecords, events: tuple[Event, ...]) -> RawRecords:
    """An API EAV export names events by their numeric id: give them their unique names."""
    by_id = {e.event_id: e.unique_name for e in events if e.event_id}
    names = {e.unique_name for e in events}
    if EVENT not in raw.frame or not by_id:
        return raw
    column = raw.frame[EVENT]
    is_id = column.isin(list(by_id)) & ~column.isin(list(names))
    if not is_id.any():
        return raw
    frame = raw.frame.copy()
    frame[EVENT] = column.where(~is_id, column.map(by_id))
    note = f"{int(is_id.sum())} row(s) named their event by its event id: read as its unique name"
    return RawRecords(
        frame=frame,
        format=raw.format,
        missing_strings=raw.missing_strings,
        notes=(*raw.notes, note),
    )


def _events_and_arms(
    events: Path | str | None,
    arms: Path | str | None,
    meta: ProjectMetadata | None,
    raw: RawRecords,
) -> tuple[tuple[Event, ...], tuple[Arm, ...]]:
    xml_events = {e.unique_name: e for e in meta.events} if meta else {}
    event_list: list[Event] = []
    if events is not None:
        rows = read_small_csv(
            events, what="events", required=("event_name", "arm_num", "unique_event_name")
        )
        for i, row in enumerate(rows, start=2):
            try:
                arm = int(row["arm_num"])
            except ValueError:
                raise RedcapFormatError(
                    f"{events}, row {i}: arm_num {row['arm_num']!r} is not a whole number"
                ) from None
            unique = row["unique_event_name"].strip()
            known = xml_events.get(unique)
            event_list.append(
                Event(
                    unique_name=unique,
                    name=row["event_name"],
                    arm=arm,
                    custom_label=row.get("custom_event_label", ""),
                    event_id=row.get("event_id", ""),
                    day_offset=known.day_offset if known else None,
                    forms=known.forms if known else (),
                )
            )
    elif meta is not None and meta.events:
        event_list = list(meta.events)
    elif EVENT in raw.frame.columns:
        for name in dict.fromkeys(raw.frame[EVENT]):
            if name == "":
                continue
            m = _ARM_SUFFIX.search(name)
            event_list.append(Event(unique_name=name, name=name, arm=int(m.group(1)) if m else 1))
    arm_list: list[Arm] = []
    if arms is not None:
        for i, row in enumerate(
            read_small_csv(arms, what="arms", required=("arm_num", "name")), start=2
        ):
            try:
                arm_list.append(Arm(number=int(row["arm_num"]), name=row["name"]))
            except ValueError:
                raise RedcapFormatError(
                    f"{arms}, row {i}: arm_num {row['arm_num']!r} is not a whole number"
                ) from None
    elif meta is not None and meta.arms:
        arm_list = list(meta.arms)
    elif event_list:
        arm_list = [Arm(number=n, name=f"Arm {n}") for n in sorted({e.arm for e in event_list})]
    return tuple(event_list), tuple(arm_list)


@dataclass
class _Context:
    record: list[str]
    event: list[str | None]
    instance: list[int | None]
    problems: list[Problem]

    def report(self, field: str, raw: pd.Series, issues: list[Issue]) -> None:
        for issue in issues:
            rows = issue.mask.to_numpy().nonzero()[0]
            for pos in rows:
                self.problems.append(
                    Problem(
                        record=self.record[pos],
                        event=self.event[pos],
                        instance=self.instance[pos],
                        field=field,
                        value=str(raw.iloc[pos]),
                        reason=issue.reason,
                        severity=issue.severity,
                    )
                )


def _build(
    dd: DataDictionary,
    raw: RawRecords,
    events: tuple[Event, ...],
    arms: tuple[Arm, ...],
    meta: ProjectMetadata | None,
    *,
    extra_missing: frozenset[str] = frozenset(),
    decimal: Decimal = "auto",
    date_order: DateOrder = "field",
) -> RedcapProject:
    frame = raw.frame
    notes = list(dd.notes) + list(raw.notes)
    missing_codes = {c.code for c in meta.missing_codes} if meta else set()
    missing_codes |= extra_missing
    empty = set(raw.missing_strings)
    rid = dd.record_id
    fields = dd.by_name
    checkbox_cols = {
        col: f for f in dd.fields if f.field_type == "checkbox" for col in f.checkbox_columns
    }
    forms = set(dd.instruments)

    record = frame[rid].tolist()
    event = frame[EVENT].tolist() if EVENT in frame else [None] * len(frame)
    instance_raw = frame.get(REPEAT_INSTANCE, None)
    problems: list[Problem] = []
    instance: list[int | None] = [None] * len(frame)
    if instance_raw is not None:
        for i, text in enumerate(instance_raw):
            if text.strip().isdigit() and int(text) > 0:
                instance[i] = int(text)
    ctx = _Context(
        record=record, event=[e or None for e in event], instance=instance, problems=problems
    )

    # keys
    blank_rid = frame[rid].str.strip() == ""
    ctx.report(rid, frame[rid], [Issue(blank_rid, "the record id is blank: the row is dropped")])
    if instance_raw is not None:
        bad = (instance_raw != "") & pd.Series([v is None for v in instance], index=frame.index)
        ctx.report(REPEAT_INSTANCE, instance_raw, [Issue(bad, "not a positive whole number")])
    event_names = {e.unique_name for e in events}
    if EVENT in frame and event_names:
        bad = ~frame[EVENT].isin(list(event_names))
        ctx.report(EVENT, frame[EVENT], [Issue(bad, "not an event of this project")])
    if REPEAT_INSTRUMENT in frame:
        bad = (frame[REPEAT_INSTRUMENT] != "") & ~frame[REPEAT_INSTRUMENT].isin(list(forms))
        ctx.report(
            REPEAT_INSTRUMENT,
            frame[REPEAT_INSTRUMENT],
            [Issue(bad, "not an instrument of this project")],
        )
    key_cols = [c for c in (rid, EVENT, REPEAT_INSTRUMENT, REPEAT_INSTANCE) if c in frame]
    dup = frame.duplicated(subset=key_cols, keep="first") & ~blank_rid
    ctx.report(
        rid, frame[rid], [Issue(dup, "this record/event/instance appears on an earlier row too")]
    )

    # values
    typed: dict[str, pd.Series] = {}
    unknown: list[str] = []
    n_missing_codes = 0
    for col in frame.columns:
        series = frame[col]
        blank = series.isin(list(empty))
        if missing_codes:
            is_code = series.isin(list(missing_codes)) & (col not in (rid, EVENT, DAG))
            n_missing_codes += int(is_code.sum())
            blank = blank | is_code
        if col == rid:
            typed[col] = series.astype("string")
        elif col in (EVENT, REPEAT_INSTRUMENT, DAG, SURVEY_ID):
            typed[col] = series.where(~blank).astype("string")
            if col == EVENT and events:
                arm_of = {e.unique_name: e.arm for e in events}
                typed[ARM] = series.map(arm_of).astype("Int64")
        elif col == REPEAT_INSTANCE:
            typed[col] = pd.Series(instance, index=frame.index, dtype="Int64")
        elif col in checkbox_cols:
            values, issues = parse_checkbox_option(series, blank)
            ctx.report(col, series, issues)
            typed[col] = values
        elif col in fields:
            f = fields[col]
            if f.field_type == "descriptive":
                continue
            if f.field_type == "text" and not is_known_validation(f.validation):
                note = f"field {col!r}: validation {f.validation!r} is not known, read as text"
                if note not in notes:
                    notes.append(note)
            f, note = _declared_format(f, series[~blank], decimal=decimal, date_order=date_order)
            if note:
                notes.append(note)
            values, issues = convert_field(f, series, blank)
            ctx.report(col, series, issues)
            typed[col] = values
            if kind_of(f) == "categorical":
                code = series.where(~blank & values.notna()).astype("string")
                typed[_code_column(col, frame.columns)] = code
        elif col.endswith("_complete") and col.removesuffix("_complete") in forms:
            values, issues = parse_complete(series, blank)
            ctx.report(col, series, issues)
            typed[col] = values
        elif col.endswith("_timestamp") and col.removesuffix("_timestamp") in forms:
            values, issues = parse_timestamp(series, blank)
            ctx.report(col, series, issues)
            typed[col] = values
        else:
            unknown.append(col)
            typed[col] = parse_text(series, blank, validation="")[0]
    if unknown:
        notes.append(
            f"{len(unknown)} column(s) are not in the dictionary and were read as text: "
            + ", ".join(unknown[:10])
            + (" ..." if len(unknown) > 10 else "")
        )
    if n_missing_codes:
        notes.append(f"{n_missing_codes} value(s) were REDCap missing-data codes, read as missing")
    data = pd.DataFrame(typed, index=frame.index)

    tables = _instrument_tables(dd, frame, data, empty, blank_rid, events)
    repeating = _repeat_settings(frame, meta, dd)
    dags = tuple(dict.fromkeys(n for n in frame[DAG] if n)) if DAG in frame else ()
    return RedcapProject(
        dictionary=dd,
        events=events,
        arms=arms,
        repeating=repeating,
        data_access_groups=dags,
        dag_labels=meta.data_access_groups if meta else (),
        raw=frame,
        data=data,
        tables=MappingProxyType(tables),
        problems=tuple(problems),
        notes=tuple(notes),
        record_format=raw.format,
        title=meta.title if meta else "",
    )


_POINT_NUMBER = re.compile(r"number(_\ddp)?")
_COMMA_NUMBER = re.compile(r"[-+]?(?:\d+(?:,\d+)?|,\d+)")


def _declared_format(
    f: Field, present: pd.Series, *, decimal: Decimal, date_order: DateOrder
) -> tuple[Field, str]:
    """The field as the export writes it: a declared (or detected) decimal mark, a declared
    date order."""
    v = f.validation
    point_number = f.field_type == "text" and bool(_POINT_NUMBER.fullmatch(v))
    if f.field_type == "calc" and not v:
        # REDCap writes a calculation from decimal-comma fields with a decimal comma
        point_number, v = True, "number"
    if point_number and decimal != ".":
        values = present.str.strip()
        if decimal == ",":
            return replace(f, validation=f"{v}_comma_decimal"), ""
        with_comma = values.str.contains(",", regex=False)
        if bool(with_comma.any()) and bool(values.str.fullmatch(_COMMA_NUMBER.pattern).all()):
            return replace(f, validation=f"{v}_comma_decimal"), (
                f"field {f.name!r} ({v}) holds numbers with a decimal comma only: read with a "
                "decimal comma (give --decimal . if that is wrong)"
            )
    if f.field_type == "text" and v.endswith("comma_decimal") and decimal == ".":
        return replace(f, validation=v.removesuffix("_comma_decimal")), ""
    if f.field_type == "text" and date_order != "field" and v.startswith(("date_", "datetime_")):
        return replace(f, validation=v.rsplit("_", 1)[0] + "_" + date_order), ""
    return f, ""


def _code_column(col: str, existing: pd.Index) -> str:
    name = f"{col}_code"
    while name in existing:
        name += "_"
    return name


def _form_columns(f: Field, data: pd.DataFrame) -> list[str]:
    if f.field_type == "checkbox":
        return [c for c in f.checkbox_columns if c in data]
    if f.name not in data:
        return []
    if kind_of(f) == "categorical":
        code = _code_column(f.name, pd.Index([c for c in data.columns if c != f"{f.name}_code"]))
        return [f.name, code] if code in data else [f.name]
    return [f.name]


def _instrument_tables(
    dd: DataDictionary,
    frame: pd.DataFrame,
    data: pd.DataFrame,
    empty: set[str],
    blank_rid: pd.Series,
    events: tuple[Event, ...],
) -> dict[str, pd.DataFrame]:
    rid = dd.record_id
    repeat_instr = frame.get(REPEAT_INSTRUMENT, None)
    has_instance = (
        frame[REPEAT_INSTANCE] != ""
        if REPEAT_INSTANCE in frame
        else pd.Series(False, index=frame.index)
    )
    tables: dict[str, pd.DataFrame] = {}
    for form in dd.instruments:
        value_cols: list[str] = []
        raw_cols: list[str] = []
        for f in dd.fields_of(form):
            if f.name == rid:
                continue
            cols = _form_columns(f, data)
            value_cols.extend(cols)
            raw_cols.extend(c for c in cols if c in frame.columns)
        for extra in (f"{form}_timestamp", f"{form}_complete"):
            if extra in frame.columns:
                value_cols.append(extra)
                raw_cols.append(extra)
        is_repeating = repeat_instr is not None and bool((repeat_instr == form).any())
        if is_repeating and repeat_instr is not None:
            rows = repeat_instr == form
        elif repeat_instr is not None:
            rows = repeat_instr == ""
        else:
            rows = pd.Series(True, index=frame.index)
        if raw_cols:
            filled = ~frame[raw_cols].isin(list(empty)).all(axis=1)
        else:
            filled = pd.Series(False, index=frame.index)
        if form == dd.fields[0].form and not raw_cols:
            filled = pd.Series(True, index=frame.index)
        rows = rows & filled & ~blank_rid
        keys = [rid]
        if EVENT in data:
            keys.append(EVENT)
            if ARM in data:
                keys.append(ARM)
        if is_repeating or bool((has_instance & rows).any()):
            keys.append(REPEAT_INSTANCE)
        if DAG in data:
            keys.append(DAG)
        table = data.loc[rows, keys + value_cols].reset_index(drop=True)
        tables[form] = table
    return tables


def _repeat_settings(
    frame: pd.DataFrame, meta: ProjectMetadata | None, dd: DataDictionary
) -> tuple[RepeatSetting, ...]:
    found: list[RepeatSetting] = list(meta.repeating) if meta else []
    if REPEAT_INSTRUMENT in frame:
        ev = frame[EVENT] if EVENT in frame else pd.Series("", index=frame.index)
        inst = (
            frame[REPEAT_INSTANCE] if REPEAT_INSTANCE in frame else pd.Series("", index=frame.index)
        )
        for event, instrument, instance in zip(ev, frame[REPEAT_INSTRUMENT], inst, strict=True):
            if instance == "":
                continue
            setting = RepeatSetting(event=event or None, instrument=instrument or None)
            if not any(
                s.instrument == setting.instrument
                and (s.event == setting.event or s.event is None or setting.event is None)
                for s in found
            ):
                found.append(setting)
    return tuple(found)
