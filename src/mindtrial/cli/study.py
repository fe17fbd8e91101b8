"""`mindtrial study create --protocol ID --name NAME`: a study and its concealed allocation list."""

from __future__ import annotations

import typer

from mindtrial.cli.common import command_group, console, fail


def register(app: typer.Typer) -> None:
    study_app = command_group("Create and list studies.")
    app.add_typer(study_app, name="study")

    @study_app.command("create")
    def create(
        protocol: str = typer.Option(..., "--protocol", help="Protocol id of a shipped protocol."),
        name: str = typer.Option(..., "--name", help="The study's name."),
        allocation_size: int = typer.Option(
            500, "--allocation-size", min=1, help="Allocation list entries per stratum."
        ),
    ) -> None:
        """Create a study from a protocol and print its id (the list is generated and concealed)."""
        from mindtrial.web.audit.actors import SystemActor
        from mindtrial.web.bootstrap import setup

        setup(migrate=True)
        from mindtrial.web.common import ServiceError
        from mindtrial.web.studies.services import study_create

        try:
            study = study_create(
                acting_user=SystemActor("cli: mindtrial study create"),
                protocol_id=protocol,
                name=name,
                allocation_size=allocation_size,
            )
        except ServiceError as exc:
            fail(str(exc))
        console.print(study.pk)

    @study_app.command("list")
    def list_studies() -> None:
        """List the studies: id, protocol and name."""
        from mindtrial.web.bootstrap import setup

        setup(migrate=True)
        from mindtrial.web.studies.models import Study

        for study in Study.objects.order_by("id"):
            console.print(f"{study.pk}\t{study.protocol_id}\t{study.name}", highlight=False)
