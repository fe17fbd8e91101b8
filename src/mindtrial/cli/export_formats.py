"""`mindtrial export-redcap design|records`, `mindtrial export-odm` and `mindtrial import-odm`.

Exit codes: 0 written; 2 a problem with the input (listed; nothing is written).
"""

from __future__ import annotations

from pathlib import Path

import typer

from mindtrial.atomic_files import replace_file
from mindtrial.cli.common import command_group, console, fail

BAD_INPUT = 2  # the input cannot be used: a clear message, nothing written

export_redcap_app = command_group(
    "Lay a protocol out as a REDCap project, or write a study dataset as REDCap records."
)


@export_redcap_app.command("design")
def design_command(
    protocol: str = typer.Option(..., "--protocol", help="Protocol id or protocol file."),
    out: Path = typer.Option(..., "--out", help="Folder to create."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
) -> None:
    """Write dictionary.csv, event.csv, arm.csv, instrument_event_mapping.csv,
    repeating_instruments.csv and mapping.yaml for building the REDCap project."""
    from mindtrial.interop.redcap_export import design_files, redcap_design, write_files
    from mindtrial.protocols import ProtocolError, load_protocol

    try:
        design = redcap_design(load_protocol(protocol))
        write_files(out, design_files(design), overwrite=overwrite)
    except (ProtocolError, FileExistsError) as exc:
        fail(str(exc), code=BAD_INPUT)
    console.print(
        f"wrote {out}: {len(design.fields)} fields, {len(design.forms)} instruments, "
        f"{len(design.events)} events",
        highlight=False,
    )


@export_redcap_app.command("records")
def records_command(
    dataset: Path = typer.Option(..., "--dataset", help="Study dataset folder."),
    out: Path = typer.Option(..., "--out", help="REDCap import CSV to write."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
) -> None:
    """Write a study dataset as a flat REDCap import CSV for the protocol's design."""
    from mindtrial.dataset import DatasetError, read_dataset
    from mindtrial.interop.redcap_export import (
        RedcapExportError,
        redcap_design,
        redcap_records_csv,
    )
    from mindtrial.protocols import ProtocolError, load_protocol

    if out.exists() and not overwrite:
        fail(f"{out} already exists (pass --overwrite to replace it)", code=BAD_INPUT)
    try:
        ds = read_dataset(dataset)
        text = redcap_records_csv(ds, redcap_design(load_protocol(ds.meta.protocol_id)))
    except (DatasetError, ProtocolError, RedcapExportError) as exc:
        fail(f"nothing was written.\n{exc}", code=BAD_INPUT)
    if not out.parent.is_dir():
        fail(f"the folder {out.parent} of --out does not exist: create it first", code=BAD_INPUT)
    replace_file(out, text)
    console.print(f"wrote {out}: {text.count(chr(10)) - 1} rows", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(export_redcap_app, name="export-redcap")

    @app.command("export-odm")
    def export_odm_command(
        dataset: Path = typer.Option(..., "--dataset", help="Study dataset folder."),
        out: Path = typer.Option(..., "--out", help="ODM XML file to write."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
    ) -> None:
        """Write a study dataset as CDISC ODM 1.3.2 XML."""
        from mindtrial.dataset import DatasetError, read_dataset
        from mindtrial.interop.odm import OdmError, write_odm
        from mindtrial.protocols import ProtocolError

        try:
            write_odm(read_dataset(dataset), out, overwrite=overwrite)
        except (DatasetError, ProtocolError, OdmError, FileExistsError) as exc:
            fail(f"nothing was written.\n{exc}", code=BAD_INPUT)
        console.print(f"wrote {out}", highlight=False)

    @app.command("import-odm")
    def import_odm_command(
        odm: Path = typer.Option(..., "--odm", help="ODM XML written by export-odm."),
        out: Path = typer.Option(..., "--out", help="Folder to write the study dataset to."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
    ) -> None:
        """Read CDISC ODM 1.3.2 XML (as export-odm writes it) back into a study dataset."""
        from mindtrial.dataset import DatasetError, write_dataset
        from mindtrial.interop.odm import OdmError, read_odm
        from mindtrial.protocols import ProtocolError

        try:
            write_dataset(read_odm(odm), out, overwrite=overwrite)
        except (DatasetError, ProtocolError, OdmError, FileExistsError) as exc:
            fail(f"nothing was written.\n{exc}", code=BAD_INPUT)
        console.print(f"wrote {out}", highlight=False)
