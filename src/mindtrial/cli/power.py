"""`mindtrial power`: analytic or simulation-based power and sample size."""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from mindtrial.cli.common import console, err_console, fail

if TYPE_CHECKING:  # the simulator and the estimators load when the command runs
    from mindtrial.design.power import AnalyticResult
    from mindtrial.evaluation.simulation_power import SimulationPowerResult
    from mindtrial.protocols import Protocol
    from mindtrial.simulate import Scenario


class Method(enum.StrEnum):
    analytic = "analytic"
    simulation = "simulation"


class Engine(enum.StrEnum):
    full = "full"
    batch = "batch"


def _numbers(text: str, option: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        fail(f"{option} {text!r}: expected a number or comma-separated numbers")


def _sizes(values: list[str]) -> list[int]:
    sizes: list[int] = []
    for value in values:
        for part in value.split(","):
            try:
                size = int(part)
            except ValueError:
                fail(f"--n {value!r}: expected whole numbers (e.g. --n 196 or --n 100,196,300)")
            if size < 2:
                fail(f"--n {size}: need at least 2 participants")
            sizes.append(size)
    return sizes


def _analytic_table(result: AnalyticResult, protocol: Protocol, solved: bool) -> Table:
    what = "Cohen d" if result.test == "two_sample_t" else "p1, p2"
    table = Table(title=f"Analytic power ({result.test.replace('_', ' ')}), {protocol.id}")
    table.add_column("effect")
    table.add_column("alpha", justify="right")
    table.add_column("power", justify="right")
    table.add_column("n per arm", justify="right")
    table.add_column("n total", justify="right")
    table.add_column("attrition", justify="right")
    table.add_column("randomize", justify="right")
    effect = ", ".join(f"{e:g}" for e in result.effect)
    per_arm = (
        f"{result.n_per_arm:.2f} → {result.n_per_arm_rounded}"
        if solved
        else f"{result.n_per_arm:g}"
    )
    total = str(2 * result.n_per_arm_rounded) if solved else f"{2 * result.n_per_arm:g}"
    randomize = str(2 * result.randomized_per_arm) if solved else "—"
    table.add_row(
        f"{what} = {effect}",
        f"{result.alpha:g}",
        f"{result.power:.3f}",
        per_arm,
        total,
        f"{result.attrition:.2%}",
        randomize,
    )
    return table


def _simulation_table(result: SimulationPowerResult) -> Table:
    truth = "" if result.true_effect is None else f", true effect {result.true_effect:+.3g}"
    how = " (batch: one fixed design per n)" if result.engine == "batch" else ""
    table = Table(
        title=f"Simulation power{how}: {result.protocol_id} / {result.analysis_id} "
        f"(alpha {result.alpha:g}{truth})"
    )
    by_effect = any(p.effect is not None for p in result.points)
    names = ("n", "reps", "failed", "power", "95% CI (Wilson)", "mean estimate", "CI coverage")
    for name in ("effect", *names) if by_effect else names:
        table.add_column(name, justify="right")
    for p in result.points:
        table.add_row(
            *([f"{p.effect:+.3g}"] if p.effect is not None else []),
            str(p.n),
            str(p.fitted),
            str(p.failed),
            f"{p.power:.3f}",
            f"{p.ci_lower:.3f}–{p.ci_upper:.3f}",
            "" if p.mean_estimate is None else f"{p.mean_estimate:+.3f}",
            "" if p.coverage is None else f"{p.coverage:.3f}",
        )
    return table


def register(app: typer.Typer) -> None:
    @app.command("power")
    def power_command(
        protocol_id: str = typer.Option(..., "--protocol", help="Protocol id or protocol file."),
        method: Method = typer.Option(Method.analytic, "--method", help="analytic or simulation."),
        effect: str | None = typer.Option(
            None,
            "--effect",
            help="Analytic: Cohen d (0.45) or two proportions (0.30,0.15); default the "
            "protocol's planned d. Simulation: the analysis' effect (percentage points for a "
            "substance GEE, difference in change for a mixed model); default the scenario's. "
            "The batch engine takes several (0,-0.5,-1) for a power curve against the effect.",
        ),
        n: list[str] = typer.Option(
            [],
            "--n",
            help="Participants in both arms. Analytic: power at this n (omit to solve for n). "
            "Simulation: randomized n; repeat or comma-separate for a sample-size curve.",
        ),
        target_power: float | None = typer.Option(
            None, "--power", help="Analytic: power to solve n for (default the protocol's, or 0.8)."
        ),
        attrition: float | None = typer.Option(
            None,
            "--attrition",
            help="Analytic: share of randomized participants not analysable, to inflate n by "
            "(default the protocol's: 1 - effective_n / randomized, else 0).",
        ),
        analysis_id: str | None = typer.Option(
            None, "--analysis", help="Simulation: which prespecified analysis (default the first)."
        ),
        reps: int = typer.Option(200, "--reps", help="Simulation: trials per n."),
        alpha: float | None = typer.Option(
            None, "--alpha", help="Significance level (default the protocol's)."
        ),
        jobs: int = typer.Option(1, "--jobs", help="Simulation: local worker processes."),
        dask: str | None = typer.Option(
            None,
            "--scheduler",
            "--dask",
            help="Simulation: Dask scheduler address (tcp://host:8786); reps run on its workers.",
        ),
        plot: Path | None = typer.Option(
            None, "--plot", help="Simulation: write the power curve (power vs n, 95% CI) here."
        ),
        resume: Path | None = typer.Option(
            None, "--resume", help="Simulation: JSONL results file; finished reps are skipped."
        ),
        seed: int = typer.Option(1, "--seed", help="Simulation: seed (fixes every rep)."),
        engine: Engine = typer.Option(
            Engine.full,
            "--engine",
            help="Simulation: full (each rep a whole new simulated trial, the complete "
            "analysis) or batch (one template design per n, replicate outcomes drawn from the "
            "fitted analysis model and fitted all at once; logistic GEE and random-intercept "
            "mixed models only; see docs/simulation.md).",
        ),
        template: Path | None = typer.Option(
            None,
            "--template",
            help="Simulation, batch engine: a study dataset folder whose design (participants, "
            "arms, covariates, observed visits) every replicate keeps, instead of a trial "
            "simulated with --seed (no --n then).",
        ),
        scenario_file: Path | None = typer.Option(
            None, "--scenario", help="Simulation: scenario YAML."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Power or sample size, analytic (t test, two proportions) or by simulating the trial."""
        from mindtrial.design.power import PowerError, analytic, planned_attrition
        from mindtrial.protocols import ProtocolError, load_protocol

        try:
            protocol = load_protocol(protocol_id)
        except ProtocolError as exc:
            fail(str(exc))
        planned = protocol.analysis.power
        level = alpha if alpha is not None else planned.get("alpha", protocol.analysis.alpha)
        sizes = _sizes(n)
        if method is Method.analytic:
            if effect is None:
                if "effect_size_d" not in planned:
                    fail(f"--effect: protocol {protocol.id} plans no effect size; give --effect")
                effects = [planned["effect_size_d"]]
            else:
                effects = _numbers(effect, "--effect")
            if len(sizes) > 1:
                fail("--n: the analytic method takes one n (both arms together)")
            goal = target_power if target_power is not None else planned.get("power", 0.8)
            try:
                result = analytic(
                    effect=effects,
                    n_per_arm=sizes[0] / 2 if sizes else None,
                    power=goal,
                    alpha=level,
                    attrition=attrition if attrition is not None else planned_attrition(planned),
                )
            except PowerError as exc:
                fail(str(exc))
            if as_json:
                console.print_json(json.dumps(result.to_json()))
            else:
                console.print(_analytic_table(result, protocol, solved=not sizes))
            return

        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        from mindtrial.evaluation.simulation_power import simulation_power, write_power_curve
        from mindtrial.simulate import ScenarioError, load_scenario

        if template is not None and engine is not Engine.batch:
            fail("--template: only the batch engine takes a template (add --engine batch)")
        if template is not None and sizes:
            fail("--template: the study dataset fixes n; leave out --n")
        template_data = None
        if template is not None:
            from mindtrial.dataset import DatasetError, read_dataset

            try:
                template_data = read_dataset(template, protocol=protocol)
            except DatasetError as exc:
                fail(str(exc))

        scenario: Scenario | None = None
        try:
            if scenario_file is not None:
                scenario = load_scenario(scenario_file, protocol)
        except ScenarioError as exc:
            fail(str(exc))
        sim_effect: float | list[float] | None = None
        if effect is not None:
            values = _numbers(effect, "--effect")
            if len(values) != 1 and engine is not Engine.batch:
                fail(
                    "--effect: the full engine takes one number (several, a power curve against "
                    "the effect, need --engine batch)"
                )
            if not values:
                fail("--effect: expected a number or comma-separated numbers")
            sim_effect = values[0] if len(values) == 1 else values
        if not sizes and template_data is None:
            sizes = [protocol.published.flow.randomized]
        if dask is not None and jobs != 1:
            err_console.print("[yellow]note:[/] --jobs is ignored with --dask")
        out = err_console if as_json else console
        columns = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        try:
            with Progress(*columns, console=out, transient=as_json) as bar:
                what = "Fitting replicates" if engine is Engine.batch else "Simulating trials"
                curves = len(sim_effect) if isinstance(sim_effect, list) else 1
                task = bar.add_task(what, total=max(len(sizes), 1) * reps * curves)

                def advance(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                run: Callable[..., SimulationPowerResult]
                if engine is Engine.batch:
                    from mindtrial.evaluation.batch_power import batch_power

                    run = functools.partial(
                        batch_power, n=sizes or None, effect=sim_effect, template=template_data
                    )
                else:
                    assert not isinstance(sim_effect, list)
                    run = functools.partial(simulation_power, n=sizes, effect=sim_effect)
                sim = run(
                    protocol,
                    reps=reps,
                    seed=seed,
                    analysis_id=analysis_id,
                    scenario=scenario,
                    alpha=level,
                    jobs=jobs,
                    dask_address=dask,
                    resume=resume,
                    progress=advance,
                )
        except (PowerError, ScenarioError) as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"cannot use the Dask cluster or the results file: {exc}")
        if plot is not None:
            try:
                write_power_curve(sim, plot)
            except PowerError as exc:
                fail(str(exc))
            except OSError as exc:
                fail(f"cannot write {plot}: {exc.strerror or exc}")
        if as_json:
            console.print_json(json.dumps(sim.to_json()))
            return
        console.print(_simulation_table(sim))
        if plot is not None:
            console.print(f"Power curve written to {plot}.", highlight=False)
        if sim.resumed:
            console.print(f"Resumed {sim.resumed} finished reps from {resume}.")
        done = sum(p.fitted + p.failed for p in sim.points) - sim.resumed
        if done and sim.seconds > 0:
            console.print(f"{done} reps in {sim.seconds:.1f} s ({done / sim.seconds:.2f} reps/s).")
