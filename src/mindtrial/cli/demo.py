"""`mindtrial demo`: the main job a newcomer runs first (``make demo``).

1. validate the shipped protocols and show the design tools (allocation list, calendar);
2. simulate the M-ROCC trial, calibrated to the published results (fixed seed);
3. run the prespecified analysis and write the report;
4. load the simulated trial into a fresh SQLite database through the app's services, add
   one login per role and serve the app at http://127.0.0.1:8000 (``--no-serve`` stops
   before serving).
"""

from __future__ import annotations

import os
import secrets
import sys
from datetime import UTC, date, time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.rule import Rule
from rich.table import Table

from mindtrial.cli.analyze import analyse_with_progress, summary_table
from mindtrial.cli.common import console, fail

if TYPE_CHECKING:  # heavy layers load when the demo runs, not at start-up
    from mindtrial.dataset import StudyDataset
    from mindtrial.protocols import Protocol

DEMO_SEED = 20210121  # M-ROCC's first enrolment day
CALENDAR_WEEKS_SHOWN = 9


def _validate_protocols() -> None:
    from mindtrial.protocols import list_protocols

    console.print(Rule("1. Protocols and design tools"))
    table = Table(title="shipped protocols (all valid)")
    for column in ("protocol", "arms", "assessments", "analyses"):
        table.add_column(column)
    for protocol in list_protocols():
        table.add_row(
            protocol.id,
            " / ".join(protocol.arm_ids),
            str(len(protocol.assessments)),
            str(len(protocol.analysis.analyses)),
        )
    console.print(table)


def _allocation(protocol: Protocol, out: Path) -> None:
    from mindtrial.design.randomization import generate_allocation_list, write_allocation_csv

    spec = protocol.randomization
    allocation = generate_allocation_list(
        arms=spec.ratio,
        n=protocol.published.flow.randomized,
        block_sizes=spec.block_sizes,
        seed=DEMO_SEED,
    )
    path = out / "allocation-list.csv"
    write_allocation_csv(allocation, path)
    first = allocation.entries[:8]
    console.print(
        f"Concealed allocation list, permuted blocks of {spec.block_sizes}: first entries "
        + ", ".join(f"{e.sequence}:{e.arm}" for e in first)
        + " … — "
        + ", ".join(f"{arm} {n}" for arm, n in allocation.counts()["all"].items())
        + f"; written to {path}",
        highlight=False,
    )


def _calendar(protocol: Protocol) -> None:
    from mindtrial.design.schedules import concealed_test_days, session_datetimes

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
    table = Table(title=f"a cohort's first weeks (Thursdays 18:00 {tz})")
    for column in ("week", "session (local)", "UTC", "M-ROCC topic", "P001 oral-fluid test"):
        table.add_column(column)
    arm = protocol.arms[0]
    for week, when in enumerate(sessions[:CALENDAR_WEEKS_SHOWN], start=1):
        phase = next(p for p in arm.curriculum if p.first_week <= week <= p.last_week)
        topic = next((s.topic for s in phase.sessions if s.week == week), phase.name)
        table.add_row(
            str(week),
            f"{when:%a %d %b %Y %H:%M %Z}",
            f"{when.astimezone(UTC):%H:%M}",
            topic,
            "observed test" if when.date() in tests else "",
        )
    console.print(table)


def _simulate(protocol: Protocol, out: Path) -> tuple[StudyDataset, Path]:
    from mindtrial.dataset import write_dataset
    from mindtrial.simulate import simulate_trial

    console.print(Rule("2. A simulated M-ROCC trial"))
    with console.status("simulating 1728 referrals → 196 randomized …"):
        dataset = simulate_trial(protocol, seed=DEMO_SEED)
        path = write_dataset(dataset, out / "dataset", protocol=protocol, overwrite=True)
    participants = dataset.participants
    counts = participants["arm"].value_counts().to_dict()
    console.print(
        f"{len(participants)} randomized ("
        + ", ".join(f"{arm} {counts.get(arm, 0)}" for arm in protocol.arm_ids)
        + f"), {len(dataset.responses):,} answers, {len(dataset.toxicology):,} analyte results; "
        f"study dataset in {path}",
        highlight=False,
    )
    return dataset, path


