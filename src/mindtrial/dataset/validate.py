"""Parsing and validating the tables of a study dataset.

Both reading a folder and building a dataset from DataFrames go through
:func:`validate_tables`: each table arrives as CSV text cells (header + records), every
cell is parsed by its column's kind, and then the cross-row and cross-file rules are
checked. Every problem is collected; nothing is returned unless there are none.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

import numpy as np
import pandas as pd

from mindtrial.dataset.schema import (
    ADVERSE_EVENTS,
    ATTENDANCE,
    CSV_FILES,
    EMA,
    EMA_COLUMNS,
    FIXED_COLUMNS,
    MEDICATIONS,
    PARTICIPANT_COLUMNS,
    PARTICIPANT_OPTIONAL_COLUMNS,
    PARTICIPANTS,
    RESPONSES,
    SCREENING,
    TOXICOLOGY,
    Column,
    Problem,
    StudyDataset,
    StudyMeta,
    csv_files,
    format_number,
)
from mindtrial.instruments import mme
from mindtrial.instruments.registry import get_instrument
from mindtrial.instruments.schema import Instrument, ItemType
from mindtrial.instruments.scoring import Answer, ScoringError, validate_answer
from mindtrial.protocols.schema import Protocol

WEEKS_PER_MONTH: Final = 52 / 12

_INT_RE: Final = re.compile(r"^[+-]?[0-9]+$")
_TRUE: Final = frozenset({"1", "true", "yes"})
_FALSE: Final = frozenset({"0", "false", "no"})


def follow_up_week(months: int) -> int:
    """The study week at which a follow-up month is recorded: ``round(months × 52 / 12)``.

    Month 3 → week 13, month 6 → week 26, month 9 → week 39.
    """
    return round(months * WEEKS_PER_MONTH)


@dataclass(frozen=True)
class CodedColumn:
    """A column of cells as codes into its distinct texts (``distinct[codes[i]]``)."""

    codes: np.ndarray  # type: ignore[type-arg]
    distinct: list[str]

    def __len__(self) -> int:
        return len(self.codes)


@dataclass(frozen=True)
class RawTable:
    """One CSV file as text, by column: the header, each record's row number, and the
    cells of each header column (``columns[j][i]``: column ``j`` of record ``i``).

    ``widths`` names the records whose number of fields differs from the header's (record
    index → fields found); their cells are blank.
    """

    header: tuple[str, ...]
    rows: Sequence[int]
    columns: Sequence[Sequence[str] | CodedColumn]
    widths: dict[int, int] = field(default_factory=dict)

    @classmethod
    def from_records(
        cls, header: tuple[str, ...], rows: Sequence[int], records: Sequence[Sequence[str]]
    ) -> RawTable:
        """A table from its records (one sequence of cells per row)."""
        width = len(header)
        widths: dict[int, int] = {}
        if set(map(len, records)) - {width}:
            widths = {i: len(r) for i, r in enumerate(records) if len(r) != width}
            blank = ("",) * width
            records = [blank if i in widths else r for i, r in enumerate(records)]
        columns: list[Sequence[str] | CodedColumn] = (
            list(zip(*records, strict=True)) if records else [() for _ in header]
        )
        return cls(header=header, rows=rows, columns=columns, widths=widths)


@dataclass(frozen=True)
class Rules:
    """What a protocol says about its datasets."""

    protocol_id: str
    protocol_version: str
    arm_ids: tuple[str, ...]
    covariates: tuple[Column, ...]
    max_week: int
    session_weeks: int
    instruments: tuple[str, ...]
    panel: tuple[str, ...]
    ema_items: tuple[tuple[str, str], ...] = ()
    """(instrument id, item id) of each EMA item column, in protocol order."""
    arms_without_groups: tuple[str, ...] = ()

    @classmethod
    def from_protocol(cls, protocol: Protocol) -> Rules:
        covariates = tuple(
            _covariate_column(c.name, c.type, c.levels) for c in protocol.baseline_covariates
        )
        ema_items: dict[str, tuple[str, str]] = {}
        for assessment in protocol.assessments:
            if assessment.mode != "ema":
                continue
            try:
                instrument = get_instrument(assessment.instrument)
            except KeyError:
                continue  # the protocol loader reports unknown instruments
            for item_id in instrument.item_ids:
                ema_items.setdefault(item_id, (instrument.id, item_id))
        weeks = [protocol.weeks]
        weeks += [w for a in protocol.assessments for w in a.weeks]
        months = list(protocol.follow_up_months) + [
            m for a in protocol.assessments for m in a.months
        ]
        weeks += [follow_up_week(m) for m in months]
        instruments = tuple(dict.fromkeys(a.instrument for a in protocol.assessments))
        panel = tuple(protocol.toxicology.panel) if protocol.toxicology else ()
        return cls(
            protocol_id=protocol.id,
            protocol_version=protocol.version,
            arm_ids=tuple(protocol.arm_ids),
            covariates=covariates,
            max_week=max(weeks),
            session_weeks=protocol.session.n_sessions,
            instruments=instruments,
            panel=panel,
            ema_items=tuple(ema_items.values()),
            arms_without_groups=tuple(a.id for a in protocol.arms if not a.group_sessions),
        )

    def columns(self, file: str) -> tuple[Column, ...]:
        """The columns of ``file`` as held in memory (format version 2)."""
        if file == PARTICIPANTS:
            return PARTICIPANT_COLUMNS + PARTICIPANT_OPTIONAL_COLUMNS + self.covariates
        if file == EMA:
            items = tuple(Column(item, "number", nullable=True) for _, item in self.ema_items)
            return EMA_COLUMNS + items
        return FIXED_COLUMNS[file]


def _covariate_column(name: str, type_: str, levels: Sequence[str]) -> Column:
    if type_ == "number":
        return Column(name, "number", nullable=True)
    if type_ == "integer":
        return Column(name, "int", nullable=True)
    if type_ == "boolean":
        return Column(name, "bool", nullable=True)
    return Column(name, "category", nullable=True, levels=tuple(levels))


# --------------------------------------------------------------------------- cells


def _parse_cell(text: str, column: Column) -> tuple[Any, str | None]:
    """(value, None) or (None, message). Blank cells are handled by the caller."""
    kind = column.kind
    if kind == "string":
        return text, None
    if kind == "category":
        if text in column.levels:
            return text, None
        return None, f"{text!r} is not one of {', '.join(column.levels)}"
    if kind == "int":
        if _INT_RE.match(text):
            return int(text), None
        return None, f"{text!r} is not a whole number"
    if kind == "number":
        try:
            x = float(text)
        except ValueError:
            return None, f"{text!r} is not a number"
        if not math.isfinite(x):
            return None, f"{text!r} is not a finite number"
        return x, None
    if kind == "bool":
        low = text.lower()
        if low in _TRUE:
            return True, None
        if low in _FALSE:
            return False, None
        return None, f"{text!r} is not a yes/no value; expected 1 or 0"
    if kind == "datetime":
        return _parse_datetime(text)
    try:
        return date.fromisoformat(text), None
    except ValueError:
        return None, f"{text!r} is not a date; expected YYYY-MM-DD"


def _parse_datetime(text: str) -> tuple[Any, str | None]:
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None, f"{text!r} is not a date-time; expected e.g. 2026-03-02T14:05:00-07:00"
    if stamp.tzinfo is None:
        return None, f"{text!r} has no time-zone offset (write e.g. 2026-03-02T14:05:00-07:00)"
    return pd.Timestamp(stamp).tz_convert("UTC"), None


class _Values(dict[str, Any]):
    """A table's values by column; a column with codes becomes its object array (one
    pointer per cell: 140 MB for 17.7 million answers) only when a check asks for it."""

    def __init__(self, coded: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:  # type: ignore[type-arg]
        super().__init__()
        self._coded = coded

    def __missing__(self, column: str) -> Any:
        codes, distinct = self._coded[column]
        values = distinct.take(codes) if len(codes) else np.empty(0, dtype=object)
        self[column] = values
        return values


@dataclass
class Parsed:
    """Parsed cells of one table: ``values[column][i]`` for record ``i`` (an object array
    per column, ``None`` for a blank; made from ``coded`` when first asked for)."""

    rows: Sequence[int]
    """Each record's line number (a ``range`` for a file without blank lines: no list of
    millions of ints)."""
    values: dict[str, Any]
    ok: np.ndarray  # type: ignore[type-arg]
    """Whether each record passed every check so far (booleans)."""
    coded: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # type: ignore[type-arg]
    """For a column: its cells' codes and the value of each code (``values[c]`` is
    ``coded[c][1].take(coded[c][0])``), so a key can be compared code by code."""

    def __len__(self) -> int:
        return len(self.rows)

    def distinct(self, column: str) -> set[Any]:
        """The column's values as a set (``None`` for a blank), from its codes if it has them."""
        coded = self.coded.get(column)
        if coded is None:
            return set(self.values[column])
        codes, values = coded
        return set(values.take(np.unique(codes)).tolist()) if len(codes) else set()

    def cell(self, column: str, i: int) -> Any:
        """Record ``i``'s value of ``column``."""
        coded = self.coded.get(column)
        if coded is None:
            return self.values[column][i]
        return coded[1][coded[0][i]]

    def key_columns(self, columns: Sequence[str]) -> list[Any]:
        """Each column as its (codes, value of each code), or its values without codes."""
        return [self.coded[c] if c in self.coded else self.values[c] for c in columns]


