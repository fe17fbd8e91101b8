"""`mindtrial demo`: the main job a newcomer runs first (``make demo``).

Steps, each printed as it runs:
1. validate every shipped protocol;
2. draw M-ROCC's concealed allocation list (seeded) and show its first blocks;
3. lay out one cohort's session calendar and a participant's concealed test days.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, time
from pathlib import Path

import typer
from rich.rule import Rule
from rich.table import Table

from mindtrial.cli.common import console
from mindtrial.design.randomization import generate_allocation_list, write_allocation_csv
from mindtrial.design.schedules import concealed_test_days, session_datetimes
from mindtrial.protocols import Protocol, list_protocols, load_protocol

DEMO_PROTOCOL = "mrocc-2025"
DEMO_SEED = 20210121  # M-ROCC's first enrolment day


def _validate_protocols() -> None:
    console.print(Rule("1. Protocols"))
    table = Table()
    for column in ("protocol", "arms", "assessments", "analyses", "status"):
        table.add_column(column)
    for protocol in list_protocols():
        table.add_row(
            protocol.id,
            " / ".join(protocol.arm_ids),
            str(len(protocol.assessments)),
            str(len(protocol.analysis.analyses)),
            "[green]valid[/]",
        )
    console.print(table)


def _allocation(protocol: Protocol, out: Path) -> None:
    console.print(Rule("2. Concealed allocation list"))
    spec = protocol.randomization
    allocation = generate_allocation_list(
        arms=spec.ratio,
        n=protocol.published.flow.randomized,
        block_sizes=spec.block_sizes,
        seed=DEMO_SEED,
    )
    path = out / "allocation-list.csv"
    write_allocation_csv(allocation, path)
    table = Table(title=f"first 12 of {len(allocation.entries)} entries (seed {DEMO_SEED})")
    for column in ("sequence", "block", "block size", "arm"):
        table.add_column(column)
    for entry in allocation.entries[:12]:
        table.add_row(str(entry.sequence), str(entry.block), str(entry.block_size), entry.arm)
    console.print(table)
    counts = allocation.counts()["all"]
    console.print(
        "per arm: " + ", ".join(f"{arm} {n}" for arm, n in counts.items()) + f"; written to {path}"
    )


def _schedule(protocol: Protocol) -> None:
    console.print(Rule("3. A cohort's calendar"))
    start, weekday, at, tz = date(2021, 1, 21), 3, time(18, 0), "America/New_York"
    sessions = session_datetimes(
        start=start, weekday=weekday, time=at, tz=tz, n_sessions=protocol.session.n_sessions
    )
    tests = concealed_test_days(
        secret=secrets.token_bytes(32),
        participant_id="P001",
        start=start,
        n_weeks=protocol.weeks,
        window_weeks=protocol.toxicology.window_weeks if protocol.toxicology else 2,
        allowed_weekdays={weekday},
    )
    table = Table(title=f"cohort starting {start:%d %b %Y}, Thursdays 18:00 {tz}")
    for column in ("week", "session (local)", "UTC", "arm topics", "P001 test"):
        table.add_column(column)
    for week, when in enumerate(sessions, start=1):
        topics = []
        for arm in protocol.arms:
            for phase in arm.curriculum:
                if phase.first_week <= week <= phase.last_week:
                    topic = next((s.topic for s in phase.sessions if s.week == week), phase.name)
                    topics.append(topic)
        table.add_row(
            str(week),
            f"{when:%a %d %b %Y %H:%M %Z}",
            f"{when.astimezone(UTC):%H:%M}",
            " | ".join(topics),
            "test" if when.date() in tests else "",
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_command(
        out: Path = typer.Option(Path("demo-out"), "--out", help="Folder for the demo's files."),
    ) -> None:
        """Run the main job: protocols, a concealed allocation list and a cohort calendar."""
        out.mkdir(parents=True, exist_ok=True)
        protocol = load_protocol(DEMO_PROTOCOL)
        _validate_protocols()
        _allocation(protocol, out)
        _schedule(protocol)
        console.print(Rule("done"))
        console.print(f"Files are in {out.resolve()}")
