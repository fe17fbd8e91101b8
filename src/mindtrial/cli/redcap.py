"""`mindtrial redcap`: read REDCap project exports.

Exit codes: 0 the project was read (value problems are reported, not fatal);
2 the input is not a REDCap export, or a file cannot be written (a clear message, no
traceback, nothing written).
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from mindtrial.atomic_files import publish_files
from mindtrial.cli.common import command_group, console, err_console, fail
from mindtrial.csv_cells import escape_row

if TYPE_CHECKING:  # pandas and the readers load when a command runs, not at start-up
    from mindtrial.interop.redcap import Problem, RedcapProject

#: Rows of the problems table printed in the terminal; the rest go to --problems-csv.
PROBLEMS_SHOWN = 50
_PROBLEM_COLUMNS = ("record", "event", "instance", "field", "value", "reason", "severity")

redcap_app = command_group("Read REDCap project exports.")

BAD_INPUT = 2


class ValuesOption(StrEnum):
    auto = "auto"
    raw = "raw"
    label = "label"


class DecimalOption(StrEnum):
    auto = "auto"
    point = "."
    comma = ","


class DateOrderOption(StrEnum):
    field = "field"
    ymd = "ymd"
    dmy = "dmy"
    mdy = "mdy"


_VALUES_HELP = "raw (codes), label (a label export), or auto (detected, with a note)."
_DECIMAL_HELP = "Decimal mark of number fields: '.', ',' or auto (each field's own)."
_DATE_HELP = "Order of dates not written Y-M-D: field (each field's), dmy or mdy."

_RECORDS_HELP = "Records: flat CSV or EAV export (default: the data in --project-xml)."
_MISSING_HELP = (
    "REDCap missing-data codes read as missing in every field, comma-separated "
    '(e.g. "UNK,NASK"); the project XML\'s own codes are always used.'
)


def _load(
    records: Path | None,
    dictionary: Path | None,
    events: Path | None,
    arms: Path | None,
    project_xml: Path | None,
    missing_codes: str,
    values: str = "auto",
    decimal: str = "auto",
    date_order: str = "field",
    pulled: Path | None = None,
) -> RedcapProject:
    from mindtrial.interop.redcap import RedcapFormatError, read_project
    from mindtrial.interop.redcap.api import missing_codes_of

    if pulled is not None:
        if not pulled.is_dir():
            fail(f"--pulled {pulled} is not a folder written by 'redcap pull'", code=BAD_INPUT)

        def inside(name: str, given: Path | None) -> Path | None:
            return (
                given
                if given is not None
                else (pulled / name if (pulled / name).exists() else None)
            )

        records = inside("records.csv", records)
        dictionary = inside("dictionary.csv", dictionary)
        events = inside("event.csv", events)
        arms = inside("arm.csv", arms)
        info = pulled / "project.json"
        if info.is_file():
            try:
                codes = missing_codes_of(info.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError):
                fail(f"{info} is not the project.json of 'redcap pull'", code=BAD_INPUT)
            missing_codes = ",".join([*codes, *missing_codes.split(",")])
    if dictionary is None and project_xml is None:
        fail("give --dictionary DD.csv or --project-xml PROJECT.xml (or both)", code=BAD_INPUT)
    if records is None and project_xml is None:
        fail("give --records DATA.csv, or a --project-xml that holds the data", code=BAD_INPUT)
    try:
        return read_project(
            records=records,
            dictionary=dictionary,
            events=events,
            arms=arms,
            project_xml=project_xml,
            missing_codes=tuple(c for c in missing_codes.split(",") if c.strip()),
            values=ValuesOption(values).value,
            decimal=DecimalOption(decimal).value,
            date_order=DateOrderOption(date_order).value,
        )
    except RedcapFormatError as exc:
        fail(str(exc), code=BAD_INPUT)


@redcap_app.command("inspect")
def inspect_command(
    records: Path | None = typer.Option(None, "--records", help=_RECORDS_HELP),
    dictionary: Path | None = typer.Option(None, "--dictionary", help="Data dictionary CSV."),
    events: Path | None = typer.Option(None, "--events", help="event.csv (longitudinal)."),
    arms: Path | None = typer.Option(None, "--arms", help="arm.csv (longitudinal)."),
    project_xml: Path | None = typer.Option(
        None, "--project-xml", help="REDCap project XML (CDISC ODM 1.3.1)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    missing_codes: str = typer.Option("", "--missing-codes", help=_MISSING_HELP),
    pulled: Path | None = typer.Option(
        None, "--pulled", help="A folder written by 'redcap pull' (its files and missing codes)."
    ),
    values: ValuesOption = typer.Option(ValuesOption.auto, "--values", help=_VALUES_HELP),
    decimal: DecimalOption = typer.Option(DecimalOption.auto, "--decimal", help=_DECIMAL_HELP),
    date_order: DateOrderOption = typer.Option(
        DateOrderOption.field, "--date-order", help=_DATE_HELP
    ),
    problems_csv: Path | None = typer.Option(
        None,
        "--problems-csv",
        help=f"Write every problem to this CSV file (the terminal shows the first "
        f"{PROBLEMS_SHOWN}).",
    ),
) -> None:
    """Print what a REDCap export holds: records, events, arms, instruments, field types and
    the values that do not fit their field (all of them with --problems-csv)."""
    project = _load(
        records,
        dictionary,
        events,
        arms,
        project_xml,
        missing_codes,
        values=values.value,
        decimal=decimal.value,
        date_order=date_order.value,
        pulled=pulled,
    )
    if problems_csv is not None:
        try:
            _write_problems_csv(project.problems, problems_csv)
        except OSError as exc:
            fail(f"cannot write {problems_csv}: {exc.strerror or exc}", code=BAD_INPUT)
    if as_json:
        # one write of the whole text: Rich's console would lay out every line of a large export
        sys.stdout.write(json.dumps(project.summary(), ensure_ascii=False, indent=2) + "\n")
        return
    _print_project(project, problems_csv=problems_csv)


def _problem_rows(problems: Sequence[Problem]) -> list[list[str]]:
    return [
        escape_row(
            [
                p.record,
                p.event or "",
                "" if p.instance is None else str(p.instance),
                p.field,
                p.value,
                p.reason,
                p.severity,
            ]
        )
        for p in problems
    ]


def _write_problems_csv(problems: Sequence[Problem], path: Path) -> None:
    """Every problem as CSV, written to a temporary file and renamed over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        rows = csv.writer(handle)
        rows.writerow(_PROBLEM_COLUMNS)
        rows.writerows(_problem_rows(problems))
    tmp.replace(path)