@dataclass
class _Collector:
    problems: list[Problem] = field(default_factory=list)

    def add(self, file: str, row: int | None, column: str | None, message: str) -> None:
        self.problems.append(Problem(file, row, column, message))


def _objects(values: Sequence[Any]) -> np.ndarray:  # type: ignore[type-arg]
    """``values`` as a one-dimensional object array (itself when it is one already)."""
    if isinstance(values, np.ndarray) and values.dtype == object and values.ndim == 1:
        return values
    cells = np.empty(len(values), dtype=object)
    cells[:] = values
    return cells


def _parse_column(
    file: str,
    raw: RawTable,
    texts: Sequence[str] | CodedColumn | None,
    column: Column,
    out: _Collector,
) -> tuple[list[int], tuple[np.ndarray, np.ndarray]]:  # type: ignore[type-arg]
    """The record indices whose cell is missing or does not parse, and the cells' codes
    with each code's value (an object array, ``None`` for a blank).

    Each distinct text is parsed once; the cells take their values by code.
    """
    n = len(raw.rows)
    if texts is None:  # an optional column the file does not have
        texts = ("",) * n
    if isinstance(texts, CodedColumn):
        codes, distinct = texts.codes, texts.distinct
    else:
        codes, found = pd.factorize(_objects(texts))
        distinct = found.tolist()
    parsed = np.empty(len(distinct), dtype=object)
    errors: dict[int, str] = {}
    for code, text in enumerate(distinct):
        cell = text.strip()
        if cell == "":
            value, error = None, None if column.nullable else "value is missing"
        else:
            value, error = _parse_cell(cell, column)
        parsed[code] = value
        if error is not None:
            errors[code] = error
    bad: list[int] = []
    if errors:
        for i in np.flatnonzero(np.isin(codes, list(errors))).tolist():
            if i not in raw.widths:
                out.add(file, raw.rows[i], column.name, errors[int(codes[i])])
                bad.append(i)
    return bad, (np.asarray(codes), parsed)


