"""Map a REDCap project onto a MindTrial study dataset.

A *mapping file* (YAML, validated by :class:`RedcapMapping`) says where each column of the
study dataset comes from in a REDCap project: which field holds each instrument item, which
event (or repeat instance, or field) gives the study week, which field holds the arm and how
its codes translate, and where toxicology, attendance, adverse events and screening live.
:func:`import_redcap` applies a mapping to a project read by
:func:`mindtrial.interop.redcap.read_project` and returns a validated
:class:`~mindtrial.dataset.StudyDataset`, or raises :class:`RedcapImportError` listing every
problem (nothing half-converted). See ``docs/interop.md``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from mindtrial.dataset import DatasetError, StudyDataset, StudyMeta, build_dataset_from_frames
from mindtrial.dataset.schema import (
    ADVERSE_EVENT_COLUMNS,
    ADVERSE_EVENTS,
    ATTENDANCE,
    PARTICIPANT_COLUMNS,
    PARTICIPANTS,
    RESPONSES,
    SCREENING,
    SCREENING_COLUMNS,
    TOXICOLOGY,
    format_number,
)
from mindtrial.dataset.validate import check_answer
from mindtrial.instruments.registry import get_instrument
from mindtrial.interop.redcap import RedcapProject, kind_of
from mindtrial.interop.redcap.records import DAG, EVENT, REPEAT_INSTANCE, REPEAT_INSTRUMENT
from mindtrial.protocols.schema import Protocol

MAPPING_VERSION: Final = 1
RECORD_ID: Final = "@record_id"
"""In a value source written as a string: the record id instead of a field."""
DAG_SOURCE: Final = "@dag"
"""In a value source written as a string: the record's data access group."""


# --------------------------------------------------------------------------- the schema


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ValueSource(_Model):
    """Where one value comes from: a REDCap field, the record id or the record's DAG.

    Written in YAML as a field name (``ocs_q1``), ``"@record_id"``, ``"@dag"``, or a mapping
    ``{field: arm, recode: {"1": mrocc, "2": recovery_support}}``. When ``recode`` is given
    every value must be one of its keys (anything else is a problem, never passed through).
    A checkbox option is named by its export column (``field___code``).
    """

    field: str | None = None
    record_id: bool = False
    dag: bool = False
    recode: dict[str, str] = {}

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            if data == RECORD_ID:
                return {"record_id": True}
            if data == DAG_SOURCE:
                return {"dag": True}
            return {"field": data}
        if isinstance(data, dict) and "recode" in data and isinstance(data["recode"], dict):
            data = dict(data)
            data["recode"] = {str(k): str(v) for k, v in data["recode"].items()}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> ValueSource:
        given = [self.field is not None, self.record_id, self.dag]
        if sum(given) != 1:
            raise ValueError("give exactly one of field, record_id: true or dag: true")
        return self

    def describe(self) -> str:
        if self.record_id:
            return "the record id"
        if self.dag:
            return "the data access group"
        return f"field {self.field!r}"


class WeekRule(_Model):
    """How a row's study week is found.

    ``event`` (default): the row's event, through the mapping's ``weeks`` table.
    ``repeat_instance``: the repeat instance number plus ``offset`` (a repeating instrument or
    event numbered by week). ``field``: the value of ``field`` plus ``offset``.
    """

    source: Literal["event", "repeat_instance", "field"] = "event"
    field: str | None = None
    offset: int = 0

    @model_validator(mode="after")
    def _field_given(self) -> WeekRule:
        if (self.source == "field") != (self.field is not None):
            raise ValueError("field is needed with source: field, and only then")
        return self


