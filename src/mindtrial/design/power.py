"""Power and sample size: closed forms for simple cases, simulation for the real analysis.

Analytic (scipy only):

* :func:`t_test_power` / :func:`t_test_sample_size` — two-sample t test with equal groups,
  exact noncentral t (both rejection tails, as R ``power.t.test(strict = TRUE)`` and
  statsmodels ``TTestIndPower``);
* :func:`proportions_power` / :func:`proportions_sample_size` — two proportions with the
  normal approximation of R ``power.prop.test`` (both tails counted).

Simulation (:func:`simulation_power`): simulate ``reps`` trials of a protocol at each n with
:func:`mindtrial.simulate.simulate_trial`, run the protocol's prespecified analysis on each
with :func:`mindtrial.analysis.runner.run_analysis`, and report the share whose between-arm
contrast has p < alpha, with a Wilson 95% interval for that Monte-Carlo proportion. Reps run
in order, in parallel on local cores (joblib) or on a Dask cluster, and every finished rep is
appended to a JSONL file so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy import optimize, stats

from mindtrial.design.sample_size import attrition_inflate
from mindtrial.protocols.schema import AnalysisSpec, Protocol

Alternative = Literal["two-sided", "larger", "smaller"]


class PowerError(ValueError):
    """Invalid options for a power calculation; the message names the option."""


# --------------------------------------------------------------------------- analytic


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise PowerError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")


def _check_power(power: float) -> None:
    if not 0 < power < 1:
        raise PowerError(f"power must lie strictly between 0 and 1, got {power!r}")


def t_test_power(*, d: float, n_per_arm: float, alpha: float = 0.05) -> float:
    """Power of a two-sided two-sample t test with ``n_per_arm`` in each of two equal arms.

    ``d`` is the standardized difference (Cohen d). df = 2n - 2, noncentrality
    d·sqrt(n/2); both tails of the rejection region count.
    """
    _check_alpha(alpha)
    if n_per_arm < 2:
        raise PowerError(f"n_per_arm must be at least 2, got {n_per_arm!r}")
    df = 2 * n_per_arm - 2
    ncp = abs(d) * math.sqrt(n_per_arm / 2)
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    return float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))


def t_test_sample_size(*, d: float, power: float = 0.8, alpha: float = 0.05) -> float:
    """Participants per arm (not rounded) for ``power`` in a two-sided two-sample t test."""
    _check_power(power)
    _check_alpha(alpha)
    if d == 0:
        raise PowerError("effect size d must not be 0 (no sample size gives power for no effect)")
    return _solve_n(lambda n: t_test_power(d=d, n_per_arm=n, alpha=alpha), power, low=2.0)


def _solve_n(power_at: Callable[[float], float], power: float, *, low: float) -> float:
    """Smallest (fractional) n with power_at(n) = power; the bracket doubles until it holds."""
    high = max(4.0, 2 * low)
    while power_at(high) < power:
        high *= 2
        if high > 1e9:
            raise PowerError(f"no sample size below 1e9 per arm reaches power {power:g}")
    if power_at(low) >= power:
        return low
    return float(optimize.brentq(lambda n: power_at(n) - power, low, high, xtol=1e-10))


def proportions_power(*, p1: float, p2: float, n_per_arm: float, alpha: float = 0.05) -> float:
    """Power to detect proportions ``p1`` vs ``p2`` with ``n_per_arm`` per arm (two-sided).

    Normal approximation as R ``power.prop.test(strict = TRUE)``: pooled variance under
    the null, unpooled under the alternative.
    """
    _check_alpha(alpha)
    for name, p in (("p1", p1), ("p2", p2)):
        if not 0 < p < 1:
            raise PowerError(f"{name} must lie strictly between 0 and 1, got {p!r}")
    if n_per_arm < 1:
        raise PowerError(f"n_per_arm must be at least 1, got {n_per_arm!r}")
    q1, q2 = 1 - p1, 1 - p2
    z = float(stats.norm.ppf(1 - alpha / 2))
    null_sd = math.sqrt((p1 + p2) * (q1 + q2) / 2)
    alt_sd = math.sqrt(p1 * q1 + p2 * q2)
    shift = math.sqrt(n_per_arm) * abs(p1 - p2)
    return float(
        stats.norm.cdf((shift - z * null_sd) / alt_sd)
        + stats.norm.cdf((-shift - z * null_sd) / alt_sd)
    )


def proportions_sample_size(
    *, p1: float, p2: float, power: float = 0.8, alpha: float = 0.05
) -> float:
    """Participants per arm (not rounded) for ``power`` to detect ``p1`` vs ``p2``."""
    _check_power(power)
    if p1 == p2:
        raise PowerError("p1 and p2 must differ")
    return _solve_n(
        lambda n: proportions_power(p1=p1, p2=p2, n_per_arm=n, alpha=alpha), power, low=1.0
    )


@dataclass(frozen=True)
class AnalyticResult:
    """An analytic power or sample-size answer (``n_per_arm`` unrounded, analysable).

    ``attrition`` is the share of randomized participants expected not to be analysable;
    :attr:`randomized_per_arm` inflates the rounded n per arm by it.
    """

    test: Literal["two_sample_t", "two_proportions"]
    effect: tuple[float, ...]
    alpha: float
    power: float
    n_per_arm: float
    attrition: float = 0.0

    @property
    def n_per_arm_rounded(self) -> int:
        return math.ceil(self.n_per_arm - 1e-9)

    @property
    def randomized_per_arm(self) -> int:
        return attrition_inflate(self.n_per_arm_rounded, attrition=self.attrition)

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "effect": list(self.effect),
            "n_per_arm_rounded": self.n_per_arm_rounded,
            "randomized_per_arm": self.randomized_per_arm,
            "randomized_total": 2 * self.randomized_per_arm,
        }


def planned_attrition(planned: Mapping[str, float]) -> float:
    """The attrition a protocol's power section implies (``1 - effective_n / randomized``),
    or 0 when it names neither."""
    if "randomized" in planned and "effective_n" in planned:
        randomized, effective = planned["randomized"], planned["effective_n"]
        if not 0 < effective <= randomized:
            raise PowerError(
                f"power: effective_n {effective:g} must lie in (0, randomized {randomized:g}]"
            )
        return 1 - effective / randomized
    return 0.0


def analytic(
    *,
    effect: Sequence[float],
    n_per_arm: float | None = None,
    power: float = 0.8,
    alpha: float = 0.05,
    attrition: float = 0.0,
) -> AnalyticResult:
    """One effect (Cohen d) means a t test; two (p1, p2) mean two proportions.

    With ``n_per_arm`` (analysable) the power is computed; without it the n per arm for
    ``power``. ``attrition`` only sets how many to randomize.
    """
    if not 0 <= attrition < 1:
        raise PowerError(f"attrition must lie in [0, 1), got {attrition!r}")
    if len(effect) == 1:
        d = effect[0]
        if n_per_arm is None:
            n = t_test_sample_size(d=d, power=power, alpha=alpha)
            return AnalyticResult("two_sample_t", (d,), alpha, power, n, attrition)
        return AnalyticResult(
            "two_sample_t",
            (d,),
            alpha,
            t_test_power(d=d, n_per_arm=n_per_arm, alpha=alpha),
            n_per_arm,
            attrition,
        )
    if len(effect) == 2:
        p1, p2 = effect
        if n_per_arm is None:
            n = proportions_sample_size(p1=p1, p2=p2, power=power, alpha=alpha)
            return AnalyticResult("two_proportions", (p1, p2), alpha, power, n, attrition)
        got = proportions_power(p1=p1, p2=p2, n_per_arm=n_per_arm, alpha=alpha)
        return AnalyticResult("two_proportions", (p1, p2), alpha, got, n_per_arm, attrition)
    raise PowerError(
        f"effect: give one number (Cohen d) or two proportions (p1, p2), got {list(effect)}"
    )


def wilson_interval(successes: int, trials: int, *, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion."""
    if trials <= 0:
        return (0.0, 1.0)
    z = float(stats.norm.ppf(0.5 + level / 2))
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = (
        z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    )
    return (max(0.0, centre - half), min(1.0, centre + half))


