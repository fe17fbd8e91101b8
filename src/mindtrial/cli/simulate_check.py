"""`mindtrial simulate-check`: bias, CI coverage, type I error and power by simulation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from mindtrial.cli.common import console, err_console, fail

if TYPE_CHECKING:  # the simulator and the estimators load when the command runs
    from mindtrial.evaluation.simulation_check import CheckResult, Interval


def _fmt(value: Interval, digits: int = 3) -> str:
    if value.estimate is None:
        return "—"
    if value.ci_lower is None or value.ci_upper is None:
        return f"{value.estimate:.{digits}f}"
    return f"{value.estimate:.{digits}f} ({value.ci_lower:.{digits}f}–{value.ci_upper:.{digits}f})"


def _table(result: CheckResult) -> Table:
    table = Table(
        title=f"simulate-check {result.protocol_id}: {result.reps} null + {result.reps} "
        f"alternative trials of n = {result.n} (seed {result.seed}, alpha {result.alpha:g}; "
        "Monte-Carlo 95% intervals)"
    )
    for name in (
        "estimand",
        "truth",
        "bias",
        "mean SE",
        "empirical SD",
        "published SE",
        "coverage",
        "type I error",
        "power",
    ):
        table.add_column(name, justify="left" if name == "estimand" else "right")
    for e in result.estimands:
        truth = "—" if e.truth is None else f"{e.truth:.3g}"
        label = f"{e.analysis_id} ({e.measure}{', log scale' if e.scale == 'log' else ''})"
        table.add_row(
            label,
            truth,
            _fmt(e.bias),
            _fmt(e.mean_se),
            _fmt(e.empirical_sd),
            "—" if e.published_se is None else f"{e.published_se:.3f}",
            _fmt(e.coverage),
            _fmt(e.type_i_error),
            _fmt(e.power),
        )
    return table


def register(app: typer.Typer) -> None:
    @app.command("simulate-check")
    def simulate_check_command(
        protocol_id: str = typer.Option(..., "--protocol", help="Protocol id or protocol file."),
        reps: int = typer.Option(
            200, "--reps", min=1, help="Null trials, and as many alternative trials."
        ),
        seed: int = typer.Option(1, "--seed", min=0, help="Fixes every simulated trial."),
        n: int | None = typer.Option(
            None, "--n", min=2, help="Randomized per trial (default: the published n)."
        ),
        analysis: list[str] = typer.Option(
            [],
            "--analysis",
            help="An analysis to check (repeatable; default: those with a published result).",
        ),
        scenario_file: Path | None = typer.Option(
            None, "--scenario", help="Scenario YAML for the alternative trials."
        ),
        jobs: int | None = typer.Option(
            None, "--jobs", min=1, help="Worker processes (default: the CPU cores)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    ) -> None:
        """Simulate N trials without effects and N with the scenario's effects; report bias,
        mean SE, empirical SD, CI coverage, type I error and power per estimand."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        from mindtrial.design.power import PowerError
        from mindtrial.evaluation.simulation_check import simulation_check
        from mindtrial.protocols import ProtocolError, load_protocol
        from mindtrial.simulate import Scenario, ScenarioError, load_scenario

        try:
            protocol = load_protocol(protocol_id)
        except ProtocolError as exc:
            fail(str(exc))
        scenario: Scenario | None = None
        try:
            if scenario_file is not None:
                scenario = load_scenario(scenario_file, protocol)
        except ScenarioError as exc:
            fail(str(exc))
        out = err_console if as_json else console
        columns = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
        )
        try:
            with Progress(*columns, console=out, transient=as_json) as bar:
                task = bar.add_task("Simulating and analysing trials", total=2 * reps)

                def advance(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                result = simulation_check(
                    protocol,
                    reps=reps,
                    seed=seed,
                    n=n,
                    analysis_ids=analysis or None,
                    scenario=scenario,
                    jobs=jobs,
                    progress=advance,
                )
        except (PowerError, ScenarioError) as exc:
            fail(str(exc))
        if as_json:
            console.print_json(json.dumps(result.to_json()))
            return
        console.print(_table(result))
        console.print(
            f"{result.seconds:.1f} s on {result.jobs} worker(s). Bias, mean SE and empirical "
            "SD are on the scale of the standard error (log for ratios)."
        )