class EventWeeks(_Model):
    """Event unique name -> study week: listed in ``events`` and/or matched by ``pattern``
    (a regular expression with a group named ``week``, e.g. ``^week_(?P<week>\\d+)_arm_\\d+$``).
    """

    events: dict[str, int] = {}
    pattern: str | None = None

    @model_validator(mode="after")
    def _pattern_ok(self) -> EventWeeks:
        if self.pattern is not None:
            try:
                compiled = re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a regular expression: {exc}") from None
            if "week" not in compiled.groupindex:
                raise ValueError("pattern needs a group named week: (?P<week>\\d+)")
        return self

    def week_of(self, event: str) -> int | None:
        if event in self.events:
            return self.events[event]
        if self.pattern is not None:
            m = re.fullmatch(self.pattern, event)
            if m is not None and m.group("week") is not None:
                return int(m.group("week"))
        return None


class InstrumentMap(_Model):
    """One MindTrial instrument: its items (MindTrial item id -> source) and its week rule.

    ``form`` restricts the rows to one REDCap instrument when that instrument repeats.
    """

    instrument: str
    form: str | None = None
    week: WeekRule = WeekRule()
    items: dict[str, ValueSource]


class ParticipantsMap(_Model):
    """``participants.csv`` columns (and covariates) -> sources. A record is a participant
    when its ``arm`` value is filled in."""

    columns: dict[str, ValueSource]

    @model_validator(mode="after")
    def _has_arm(self) -> ParticipantsMap:
        if "arm" not in self.columns:
            raise ValueError("columns needs arm (a record is a participant when its arm is set)")
        return self


class ToxicologyMap(_Model):
    """One source per analyte (its result: ``positive``/``negative``/``invalid`` after
    recoding)."""

    form: str | None = None
    week: WeekRule = WeekRule()
    analytes: dict[str, ValueSource]


class AttendanceMap(_Model):
    form: str | None = None
    week: WeekRule = WeekRule()
    attended: ValueSource


class TableMap(_Model):
    """A table with one row per filled REDCap row (adverse events, screening)."""

    form: str | None = None
    columns: dict[str, ValueSource]


class RedcapMapping(_Model):
    """A whole mapping file."""

    mapping_version: Literal[1] = 1
    description: str | None = None
    protocol: str | None = None
    weeks: EventWeeks = EventWeeks()
    participants: ParticipantsMap
    instruments: list[InstrumentMap] = []
    toxicology: ToxicologyMap | None = None
    attendance: AttendanceMap | None = None
    adverse_events: TableMap | None = None
    screening: TableMap | None = None

    @model_validator(mode="after")
    def _tables_known(self) -> RedcapMapping:
        ae = {c.name for c in ADVERSE_EVENT_COLUMNS}
        if self.adverse_events is not None:
            unknown = sorted(set(self.adverse_events.columns) - ae)
            if unknown:
                raise ValueError(
                    f"adverse_events.columns: unknown columns {unknown}; "
                    f"expected some of {', '.join(sorted(ae))}"
                )
        sc = {c.name for c in SCREENING_COLUMNS}
        if self.screening is not None:
            unknown = sorted(set(self.screening.columns) - sc)
            if unknown:
                raise ValueError(
                    f"screening.columns: unknown columns {unknown}; "
                    f"expected some of {', '.join(sorted(sc))}"
                )
        seen: set[str] = set()
        for m in self.instruments:
            if m.instrument in seen:
                raise ValueError(f"instrument {m.instrument!r} is mapped twice")
            seen.add(m.instrument)
        return self


class MappingError(ValueError):
    """A mapping file that cannot be read or does not fit the schema."""


def _location(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith("function-") and part not in ("str", "dict[str,str]"):
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def parse_mapping(text: str, *, source: str) -> RedcapMapping:
    """Parse and validate a mapping; errors name ``source`` and the path of each problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise MappingError(f"{source}: expected a mapping (YAML object) at the top level")
    try:
        return RedcapMapping.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"  {_location(err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False)
        ]
        raise MappingError(f"{source}: invalid REDCap mapping:\n" + "\n".join(lines)) from None


def load_mapping(path: str | Path) -> RedcapMapping:
    """Read and validate a mapping file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"{p}: cannot read: {exc.strerror}") from None
    return parse_mapping(text, source=str(p))


