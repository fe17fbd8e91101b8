"""REDCap's data dictionary (the 18-column CSV, either header spelling)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from mindtrial.interop.redcap.types import FIELD_TYPES, Choice, Field, RedcapFormatError

# Each dictionary column under its web-export header and its API ("metadata") header.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "field_name": ("variable / field name", "field_name"),
    "form_name": ("form name", "form_name"),
    "section_header": ("section header", "section_header"),
    "field_type": ("field type", "field_type"),
    "field_label": ("field label", "field_label"),
    "choices": ("choices, calculations, or slider labels", "select_choices_or_calculations"),
    "field_note": ("field note", "field_note"),
    "validation": (
        "text validation type or show slider number",
        "text_validation_type_or_show_slider_number",
        "text validation type",
    ),
    "validation_min": ("text validation min", "text_validation_min"),
    "validation_max": ("text validation max", "text_validation_max"),
    "identifier": ("identifier?", "identifier"),
    "branching_logic": ("branching logic (show field only if...)", "branching_logic"),
    "required": ("required field?", "required_field"),
    "custom_alignment": ("custom alignment", "custom_alignment"),
    "question_number": ("question number (surveys only)", "question_number"),
    "matrix_group": ("matrix group name", "matrix_group_name"),
    "matrix_ranking": ("matrix ranking?", "matrix_ranking"),
    "annotation": ("field annotation", "field_annotation"),
}
# The columns that decide how a value is read: REDCap always exports them, so a file
# without one is not a whole data dictionary (reading on would type dates as text).
_REQUIRED = ("field_name", "form_name", "field_type", "field_label", "choices", "validation")
_ALIASES = {alias: key for key, aliases in _COLUMNS.items() for alias in aliases}

# Older spellings of validation types, as REDCap itself still accepts them.
VALIDATION_ALIASES = {
    "int": "integer",
    "float": "number",
    "date": "date_ymd",
    "datetime": "datetime_ymd",
    "datetime_seconds": "datetime_seconds_ymd",
}
_FIELD_TYPE_ALIASES = {"select": "dropdown", "textarea": "notes"}


@dataclass(frozen=True, slots=True)
class DataDictionary:
    """The fields of a project, in dictionary order; the first one is the record id."""

    fields: tuple[Field, ...]
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.fields:
            raise RedcapFormatError("the data dictionary lists no fields")

    @property
    def record_id(self) -> str:
        return self.fields[0].name

    @property
    def instruments(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.form for f in self.fields))

    @property
    def by_name(self) -> Mapping[str, Field]:
        return {f.name: f for f in self.fields}

    def fields_of(self, instrument: str) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.form == instrument)

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)


def parse_choices(text: str) -> tuple[Choice, ...]:
    """``"1, Yes | 2, No"`` -> choices. Only the first comma splits code from label."""
    out: list[Choice] = []
    for item in text.split("|"):
        item = item.strip()
        if not item:
            continue
        code, sep, label = item.partition(",")
        code = code.strip()
        out.append(Choice(code=code, label=label.strip() if sep else code))
    return tuple(out)


def normalise_field_type(raw: str) -> str:
    value = raw.strip().lower()
    return _FIELD_TYPE_ALIASES.get(value, value)


def normalise_validation(raw: str) -> str:
    value = raw.strip().lower()
    return VALIDATION_ALIASES.get(value, value)


def _yes(value: str) -> bool:
    return value.strip().lower() in {"y", "yes", "1"}


def _header_map(header: list[str], source: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for i, name in enumerate(header):
        key = _ALIASES.get(name.strip().lstrip("\ufeff").lower())
        if key is not None and key not in found:
            found[key] = i
    missing = [k for k in _REQUIRED if k not in found]
    if missing:
        raise RedcapFormatError(
            f"{source} is not a REDCap data dictionary (or not a whole one): its header lacks "
            + ", ".join(f"{_COLUMNS[k][0].title()!r} (API: {_COLUMNS[k][1]!r})" for k in missing)
            + " (REDCap writes 18 columns starting 'Variable / Field Name', 'Form Name', or "
            f"the API spelling 'field_name', 'form_name'; found {header[:4]!r}"
            + (", ..." if len(header) > 4 else "")
            + ")"
        )
    return found


def dictionary_from_rows(rows: Iterable[list[str]], *, source: str) -> DataDictionary:
    """Build a dictionary from CSV rows (first row the header)."""
    iterator = iter(rows)
    try:
        header = next(iterator)
    except StopIteration:
        raise RedcapFormatError(f"{source} is empty: expected a REDCap data dictionary") from None
    cols = _header_map(header, source)
    fields: list[Field] = []
    notes: list[str] = []
    seen: set[str] = set()
    for line_no, row in enumerate(iterator, start=2):
        if not any(cell.strip() for cell in row):
            continue

        def get(key: str, row: list[str] = row) -> str:
            i = cols.get(key)
            return row[i] if i is not None and i < len(row) else ""

        name = get("field_name").strip()
        form = get("form_name").strip()
        if not name or not form:
            raise RedcapFormatError(
                f"{source}, row {line_no}: a field needs a variable name and a form name"
            )
        if name in seen:
            raise RedcapFormatError(f"{source}, row {line_no}: field {name!r} is listed twice")
        seen.add(name)
        field_type = normalise_field_type(get("field_type"))
        if field_type not in FIELD_TYPES:
            notes.append(f"field {name!r} has field type {field_type!r}, unknown: read as text")
        raw_choices = get("choices")
        validation = normalise_validation(get("validation"))
        choices: tuple[Choice, ...] = ()
        calculation = ""
        slider_labels: tuple[str, ...] = ()
        if field_type in {"radio", "dropdown", "checkbox"}:
            choices = parse_choices(raw_choices)
            codes = [c.code for c in choices]
            if len(set(codes)) != len(codes):
                raise RedcapFormatError(
                    f"{source}, row {line_no}: field {name!r} repeats a choice code in {raw_choices!r}"
                )
        elif field_type == "calc":
            calculation = raw_choices
        elif field_type == "slider":
            slider_labels = tuple(part.strip() for part in raw_choices.split("|"))
        elif field_type == "sql":
            calculation = raw_choices
        fields.append(
            Field(
                name=name,
                form=form,
                field_type=field_type,
                label=get("field_label"),
                choices=choices,
                validation=validation,
                validation_min=get("validation_min").strip(),
                validation_max=get("validation_max").strip(),
                calculation=calculation,
                slider_labels=slider_labels,
                note=get("field_note"),
                section_header=get("section_header"),
                identifier=_yes(get("identifier")),
                branching_logic=get("branching_logic"),
                required=_yes(get("required")),
                matrix_group=get("matrix_group").strip(),
                annotation=get("annotation"),
            )
        )
    if not fields:
        raise RedcapFormatError(f"{source} has a dictionary header but lists no fields")
    return DataDictionary(fields=tuple(fields), notes=tuple(notes))


def read_dictionary(path: Path | str) -> DataDictionary:
    """Read a REDCap data dictionary CSV (quoted multi-line labels are fine)."""
    path = Path(path)
    if path.is_dir():
        raise RedcapFormatError(f"data dictionary {path} is a folder: give the CSV file itself")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RedcapFormatError(f"data dictionary {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise RedcapFormatError(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}): REDCap writes "
            "its data dictionary in UTF-8"
        ) from None
    except OSError as exc:
        raise RedcapFormatError(f"data dictionary {path} cannot be read: {exc.strerror}") from None
    try:
        return dictionary_from_rows(csv.reader(io.StringIO(text, newline="")), source=str(path))
    except csv.Error as exc:
        raise RedcapFormatError(f"{path} is not a readable CSV file: {exc}") from None
