"""Reading, building and writing study datasets (all-or-nothing)."""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import operator
import os
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mindtrial.atomic_files import replace_folder
from mindtrial.csv_cells import escape_formula, unescape_formula
from mindtrial.dataset.schema import (
    ADVERSE_EVENTS,
    ATTENDANCE,
    CSV_FILES,
    EMA,
    FORMAT_NAME,
    MEDICATIONS,
    PARTICIPANT_OPTIONAL_COLUMNS,
    PARTICIPANTS,
    READABLE_VERSIONS,
    RESPONSES,
    SCREENING,
    STUDY_FILE,
    TOXICOLOGY,
    V1_CSV_FILES,
    DatasetError,
    Problem,
    StudyDataset,
    StudyMeta,
    csv_files,
    format_number,
)
from mindtrial.dataset.validate import (
    CodedColumn,
    RawTable,
    Rules,
    empty_frame,
    validate_tables,
)
from mindtrial.protocols import ProtocolError, load_protocol
from mindtrial.protocols.schema import Protocol

_META_KEYS = (
    "format",
    "format_version",
    "protocol_id",
    "protocol_version",
    "exported_at",
    "arms_masked",
    "source",
)


# --------------------------------------------------------------------------- study.json


def _parse_meta(data: object, out: list[Problem]) -> StudyMeta | None:
    def bad(key: str | None, message: str) -> None:
        out.append(Problem(STUDY_FILE, None, key, message))

    if not isinstance(data, dict):
        bad(None, "expected a JSON object")
        return None
    start = len(out)
    for key in data:
        if key not in _META_KEYS:
            bad(str(key), f"unknown key; expected {', '.join(_META_KEYS)}")
    for key in ("format", "format_version", "protocol_id", "protocol_version", "exported_at"):
        if key not in data:
            bad(key, "missing key")
    if "format" in data and data["format"] != FORMAT_NAME:
        bad("format", f"expected {FORMAT_NAME!r}, found {data['format']!r}")
    version = data.get("format_version")
    if "format_version" in data and (isinstance(version, bool) or version not in READABLE_VERSIONS):
        readable = " and ".join(str(v) for v in READABLE_VERSIONS)
        bad(
            "format_version",
            f"this MindTrial reads format versions {readable}, found {version!r}",
        )
    for key in ("protocol_id", "protocol_version"):
        if key in data and (not isinstance(data[key], str) or not data[key]):
            bad(key, f"expected a non-empty string, found {data[key]!r}")
    if "source" in data and data["source"] is not None and not isinstance(data["source"], str):
        bad("source", f"expected a string, found {data['source']!r}")
    masked = data.get("arms_masked", False)
    if not isinstance(masked, bool):
        bad("arms_masked", f"expected true or false, found {masked!r}")
    exported: datetime | None = None
    stamp = data.get("exported_at")
    if "exported_at" in data:
        try:
            exported = datetime.fromisoformat(str(stamp))
        except ValueError:
            bad("exported_at", f"{stamp!r} is not an ISO 8601 date-time")
        else:
            if exported.tzinfo is None:
                bad("exported_at", f"{stamp!r} has no time zone offset (write e.g. +00:00)")
    if len(out) > start or exported is None:
        return None
    return StudyMeta(
        protocol_id=data["protocol_id"],
        protocol_version=data["protocol_version"],
        exported_at=exported,
        arms_masked=bool(masked),
        source=data.get("source"),
        format_version=int(data["format_version"]),
    )


def _read_meta(folder: Path, out: list[Problem]) -> StudyMeta | None:
    path = folder / STUDY_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        out.append(Problem(STUDY_FILE, None, None, "file is missing"))
        return None
    except (OSError, UnicodeDecodeError) as exc:
        out.append(Problem(STUDY_FILE, None, None, f"cannot read file: {exc}"))
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        out.append(Problem(STUDY_FILE, None, None, f"not valid JSON: {exc}"))
        return None
    return _parse_meta(data, out)


# --------------------------------------------------------------------------- CSV text