# --------------------------------------------------------------------------- simulation


@dataclass(frozen=True)
class RepTask:
    """One simulated trial to run (picklable, sent to workers)."""

    protocol: Protocol
    scenario_json: str
    analysis_id: str
    n: int
    rep: int
    seed: int
    alpha: float
    key: str


@dataclass(frozen=True)
class RepResult:
    """One simulated trial's analysis: the contrast, or why there is none."""

    key: str
    n: int
    rep: int
    seed: int
    status: str
    estimate: float | None = None
    std_error: float | None = None
    ci_lower: float | None = None
    ci_upper: float | None = None
    p_value: float | None = None
    significant: bool | None = None
    error: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PowerPoint:
    """Simulation power at one n."""

    n: int
    reps: int
    fitted: int
    failed: int
    significant: int
    power: float
    ci_lower: float
    ci_upper: float
    mean_estimate: float | None
    coverage: float | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SimulationPowerResult:
    """Simulation power over a sample-size curve, for one analysis of one protocol."""

    protocol_id: str
    analysis_id: str
    alpha: float
    true_effect: float | None
    seed: int
    points: tuple[PowerPoint, ...]
    seconds: float
    resumed: int = 0
    results: tuple[RepResult, ...] = field(default=(), repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol_id": self.protocol_id,
            "analysis_id": self.analysis_id,
            "alpha": self.alpha,
            "true_effect": self.true_effect,
            "seed": self.seed,
            "seconds": self.seconds,
            "resumed": self.resumed,
            "points": [p.to_json() for p in self.points],
        }


