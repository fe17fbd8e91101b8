"""The study dataset: its files, columns and in-memory form.

A study dataset is a folder of one JSON file and eight CSV files (six in format version 1; see
``docs/study-dataset.md``). In memory it is a :class:`StudyDataset`: the metadata of
``study.json`` plus one pandas DataFrame per CSV file, with fixed column names and
dtypes:

=========  ==========================  =============================================
kind       pandas dtype                CSV text
=========  ==========================  =============================================
string     ``string`` (missing: NA)    as is; blank = missing
int        ``int64``                   ``-?[0-9]+``
int?       ``Int64`` (missing: NA)     same, blank = missing
number     ``float64`` (missing: NaN)  a decimal number; blank = missing
bool       ``bool``                    ``1``/``0`` (``true``/``false`` also read)
bool?      ``boolean`` (missing: NA)   same, blank = missing
date       ``datetime64[ns]``          ``YYYY-MM-DD``
datetime   ``datetime64[ns, UTC]``     ISO 8601 with a time-zone offset
=========  ==========================  =============================================

``participant_id`` is always a string (``"007"`` stays ``"007"``).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

FORMAT_NAME: Final = "mindtrial-study-dataset"
FORMAT_VERSION: Final = 2
"""The version written; :data:`READABLE_VERSIONS` are read."""
READABLE_VERSIONS: Final = (1, 2)

ColumnKind = Literal["string", "int", "number", "bool", "date", "datetime", "category"]

STAGES: Final = ("referred", "screened", "eligible", "consented", "baseline", "randomized")
"""Screening stages in order; ``screening.csv`` records the furthest one reached."""

TOX_RESULTS: Final = ("positive", "negative", "invalid")

STUDY_FILE: Final = "study.json"
PARTICIPANTS: Final = "participants.csv"
RESPONSES: Final = "responses.csv"
TOXICOLOGY: Final = "toxicology.csv"
ATTENDANCE: Final = "attendance.csv"
ADVERSE_EVENTS: Final = "adverse_events.csv"
SCREENING: Final = "screening.csv"
EMA: Final = "ema.csv"
MEDICATIONS: Final = "medications.csv"

V1_CSV_FILES: Final = (
    PARTICIPANTS,
    RESPONSES,
    TOXICOLOGY,
    ATTENDANCE,
    ADVERSE_EVENTS,
    SCREENING,
)
"""The CSV files of format version 1."""
CSV_FILES: Final = (*V1_CSV_FILES, EMA, MEDICATIONS)
"""The CSV files of the current format (version 2)."""


def csv_files(format_version: int) -> tuple[str, ...]:
    """The CSV files a dataset of ``format_version`` has."""
    return V1_CSV_FILES if format_version == 1 else CSV_FILES


RACES: Final = (
    "american_indian_or_alaska_native",
    "asian",
    "black_or_african_american",
    "native_hawaiian_or_pacific_islander",
    "white",
    "more_than_one_race",
    "unknown",
)
ETHNICITIES: Final = ("hispanic_or_latino", "not_hispanic_or_latino", "unknown")
LANGUAGES: Final = ("english", "spanish", "other")


@dataclass(frozen=True)
class Column:
    """One column of a CSV file.

    ``required`` means the column must be present in the header; ``nullable`` means a
    blank cell is allowed. ``levels`` restricts a ``category`` column (stored as
    ``string``).
    """

    name: str
    kind: ColumnKind
    nullable: bool = False
    required: bool = True
    levels: tuple[str, ...] = ()

    @property
    def dtype(self) -> str:
        """The pandas dtype this column has in a :class:`StudyDataset`."""
        if self.kind in ("string", "category"):
            return "string"
        if self.kind == "int":
            return "Int64" if self.nullable else "int64"
        if self.kind == "number":
            return "float64"
        if self.kind == "bool":
            return "boolean" if self.nullable else "bool"
        if self.kind == "datetime":
            return "datetime64[ns, UTC]"
        return "datetime64[ns]"


# Fixed columns of every file (participants.csv also has the protocol's covariates).
PARTICIPANT_COLUMNS: Final = (
    Column("participant_id", "string"),
    Column("arm", "string"),
    Column("site", "string", nullable=True),
    Column("cohort", "string", nullable=True),
    Column("randomized_on", "date"),
    Column("withdrawn_week", "int", nullable=True),
    Column("withdrawal_reason", "string", nullable=True),
)
PARTICIPANT_OPTIONAL_COLUMNS: Final = (
    Column("race", "category", nullable=True, required=False, levels=RACES),
    Column("ethnicity", "category", nullable=True, required=False, levels=ETHNICITIES),
    Column("language", "category", nullable=True, required=False, levels=LANGUAGES),
    Column("treatment_exit_week", "int", nullable=True, required=False),
)
"""Format-2 columns of participants.csv that a file may leave out (always in memory)."""
RESPONSE_COLUMNS: Final = (
    Column("participant_id", "string"),
    Column("week", "int"),
    Column("instrument", "string"),
    Column("item", "string"),
    Column("value", "number"),
)
TOXICOLOGY_COLUMNS: Final = (
    Column("participant_id", "string"),
    Column("week", "int"),
    Column("analyte", "string"),
    Column("result", "category", levels=TOX_RESULTS),
)
ATTENDANCE_COLUMNS: Final = (
    Column("participant_id", "string"),
    Column("week", "int"),
    Column("attended", "bool"),
)
ADVERSE_EVENT_COLUMNS: Final = (
    Column("participant_id", "string"),
    Column("onset_week", "int"),
    Column("severity", "string"),
    Column("serious", "bool"),
    Column("related", "bool"),
    Column("expected", "bool"),
    # Optional, documented extras.
    Column("ae_id", "string", nullable=True, required=False),
    Column("relatedness", "string", nullable=True, required=False),
    Column("outcome", "string", nullable=True, required=False),
)
SCREENING_COLUMNS: Final = (
    Column("referral_id", "string"),
    Column("participant_id", "string", nullable=True),
    Column("referred_on", "date"),
    Column("stage", "category", levels=STAGES),
    Column("exclusion_reason", "string", nullable=True),
)

EMA_COLUMNS: Final = (
    Column("participant_id", "string"),
    Column("week", "int"),
    Column("prompted_at", "datetime"),
    Column("answered", "bool"),
)
"""Fixed columns of ema.csv; one number column per EMA item of the protocol follows."""
MEDICATION_COLUMNS: Final = (
    Column("participant_id", "string"),
    Column("week", "int"),
    Column("drug", "string"),
    Column("daily_dose", "number"),
    Column("days_scheduled", "int", nullable=True),
    Column("days_taken", "int", nullable=True),
)

FIXED_COLUMNS: Final[dict[str, tuple[Column, ...]]] = {
    PARTICIPANTS: PARTICIPANT_COLUMNS,
    RESPONSES: RESPONSE_COLUMNS,
    TOXICOLOGY: TOXICOLOGY_COLUMNS,
    ATTENDANCE: ATTENDANCE_COLUMNS,
    ADVERSE_EVENTS: ADVERSE_EVENT_COLUMNS,
    SCREENING: SCREENING_COLUMNS,
    EMA: EMA_COLUMNS,
    MEDICATIONS: MEDICATION_COLUMNS,
}


@dataclass(frozen=True)
class StudyMeta:
    """The contents of ``study.json``.

    ``exported_at`` is timezone-aware. ``arms_masked`` means ``participants.arm`` holds
    opaque codes instead of the protocol's arm ids (for blinded analyses).
    ``source`` says what produced the dataset (``"web"``, ``"redcap"``, ``"simulate"``…).
    """

    protocol_id: str
    protocol_version: str
    exported_at: datetime
    arms_masked: bool = False
    source: str | None = None
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.exported_at.tzinfo is None:
            raise ValueError("StudyMeta.exported_at must be timezone-aware")

    def to_json_dict(self) -> dict[str, object]:
        """The JSON object written to ``study.json``."""
        out: dict[str, object] = {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "protocol_id": self.protocol_id,
            "protocol_version": self.protocol_version,
            "exported_at": self.exported_at.isoformat(),
            "arms_masked": self.arms_masked,
        }
        if self.source is not None:
            out["source"] = self.source
        return out


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset.

    ``row`` counts CSV records the way a spreadsheet shows them: the header is row 1,
    the first data row is row 2. It is ``None`` for problems with a whole file or with
    ``study.json``. ``column`` is ``None`` when the problem is not about one column.
    """

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"