def _columns_by_splitting(text: str) -> RawTable | None:
    """The table, when the text can be cut into columns without the CSV module.

    Text with no quote, no NUL, no carriage return except in line ends, the header's
    number of fields on every line and no blank line is what :mod:`csv` would read by
    splitting on newlines and commas; cutting it by column needs no Python step per
    record. Anything else gives None (read record by record).
    """
    if '"' in text or "\0" in text:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            return None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if len(lines) < 2:
        return None
    width = lines[0].count(",") + 1
    if set(map(operator.methodcaller("count", ","), lines[1:])) != {width - 1}:
        return None
    cells = np.array(",".join(lines[1:]).split(","), dtype=object)
    columns: list[Any] = [cells[j::width] for j in range(width)]
    if any(not t.strip() for t in set(columns[0])) and any(
        not "".join(record).strip() for record in zip(*columns, strict=True)
    ):
        return None  # a blank line
    if "'" in text:  # text a spreadsheet would run was written with a leading "'"
        columns = [[unescape_formula(c) for c in column] for column in columns]
    header = tuple(name.strip() for name in lines[0].split(","))
    return RawTable(header=header, rows=range(2, len(lines) + 1), columns=columns)


def _columns_by_arrow(data: bytes, start: int = 0) -> RawTable | None:
    """The table read by Arrow's CSV reader and dictionary-encoded column by column, when
    the file's bytes (from ``start``, after any byte-order mark) are plain text (the
    conditions of :func:`_columns_by_splitting`; no ``'`` either): no Python object is made
    per cell and the bytes are handed to Arrow without a copy. None for anything else
    (Arrow refuses bytes that are not UTF-8, which the slower readers then report)."""
    if b'"' in data or b"\0" in data or b"'" in data:
        return None
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
        if b"\r" in data:
            return None
    end = data.find(b"\n", start)
    if end < 0 or end + 1 == len(data):
        return None
    try:
        header_text = data[start:end].decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = data.count(b"\n", end + 1) + (0 if data.endswith(b"\n") else 1)
    width = header_text.count(",") + 1
    import pyarrow as pa
    from pyarrow import csv as arrow_csv

    names = [f"c{j}" for j in range(width)]
    try:
        table = arrow_csv.read_csv(
            pa.BufferReader(pa.py_buffer(memoryview(data)[end + 1 :])),
            read_options=arrow_csv.ReadOptions(column_names=names, use_threads=False),
            parse_options=arrow_csv.ParseOptions(
                quote_char=False, escape_char=False, ignore_empty_lines=False
            ),
            # each column dictionary-encoded as it is read: no column of every cell's text
            convert_options=arrow_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.dictionary(pa.int32(), pa.string())),
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        ).unify_dictionaries()
    except (pa.ArrowInvalid, ValueError):
        return None  # e.g. a line with another number of fields
    if table.num_rows != lines:
        return None
    columns: list[Sequence[str] | CodedColumn] = []
    blank: np.ndarray | None = None  # type: ignore[type-arg]
    for j in range(width):
        encoded = table.column(j).combine_chunks()
        codes = encoded.indices.to_numpy(zero_copy_only=False)  # int32: half of intp's memory
        distinct = [str(t) for t in encoded.dictionary.to_pylist()]
        empty = [k for k, t in enumerate(distinct) if not t.strip()]
        here = np.isin(codes, empty) if empty else np.zeros(len(codes), dtype=bool)
        blank = here if blank is None else blank & here
        columns.append(CodedColumn(codes=codes, distinct=distinct))
    if blank is not None and blank.any():
        return None  # a blank line
    header = tuple(name.strip() for name in header_text.split(","))
    return RawTable(header=header, rows=range(2, lines + 2), columns=columns)


