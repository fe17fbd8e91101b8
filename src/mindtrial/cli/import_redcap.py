"""`mindtrial import-redcap`: a REDCap export + a mapping file -> a study dataset.

Exit codes: 0 the dataset was written; 2 anything stopped it (every problem is listed and
nothing is written).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mindtrial.cli.common import console, fail

if TYPE_CHECKING:
    from mindtrial.interop.redcap_mapping import RedcapMapping

BAD_INPUT = 2  # the input cannot be used: a clear message, nothing written


def _mapping(spec: str) -> RedcapMapping:
    from mindtrial.interop.redcap_mapping import load_mapping, shipped_mapping

    path = Path(spec)
    if path.exists() or spec.endswith((".yaml", ".yml")):
        return load_mapping(path)
    return shipped_mapping(spec)


def register(app: typer.Typer) -> None:
    @app.command("import-redcap")
    def import_redcap_command(
        dictionary: Path = typer.Option(..., "--dictionary", help="REDCap data dictionary CSV."),
        records: Path = typer.Option(..., "--records", help="REDCap records (flat CSV or EAV)."),
        mapping: str = typer.Option(
            ..., "--mapping", help="Mapping YAML file, or a shipped mapping name (mrocc-redcap)."
        ),
        protocol: str = typer.Option(..., "--protocol", help="Protocol id or protocol file."),
        out: Path = typer.Option(..., "--out", help="Folder to write the study dataset to."),
        events: Path | None = typer.Option(None, "--events", help="event.csv (longitudinal)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
    ) -> None:
        """Convert a REDCap export into a study dataset with a mapping file. On any problem
        nothing is written and every problem is listed."""
        from mindtrial.dataset import DatasetError, write_dataset
        from mindtrial.interop.redcap import RedcapFormatError, read_project
        from mindtrial.interop.redcap_mapping import (
            MappingError,
            RedcapImportError,
            import_redcap,
        )
        from mindtrial.protocols import ProtocolError, load_protocol

        if out.exists() and not overwrite:
            fail(f"{out} already exists (pass --overwrite to replace it)", code=BAD_INPUT)
        try:
            chosen = load_protocol(protocol)
            plan = _mapping(mapping)
            project = read_project(records=records, dictionary=dictionary, events=events)
            result = import_redcap(project, plan, protocol=chosen)
            write_dataset(result.dataset, out, protocol=chosen, overwrite=overwrite)
        except (
            ProtocolError,
            MappingError,
            RedcapFormatError,
            RedcapImportError,
            DatasetError,
            FileExistsError,
        ) as exc:
            fail(f"nothing was written.\n{exc}", code=BAD_INPUT)
        ds = result.dataset
        for note in result.notes:
            console.print(f"[yellow]note:[/] {note}", highlight=False)
        console.print(
            f"wrote {out}: {len(ds.participants)} participants, {len(ds.responses)} answers, "
            f"{len(ds.toxicology)} toxicology results, {len(ds.attendance)} attendance records, "
            f"{len(ds.adverse_events)} adverse events, {len(ds.screening)} referrals",
            highlight=False,
        )