def shipped_mapping(name: str) -> RedcapMapping:
    """A mapping shipped with MindTrial (``mrocc-redcap``)."""
    entry = resources.files("mindtrial.interop").joinpath("mappings", f"{name}.yaml")
    if not entry.is_file():
        raise MappingError(f"no shipped mapping {name!r}")
    return parse_mapping(entry.read_text(encoding="utf-8"), source=f"mappings/{name}.yaml")


def mapping_yaml(mapping: RedcapMapping) -> str:
    """The mapping as YAML text (what :func:`parse_mapping` reads back)."""
    data = mapping.model_dump(mode="json", exclude_defaults=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# --------------------------------------------------------------------------- problems


@dataclass(frozen=True)
class ImportProblem:
    """One reason the import cannot go ahead, with where it is in the REDCap project."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class RedcapImportError(ValueError):
    """The project cannot be imported with this mapping; ``problems`` lists every reason."""

    def __init__(self, problems: Iterable[ImportProblem]) -> None:
        self.problems = tuple(problems)
        n = len(self.problems)
        lines = [f"{n} problem{'s' if n != 1 else ''} importing the REDCap project:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class ImportResult:
    """The study dataset and notes about what the mapping did not use."""

    dataset: StudyDataset
    notes: tuple[str, ...] = ()


# --------------------------------------------------------------------------- checks


def check_mapping(mapping: RedcapMapping, protocol: Protocol) -> list[ImportProblem]:
    """Problems with the mapping against the protocol (instruments, items, covariates, panel)."""
    out: list[ImportProblem] = []

    def bad(where: str, message: str) -> None:
        out.append(ImportProblem(f"mapping {where}", message))

    if mapping.protocol is not None and mapping.protocol != protocol.id:
        bad("protocol", f"the mapping is for protocol {mapping.protocol!r}, not {protocol.id!r}")
    known = [c.name for c in PARTICIPANT_COLUMNS] + [c.name for c in protocol.baseline_covariates]
    for col in mapping.participants.columns:
        if col not in known:
            bad(
                f"participants.columns.{col}",
                f"not a participants.csv column or baseline covariate of {protocol.id} "
                f"(expected some of {', '.join(known)})",
            )
    assessed = {a.instrument for a in protocol.assessments}
    for i, m in enumerate(mapping.instruments):
        where = f"instruments[{i}]"
        try:
            instrument = get_instrument(m.instrument)
        except KeyError:
            bad(where, f"unknown instrument {m.instrument!r}")
            continue
        if m.instrument not in assessed:
            bad(where, f"instrument {m.instrument!r} is not assessed by protocol {protocol.id}")
        for item in m.items:
            if item not in instrument.item_ids:
                bad(
                    f"{where}.items.{item}",
                    f"{m.instrument} has no item {item!r} (items: {', '.join(instrument.item_ids)})",
                )
    if mapping.toxicology is not None:
        panel = protocol.toxicology.panel if protocol.toxicology else []
        for analyte in mapping.toxicology.analytes:
            if analyte not in panel:
                bad(
                    f"toxicology.analytes.{analyte}",
                    f"not in the toxicology panel of {protocol.id} "
                    f"({', '.join(panel) or 'no toxicology'})",
                )
    required = {
        "adverse_events": (
            mapping.adverse_events,
            [c.name for c in ADVERSE_EVENT_COLUMNS if c.required],
        ),
        "screening": (mapping.screening, [c.name for c in SCREENING_COLUMNS if c.required]),
    }
    for name, (table, needed) in required.items():
        if table is None:
            continue
        for col in needed:
            if col not in table.columns:
                bad(f"{name}.columns", f"missing column {col!r}")
    return out


def _sources(mapping: RedcapMapping) -> list[tuple[str, ValueSource]]:
    found: list[tuple[str, ValueSource]] = [
        (f"participants.columns.{c}", s) for c, s in mapping.participants.columns.items()
    ]
    for i, m in enumerate(mapping.instruments):
        found += [(f"instruments[{i}].items.{k}", s) for k, s in m.items.items()]
    if mapping.toxicology is not None:
        found += [(f"toxicology.analytes.{k}", s) for k, s in mapping.toxicology.analytes.items()]
    if mapping.attendance is not None:
        found.append(("attendance.attended", mapping.attendance.attended))
    for name, table in (
        ("adverse_events", mapping.adverse_events),
        ("screening", mapping.screening),
    ):
        if table is not None:
            found += [(f"{name}.columns.{k}", s) for k, s in table.columns.items()]
    return found


def _week_rules(mapping: RedcapMapping) -> list[tuple[str, WeekRule]]:
    rules = [(f"instruments[{i}].week", m.week) for i, m in enumerate(mapping.instruments)]
    if mapping.toxicology is not None:
        rules.append(("toxicology.week", mapping.toxicology.week))
    if mapping.attendance is not None:
        rules.append(("attendance.week", mapping.attendance.week))
    return rules


def _forms(mapping: RedcapMapping) -> list[tuple[str, str]]:
    found = [(f"instruments[{i}].form", m.form) for i, m in enumerate(mapping.instruments)]
    for name, part in (
        ("toxicology", mapping.toxicology),
        ("attendance", mapping.attendance),
        ("adverse_events", mapping.adverse_events),
        ("screening", mapping.screening),
    ):
        if part is not None:
            found.append((f"{name}.form", part.form))
    return [(w, f) for w, f in found if f is not None]


def _check_against_project(mapping: RedcapMapping, project: RedcapProject) -> list[ImportProblem]:
    out: list[ImportProblem] = []
    columns = set(project.data.columns)
    fields = project.dictionary.by_name
    for where, source in _sources(mapping):
        name = source.field
        if name is None:
            continue  # record id, or the DAG (blank when the project has no DAGs)
        f = fields.get(name)
        if f is not None and f.field_type == "checkbox":
            out.append(
                ImportProblem(
                    f"mapping {where}",
                    f"{name!r} is a checkbox field; name one option column "
                    f"({', '.join(f.checkbox_columns)})",
                )
            )
        elif name not in columns:
            hint = "is not a field of the project" if f is None else "has no column in the records"
            out.append(ImportProblem(f"mapping {where}", f"{name!r} {hint}"))
    for where, rule in _week_rules(mapping):
        if rule.field is not None and rule.field not in columns:
            out.append(
                ImportProblem(f"mapping {where}.field", f"{rule.field!r} is not in the records")
            )
        if rule.source == "event" and EVENT not in columns:
            out.append(
                ImportProblem(
                    f"mapping {where}",
                    "the week comes from the event but the project is not longitudinal",
                )
            )
    forms = set(project.instruments)
    for where, form in _forms(mapping):
        if form not in forms:
            out.append(
                ImportProblem(f"mapping {where}", f"{form!r} is not an instrument of the project")
            )
    known_events = {e.unique_name for e in project.events}
    if known_events:
        for event in mapping.weeks.events:
            if event not in known_events:
                out.append(
                    ImportProblem(
                        f"mapping weeks.events.{event}", "not an event of the REDCap project"
                    )
                )
    return out


# --------------------------------------------------------------------------- values


def _cell_text(value: Any, kind: str) -> str | None:
    """Canonical text of a typed REDCap value (None when missing)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        x = float(value)
        return None if math.isnan(x) else format_number(x)
    if isinstance(value, pd.Timestamp | datetime):
        stamp = pd.Timestamp(value)
        if kind == "date":
            return stamp.date().isoformat()
        return stamp.isoformat(sep=" ")
    if isinstance(value, pd.Timedelta | timedelta):
        return str(pd.Timedelta(value))
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    return text or None


@dataclass
class _Rows:
    """The project's rows as plain lists (one position per export row)."""

    record: list[str]
    event: list[str]
    instrument: list[str]
    instance: list[int | None]
    dag: list[str | None]
    columns: dict[str, list[str | None]]

    @classmethod
    def of(cls, project: RedcapProject, wanted: set[str]) -> _Rows:
        raw, data = project.raw, project.data
        n = len(raw)
        rid = project.record_id
        kinds: dict[str, str] = {f.name: kind_of(f) for f in project.dictionary.fields}
        columns: dict[str, list[str | None]] = {}
        for name in wanted:
            if name not in data.columns:
                continue
            kind = kinds.get(name, "string")
            if kind == "categorical":
                # the REDCap code, where the typed value is valid
                ok = data[name].notna().tolist()
                texts = raw[name].tolist() if name in raw.columns else [""] * n
                columns[name] = [
                    t.strip() if good and t.strip() else None
                    for t, good in zip(texts, ok, strict=True)
                ]
            else:
                columns[name] = [_cell_text(v, kind) for v in data[name].tolist()]
        instance: list[int | None] = [None] * n
        if REPEAT_INSTANCE in data.columns:
            instance = [None if v is pd.NA else int(v) for v in data[REPEAT_INSTANCE].tolist()]

        def strings(col: str) -> list[str]:
            return [str(v).strip() for v in raw[col].tolist()] if col in raw.columns else [""] * n

        dags = strings(DAG)
        return cls(
            record=strings(rid),
            event=strings(EVENT),
            instrument=strings(REPEAT_INSTRUMENT),
            instance=instance,
            dag=[d or None for d in dags] if DAG in raw.columns else [None] * n,
            columns=columns,
        )

    def where(self, i: int, source: str | None = None) -> str:
        parts = [f"record {self.record[i]!r}"]
        if self.event[i]:
            parts.append(f"event {self.event[i]}")
        if self.instrument[i]:
            parts.append(f"instrument {self.instrument[i]}")
        if self.instance[i] is not None:
            parts.append(f"instance {self.instance[i]}")
        if source:
            parts.append(source)
        return ", ".join(parts)

    def value(self, i: int, source: ValueSource) -> str | None:
        if source.record_id:
            return self.record[i] or None
        if source.dag:
            return self.dag[i]
        assert source.field is not None
        col = self.columns.get(source.field)
        return None if col is None else col[i]


@dataclass
class _Builder:
    project: RedcapProject
    mapping: RedcapMapping
    rows: _Rows
    problems: list[ImportProblem] = field(default_factory=list)
    used_fields: set[str] = field(default_factory=set)

    def bad(self, where: str, message: str) -> None:
        self.problems.append(ImportProblem(where, message))

    def value(self, i: int, source: ValueSource, what: str) -> str | None:
        """The recoded value of ``source`` on row ``i`` (None when blank or not recodable)."""
        text = self.rows.value(i, source)
        if text is None or not source.recode:
            return text
        if text in source.recode:
            return source.recode[text]
        self.bad(
            self.rows.where(i, source.describe()),
            f"{what}: value {text!r} has no recode in the mapping "
            f"(recoded values: {', '.join(source.recode)})",
        )
        return None

    def row_set(self, form: str | None) -> list[int]:
        """Rows of a repeating ``form``; otherwise the rows that are not repeat-instrument rows."""
        r = self.rows
        n = len(r.record)
        if form is not None and form in r.instrument:
            return [i for i in range(n) if r.instrument[i] == form and r.record[i]]
        return [i for i in range(n) if not r.instrument[i] and r.record[i]]

    def week(self, i: int, rule: WeekRule, what: str) -> int | None:
        r = self.rows
        if rule.source == "event":
            week = self.mapping.weeks.week_of(r.event[i])
            if week is None:
                self.bad(
                    r.where(i),
                    f"{what} has data at event {r.event[i]!r}, which has no week in the mapping "
                    "(add it to weeks.events or weeks.pattern)",
                )
                return None
            return week + rule.offset
        if rule.source == "repeat_instance":
            instance = r.instance[i]
            if instance is None:
                self.bad(r.where(i), f"{what} needs a repeat instance for its week; there is none")
                return None
            return instance + rule.offset
        assert rule.field is not None
        text = r.columns.get(rule.field, [None] * len(r.record))[i]
        if text is None:
            self.bad(r.where(i, f"field {rule.field!r}"), f"{what}: the week field is blank")
            return None
        try:
            return int(float(text)) + rule.offset
        except ValueError:
            self.bad(r.where(i, f"field {rule.field!r}"), f"week {text!r} is not a whole number")
            return None


@dataclass
class _Table:
    rows: list[dict[str, str | None]] = field(default_factory=list)
    origin: list[str] = field(default_factory=list)

    def add(self, row: Mapping[str, str | None], origin: str) -> None:
        self.rows.append(dict(row))
        self.origin.append(origin)

    def sort(self, key: Callable[[dict[str, str | None]], tuple[Any, ...]]) -> None:
        """Order rows by ``key`` (stable), keeping each row's origin with it."""
        order = sorted(range(len(self.rows)), key=lambda i: key(self.rows[i]))
        self.rows = [self.rows[i] for i in order]
        self.origin = [self.origin[i] for i in order]

    def frame(self, columns: Sequence[str]) -> pd.DataFrame:
        return pd.DataFrame(
            {c: pd.Series([r.get(c) for r in self.rows], dtype=object) for c in columns}
        )


def _participants(b: _Builder, protocol: Protocol) -> tuple[_Table, dict[str, str]]:
    """participants.csv, one row per record whose arm is set; also record -> participant id."""
    cols = b.mapping.participants.columns
    pid_source = cols.get("participant_id", ValueSource(record_id=True))
    per_record: dict[str, dict[str, tuple[str, int]]] = {}
    order: list[str] = []
    for i in b.row_set(None):
        rec = b.rows.record[i]
        if rec not in per_record:
            per_record[rec] = {}
            order.append(rec)
        seen = per_record[rec]
        for name, source in {"participant_id": pid_source, **cols}.items():
            value = b.value(i, source, f"participants.{name}")
            if value is None:
                continue
            if name in seen and seen[name][0] != value:
                first = seen[name][1]
                b.bad(
                    b.rows.where(i, source.describe()),
                    f"participants.{name}: {value!r} differs from {seen[name][0]!r} given at "
                    f"{b.rows.where(first)}",
                )
                continue
            seen.setdefault(name, (value, i))
    table = _Table()
    ids: dict[str, str] = {}
    names = [c.name for c in PARTICIPANT_COLUMNS] + [c.name for c in protocol.baseline_covariates]
    for rec in order:
        values = per_record[rec]
        if "arm" not in values:
            continue
        row = {name: values[name][0] if name in values else None for name in names}
        row["participant_id"] = values.get("participant_id", (rec, 0))[0]
        ids[rec] = str(row["participant_id"])
        table.add(row, f"record {rec!r}")
    return table, ids


def _pid(b: _Builder, ids: dict[str, str], i: int) -> str:
    rec = b.rows.record[i]
    return ids.get(rec, rec)


def _responses(b: _Builder, ids: dict[str, str]) -> _Table:
    table = _Table()
    for m in b.mapping.instruments:
        for i in b.row_set(m.form):
            answers = [(item, s, b.rows.value(i, s)) for item, s in m.items.items()]
            if all(text is None for _, _, text in answers):
                continue
            week = b.week(i, m.week, m.instrument)
            if week is None:
                continue
            for item, source, _ in answers:
                value = b.value(i, source, f"{m.instrument}.{item}")
                if value is None:
                    continue
                where = b.rows.where(i, source.describe())
                canonical, error = check_answer(m.instrument, item, value)
                if error is not None:
                    b.bad(where, error)
                    continue
                row = {
                    "participant_id": _pid(b, ids, i),
                    "week": str(week),
                    "instrument": m.instrument,
                    "item": item,
                    "value": canonical,
                }
                table.add(row, where)
    return table


def _toxicology(b: _Builder, ids: dict[str, str]) -> _Table:
    table = _Table()
    tox = b.mapping.toxicology
    if tox is None:
        return table
    for i in b.row_set(tox.form):
        results = [(a, s, b.rows.value(i, s)) for a, s in tox.analytes.items()]
        if all(text is None for _, _, text in results):
            continue
        week = b.week(i, tox.week, "toxicology")
        if week is None:
            continue
        for analyte, source, _ in results:
            value = b.value(i, source, f"toxicology.{analyte}")
            if value is None:
                continue
            row = {
                "participant_id": _pid(b, ids, i),
                "week": str(week),
                "analyte": analyte,
                "result": value,
            }
            table.add(row, b.rows.where(i, source.describe()))
    return table


def _attendance(b: _Builder, ids: dict[str, str]) -> _Table:
    table = _Table()
    att = b.mapping.attendance
    if att is None:
        return table
    for i in b.row_set(att.form):
        if b.rows.value(i, att.attended) is None:
            continue
        week = b.week(i, att.week, "attendance")
        value = b.value(i, att.attended, "attendance.attended")
        if week is None or value is None:
            continue
        row = {"participant_id": _pid(b, ids, i), "week": str(week), "attended": value}
        table.add(row, b.rows.where(i, att.attended.describe()))
    return table


def _rows_table(b: _Builder, spec: TableMap | None, name: str, ids: dict[str, str]) -> _Table:
    table = _Table()
    if spec is None:
        return table
    for i in b.row_set(spec.form):
        data = [s for s in spec.columns.values() if s.field is not None]
        if all(b.rows.value(i, s) is None for s in data):
            continue
        row: dict[str, str | None] = {}
        for col, source in spec.columns.items():
            value = b.value(i, source, f"{name}.{col}")
            if col == "participant_id" and source.record_id and value is not None:
                value = ids.get(value, value)
            row[col] = value
        if name == ADVERSE_EVENTS and "participant_id" not in spec.columns:
            row["participant_id"] = _pid(b, ids, i)
        table.add(row, b.rows.where(i))
    return table


def _reader_problems(b: _Builder, wanted: set[str]) -> None:
    keys = {b.project.record_id, EVENT, REPEAT_INSTANCE, REPEAT_INSTRUMENT, DAG}
    for p in b.project.problems:
        if p.severity != "error":
            continue
        base = p.field.split("___")[0]
        if p.field in wanted or base in wanted or p.field in keys:
            where = [f"record {p.record!r}"]
            if p.event:
                where.append(f"event {p.event}")
            if p.instance is not None:
                where.append(f"instance {p.instance}")
            where.append(f"field {p.field!r}")
            b.bad(", ".join(where), f"value {p.value!r}: {p.reason}")


def _unused_notes(b: _Builder, wanted: set[str]) -> list[str]:
    rid = b.project.record_id
    unused: list[str] = []
    data = b.project.data
    for f in b.project.dictionary.fields:
        if f.name == rid or f.field_type in ("descriptive", "calc"):
            continue
        cols = f.checkbox_columns if f.field_type == "checkbox" else (f.name,)
        if any(c in wanted for c in cols):
            continue
        if any(c in data.columns and bool(data[c].notna().any()) for c in cols):
            unused.append(f.name)
    if not unused:
        return []
    shown = ", ".join(unused[:15]) + (" …" if len(unused) > 15 else "")
    return [f"{len(unused)} field(s) with data are not used by the mapping: {shown}"]


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def _sort_tables(tables: dict[str, _Table], mapping: RedcapMapping) -> None:
    """Participants in record order; other rows by participant, week, then mapping order."""
    person = {r["participant_id"]: n for n, r in enumerate(tables[PARTICIPANTS].rows)}
    unknown = len(person)
    instrument = {m.instrument: n for n, m in enumerate(mapping.instruments)}
    item = {(m.instrument, k): n for m in mapping.instruments for n, k in enumerate(m.items)}
    analyte = (
        {a: n for n, a in enumerate(mapping.toxicology.analytes)} if mapping.toxicology else {}
    )

    def who(r: dict[str, str | None]) -> tuple[int, str]:
        pid = r.get("participant_id")
        return (person.get(pid, unknown), pid or "")

    tables[RESPONSES].sort(
        lambda r: (
            *who(r),
            _int(r["week"]),
            instrument.get(r["instrument"] or "", 0),
            item.get((r["instrument"] or "", r["item"] or ""), 0),
        )
    )
    tables[TOXICOLOGY].sort(
        lambda r: (*who(r), _int(r["week"]), analyte.get(r["analyte"] or "", 0))
    )
    tables[ATTENDANCE].sort(lambda r: (*who(r), _int(r["week"])))
    tables[ADVERSE_EVENTS].sort(lambda r: who(r))


def import_redcap(
    project: RedcapProject,
    mapping: RedcapMapping,
    *,
    protocol: Protocol,
    exported_at: datetime | None = None,
) -> ImportResult:
    """Turn a REDCap project into a validated study dataset with ``mapping``.

    Raises :class:`RedcapImportError` listing every problem: mapping entries that do not fit
    the protocol or the project, values the REDCap reader rejected in mapped fields, codes
    without a recode, answers outside an item's range, and every problem the study dataset's
    own validation finds (located back to the REDCap record, event and field).
    ``exported_at`` (default: now, UTC) becomes ``study.json``'s export time.
    """
    stamp = exported_at if exported_at is not None else datetime.now(UTC)
    problems = check_mapping(mapping, protocol) + _check_against_project(mapping, project)
    if problems:
        raise RedcapImportError(problems)
    wanted = {s.field for _, s in _sources(mapping) if s.field is not None}
    wanted |= {r.field for _, r in _week_rules(mapping) if r.field is not None}
    b = _Builder(project=project, mapping=mapping, rows=_Rows.of(project, wanted))
    _reader_problems(b, wanted)
    participants, ids = _participants(b, protocol)
    tables = {
        PARTICIPANTS: participants,
        RESPONSES: _responses(b, ids),
        TOXICOLOGY: _toxicology(b, ids),
        ATTENDANCE: _attendance(b, ids),
        ADVERSE_EVENTS: _rows_table(b, mapping.adverse_events, ADVERSE_EVENTS, ids),
        SCREENING: _rows_table(b, mapping.screening, SCREENING, ids),
    }
    _sort_tables(tables, mapping)
    meta = StudyMeta(
        protocol_id=protocol.id,
        protocol_version=protocol.version,
        exported_at=stamp,
        source="redcap",
    )
    covariates = [c.name for c in protocol.baseline_covariates]
    columns = {
        PARTICIPANTS: [c.name for c in PARTICIPANT_COLUMNS] + covariates,
        RESPONSES: ["participant_id", "week", "instrument", "item", "value"],
        TOXICOLOGY: ["participant_id", "week", "analyte", "result"],
        ATTENDANCE: ["participant_id", "week", "attended"],
        ADVERSE_EVENTS: [
            c.name
            for c in ADVERSE_EVENT_COLUMNS
            if c.required
            or (mapping.adverse_events is not None and c.name in mapping.adverse_events.columns)
        ],
        SCREENING: [c.name for c in SCREENING_COLUMNS],
    }
    frames = {name: t.frame(columns[name]) for name, t in tables.items()}
    try:
        dataset = build_dataset_from_frames(meta, frames, protocol=protocol)
    except DatasetError as exc:
        located: list[ImportProblem] = []
        for p in exc.problems:
            table = tables.get(p.file)
            if table is not None and p.row is not None and 0 <= p.row - 2 < len(table.origin):
                where = table.origin[p.row - 2]
                col = f" ({p.column})" if p.column else ""
                located.append(ImportProblem(where, f"{p.file}{col}: {p.message}"))
            else:
                located.append(ImportProblem("", str(p)))
        # every problem at once: the values' and the whole dataset's
        raise RedcapImportError([*b.problems, *located]) from None
    if b.problems:
        raise RedcapImportError(b.problems)
    return ImportResult(dataset=dataset, notes=tuple(_unused_notes(b, wanted)))