def _read_records(text: str) -> RawTable | None:
    """The table read record by record with :mod:`csv` (None: no header)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header: tuple[str, ...] | None = None
    rows: list[int] = []
    records: list[list[str]] = []
    escaped = "'" in text
    for record in reader:
        if header is None:
            header = tuple(name.strip() for name in record)
            continue
        if not "".join(record).strip():
            continue  # blank line
        rows.append(reader.line_num)
        # Text a spreadsheet would run was written with a leading "'" (csv_cells).
        records.append([unescape_formula(c) for c in record] if escaped else record)
    if header is None:
        return None
    return RawTable.from_records(header, rows, records)


def _read_csv(folder: Path, file: str, out: list[Problem]) -> RawTable | None:
    path = folder / file
    if not path.is_file():
        out.append(Problem(file, None, None, "file is missing"))
        return None
    try:
        data = path.read_bytes()
        start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
        table = _columns_by_arrow(data, start)
        if table is None:
            text = data[start:].decode("utf-8")
            del data  # a large file is not held twice
            table = _columns_by_splitting(text) or _read_records(text)
    except UnicodeDecodeError as exc:
        out.append(Problem(file, None, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})"))
        return None
    except (OSError, csv.Error) as exc:
        out.append(Problem(file, None, None, f"cannot read CSV: {exc}"))
        return None
    if table is None or not any(table.header):
        out.append(Problem(file, None, None, "file is empty; expected a header row"))
        return None
    return table


def _cell_text(value: Any) -> str:
    """The CSV text of one DataFrame cell (blank for missing values)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        x = float(value)
        return "" if math.isnan(x) else format_number(x)
    if isinstance(value, pd.Timestamp | datetime):
        stamp = pd.Timestamp(value)
        if stamp == stamp.normalize() and stamp.tzinfo is None:
            return stamp.date().isoformat()
        return stamp.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _frame_table(frame: pd.DataFrame, *, for_file: bool = False) -> RawTable:
    """The frame's cells as text; ``for_file`` escapes text cells a spreadsheet would run
    as a formula (:mod:`mindtrial.csv_cells`; numbers are never escaped)."""
    header = tuple(str(c) for c in frame.columns)

    def text(value: Any) -> str:
        cell = _cell_text(value)
        return escape_formula(cell) if for_file and isinstance(value, str) else cell

    columns = [[text(v) for v in frame.iloc[:, j].tolist()] for j in range(frame.shape[1])]
    rows = list(range(2, frame.shape[0] + 2))
    return RawTable(header=header, rows=rows, columns=columns)


