"""`mindtrial analyze`: run a protocol's prespecified analysis on a study dataset and write
the report (results.json, report.html, tables as CSV, figures as SVG and PNG).

Exit codes: 0 written (even when single analyses could not be estimated: they are marked
in the report), 1 unusable input (a dataset that fails validation, an unknown protocol, an
existing output folder without ``--force``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from mindtrial.cli.common import console, fail

if TYPE_CHECKING:  # the analysis stack is imported when a command runs, not at start-up
    from mindtrial.analysis.results import AnalysisReport
    from mindtrial.dataset import StudyDataset
    from mindtrial.protocols import Protocol
    from mindtrial.report import ReportBundle


def summary_table(
    report: AnalysisReport, *, title: str = "Analyses", main_only: bool = False
) -> Table:
    """One row per analysis: n, the between-arm contrast with CI and P, and the status
    (the printer's :func:`~mindtrial.report.printer.analyses_table`). ``main_only`` leaves
    out the sensitivity analyses (ids ``kind.analysis``)."""
    from mindtrial.report.printer import analyses_table

    rows = analyses_table(report, main_only=main_only)
    table = Table(title=title, show_lines=False)
    for column in rows.columns:
        table.add_column(str(column))
    for *cells, status in rows.itertuples(index=False):
        colour = {"ok": "green", "warning": "yellow", "error": "red"}[status]
        table.add_row(*cells, f"[{colour}]{status}[/]")
    return table


def analyse_with_progress(
    dataset: StudyDataset, protocol: Protocol, *, imputations: int, seed: int
) -> tuple[AnalysisReport, ReportBundle]:
    """Run the plan and build the report behind a Rich progress bar (imputation is slow)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from mindtrial.analysis.runner import run_analysis
    from mindtrial.report import build_report

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("fitting models", total=None)

        def step(label: str, done: int, total: int) -> None:
            progress.update(task, description=label, completed=done, total=total)

        report = run_analysis(
            dataset, protocol=protocol, imputations=imputations, seed=seed, progress=step
        )
        progress.update(task, description="writing the report")
        return report, build_report(dataset, protocol, report)


def register(app: typer.Typer) -> None:
    @app.command("analyze")
    def analyze_command(
        dataset_dir: Path = typer.Argument(
            ..., help="Study dataset folder (study.json + CSV files)."
        ),
        out: Path = typer.Option(..., "--out", help="Folder to write the report into."),
        protocol_id: str | None = typer.Option(
            None,
            "--protocol",
            help="Protocol id or file; default: the protocol named in study.json.",
        ),
        imputations: int = typer.Option(
            20, "--imputations", min=2, help="Completed datasets for multiple imputation."
        ),
        seed: int = typer.Option(20250101, "--seed", help="Seed for the imputations."),
        force: bool = typer.Option(False, "--force", help="Replace an existing output folder."),
    ) -> None:
        """Run the prespecified analysis plan and write the trial report."""
        from mindtrial.analysis.errors import AnalysisError
        from mindtrial.dataset import DatasetError, read_dataset
        from mindtrial.protocols import ProtocolError, load_protocol
        from mindtrial.report import write_report

        if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
            fail(f"{out} already exists; choose another --out or pass --force to replace it")
        try:
            protocol = load_protocol(protocol_id) if protocol_id else None
            dataset = read_dataset(dataset_dir, protocol=protocol)
            if protocol is None:
                protocol = load_protocol(dataset.meta.protocol_id)
        except (DatasetError, ProtocolError) as exc:
            fail(str(exc))
        try:
            report, bundle = analyse_with_progress(
                dataset, protocol, imputations=imputations, seed=seed
            )
        except AnalysisError as exc:
            fail(str(exc))
        try:
            write_report(bundle, out, overwrite=force)
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror or exc}")
        console.print(summary_table(report))
        problems = [a for a in report.analyses if a.status == "error"]
        if problems:
            console.print(
                f"[yellow]{len(problems)} analysis(es) could not be estimated; see report.html[/]"
            )
        console.print(f"Report written to {out} (report.html, results.json, tables/, figures/)")