def _parse_table(
    file: str, raw: RawTable, columns: Sequence[Column], out: _Collector
) -> Parsed | None:
    names = [c.name for c in columns]
    header = list(raw.header)
    seen: set[str] = set()
    for name in header:
        if name in seen:
            out.add(file, 1, name, "column appears twice in the header")
        seen.add(name)
    missing = [c.name for c in columns if c.required and c.name not in seen]
    for name in missing:
        out.add(file, 1, name, "missing column")
    for name in header:
        if name not in names:
            out.add(file, 1, name, f"unknown column; expected the columns {', '.join(names)}")
    if missing or len(seen) != len(header):
        return None
    position = {name: i for i, name in enumerate(header)}
    for i, found in raw.widths.items():
        out.add(file, raw.rows[i], None, f"expected {len(header)} fields, found {found}")
    ok = np.ones(len(raw.rows), dtype=bool)
    coded: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # type: ignore[type-arg]
    values = _Values(coded)
    for c in columns:
        j = position.get(c.name)
        texts = raw.columns[j] if j is not None else None
        bad, coded[c.name] = _parse_column(file, raw, texts, c, out)
        for i in bad:
            ok[i] = False
    for i in raw.widths:
        ok[i] = False
        for c in columns:
            values[c.name][i] = None
    if raw.widths:
        coded = {}  # the blanked records are not in the codes
    return Parsed(rows=raw.rows, values=values, ok=ok, coded=coded)


# --------------------------------------------------------------------------- rules


def _check_week(
    out: _Collector, file: str, column: str, parsed: Parsed, low: int, high: int, what: str
) -> None:
    weeks = {w for w in parsed.distinct(column) if w is not None}
    if not weeks or low <= min(weeks) <= max(weeks) <= high:
        return
    for i, week in enumerate(parsed.values[column]):
        if week is not None and not low <= week <= high:
            out.add(file, parsed.rows[i], column, f"week {week} is outside {what} {low}..{high}")
            parsed.ok[i] = False


def _check_participant(
    out: _Collector,
    file: str,
    parsed: Parsed,
    known: set[str] | None,
    column: str = "participant_id",
) -> None:
    if known is None:
        return
    if parsed.distinct(column) <= known | {None}:
        return
    for i, pid in enumerate(parsed.values[column]):
        if pid is not None and pid not in known:
            out.add(
                file,
                parsed.rows[i],
                column,
                f"unknown participant {pid!r} (not in participants.csv)",
            )
            parsed.ok[i] = False