def _csv_text(frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    table = _frame_table(frame, for_file=True)
    writer.writerow(table.header)
    writer.writerows(zip(*table.columns, strict=True))
    return buffer.getvalue()


# --------------------------------------------------------------------------- public API


def _protocol_for(meta: StudyMeta, protocol: Protocol | str | Path | None) -> Protocol:
    if isinstance(protocol, Protocol):
        return protocol
    return load_protocol(meta.protocol_id if protocol is None else protocol)


def read_dataset(
    path: str | Path, *, protocol: Protocol | str | Path | None = None
) -> StudyDataset:
    """Read and validate the study dataset in folder ``path``.

    ``protocol`` (a :class:`~mindtrial.protocols.schema.Protocol`, an id or a file) defaults
    to the protocol named in ``study.json``. Raises :class:`DatasetError` listing every
    problem found; never returns a partly read dataset.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetError(
            [Problem(str(folder), None, None, "not a folder (a study dataset is a folder)")]
        )
    problems: list[Problem] = []
    meta = _read_meta(folder, problems)
    if meta is not None:
        files = csv_files(meta.format_version)
    else:  # report only files that exist beyond version 1's
        files = V1_CSV_FILES + tuple(
            f for f in CSV_FILES[len(V1_CSV_FILES) :] if (folder / f).exists()
        )
    tables = {file: _read_csv(folder, file, problems) for file in files}
    if meta is None:
        raise DatasetError(problems, where=str(folder))
    try:
        chosen = _protocol_for(meta, protocol)
    except ProtocolError as exc:
        problems.append(
            Problem(STUDY_FILE, None, "protocol_id", f"cannot load the protocol: {exc}")
        )
        raise DatasetError(problems, where=str(folder)) from None
    dataset, problems = validate_tables(meta, tables, chosen, problems=problems)
    if dataset is None:
        raise DatasetError(problems, where=str(folder))
    return dataset


def build_dataset(
    meta: StudyMeta,
    *,
    participants: pd.DataFrame,
    responses: pd.DataFrame | None = None,
    toxicology: pd.DataFrame | None = None,
    attendance: pd.DataFrame | None = None,
    adverse_events: pd.DataFrame | None = None,
    screening: pd.DataFrame | None = None,
    ema: pd.DataFrame | None = None,
    medications: pd.DataFrame | None = None,
    protocol: Protocol | str | Path | None = None,
) -> StudyDataset:
    """Validate DataFrames as a study dataset and give them the documented dtypes.

    Each frame needs the columns of its file (``None`` = no rows); values may be of any
    reasonable Python/pandas type (numbers, booleans, dates, strings). Problems are
    reported exactly as for a folder, with ``row`` = the row the record would have in the
    file (frame position + 2). Raises :class:`DatasetError`.
    """
    return build_dataset_from_frames(
        meta,
        {
            PARTICIPANTS: participants,
            RESPONSES: responses,
            TOXICOLOGY: toxicology,
            ATTENDANCE: attendance,
            ADVERSE_EVENTS: adverse_events,
            SCREENING: screening,
            EMA: ema,
            MEDICATIONS: medications,
        },
        protocol=protocol,
    )


def build_dataset_from_frames(
    meta: StudyMeta,
    frames: Mapping[str, pd.DataFrame | None],
    *,
    protocol: Protocol | str | Path | None = None,
) -> StudyDataset:
    """:func:`build_dataset` with the frames by file name (``participants.csv``, ...; a file
    not given has no rows). Raises :class:`DatasetError`."""
    unknown = sorted(set(frames) - set(CSV_FILES))
    if unknown:
        raise ValueError(f"not study dataset files: {', '.join(unknown)}")
    chosen = _protocol_for(meta, protocol)
    rules = Rules.from_protocol(chosen)
    tables: dict[str, RawTable | None] = {}
    for file in CSV_FILES:
        frame = frames.get(file)
        if frame is None:
            frame = empty_frame([c for c in rules.columns(file) if c.required])
        tables[file] = _frame_table(frame)
    dataset, problems = validate_tables(meta, tables, chosen)
    if dataset is None:
        raise DatasetError(problems)
    return dataset


def validate_dataset(
    ds: StudyDataset, *, protocol: Protocol | str | Path | None = None
) -> list[Problem]:
    """Every problem with an in-memory dataset (empty when it is valid)."""
    chosen = _protocol_for(ds.meta, protocol)
    tables: dict[str, RawTable | None] = {f: _frame_table(ds.table(f)) for f in CSV_FILES}
    return validate_tables(ds.meta, tables, chosen)[1]


def _write_file(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def write_dataset(
    ds: StudyDataset,
    path: str | Path,
    *,
    protocol: Protocol | str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Validate ``ds`` and write it as a study dataset folder at ``path``; return the path.

    All-or-nothing: the files are written into a temporary folder beside ``path`` which is
    then renamed into place, so ``path`` is either absent/untouched or complete. An existing
    ``path`` raises :class:`FileExistsError` unless ``overwrite=True``. An invalid dataset
    raises :class:`DatasetError` before anything is written.
    """
    target = Path(path)
    chosen = _protocol_for(ds.meta, protocol)
    tables: dict[str, RawTable | None] = {f: _frame_table(ds.table(f)) for f in CSV_FILES}
    checked, problems = validate_tables(ds.meta, tables, chosen)
    if checked is None:
        raise DatasetError(problems, where=f"to be written to {target}")
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists (pass overwrite=True to replace it)")
    texts = {STUDY_FILE: json.dumps(ds.meta.to_json_dict(), indent=2) + "\n"}
    for file in csv_files(ds.meta.format_version):
        frame = checked.table(file)
        if file == PARTICIPANTS and ds.meta.format_version == 1:
            frame = frame.drop(columns=[c.name for c in PARTICIPANT_OPTIONAL_COLUMNS])
        texts[file] = _csv_text(frame)

    return replace_folder(target, texts)