def _single_analysis_protocol(protocol: Protocol, analysis_id: str) -> Protocol:
    spec = protocol.analysis_spec(analysis_id)
    plan = protocol.analysis.model_copy(update={"analyses": [spec], "sensitivity": []})
    return protocol.model_copy(update={"analysis": plan})


def run_rep(task: RepTask) -> RepResult:
    """Simulate one trial and run the one analysis (executed in workers)."""
    from mindtrial.analysis.runner import run_analysis
    from mindtrial.simulate import Scenario, simulate_trial

    start = time.perf_counter()
    scenario = Scenario.model_validate_json(task.scenario_json)
    try:
        ds = simulate_trial(task.protocol, n=task.n, seed=task.seed, scenario=scenario)
        report = run_analysis(
            ds, protocol=_single_analysis_protocol(task.protocol, task.analysis_id), seed=task.seed
        )
    except Exception as exc:  # a failed rep is recorded, never kills the run
        return RepResult(
            task.key, task.n, task.rep, task.seed, "error", error=f"{type(exc).__name__}: {exc}"
        )
    result = report.analyses[0]
    elapsed = time.perf_counter() - start
    contrast = result.summary.contrast if result.summary is not None else None
    if result.status == "error" or contrast is None:
        return RepResult(
            task.key,
            task.n,
            task.rep,
            task.seed,
            "error",
            error=result.error or "the analysis gave no between-arm contrast",
            seconds=elapsed,
        )
    return RepResult(
        key=task.key,
        n=task.n,
        rep=task.rep,
        seed=task.seed,
        status=result.status,
        estimate=contrast.estimate,
        std_error=contrast.std_error,
        ci_lower=contrast.ci_lower,
        ci_upper=contrast.ci_upper,
        p_value=contrast.p_value,
        significant=bool(contrast.p_value < task.alpha),
        seconds=elapsed,
    )


def rep_seed(seed: int, n: int, rep: int) -> int:
    """The simulation seed of one rep: fixed by (seed, n, rep), whatever runs first."""
    return int(np.random.SeedSequence([seed, n, rep]).generate_state(1, dtype=np.uint32)[0])