class ExportFormat(StrEnum):
    stata = "stata"
    spss = "spss"
    parquet = "parquet"


_SUFFIX = {ExportFormat.stata: ".dta", ExportFormat.spss: ".sav", ExportFormat.parquet: ".parquet"}


@redcap_app.command("export")
def export_command(
    records: Path | None = typer.Option(None, "--records", help=_RECORDS_HELP),
    to: ExportFormat = typer.Option(..., "--to", help="stata, spss or parquet."),
    out: Path = typer.Option(..., "--out", help="Directory for one file per instrument."),
    dictionary: Path | None = typer.Option(None, "--dictionary", help="Data dictionary CSV."),
    events: Path | None = typer.Option(None, "--events", help="event.csv (longitudinal)."),
    arms: Path | None = typer.Option(None, "--arms", help="arm.csv (longitudinal)."),
    project_xml: Path | None = typer.Option(
        None, "--project-xml", help="REDCap project XML (CDISC ODM 1.3.1)."
    ),
    short_names: bool = typer.Option(
        False,
        "--short-names",
        help="Shorten names longer than Stata's 32 characters (listed in renamed.csv).",
    ),
    missing_codes: str = typer.Option("", "--missing-codes", help=_MISSING_HELP),
    pulled: Path | None = typer.Option(
        None, "--pulled", help="A folder written by 'redcap pull' (its files and missing codes)."
    ),
    values: ValuesOption = typer.Option(ValuesOption.auto, "--values", help=_VALUES_HELP),
    decimal: DecimalOption = typer.Option(DecimalOption.auto, "--decimal", help=_DECIMAL_HELP),
    date_order: DateOrderOption = typer.Option(
        DateOrderOption.field, "--date-order", help=_DATE_HELP
    ),
) -> None:
    """Write each instrument's typed table to Stata, SPSS or Parquet (labels kept), plus
    problems.csv. All files are written or none."""
    from mindtrial.interop.labelled_files import FormatWriteError

    project = _load(
        records,
        dictionary,
        events,
        arms,
        project_xml,
        missing_codes,
        values=values.value,
        decimal=decimal.value,
        date_order=date_order.value,
        pulled=pulled,
    )
    if out.exists() and not out.is_dir():
        fail(f"--out {out} exists and is not a directory", code=BAD_INPUT)
    if not out.parent.is_dir():
        fail(f"the folder {out.parent} of --out does not exist: create it first", code=BAD_INPUT)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as exc:
        fail(f"cannot write in {out.parent}: {exc.strerror}", code=BAD_INPUT)
    try:
        written = _write_all(project, to, staging, short_names=short_names)
    except FormatWriteError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        hint = " (--short-names shortens names for Stata)" if to is ExportFormat.stata else ""
        fail(f"nothing written: {exc}{hint}", code=BAD_INPUT)
    try:
        publish_files(staging, out, written)
    except OSError as exc:
        fail(f"nothing written: cannot write in {out}: {exc.strerror}", code=BAD_INPUT)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    n_files = sum(name.endswith(_SUFFIX[to]) for name in written)
    console.print(
        f"wrote {n_files} {to.value} file(s) and problems.csv to {out} "
        f"({len(project.problems)} problem(s))",
        highlight=False,
        markup=False,
    )