def _row_keys(
    columns: Sequence[Sequence[Any] | tuple[np.ndarray, np.ndarray]],  # type: ignore[type-arg]
    *,
    blank_rows: bool = False,
) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    """One integer per row, equal for two rows exactly when every column holds equal values
    (a blank equal to a blank), and whether the row has a blank in any column (only with
    ``blank_rows``). The key is the row's values in mixed radix, renumbered densely only
    when the next column would overflow it. A column given as (codes, value of each code)
    is compared by its few distinct values instead of cell by cell."""
    n = 0
    if columns:
        first = columns[0]
        n = len(first[0]) if isinstance(first, tuple) else len(first)
    combined = np.zeros(n, dtype=np.int64)
    radix = 1
    blank = np.zeros(n, dtype=bool)
    for column in columns:
        if isinstance(column, tuple):
            cell_codes, distinct = column
            by_code, uniques = pd.factorize(_objects(distinct), use_na_sentinel=blank_rows)
            own = by_code.take(cell_codes) if n else np.zeros(0, dtype=np.intp)
        else:
            own, uniques = pd.factorize(_objects(column), use_na_sentinel=blank_rows)
        blank |= own < 0
        width = len(uniques) + 1
        if radix * width >= 2**62:
            combined, found = pd.factorize(combined)
            radix = len(found)
        combined = combined * width + (own + 1)
        radix *= width
    return combined, blank


def _row_codes(
    columns: Sequence[Sequence[Any] | tuple[np.ndarray, np.ndarray]],  # type: ignore[type-arg]
) -> np.ndarray:  # type: ignore[type-arg]
    """One integer per row (:func:`_row_keys`), numbered in order of first appearance."""
    codes, _ = pd.factorize(_row_keys(columns)[0])
    return codes


def _check_duplicates(
    out: _Collector, file: str, parsed: Parsed, key: Sequence[str], what: str
) -> None:
    keys, blank = _row_keys(parsed.key_columns(key), blank_rows=True)
    given = np.sort(keys[~blank])  # sorting: far faster than hashing millions of keys
    if not (given[1:] == given[:-1]).any():
        return  # no key without a blank is given twice
    first: dict[tuple[Any, ...], int] = {}
    for i, row in enumerate(parsed.rows):
        k = tuple(parsed.values[c][i] for c in key)
        if any(v is None for v in k):
            continue
        if k in first:
            shown = ", ".join(f"{c}={v}" for c, v in zip(key, k, strict=True))
            out.add(file, row, None, f"duplicate {what} ({shown}); first given in row {first[k]}")
        else:
            first[k] = row


def answer_text(answer: Answer) -> str:
    """The canonical CSV text of a normalised answer (booleans as 1/0, dates ISO)."""
    if isinstance(answer, bool):
        return "1" if answer else "0"
    if isinstance(answer, int):
        return str(answer)
    if isinstance(answer, float):
        return format_number(answer)
    if isinstance(answer, date):
        return answer.isoformat()
    return answer


def check_answer(instrument_id: str, item_id: str, text: str) -> tuple[str, str | None]:
    """Check one answer through the instruments module: (canonical text, error or None)."""
    try:
        answer = validate_answer(instrument_id, item_id, text)
    except ScoringError as exc:
        return text, str(exc)
    return answer_text(answer), None


def _instrument(instrument_id: str, cache: dict[str, Instrument | None]) -> Instrument | None:
    if instrument_id not in cache:
        try:
            cache[instrument_id] = get_instrument(instrument_id)
        except KeyError:
            cache[instrument_id] = None
    return cache[instrument_id]


_NUMERIC_ITEMS: Final = frozenset({ItemType.INTEGER, ItemType.NUMBER, ItemType.BOOLEAN})


def _answer_error(instrument_id: str, item_id: str, value: float) -> str | None:
    """The instruments module's message for a bad answer, or None when it is fine."""
    try:
        validate_answer(instrument_id, item_id, format_number(value))
    except ScoringError as exc:
        return str(exc)
    return None