class DatasetError(ValueError):
    """A study dataset has problems; ``problems`` holds every one of them."""

    MAX_LISTED: Final = 50

    def __init__(self, problems: Iterable[Problem], *, where: str | None = None) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.where = where
        super().__init__(self._message())

    def _message(self) -> str:
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in study dataset"
        if self.where:
            head += f" {self.where}"
        lines = [head + ":"]
        lines += [f"  - {p}" for p in self.problems[: self.MAX_LISTED]]
        if n > self.MAX_LISTED:
            lines.append(f"  … and {n - self.MAX_LISTED} more (see DatasetError.problems)")
        return "\n".join(lines)


Codes: TypeAlias = npt.NDArray[np.integer[Any]]
"""A column's values as integer codes (see :meth:`StudyDataset.codes`)."""
CodeValues: TypeAlias = npt.NDArray[np.object_]
"""The value of each code (``None`` for a missing value)."""
CodedColumn: TypeAlias = tuple[Codes, CodeValues]


@dataclass(frozen=True, eq=False)
class StudyDataset:
    """A validated study dataset: metadata plus one DataFrame per CSV file.

    Build one with :func:`mindtrial.dataset.read_dataset` or
    :func:`mindtrial.dataset.build_dataset` (both validate and fix the dtypes); the
    columns and dtypes are those of ``docs/study-dataset.md``. Compare two datasets
    with :meth:`equals`. Treat the frames as read-only.
    """

    meta: StudyMeta
    participants: pd.DataFrame
    responses: pd.DataFrame
    toxicology: pd.DataFrame
    attendance: pd.DataFrame
    adverse_events: pd.DataFrame
    screening: pd.DataFrame
    ema: pd.DataFrame = field(default_factory=lambda: empty_table(EMA_COLUMNS))
    medications: pd.DataFrame = field(default_factory=lambda: empty_table(MEDICATION_COLUMNS))
    covariates: tuple[str, ...] = field(default=())
    """Names of the protocol's baseline covariates (extra columns of ``participants``)."""
    ema_items: tuple[str, ...] = field(default=())
    """Names of the protocol's EMA item columns (extra columns of ``ema``)."""

    def codes(self, file: str, column: str) -> CodedColumn:
        """A column as integer codes and the value of each code: ``values.take(codes)`` is
        the column as an object array (``None`` for a missing value); two codes may share a
        value. Made once per dataset (the frames are read-only; the reader hands over the
        codes it read), so that outcome derivation compares and groups millions of rows by
        integers instead of by strings."""
        key = (file, column)
        cache = _CODES.setdefault(self, {})
        found = cache.get(key)
        if found is None:
            codes, uniques = pd.factorize(self.table(file)[column])
            values = np.empty(len(uniques) + 1, dtype=object)
            values[: len(uniques)] = np.asarray(uniques, dtype=object)
            values[len(uniques)] = None
            found = (np.where(codes < 0, len(uniques), codes), values)
            cache[key] = found
        return found

    def _keep_codes(self, file: str, column: str, codes: Codes, values: CodeValues) -> None:
        """Hand over a column's codes (the reader's) for :meth:`codes`."""
        _CODES.setdefault(self, {})[(file, column)] = (codes, values)

    def table(self, file: str) -> pd.DataFrame:
        """The frame for a CSV file name such as ``"responses.csv"``."""
        frames = {
            PARTICIPANTS: self.participants,
            RESPONSES: self.responses,
            TOXICOLOGY: self.toxicology,
            ATTENDANCE: self.attendance,
            ADVERSE_EVENTS: self.adverse_events,
            SCREENING: self.screening,
            EMA: self.ema,
            MEDICATIONS: self.medications,
        }
        try:
            return frames[file]
        except KeyError:
            raise KeyError(f"no table {file!r}; expected one of {', '.join(CSV_FILES)}") from None

    def equals(self, other: StudyDataset) -> bool:
        """Same metadata, same columns, dtypes and rows in every table.

        Row order carries no meaning in the format (a REDCap or ODM round trip may list
        rows in another order), so rows are compared as sorted by every column."""
        if (
            self.meta != other.meta
            or self.covariates != other.covariates
            or self.ema_items != other.ema_items
        ):
            return False
        for name in CSV_FILES:
            a, b = self.table(name), other.table(name)
            if list(a.columns) != list(b.columns) or list(a.dtypes) != list(b.dtypes):
                return False
            if not _in_canonical_order(a).equals(_in_canonical_order(b)):
                return False
        return True