def _config_key(
    protocol: Protocol, scenario_json: str, analysis_id: str, seed: int, alpha: float
) -> str:
    text = json.dumps(
        {
            "protocol": protocol.id,
            "version": protocol.version,
            "analysis": analysis_id,
            "scenario": scenario_json,
            "seed": seed,
            "alpha": alpha,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def read_results(path: Path, key: str) -> dict[tuple[int, int], RepResult]:
    """Completed reps recorded in a JSONL results file for this configuration ``key``.

    Lines of other configurations are ignored; an incomplete last line (a write cut off by
    an interruption) is skipped.
    """
    done: dict[tuple[int, int], RepResult] = {}
    if not path.exists():
        return done
    lines = path.read_text(encoding="utf-8").splitlines()
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            result = RepResult(**json.loads(line))
        except (json.JSONDecodeError, TypeError) as exc:
            if line_no == len(lines):
                break  # the last line was cut off mid-write by an interruption
            raise PowerError(f"{path}, line {line_no}: not a results record ({exc})") from None
        if result.key == key:
            done[(result.n, result.rep)] = result
    return done


def _append(handle: Any, result: RepResult) -> None:
    handle.write(json.dumps(result.to_json(), sort_keys=True) + "\n")
    handle.flush()
    os.fsync(handle.fileno())


def _execute(tasks: list[RepTask], *, jobs: int, dask_address: Any | None) -> Iterator[RepResult]:
    if not tasks:
        return
    if dask_address is not None:
        from dask.distributed import Client, as_completed

        own = not isinstance(dask_address, Client)
        client = Client(dask_address) if own else dask_address  # type: ignore[no-untyped-call]
        try:
            futures = client.map(run_rep, tasks, pure=False)
            for future in as_completed(futures):  # type: ignore[no-untyped-call]
                yield future.result()
        finally:
            if own:
                client.close()
        return
    if jobs == 1:
        for task in tasks:
            yield run_rep(task)
        return
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=jobs, return_as="generator_unordered")
    yield from parallel(delayed(run_rep)(task) for task in tasks)


def true_effect_of(protocol: Protocol, scenario_json: str, analysis_id: str) -> float | None:
    """The simulated truth of an analysis' contrast (comparison minus reference arm)."""
    from mindtrial.simulate import Scenario
    from mindtrial.simulate.effects import scenario_key

    scenario = Scenario.model_validate_json(scenario_json)
    spec = protocol.analysis_spec(analysis_id)
    intervention, control = protocol.arm_ids[0], protocol.arm_ids[1]
    kind, key = scenario_key(scenario, spec)
    if kind == "substance":
        percent = scenario.substances[key].percent
        return percent[intervention] - percent[control]
    if kind == "trajectory":
        change = scenario.trajectories[key].change
        return change[intervention] - change[control]
    return None


def _summarise(n: int, results: Iterable[RepResult], truth: float | None) -> PowerPoint:
    rows = list(results)
    fitted = [r for r in rows if r.status != "error" and r.significant is not None]
    hits = sum(1 for r in fitted if r.significant)
    low, high = wilson_interval(hits, len(fitted))
    estimates = [r.estimate for r in fitted if r.estimate is not None]
    coverage = None
    if truth is not None and fitted:
        covered = [
            r.ci_lower <= truth <= r.ci_upper
            for r in fitted
            if r.ci_lower is not None and r.ci_upper is not None
        ]
        coverage = sum(covered) / len(covered) if covered else None
    return PowerPoint(
        n=n,
        reps=len(rows),
        fitted=len(fitted),
        failed=len(rows) - len(fitted),
        significant=hits,
        power=hits / len(fitted) if fitted else float("nan"),
        ci_lower=low,
        ci_upper=high,
        mean_estimate=float(np.mean(estimates)) if estimates else None,
        coverage=coverage,
    )


ProgressCallback = Callable[[int, int], None]


def simulation_power(
    protocol: Protocol,
    *,
    n: int | Sequence[int],
    reps: int,
    seed: int,
    analysis_id: str | None = None,
    scenario: Any | None = None,
    effect: float | None = None,
    alpha: float | None = None,
    jobs: int = 1,
    dask_address: Any | None = None,
    resume: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> SimulationPowerResult:
    """Power of ``protocol``'s analysis ``analysis_id`` (default: its first) by simulation.

    Args:
        n: randomized participants per trial, or several for a sample-size curve.
        reps: simulated trials at each n.
        seed: fixes every rep (rep r at n uses :func:`rep_seed`), so results do not depend
            on ``jobs``, the executor or on resuming.
        scenario: a :class:`~mindtrial.simulate.Scenario` (default: the protocol's).
        effect: sets the simulated effect of this analysis (see
            :func:`mindtrial.simulate.effects.with_effect`).
        alpha: significance level (default: the protocol's ``analysis.alpha``).
        jobs: local worker processes (joblib); ignored with ``dask_address``.
        dask_address: a scheduler address or a ``dask.distributed.Client``.
        resume: JSONL file; finished reps found there are not run again and every new rep
            is appended as soon as it finishes.
        progress: called as ``progress(done, total)`` after each rep (resumed reps count).
    """
    from mindtrial.simulate import default_scenario
    from mindtrial.simulate.effects import with_effect

    sizes = [n] if isinstance(n, int) else list(n)
    if not sizes or any(int(k) < 2 for k in sizes):
        raise PowerError(f"n: every sample size must be at least 2, got {sizes}")
    if reps < 1:
        raise PowerError(f"reps must be at least 1, got {reps}")
    if jobs < 1:
        raise PowerError(f"jobs must be at least 1, got {jobs}")
    level = protocol.analysis.alpha if alpha is None else alpha
    _check_alpha(level)
    chosen = analysis_id or protocol.analysis.analyses[0].id
    try:
        spec: AnalysisSpec = protocol.analysis_spec(chosen)
    except KeyError:
        known = ", ".join(a.id for a in protocol.analysis.analyses)
        raise PowerError(
            f"analysis {chosen!r} is not in protocol {protocol.id} ({known})"
        ) from None
    base = default_scenario(protocol) if scenario is None else scenario
    if effect is not None:
        base = with_effect(base, protocol, spec, effect)
    scenario_json = base.model_dump_json()
    key = _config_key(protocol, scenario_json, chosen, seed, level)
    truth = true_effect_of(protocol, scenario_json, chosen)

    path = Path(resume) if resume is not None else None
    done = read_results(path, key) if path is not None else {}
    resumed = len(done)
    tasks = [
        RepTask(protocol, scenario_json, chosen, int(k), r, rep_seed(seed, int(k), r), level, key)
        for k in sizes
        for r in range(reps)
        if (int(k), r) not in done
    ]
    total = len(sizes) * reps
    finished = total - len(tasks)
    if progress is not None:
        progress(finished, total)
    start = time.perf_counter()
    handle = path.open("a", encoding="utf-8") if path is not None else None
    try:
        for result in _execute(tasks, jobs=jobs, dask_address=dask_address):
            done[(result.n, result.rep)] = result
            if handle is not None:
                _append(handle, result)
            finished += 1
            if progress is not None:
                progress(finished, total)
    finally:
        if handle is not None:
            handle.close()
    points = tuple(
        _summarise(int(k), (done[(int(k), r)] for r in range(reps)), truth) for k in sizes
    )
    ordered = tuple(done[(int(k), r)] for k in sizes for r in range(reps))
    return SimulationPowerResult(
        protocol_id=protocol.id,
        analysis_id=chosen,
        alpha=level,
        true_effect=truth,
        seed=seed,
        points=points,
        seconds=time.perf_counter() - start,
        resumed=resumed,
        results=ordered,
    )


def power_curve_figure(result: SimulationPowerResult) -> Any:
    """A matplotlib ``Figure``: simulated power against the number randomized, with the
    Monte-Carlo (Wilson 95%) interval of each point and the nominal alpha as a line."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    points = sorted(result.points, key=lambda p: p.n)
    sizes = [p.n for p in points]
    power = np.array([p.power for p in points])
    lower = power - np.array([p.ci_lower for p in points])
    upper = np.array([p.ci_upper for p in points]) - power
    figure = Figure(figsize=(6.0, 4.0))
    axes = figure.add_subplot()
    axes.errorbar(sizes, power, yerr=[lower, upper], marker="o", capsize=4, label="power")
    axes.axhline(result.alpha, linestyle=":", color="grey", label=f"alpha {result.alpha:g}")
    axes.set_ylim(0.0, 1.0)
    axes.set_xlabel("participants randomized")
    axes.set_ylabel("power (95% Monte-Carlo CI)")
    reps = max((p.reps for p in points), default=0)
    axes.set_title(f"{result.protocol_id} / {result.analysis_id}: {reps} simulated trials per n")
    axes.legend(loc="lower right")
    figure.tight_layout()
    return figure


def write_power_curve(result: SimulationPowerResult, path: str | Path) -> Path:
    """Write :func:`power_curve_figure` to ``path`` (format from the suffix: .svg, .png, .pdf)."""
    target = Path(path)
    if target.suffix.lower() not in (".svg", ".png", ".pdf"):
        raise PowerError(f"{target}: the plot is written as .svg, .png or .pdf")
    power_curve_figure(result).savefig(target)
    return target


__all__ = [
    "AnalyticResult",
    "PowerError",
    "PowerPoint",
    "RepResult",
    "RepTask",
    "SimulationPowerResult",
    "analytic",
    "power_curve_figure",
    "proportions_power",
    "proportions_sample_size",
    "read_results",
    "rep_seed",
    "run_rep",
    "simulation_power",
    "t_test_power",
    "t_test_sample_size",
    "true_effect_of",
    "wilson_interval",
    "write_power_curve",
]