def _response_error(
    instrument_id: str | None,
    item_id: str | None,
    value: float | None,
    rules: Rules,
    cache: dict[str, Instrument | None],
) -> tuple[str, str] | None:
    """(column, message) for one answer of responses.csv, or None when it is fine."""
    if instrument_id is None:
        return None
    instrument = _instrument(instrument_id, cache)
    if instrument is None:
        return "instrument", f"unknown instrument {instrument_id!r}"
    if instrument_id not in rules.instruments:
        return (
            "instrument",
            f"instrument {instrument_id!r} is not in the assessments of protocol "
            f"{rules.protocol_id} ({', '.join(rules.instruments)})",
        )
    if item_id is None:
        return None
    if item_id not in instrument.item_ids:
        return (
            "item",
            f"instrument {instrument_id!r} has no item {item_id!r}; items: "
            f"{', '.join(instrument.item_ids)}",
        )
    kind = instrument.item(item_id).type
    if kind not in _NUMERIC_ITEMS:
        return (
            "item",
            f"{instrument_id}.{item_id} is a {kind} item; responses.csv holds only numeric "
            "and yes/no answers (adverse events go to adverse_events.csv)",
        )
    if value is None:
        return None
    error = _answer_error(instrument_id, item_id, value)
    return None if error is None else ("value", error)


def _check_responses(out: _Collector, parsed: Parsed, rules: Rules) -> None:
    """Each distinct (instrument, item, value) is checked once through the instruments
    module; rows are visited only when one of them is wrong."""
    cache: dict[str, Instrument | None] = {}
    names = ("instrument", "item", "value")
    codes = _row_codes(parsed.key_columns(names))
    # codes number the distinct answers in order of first appearance
    first = np.flatnonzero(codes > np.maximum.accumulate(np.r_[-1, codes[:-1]]))
    verdicts = {
        int(codes[i]): _response_error(
            parsed.cell("instrument", i),
            parsed.cell("item", i),
            parsed.cell("value", i),
            rules,
            cache,
        )
        for i in first.tolist()
    }
    if all(v is None for v in verdicts.values()):
        return
    for i, code in enumerate(codes.tolist()):
        verdict = verdicts[code]
        if verdict is not None:
            out.add(RESPONSES, parsed.rows[i], *verdict)
            parsed.ok[i] = False


def _check_participants(out: _Collector, parsed: Parsed, rules: Rules, meta: StudyMeta) -> None:
    _check_duplicates(out, PARTICIPANTS, parsed, ["participant_id"], "participant id")
    arms = parsed.values["arm"]
    if meta.arms_masked:
        codes = sorted({a for a in arms if a is not None})
        if len(codes) > len(rules.arm_ids):
            out.add(
                PARTICIPANTS,
                None,
                "arm",
                f"{len(codes)} different masked arm codes ({', '.join(codes)}) but the protocol "
                f"has {len(rules.arm_ids)} arms",
            )
    else:
        for i, arm in enumerate(arms):
            if arm is not None and arm not in rules.arm_ids:
                out.add(
                    PARTICIPANTS,
                    parsed.rows[i],
                    "arm",
                    f"unknown arm {arm!r}; expected one of {', '.join(rules.arm_ids)}",
                )
    for column in ("withdrawn_week", "treatment_exit_week"):
        for i, week in enumerate(parsed.values[column]):
            if week is not None and not 0 <= week <= rules.max_week:
                out.add(
                    PARTICIPANTS,
                    parsed.rows[i],
                    column,
                    f"week {week} is outside the study weeks 0..{rules.max_week}",
                )


def _check_covariate_ranges(out: _Collector, parsed: Parsed, protocol: Protocol) -> None:
    for cov in protocol.baseline_covariates:
        if cov.type not in ("number", "integer"):
            continue
        for i, x in enumerate(parsed.values[cov.name]):
            if x is None:
                continue
            if (cov.minimum is not None and x < cov.minimum) or (
                cov.maximum is not None and x > cov.maximum
            ):
                lo = "-inf" if cov.minimum is None else format_number(cov.minimum)
                hi = "inf" if cov.maximum is None else format_number(cov.maximum)
                out.add(
                    PARTICIPANTS,
                    parsed.rows[i],
                    cov.name,
                    f"{format_number(float(x))} is outside the covariate's range {lo}..{hi}",
                )


def _check_toxicology(out: _Collector, parsed: Parsed, rules: Rules) -> None:
    analytes = parsed.distinct("analyte") - {None}
    for i, analyte in enumerate(parsed.values["analyte"] if analytes - set(rules.panel) else ()):
        if analyte is not None and analyte not in rules.panel:
            panel = ", ".join(rules.panel) if rules.panel else "(the protocol has no toxicology)"
            out.add(
                TOXICOLOGY,
                parsed.rows[i],
                "analyte",
                f"analyte {analyte!r} is not in the protocol's panel: {panel}",
            )
            parsed.ok[i] = False
    _check_duplicates(out, TOXICOLOGY, parsed, ["participant_id", "week", "analyte"], "result")


