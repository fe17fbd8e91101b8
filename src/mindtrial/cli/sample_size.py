"""`mindtrial sample-size`: closed-form sample size or power for one design, with the design
effect of group treatment, attrition, and a power curve.

Exit codes: 0 answered, 1 an option out of range (the message names it).
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from mindtrial.cli.common import console, fail

if TYPE_CHECKING:
    from mindtrial.design.sample_size import Enrolment


class Design(enum.StrEnum):
    means = "means"
    proportions = "proportions"
    survival = "survival"
    counts = "counts"
    repeated = "repeated"
    slopes = "slopes"


_DESIGN_TEXT = {
    Design.means: "two-sample t test (Cohen d)",
    Design.proportions: "two proportions",
    Design.survival: "time to event (log-rank / Cox)",
    Design.counts: "negative binomial rate ratio",
    Design.repeated: "repeated measures, exchangeable correlation",
    Design.slopes: "difference in slopes, random slopes",
}


def _floats(text: str | None, option: str) -> list[float]:
    if text is None:
        return []
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        fail(f"{option} {text!r}: expected numbers separated by commas (e.g. 0,8,16,24)")


def _curve_sizes(text: str | None) -> list[int]:
    """``50:300:25`` (from, to, step) or ``50,100,150``: participants per arm."""
    if text is None:
        return []
    try:
        if ":" in text:
            start, stop, step = (int(part) for part in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            sizes = list(range(start, stop + 1, step))
        else:
            sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        fail(f"--curve {text!r}: expected FROM:TO:STEP (50:300:25) or a list (50,100,150)")
    if not sizes or min(sizes) < 2 or len(sizes) > 500:
        fail(f"--curve {text!r}: between 1 and 500 sizes, each at least 2 per arm")
    return sizes


def _require(value: float | None, option: str, design: Design) -> float:
    if value is None:
        fail(f"{option} is required for --design {design.value}")
    return value


def _plan(
    design: Design, options: dict[str, Any]
) -> tuple[Callable[[float], float], Callable[[float], float], dict[str, Any]]:
    """(power at n per arm of the first arm, n per first arm for a power, facts) for ``design``.

    The second arm's size is the first's times the allocation ratio."""
    from mindtrial.design import power as basic
    from mindtrial.design import sample_size as ss

    alpha, sides = options["alpha"], options["sides"]
    if design is Design.means:
        d = _require(options["d"], "--d", design)
        if sides != 2:
            fail("--design means answers two-sided tests only (as R's power.t.test)")
        return (
            lambda n: basic.t_test_power(d=d, n_per_arm=n, alpha=alpha),
            lambda p: basic.t_test_sample_size(d=d, power=p, alpha=alpha),
            {},
        )
    if design is Design.proportions:
        p1 = _require(options["p1"], "--p1", design)
        p2 = _require(options["p2"], "--p2", design)
        if sides != 2:
            fail("--design proportions answers two-sided tests only (as R's power.prop.test)")
        return (
            lambda n: basic.proportions_power(p1=p1, p2=p2, n_per_arm=n, alpha=alpha),
            lambda p: basic.proportions_sample_size(p1=p1, p2=p2, power=p, alpha=alpha),
            {},
        )
    if design is Design.survival:
        hr = _require(options["hr"], "--hr", design)
        p_control = _require(options["p_event_control"], "--p-event-control", design)
        p_treated = options["p_event_treatment"]
        share = options["ratio"] / (1 + options["ratio"])
        method = options["method"]
        if not 0 < p_control < 1:
            fail(f"--p-event-control must lie strictly between 0 and 1, got {p_control!r}")
        p_t = (
            ss.treated_event_probability(event_probability_control=p_control, hazard_ratio=hr)
            if p_treated is None
            else p_treated
        )
        per_control = p_control + options["ratio"] * p_t  # events per control participant

        def events_power(n: float) -> float:
            return ss.survival_power(
                hazard_ratio=hr,
                events=n * per_control,
                alpha=alpha,
                allocation=share,
                method=method,
                sides=sides,
            )

        def events_size(p: float) -> float:
            answer = ss.survival_sample_size(
                hazard_ratio=hr,
                event_probability_control=p_control,
                event_probability_treatment=p_treated,
                power=p,
                alpha=alpha,
                allocation=share,
                method=method,
                sides=sides,
            )
            return answer.n_control

        return events_power, events_size, {"events_per_control_participant": per_control}
    if design is Design.counts:
        rate = _require(options["rate_control"], "--rate-control", design)
        rr = _require(options["rate_ratio"], "--rate-ratio", design)
        k = _require(options["dispersion"], "--dispersion", design)
        common = {
            "rate_control": rate,
            "rate_ratio": rr,
            "dispersion": k,
            "exposure": options["exposure"],
            "allocation_ratio": options["ratio"],
            "alpha": alpha,
            "sides": sides,
        }
        return (
            lambda n: ss.negative_binomial_power(n_control=n, **common),
            lambda p: ss.negative_binomial_sample_size(power=p, **common),
            {},
        )
    times = _floats(options["times"], "--times")
    delta = _require(options["delta"], "--delta", design)
    if options["ratio"] != 1:
        fail(f"--ratio: --design {design.value} assumes equal arms")
    if design is Design.repeated:
        rho = _require(options["rho"], "--rho", design)
        repeated = {
            "delta": delta,
            "times": times,
            "rho": rho,
            "sigma2": options["sigma2"],
            "contrast": options["contrast"],
            "alpha": alpha,
            "sides": sides,
        }
        return (
            lambda n: ss.repeated_measures_power(n_per_arm=n, **repeated),
            lambda p: ss.repeated_measures_sample_size(power=p, **repeated),
            {},
        )
    slopes = {
        "delta": delta,
        "times": times,
        "slope_variance": _require(options["slope_variance"], "--slope-variance", design),
        "residual_variance": _require(options["residual_variance"], "--residual-variance", design),
        "alpha": alpha,
        "sides": sides,
    }
    return (
        lambda n: ss.random_slope_power(n_per_arm=n, **slopes),
        lambda p: ss.random_slope_sample_size(power=p, **slopes),
        {},
    )


def _enrolment_table(design: Design, plan: Enrolment, power: float, solved: bool) -> Table:
    table = Table(title=f"Sample size: {_DESIGN_TEXT[design]}")
    for name in ("", "control / arm 1", "treatment / arm 2", "total"):
        table.add_column(name, justify="right")
    table.add_row("power", f"{power:.3f}", "", "")
    first, second = plan.per_arm
    per_arm = f"{first:.2f}" if solved else f"{first:g}"
    table.add_row("n for the test", per_arm, f"{second:.2f}", f"{first + second:.1f}")
    table.add_row(
        f"analysed (design effect {plan.design_effect:.2f})",
        *(str(n) for n in plan.analysable_per_arm),
        str(plan.analysable),
    )
    table.add_row(
        f"randomize (attrition {plan.attrition:.1%})",
        *(str(n) for n in plan.randomized_per_arm),
        str(plan.randomized),
    )
    return table


def _save_curve(path: Path, curve: list[tuple[int, float]], design: Design) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot([n for n, _ in curve], [p for _, p in curve], marker="o", color="#1f5f8b")
    axes.axhline(0.8, color="#999999", linestyle="--", linewidth=1)
    axes.set_xlabel("participants per arm analysed (first arm)")
    axes.set_ylabel("power")
    axes.set_ylim(0, 1)
    axes.set_title(f"Power curve: {_DESIGN_TEXT[design]}")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def register(app: typer.Typer) -> None:
    @app.command("sample-size")
    def sample_size_command(
        design: Design = typer.Option(..., "--design", help="Which comparison."),
        n: float | None = typer.Option(
            None,
            "--n",
            help="Participants in the first arm: give power at this n (omit to solve n).",
        ),
        power: float = typer.Option(0.8, "--power", help="Power to solve n for."),
        alpha: float = typer.Option(0.05, "--alpha", help="Significance level."),
        sides: int = typer.Option(2, "--sides", help="1 or 2-sided test."),
        ratio: float = typer.Option(1.0, "--ratio", help="Second arm's size / first arm's."),
        attrition: float = typer.Option(0.0, "--attrition", help="Share lost before analysis."),
        icc: float = typer.Option(0.0, "--icc", help="Intra-group correlation of the outcome."),
        group_size: float = typer.Option(1.0, "--group-size", help="Mean therapy-group size."),
        group_size_cv: float = typer.Option(0.0, "--group-size-cv", help="CV of group sizes."),
        d: float | None = typer.Option(None, "--d", help="means: Cohen d."),
        p1: float | None = typer.Option(None, "--p1", help="proportions: first arm."),
        p2: float | None = typer.Option(None, "--p2", help="proportions: second arm."),
        hr: float | None = typer.Option(None, "--hr", help="survival: hazard ratio."),
        p_event_control: float | None = typer.Option(
            None, "--p-event-control", help="survival: event probability in follow-up, control."
        ),
        p_event_treatment: float | None = typer.Option(
            None, "--p-event-treatment", help="survival: same, treatment (default from HR)."
        ),
        method: str = typer.Option("schoenfeld", "--method", help="survival: schoenfeld|freedman."),
        rate_control: float | None = typer.Option(
            None, "--rate-control", help="counts: mean count per unit time, control."
        ),
        rate_ratio: float | None = typer.Option(None, "--rate-ratio", help="counts: ratio."),
        dispersion: float | None = typer.Option(
            None, "--dispersion", help="counts: k in Var = mu + k mu^2."
        ),
        exposure: float = typer.Option(1.0, "--exposure", help="counts: follow-up time."),
        delta: float | None = typer.Option(
            None, "--delta", help="repeated/slopes: difference (in sigma units when sigma2 = 1)."
        ),
        times: str | None = typer.Option(None, "--times", help="repeated/slopes: 0,8,16,24."),
        rho: float | None = typer.Option(None, "--rho", help="repeated: exchangeable correlation."),
        sigma2: float = typer.Option(1.0, "--sigma2", help="repeated: outcome variance."),
        contrast: str = typer.Option("average", "--contrast", help="repeated: average|slope."),
        slope_variance: float | None = typer.Option(None, "--slope-variance", help="slopes."),
        residual_variance: float | None = typer.Option(None, "--residual-variance", help="slopes."),
        curve: str | None = typer.Option(
            None, "--curve", help="Power at these n per arm: FROM:TO:STEP or a list."
        ),
        plot: Path | None = typer.Option(None, "--plot", help="Save the power curve (PNG/SVG)."),
        as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON."),
    ) -> None:
        """Sample size or power from a closed formula, inflated for group treatment and
        attrition (Schoenfeld/Freedman, Zhu-Lakkis, Diggle, Edland)."""
        from mindtrial.design.power import PowerError
        from mindtrial.design.sample_size import Enrolment, SampleSizeError, design_effect

        if method not in ("schoenfeld", "freedman"):
            fail(f"--method {method!r}: expected schoenfeld or freedman")
        if contrast not in ("average", "slope"):
            fail(f"--contrast {contrast!r}: expected average or slope")
        if ratio <= 0 or not math.isfinite(ratio):
            fail(f"--ratio must be a positive number, got {ratio!r}")
        options = dict(locals())
        sizes = _curve_sizes(curve)
        if plot is not None and not sizes:
            fail("--plot needs --curve (the sizes to draw)")
        try:
            power_at, size_for, facts = _plan(design, options)
            if n is None:
                first = size_for(power)
                achieved = power
            else:
                if n < 2:
                    fail(f"--n must be at least 2, got {n!r}")
                first, achieved = n, power_at(n)
            plan = Enrolment(
                per_arm=(first, first * ratio),
                design_effect=design_effect(
                    icc=icc, mean_cluster_size=group_size, cv_cluster_size=group_size_cv
                ),
                attrition=attrition,
            )
            points = [(size, power_at(size)) for size in sizes]
        except (SampleSizeError, PowerError) as exc:
            fail(str(exc))
        if plot is not None:
            _save_curve(plot, points, design)
        if as_json:
            answer = {
                "design": design.value,
                "power": achieved,
                "alpha": alpha,
                "sides": sides,
                "n_per_arm": list(plan.per_arm),
                "design_effect": plan.design_effect,
                "attrition": attrition,
                "analysable_per_arm": list(plan.analysable_per_arm),
                "randomized_per_arm": list(plan.randomized_per_arm),
                "randomized": plan.randomized,
                **facts,
                "curve": [{"n_per_arm": size, "power": p} for size, p in points],
            }
            console.print_json(json.dumps(answer))
            return
        console.print(_enrolment_table(design, plan, achieved, solved=n is None))
        if points:
            table = Table(title="Power curve (participants per arm analysed, first arm)")
            table.add_column("n per arm", justify="right")
            table.add_column("power", justify="right")
            for size, p in points:
                table.add_row(str(size), f"{p:.3f}")
            console.print(table)
        if plot is not None:
            console.print(f"power curve written to {plot}")
