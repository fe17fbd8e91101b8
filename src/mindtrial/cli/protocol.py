"""`mindtrial protocol list | show ID | validate FILE`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from mindtrial.cli.common import command_group, console, fail

if TYPE_CHECKING:
    from mindtrial.protocols import Protocol

protocol_app = command_group("List, show and validate trial protocols.")


@protocol_app.command("list")
def list_command() -> None:
    """List the protocols shipped with MindTrial."""
    from mindtrial.protocols import list_protocols

    table = Table(title="Shipped protocols")
    table.add_column("id", no_wrap=True)
    for column in ("version", "trial", "arms", "sessions", "randomized"):
        table.add_column(column)
    for protocol in list_protocols():
        table.add_row(
            protocol.id,
            protocol.version,
            protocol.short_title,
            "\n".join(protocol.arm_ids),
            f"{protocol.session.n_sessions} × {protocol.session.group_minutes} min",
            str(protocol.published.flow.randomized),
        )
    console.print(table)


def _summary(protocol: Protocol) -> None:
    console.print(f"[bold]{protocol.title}[/] ({protocol.id} v{protocol.version})")
    console.print(f"Source: {protocol.source.citation}")
    console.print(f"Population: {protocol.population}")
    arms = Table(title="Arms and curricula")
    arms.add_column("arm")
    arms.add_column("phase")
    arms.add_column("weeks")
    for arm in protocol.arms:
        for phase in arm.curriculum:
            arms.add_row(
                f"{arm.id} — {arm.label}", phase.name, f"{phase.first_week}–{phase.last_week}"
            )
        if arm.continuation_choice is not None:
            choice = arm.continuation_choice
            arms.add_row("", f"choice after week {choice.after_week}", choice.continue_phase)
    console.print(arms)
    schedule = Table(title="Assessment schedule")
    schedule.add_column("instrument")
    schedule.add_column("weeks")
    schedule.add_column("months")
    for assessment in protocol.assessments:
        schedule.add_row(
            assessment.instrument,
            ", ".join(map(str, assessment.weeks)) or "—",
            ", ".join(map(str, assessment.months))
            or ("as reported" if assessment.mode == "staff" else "—"),
        )
    console.print(schedule)
    plan = Table(title="Analysis plan")
    for column in ("id", "model", "outcome", "covariates"):
        plan.add_column(column)
    for spec in protocol.analysis.analyses:
        plan.add_row(spec.id, spec.model, spec.outcome, ", ".join(spec.covariates) or "—")
    console.print(plan)


@protocol_app.command("show")
def show_command(
    protocol_id: str = typer.Argument(
        ..., metavar="ID", help="Protocol id or path to a protocol file."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the whole protocol as JSON."),
) -> None:
    """Show a protocol: arms, curricula, schedule and analysis plan."""
    from mindtrial.protocols import ProtocolError, load_protocol

    try:
        protocol = load_protocol(protocol_id)
    except ProtocolError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(protocol.model_dump(mode="json"), indent=2))
    else:
        _summary(protocol)


@protocol_app.command("validate")
def validate_command(
    files: list[Path] = typer.Argument(..., metavar="FILE...", help="Protocol YAML files."),
) -> None:
    """Validate protocol files against the schema; exit 1 naming every problem."""
    from mindtrial.protocols import ProtocolError, load_protocol_file

    failed = False
    for file in files:
        try:
            protocol = load_protocol_file(file)
        except ProtocolError as exc:
            failed = True
            console.print(f"[red]✗[/] {exc}", highlight=False, soft_wrap=True)
            continue
        console.print(
            f"[green]✓[/] {file}: {protocol.id} v{protocol.version} is valid", highlight=False
        )
    if failed:
        fail("some protocol files are not valid (see above)")


def register(app: typer.Typer) -> None:
    app.add_typer(protocol_app, name="protocol")