_RELATED_CODES: Final = frozenset({"possibly", "probably", "definitely"})


def _check_adverse_events(out: _Collector, parsed: Parsed) -> None:
    """Severity, relatedness and outcome codes come from the ``adverse_event`` instrument."""
    values = parsed.values
    for column in ("severity", "relatedness", "outcome"):
        for i, text in enumerate(values[column]):
            if text is None:
                continue
            canonical, error = check_answer("adverse_event", column, text)
            if error is not None:
                out.add(ADVERSE_EVENTS, parsed.rows[i], column, error)
                parsed.ok[i] = False
            else:
                values[column][i] = canonical
    for i, (related, code) in enumerate(zip(values["related"], values["relatedness"], strict=True)):
        if related is None or code is None or not parsed.ok[i]:
            continue
        if related != (code in _RELATED_CODES):
            out.add(
                ADVERSE_EVENTS,
                parsed.rows[i],
                "related",
                f"related is {int(related)} but relatedness is {code!r} (related means "
                f"relatedness is one of {', '.join(sorted(_RELATED_CODES))})",
            )
    _check_duplicates(out, ADVERSE_EVENTS, parsed, ["ae_id"], "adverse event id")


def _check_screening(out: _Collector, parsed: Parsed, participants: set[str] | None) -> None:
    _check_duplicates(out, SCREENING, parsed, ["referral_id"], "referral id")
    _check_duplicates(out, SCREENING, parsed, ["participant_id"], "participant id")
    for i, row in enumerate(parsed.rows):
        pid, stage = parsed.values["participant_id"][i], parsed.values["stage"][i]
        if stage == "randomized":
            if pid is None:
                out.add(
                    SCREENING, row, "participant_id", "a randomized referral needs a participant id"
                )
            elif participants is not None and pid not in participants:
                out.add(
                    SCREENING,
                    row,
                    "participant_id",
                    f"unknown participant {pid!r} (not in participants.csv)",
                )
        elif (
            stage is not None
            and pid is not None
            and participants is not None
            and pid in participants
        ):
            out.add(
                SCREENING,
                row,
                "stage",
                f"participant {pid!r} is in participants.csv (randomized) but the stage is {stage!r}",
            )


def _check_ema(out: _Collector, parsed: Parsed, rules: Rules) -> None:
    """Missed prompts carry no answers; answers are checked through the instruments module."""
    answers: dict[tuple[str, str, float], str | None] = {}
    for i, row in enumerate(parsed.rows):
        answered = parsed.values["answered"][i]
        for instrument_id, item_id in rules.ema_items:
            value = parsed.values[item_id][i]
            if value is None:
                continue
            if answered is False:
                out.add(
                    EMA,
                    row,
                    item_id,
                    "the prompt was not answered (answered is 0) but has an answer; leave the "
                    "cell blank or set answered to 1",
                )
                parsed.ok[i] = False
                continue
            key = (instrument_id, item_id, value)
            if key not in answers:
                answers[key] = _answer_error(instrument_id, item_id, value)
            error = answers[key]
            if error is not None:
                out.add(EMA, row, item_id, error)
                parsed.ok[i] = False
    _check_duplicates(out, EMA, parsed, ["participant_id", "prompted_at"], "prompt")


_KNOWN_DRUGS: Final = (*mme.DRUGS, "buprenorphine")


def _check_medications(out: _Collector, parsed: Parsed) -> None:
    values = parsed.values
    for i, row in enumerate(parsed.rows):
        drug, dose = values["drug"][i], values["daily_dose"][i]
        if drug is not None and drug not in _KNOWN_DRUGS:
            out.add(
                MEDICATIONS,
                row,
                "drug",
                f"unknown drug {drug!r}; expected one of {', '.join(_KNOWN_DRUGS)} (the MME "
                "calculator's drug ids)",
            )
            parsed.ok[i] = False
        if dose is not None and dose < 0:
            out.add(
                MEDICATIONS,
                row,
                "daily_dose",
                f"{format_number(dose)} is negative; expected a daily dose of 0 or more",
            )
            parsed.ok[i] = False
        scheduled, taken = values["days_scheduled"][i], values["days_taken"][i]
        for column, days in (("days_scheduled", scheduled), ("days_taken", taken)):
            if days is not None and not 0 <= days <= 7:
                out.add(MEDICATIONS, row, column, f"{days} is outside 0..7 days of a week")
                parsed.ok[i] = False
        if (scheduled is None) != (taken is None):
            blank = "days_taken" if taken is None else "days_scheduled"
            out.add(
                MEDICATIONS,
                row,
                blank,
                "value is missing: days_scheduled and days_taken are given together or not at all",
            )
            parsed.ok[i] = False
        elif scheduled is not None and taken is not None and taken > scheduled:
            out.add(
                MEDICATIONS,
                row,
                "days_taken",
                f"{taken} doses taken but only {scheduled} scheduled that week",
            )
            parsed.ok[i] = False
    key = ["participant_id", "week", "drug"]
    _check_duplicates(out, MEDICATIONS, parsed, key, "medication record")