def _analyse(protocol: Protocol, dataset: StudyDataset, out: Path, imputations: int) -> Path:
    from mindtrial.report import write_report

    console.print(Rule("3. The prespecified analysis and the report"))
    report, bundle = analyse_with_progress(
        dataset, protocol, imputations=imputations, seed=DEMO_SEED
    )
    folder = write_report(bundle, out / "report", overwrite=True)
    console.print(summary_table(report, title="main results (simulated data)", main_only=True))
    console.print(
        "One simulated trial is one draw: a significant result here can be chance. The report's "
        "section 'How much a single simulated trial varies' shows where 95% of simulated "
        "trials' estimates fall (mindtrial simulate-check).",
        highlight=False,
    )
    report_file = Path(folder) / "report.html"
    console.print(f"[bold]Report:[/] {report_file.resolve()}", highlight=False, soft_wrap=True)
    return report_file


def _web(protocol: Protocol, dataset: StudyDataset, out: Path) -> None:
    console.print(Rule("4. The web app with the simulated trial"))
    var_dir = (out / "var").resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    database = var_dir / "mindtrial.sqlite3"
    database.unlink(missing_ok=True)  # the demo's own database, rebuilt each run
    os.environ["MINDTRIAL_VAR_DIR"] = str(var_dir)
    os.environ.pop("DATABASE_URL", None)
    from mindtrial.web.bootstrap import setup

    setup(migrate=True)
    from mindtrial.web.demo import demo_site_create

    with console.status("loading the trial through the app's services …"):
        site = demo_site_create(
            protocol_id=protocol.id, name="M-ROCC demo (simulated)", dataset=dataset
        )
    summary = site.summary
    console.print(
        f"Study {site.study_id}: {summary.participants} participants, {summary.checkins} "
        f"check-ins, {summary.tests} tests, {summary.attendance} attendance marks, "
        f"{summary.adverse_events} adverse events loaded into {database}",
        highlight=False,
    )
    logins = Table(title="demo logins (new passwords each run)")
    for column in ("role", "username", "password"):
        logins.add_column(column)
    for login in site.logins:
        logins.add_row(login.role_label, login.username, login.password)
    console.print(logins)


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_command(
        out: Path = typer.Option(Path("demo-out"), "--out", help="Folder for the demo's files."),
        imputations: int = typer.Option(
            20, "--imputations", min=2, help="Imputations for the sensitivity analysis."
        ),
        serve: bool = typer.Option(
            True, "--serve/--no-serve", help="Serve the app at the end (Ctrl-C stops it)."
        ),
        port: int = typer.Option(8000, "--port", min=1, max=65535),
        protocol_id: str | None = typer.Option(
            None, "--protocol", help="Protocol id or file (default: the shipped demo protocol)."
        ),
    ) -> None:
        """Simulate a trial (M-ROCC unless --protocol names another), analyse it, write the
        report and serve it in the web app."""
        from mindtrial.protocols import ProtocolError, demo_protocol, load_protocol

        try:
            protocol = demo_protocol() if protocol_id is None else load_protocol(protocol_id)
        except ProtocolError as exc:
            fail(str(exc))
        out.mkdir(parents=True, exist_ok=True)
        _validate_protocols()
        _allocation(protocol, out)
        _calendar(protocol)
        dataset, _ = _simulate(protocol, out)
        _analyse(protocol, dataset, out, imputations)
        _web(protocol, dataset, out)
        if not serve:
            console.print(Rule("done"))
            return
        console.print(
            f"Open http://127.0.0.1:{port}/accounts/login/ and sign in with a login above.",
            highlight=False,
        )
        sys.stdout.flush()
        args = [sys.executable, "-m", "mindtrial.cli.main", "serve", "--port", str(port)]
        os.execv(sys.executable, args)
