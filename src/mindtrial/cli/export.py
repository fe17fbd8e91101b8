"""`mindtrial export --study ID --out DIR [--masked] [--format FORMAT]`: a study out of the
database, as the study dataset (default), CDISC ODM 1.3.2 with the audit trail, Stata .dta or
SPSS .sav with labels, or Parquet (one file per table).

Exit codes: 0 written; 1 nothing written (unknown study, existing --out, export refused).
"""

from __future__ import annotations

import enum
from pathlib import Path

import typer

from mindtrial.cli.common import console, err_console, fail


class CliFormat(enum.StrEnum):
    dataset = "dataset"
    odm = "odm"
    stata = "stata"
    spss = "spss"
    parquet = "parquet"


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_command(
        study: int = typer.Option(..., "--study", help="The study's id (mindtrial study list)."),
        out: Path = typer.Option(..., "--out", help="Folder to write (must not exist yet)."),
        masked: bool = typer.Option(
            False, "--masked", help="Replace arm ids by neutral codes (for blinded analysis)."
        ),
        format: CliFormat = typer.Option(
            CliFormat.dataset,
            "--format",
            help="dataset (CSV + study.json), odm (ODM 1.3.2 XML with the audit trail), "
            "stata, spss or parquet (one file per table, with labels).",
            case_sensitive=False,
        ),
    ) -> None:
        """Write the study's export; the default, the study dataset, is what `mindtrial
        analyze` reads (docs/study-dataset.md)."""
        from mindtrial.web.audit.actors import SystemActor
        from mindtrial.web.bootstrap import setup

        setup(migrate=True)
        from mindtrial.dataset import DatasetError
        from mindtrial.interop.labelled_files import FormatWriteError
        from mindtrial.interop.odm import OdmError
        from mindtrial.web.common import ServiceError
        from mindtrial.web.exports.formats import ExportFormat, study_export_files
        from mindtrial.web.studies.models import Study

        found = Study.objects.filter(pk=study).first()
        if found is None:
            fail(f"no study with id {study} (see `mindtrial study list`)")
        if out.exists():
            fail(f"{out} already exists; choose a new folder for the export")
        try:
            written = study_export_files(
                acting_user=SystemActor("cli: mindtrial export"),
                study=found,
                folder=out,
                format=ExportFormat(format.value),
                masked=masked,
            )
        except (ServiceError, DatasetError, OdmError, FormatWriteError, OSError) as exc:
            fail(f"cannot export study {study}: {exc}")
        if written.left_out:
            err_console.print(
                f"[bold yellow]warning:[/] {len(written.left_out)} stored record(s) cannot be "
                f"exported and were left out (see `mindtrial check --study {study}`):",
                highlight=False,
            )
            for item in written.left_out:
                err_console.print(f"  - {item}", highlight=False, soft_wrap=True)
        if written.format is ExportFormat.DATASET:
            from mindtrial.dataset import read_dataset

            ds = read_dataset(out)
            console.print(
                f"Wrote {out}: {len(ds.participants)} participants, "
                f"{len(ds.responses)} answers, {len(ds.toxicology)} test results"
                + (" (arms masked)" if masked else ""),
                highlight=False,
            )
            return
        names = ", ".join(p.name for p in written.files)
        console.print(
            f"Wrote {out} ({written.format.value}): {names}; {written.participants} participants"
            + (
                f", {written.audit_records} audit records"
                if written.format is ExportFormat.ODM
                else ""
            )
            + (" (arms masked)" if masked else ""),
            highlight=False,
        )