def _check_attendance_arms(
    out: _Collector, parsed: Parsed, arm_of: dict[str, str], rules: Rules
) -> None:
    """Arms whose protocol has no group sessions cannot attend any."""
    if not rules.arms_without_groups:
        return
    if not any(
        arm_of.get(pid) in rules.arms_without_groups
        for pid in parsed.distinct("participant_id")
        if pid is not None
    ):
        return
    for i, pid in enumerate(parsed.values["participant_id"]):
        arm = arm_of.get(pid) if pid is not None else None
        if arm in rules.arms_without_groups:
            out.add(
                ATTENDANCE,
                parsed.rows[i],
                "participant_id",
                f"participant {pid!r} is in arm {arm!r}, which has no group sessions in the "
                "protocol; its participants have no attendance records",
            )
            parsed.ok[i] = False


def _check_version_1(out: _Collector, parsed: dict[str, Parsed | None]) -> None:
    """A format-1 dataset has no EMA prompts, no medication list and no format-2 columns."""
    for file in (EMA, MEDICATIONS):
        table = parsed.get(file)
        if table is not None and len(table):
            out.add(
                file,
                None,
                None,
                f"format version 1 has no {file}; set format_version to 2 to keep these records",
            )
    part = parsed.get(PARTICIPANTS)
    if part is None:
        return
    for column in PARTICIPANT_OPTIONAL_COLUMNS:
        rows = [
            r for r, v in zip(part.rows, part.values[column.name], strict=True) if v is not None
        ]
        if rows:
            out.add(
                PARTICIPANTS,
                rows[0],
                column.name,
                f"column {column.name!r} needs format version 2 ({len(rows)} non-blank values); "
                "set format_version to 2",
            )


# --------------------------------------------------------------------------- frames


def _series(values: Sequence[Any] | np.ndarray, column: Column) -> pd.Series:  # type: ignore[type-arg]
    kind = column.kind
    cells = np.empty(len(values), dtype=object)
    cells[:] = values
    if kind in ("string", "category"):
        return pd.Series(cells, dtype="string", name=column.name)
    if kind == "int":
        return pd.Series(cells, dtype="Int64" if column.nullable else "int64", name=column.name)
    if kind == "number":
        return pd.Series(cells, dtype="float64", name=column.name)
    if kind == "bool":
        return pd.Series(cells, dtype="boolean" if column.nullable else "bool", name=column.name)
    if kind == "datetime":
        moments = [pd.NaT if v is None else v for v in cells]
        return pd.Series(moments, dtype="datetime64[ns, UTC]", name=column.name)
    return pd.Series(pd.to_datetime(cells), dtype="datetime64[ns]", name=column.name)


def empty_frame(columns: Sequence[Column]) -> pd.DataFrame:
    """A frame with no rows and the right columns and dtypes."""
    return pd.DataFrame({c.name: _series([], c) for c in columns})


def _frame(parsed: Parsed, columns: Sequence[Column]) -> pd.DataFrame:
    """The table's frame; a column with codes is converted once per distinct value and
    then taken by code (no object array per cell to convert, and less memory)."""
    series: dict[str, pd.Series] = {}  # type: ignore[type-arg]
    for c in columns:
        coded = parsed.coded.get(c.name)
        if coded is None:
            series[c.name] = _series(parsed.values[c.name], c)
        else:
            codes, distinct = coded
            series[c.name] = pd.Series(_series(distinct, c).array.take(codes), name=c.name)
    return pd.DataFrame(series, copy=False)  # fresh arrays: no second copy of each column


# --------------------------------------------------------------------------- entry point