def shorten(names: list[str], *, labelled: frozenset[str] = frozenset()) -> dict[str, str]:
    """Names too long for Stata -> unique shorter ones (``prefix_2`` on clashes). A name with
    value labels leaves room for its column number (pyreadstat's label-set name)."""
    limits = {n: 32 - (len(str(i)) if n in labelled else 0) for i, n in enumerate(names)}
    taken = {n for n in names if len(n) <= limits[n]}
    out: dict[str, str] = {}
    for name in names:
        limit = limits[name]
        if len(name) <= limit:
            continue
        new = name[:limit]
        counter = 1
        while new in taken:
            counter += 1
            tail = f"_{counter}"
            new = name[: limit - len(tail)] + tail
        taken.add(new)
        out[name] = new
    return out


def _write_all(
    project: RedcapProject, to: ExportFormat, folder: Path, *, short_names: bool
) -> list[str]:
    import pandas as pd

    from mindtrial.interop.labelled_files import (
        FormatWriteError,
        write_parquet,
        write_spss,
        write_stata,
    )

    names: list[str] = []
    renamed: list[tuple[str, str, str]] = []
    for instrument in project.tables:
        name = instrument + _SUFFIX[to]
        labelled = project.labelled_table(instrument)
        if short_names and to is ExportFormat.stata:
            labelled_names = {
                str(c)
                for c in labelled.frame.columns
                if c in labelled.value_labels
                or isinstance(labelled.frame[c].dtype, pd.CategoricalDtype)
                or pd.api.types.is_bool_dtype(labelled.frame[c].dtype)
            }
            mapping = shorten(
                [str(c) for c in labelled.frame.columns], labelled=frozenset(labelled_names)
            )
            renamed.extend((instrument, old, new) for old, new in mapping.items())
            labelled = type(labelled)(
                frame=labelled.frame.rename(columns=mapping),
                variable_labels={mapping.get(k, k): v for k, v in labelled.variable_labels.items()},
                value_labels={mapping.get(k, k): v for k, v in labelled.value_labels.items()},
            )
        try:
            if to is ExportFormat.parquet:
                write_parquet(
                    project.export_table(instrument),
                    folder / name,
                    variable_labels=labelled.variable_labels,
                )
            else:
                writer = write_stata if to is ExportFormat.stata else write_spss
                writer(
                    labelled.frame,
                    folder / name,
                    variable_labels=labelled.variable_labels,
                    value_labels=labelled.value_labels,
                    file_label=instrument,
                )
        except FormatWriteError as exc:
            raise FormatWriteError(f"instrument {instrument!r}: {exc}") from None
        names.append(name)
    with (folder / "problems.csv").open("w", newline="", encoding="utf-8") as handle:
        writer_csv = csv.writer(handle)
        writer_csv.writerow(_PROBLEM_COLUMNS)
        writer_csv.writerows(_problem_rows(project.problems))
    names.append("problems.csv")
    if renamed:
        with (folder / "renamed.csv").open("w", newline="", encoding="utf-8") as handle:
            rows = csv.writer(handle)
            rows.writerow(["instrument", "redcap_name", "file_name"])
            rows.writerows(escape_row(row) for row in renamed)
        names.append("renamed.csv")
    return names


