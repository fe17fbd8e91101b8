"""`mindtrial export --study ID --out DIR [--masked]`: the study dataset from the database."""

from __future__ import annotations

from pathlib import Path

import typer

from mindtrial.cli.common import console, fail


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_command(
        study: int = typer.Option(..., "--study", help="The study's id (mindtrial study list)."),
        out: Path = typer.Option(..., "--out", help="Folder to write (must not exist yet)."),
        masked: bool = typer.Option(
            False, "--masked", help="Replace arm ids by neutral codes (for blinded analysis)."
        ),
    ) -> None:
        """Write the study dataset (docs/study-dataset.md); `mindtrial analyze` reads it."""
        from mindtrial.web.bootstrap import setup

        setup(migrate=True)
        from mindtrial.dataset import DatasetError, write_dataset
        from mindtrial.web.common import ServiceError
        from mindtrial.web.exports.services import study_export
        from mindtrial.web.studies.models import Study

        found = Study.objects.filter(pk=study).first()
        if found is None:
            fail(f"no study with id {study} (see `mindtrial study list`)")
        if out.exists():
            fail(f"{out} already exists; choose a new folder for the export")
        try:
            dataset = study_export(acting_user=None, study=found, masked=masked)
            write_dataset(dataset, out)
        except (ServiceError, DatasetError, OSError) as exc:
            fail(f"cannot export study {study}: {exc}")
        console.print(
            f"Wrote {out}: {len(dataset.participants)} participants, "
            f"{len(dataset.responses)} answers, {len(dataset.toxicology)} test results"
            + (" (arms masked)" if masked else ""),
            highlight=False,
        )