def validate_tables(
    meta: StudyMeta,
    tables: dict[str, RawTable | None],
    protocol: Protocol,
    *,
    problems: Iterable[Problem] = (),
) -> tuple[StudyDataset | None, list[Problem]]:
    """Parse and check every table; a dataset only when there are no problems at all.

    ``tables`` maps each CSV file name to its text (``None`` when the file is missing,
    already reported in ``problems``).
    """
    out = _Collector(list(problems))
    rules = Rules.from_protocol(protocol)
    if meta.protocol_id != rules.protocol_id:
        out.add(
            "study.json",
            None,
            "protocol_id",
            f"dataset is for protocol {meta.protocol_id!r}, not {rules.protocol_id!r}",
        )
    elif meta.protocol_version != rules.protocol_version:
        out.add(
            "study.json",
            None,
            "protocol_version",
            f"dataset was made under version {meta.protocol_version!r} of {rules.protocol_id}; "
            f"the protocol given is version {rules.protocol_version!r}",
        )
    files = csv_files(meta.format_version)
    parsed: dict[str, Parsed | None] = {}
    for file in CSV_FILES:
        raw = tables.get(file)
        if raw is None and file not in files:
            header = tuple(c.name for c in rules.columns(file))
            raw = RawTable.from_records(header, (), ())
        parsed[file] = None if raw is None else _parse_table(file, raw, rules.columns(file), out)
    if meta.format_version == 1:
        _check_version_1(out, parsed)

    part = parsed[PARTICIPANTS]
    known: set[str] | None = None
    if part is not None:
        _check_participants(out, part, rules, meta)
        _check_covariate_ranges(out, part, protocol)
        known = {p for p in part.values["participant_id"] if p is not None}
        ids, arms = part.values["participant_id"], part.values["arm"]
        arm_of = {} if meta.arms_masked else dict(zip(ids, arms, strict=True))

    week_checks: dict[str, tuple[str, int, int, str]] = {
        RESPONSES: ("week", 0, rules.max_week, "the study weeks"),
        TOXICOLOGY: ("week", 0, rules.max_week, "the study weeks"),
        ATTENDANCE: ("week", 1, rules.session_weeks, "the session weeks"),
        ADVERSE_EVENTS: ("onset_week", 0, rules.max_week, "the study weeks"),
        EMA: ("week", 0, rules.max_week, "the study weeks"),
        MEDICATIONS: ("week", 0, rules.max_week, "the study weeks"),
    }
    for file, (column, low, high, what) in week_checks.items():
        table = parsed[file]
        if table is None:
            continue
        _check_participant(out, file, table, known)
        _check_week(out, file, column, table, low, high, what)

    responses = parsed[RESPONSES]
    if responses is not None:
        _check_responses(out, responses, rules)
        key = ["participant_id", "week", "instrument", "item"]
        _check_duplicates(out, RESPONSES, responses, key, "answer")
    toxicology = parsed[TOXICOLOGY]
    if toxicology is not None:
        _check_toxicology(out, toxicology, rules)
    attendance = parsed[ATTENDANCE]
    if attendance is not None:
        key = ["participant_id", "week"]
        _check_duplicates(out, ATTENDANCE, attendance, key, "attendance record")
        if part is not None:
            _check_attendance_arms(out, attendance, arm_of, rules)
    adverse_events = parsed[ADVERSE_EVENTS]
    if adverse_events is not None:
        _check_adverse_events(out, adverse_events)
    screening = parsed[SCREENING]
    if screening is not None:
        _check_screening(out, screening, known)
    ema = parsed[EMA]
    if ema is not None:
        _check_ema(out, ema, rules)
    medications = parsed[MEDICATIONS]
    if medications is not None:
        _check_medications(out, medications)

    if out.problems:
        order = {name: i for i, name in enumerate(("study.json", *CSV_FILES))}
        ranked = sorted(
            out.problems, key=lambda p: (order.get(p.file, -1), p.row if p.row is not None else 0)
        )
        return None, ranked
    frames = {f: _frame(p, rules.columns(f)) for f, p in parsed.items() if p is not None}
    dataset = StudyDataset(
        meta=meta,
        participants=frames[PARTICIPANTS],
        responses=frames[RESPONSES],
        toxicology=frames[TOXICOLOGY],
        attendance=frames[ATTENDANCE],
        adverse_events=frames[ADVERSE_EVENTS],
        screening=frames[SCREENING],
        ema=frames[EMA],
        medications=frames[MEDICATIONS],
        covariates=tuple(c.name for c in rules.covariates),
        ema_items=tuple(item for _, item in rules.ema_items),
    )
    for file in (RESPONSES, TOXICOLOGY):  # the long tables outcomes are derived from
        table = parsed[file]
        for c in rules.columns(file):
            if table is not None and c.kind in ("string", "category") and c.name in table.coded:
                codes, values = table.coded[c.name]
                small = np.min_scalar_type(max(len(values) - 1, 0))  # e.g. int8 for items
                dataset._keep_codes(file, c.name, codes.astype(small, copy=False), values)
    return dataset, []