def _print_project(project: RedcapProject, *, problems_csv: Path | None) -> None:
    from mindtrial.interop.redcap import kind_of

    title = f" {escape(project.title)}" if project.title else ""
    console.print(
        f"[bold]REDCap project{title}[/]: {len(project.records)} records, "
        f"{len(project.raw)} rows ({project.record_format}), record id field "
        f"{escape(repr(project.record_id))}",
        highlight=False,
    )
    if project.arms:
        console.print(
            "arms: " + ", ".join(f"{a.number} {a.name}" for a in project.arms),
            highlight=False,
            markup=False,
        )
    if project.events:
        ev = Table("event", "name", "arm", "instruments", title="Events")
        for e in project.events:
            ev.add_row(
                escape(e.unique_name), escape(e.name), str(e.arm), escape(", ".join(e.forms))
            )
        console.print(ev)
    inst = Table("instrument", "rows", "repeating", title="Instruments")
    repeating = set(project.repeating_instruments)
    for name, table in project.tables.items():
        inst.add_row(escape(name), str(len(table)), "yes" if name in repeating else "")
    console.print(inst)
    if project.repeating_events:
        console.print(
            "repeating events: " + ", ".join(project.repeating_events),
            highlight=False,
            markup=False,
        )
    if project.data_access_groups:
        console.print(
            "data access groups: " + ", ".join(project.data_access_groups),
            highlight=False,
            markup=False,
        )
    fields = Table("field", "instrument", "type", "read as", title="Fields")
    for f in project.dictionary.fields:
        fields.add_row(escape(f.name), escape(f.form), escape(f.type_name), kind_of(f))
    console.print(fields)
    for note in project.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    if not project.problems:
        console.print("[green]no problems found[/]")
        return
    probs = Table("record", "event", "instance", "field", "value", "problem", title="Problems")
    for p in project.problems[:PROBLEMS_SHOWN]:
        probs.add_row(
            escape(p.record),
            escape(p.event or ""),
            "" if p.instance is None else str(p.instance),
            escape(p.field),
            escape(p.value),
            escape(p.reason + (" (kept)" if p.severity == "warning" else "")),
        )
    console.print(probs)
    hidden = len(project.problems) - PROBLEMS_SHOWN
    if hidden > 0:
        where = (
            f"all are in {problems_csv}"
            if problems_csv is not None
            else "--problems-csv FILE writes them all"
        )
        console.print(f"… and {hidden} more problem(s); {where}", highlight=False, markup=False)
    errors = sum(p.severity == "error" for p in project.problems)
    console.print(
        f"[yellow]{errors} value(s) do not fit their field and are missing in the tables; "
        f"{len(project.problems) - errors} warning(s)[/]"
    )


class RecordLayout(StrEnum):
    flat = "flat"
    eav = "eav"


@redcap_app.command("pull")
def pull_command(
    url: str = typer.Option(..., "--url", help="The REDCap API address (ends in /api/)."),
    out: Path = typer.Option(..., "--out", help="Folder to create with the project's files."),
    token_file: Path | None = typer.Option(
        None, "--token-file", help="File holding the API token (else $MINDTRIAL_REDCAP_TOKEN)."
    ),
    layout: RecordLayout = typer.Option(
        RecordLayout.flat, "--type", help="Records as flat rows or EAV (one row per value)."
    ),
    batch_size: int = typer.Option(200, "--batch-size", min=1, help="Records per request."),
    retries: int = typer.Option(3, "--retries", min=0, help="Retries of a failed request."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
) -> None:
    """Pull a project through REDCap's API: dictionary, events, arms, form-event mapping,
    repeating forms, DAGs, records (raw), project information and project XML, into one
    folder (all files or none). The token is read from --token-file or the environment and
    never printed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from mindtrial.atomic_files import replace_folder
    from mindtrial.interop.redcap import RedcapFormatError
    from mindtrial.interop.redcap.api import (
        RedcapApiError,
        RedcapClient,
        pull_project,
        read_token,
    )

    if out.exists() and not overwrite:
        fail(f"{out} already exists (pass --overwrite to replace it)", code=BAD_INPUT)
    if not out.parent.is_dir():
        fail(f"the folder {out.parent} of --out does not exist: create it first", code=BAD_INPUT)
    try:
        token = read_token(token_file)
        client = RedcapClient(url=url, token=token, retries=retries)
    except RedcapFormatError as exc:
        fail(str(exc), code=BAD_INPUT)
    with Progress(
        TextColumn("records"), BarColumn(), MofNCompleteColumn(), console=err_console
    ) as bar:
        task = bar.add_task("records", total=None)

        def show(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            result = pull_project(
                client, record_format=layout.value, batch_size=batch_size, progress=show
            )
        except RedcapApiError as exc:
            fail(f"nothing written: {exc}", code=BAD_INPUT)
    replace_folder(out, result.files)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    console.print(
        f"wrote {out}: {result.records} record(s), {result.rows} row(s) of {layout.value} "
        f"records, {len(result.files)} files",
        highlight=False,
        markup=False,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(redcap_app, name="redcap")