_CODES: weakref.WeakKeyDictionary[StudyDataset, dict[tuple[str, str], CodedColumn]] = (
    weakref.WeakKeyDictionary()
)
"""Each dataset's columns as codes (:meth:`StudyDataset.codes`), kept outside the dataclass
so that its fields stay the documented ones."""


def empty_table(columns: Sequence[Column]) -> pd.DataFrame:
    """A frame with no rows and the columns and dtypes of ``columns``."""
    return pd.DataFrame({c.name: pd.Series([], dtype=c.dtype) for c in columns})


def _in_canonical_order(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s rows sorted by all its columns (missing values last), index reset."""
    if frame.empty:
        return frame.reset_index(drop=True)
    ordered = frame.sort_values(list(frame.columns), kind="mergesort", na_position="last")
    return ordered.reset_index(drop=True)


def format_number(x: float) -> str:
    """Shortest text that reads back as the same float (integers without ``.0``)."""
    if math.isfinite(x) and x.is_integer() and abs(x) < 2**53:
        return str(int(x))
    return repr(x)


def cell_text(value: object) -> str | None:
    """A table cell as the text the exchange formats write (None when missing): booleans
    as 1/0, numbers by :func:`format_number`, timestamps as ISO dates."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else format_number(float(value))
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return str(value)


def column_names(columns: Sequence[Column]) -> list[str]:
    """The names of ``columns``, in order."""
    return [c.name for c in columns]
