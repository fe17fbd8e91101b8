"""`mindtrial load DATASET_DIR --study ID`: a study dataset into a study, through the services."""

from __future__ import annotations

from pathlib import Path

import typer

from mindtrial.cli.common import console, fail


def register(app: typer.Typer) -> None:
    @app.command("load")
    def load_command(
        dataset_dir: Path = typer.Argument(..., help="A study dataset folder."),
        study: int = typer.Option(..., "--study", help="The study to load into (same protocol)."),
    ) -> None:
        """Load every record of a study dataset; all or nothing (one transaction)."""
        from mindtrial.dataset import DatasetError, read_dataset

        try:
            dataset = read_dataset(dataset_dir)
        except DatasetError as exc:
            fail(str(exc))
        from mindtrial.web.audit.actors import SystemActor
        from mindtrial.web.bootstrap import setup

        setup(migrate=True)
        from mindtrial.web.exports.services import LoadError, dataset_load
        from mindtrial.web.studies.models import Study

        found = Study.objects.filter(pk=study).first()
        if found is None:
            fail(f"no study with id {study} (see `mindtrial study list`)")
        try:
            summary = dataset_load(
                acting_user=SystemActor("cli: mindtrial load"), study=found, dataset=dataset
            )
        except LoadError as exc:
            fail(f"nothing was loaded: {exc}")
        console.print(
            f"Loaded {summary.participants} participants ({summary.referrals} referrals), "
            f"{summary.checkins} check-ins, {summary.tests} tests, {summary.attendance} "
            f"attendance marks, {summary.adverse_events} adverse events, "
            f"{summary.withdrawals} withdrawals into study {study}.",
            highlight=False,
        )
