"""Simulation power: the protocol's prespecified analysis run on simulated trials.

:func:`simulation_power` simulates ``reps`` trials of a protocol at each n with
:func:`mindtrial.simulate.simulate_trial`, runs the protocol's prespecified analysis on each
with :func:`mindtrial.analysis.runner.run_analysis`, and reports the share whose between-arm
contrast has p < alpha, with a Wilson 95% interval for that Monte-Carlo proportion. Reps run
in order, in parallel on local cores (joblib) or on a Dask cluster, and every finished rep is
appended to a JSONL file so an interrupted run resumes where it stopped. The closed forms are
in :mod:`mindtrial.design.power`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from mindtrial.design.power import PowerError, check_alpha, wilson_interval
from mindtrial.protocols.schema import AnalysisSpec, Protocol

_T = TypeVar("_T")
_R = TypeVar("_R")

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
    """Simulation power at one n (and, on an effect curve, one effect)."""

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
    effect: float | None = None
    """The true effect of this point, on a power curve against the effect (else ``None``)."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.effect is None:
            del data["effect"]
        return data


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
    engine: str = "full"
    """``"full"`` (each rep a whole simulated trial) or ``"batch"`` (one fixed design)."""

    def to_json(self) -> dict[str, Any]:
        engine = {} if self.engine == "full" else {"engine": self.engine}
        return {
            **engine,
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


def config_key(config: dict[str, Any]) -> str:
    """The results key of a run's configuration (JSON values): the lines of a resume file
    that belong to this run carry it."""
    text = json.dumps(config, sort_keys=True)
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


def append_result(handle: Any, result: RepResult) -> None:
    handle.write(json.dumps(result.to_json(), sort_keys=True) + "\n")
    handle.flush()
    os.fsync(handle.fileno())


def execute(
    func: Callable[[_T], _R], tasks: Sequence[_T], *, jobs: int, dask_address: Any | None
) -> Iterator[_R]:
    """``func`` over ``tasks``, results as they finish: in this process (``jobs=1``), on
    ``jobs`` local processes (joblib) or on a Dask cluster (``dask_address``: a scheduler
    address or a ``dask.distributed.Client``, which is then left open)."""
    if not tasks:
        return
    if dask_address is not None:
        from dask.distributed import Client, as_completed

        own = not isinstance(dask_address, Client)
        client = Client(dask_address) if own else dask_address  # type: ignore[no-untyped-call]
        try:
            futures = client.map(func, list(tasks), pure=False)
            for future in as_completed(futures):  # type: ignore[no-untyped-call]
                yield future.result()
        finally:
            if own:
                client.close()
        return
    if jobs == 1:
        for task in tasks:
            yield func(task)
        return
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=jobs, return_as="generator_unordered")
    yield from parallel(delayed(func)(task) for task in tasks)


ProgressCallback = Callable[[int, int], None]


def record_reps(
    func: Callable[[_T], _R],
    tasks: Sequence[_T],
    reps_of: Callable[[_R], Iterable[RepResult]],
    done: Mapping[str, dict[tuple[int, int], RepResult]],
    *,
    path: Path | None,
    jobs: int,
    dask_address: Any | None,
    progress: ProgressCallback | None,
    total: int,
    already: int,
) -> None:
    """Run ``tasks`` (:func:`execute`) and record each finished rep ``reps_of`` a task's
    result gives: in ``done[rep.key]`` (keyed by ``(n, rep)``; a rep already there is kept)
    and, with a results file ``path``, appended to it as soon as it is in. ``progress``
    is called as ``progress(done, total)`` first and after each task; ``already`` counts
    the reps of the ``total`` asked for that were done before (a results file may hold
    reps of other sizes or beyond the count asked for, which are not counted)."""
    finished = already
    if progress is not None:
        progress(finished, total)
    handle = path.open("a", encoding="utf-8") if path is not None else None
    try:
        for part in execute(func, tasks, jobs=jobs, dask_address=dask_address):
            for result in reps_of(part):
                reps = done[result.key]
                if (result.n, result.rep) in reps:
                    continue
                reps[(result.n, result.rep)] = result
                if handle is not None:
                    append_result(handle, result)
                finished += 1
            if progress is not None:
                progress(finished, total)
    finally:
        if handle is not None:
            handle.close()


def true_effect_of(protocol: Protocol, scenario_json: str, analysis_id: str) -> float | None:
    """The simulated truth of an analysis' contrast on its estimand's scale (the one
    definition, :func:`mindtrial.simulate.effects.true_effect`)."""
    from mindtrial.simulate import Scenario
    from mindtrial.simulate.effects import true_effect

    scenario = Scenario.model_validate_json(scenario_json)
    return true_effect(scenario, protocol, protocol.analysis_spec(analysis_id))


def summarise_reps(n: int, results: Iterable[RepResult], truth: float | None) -> PowerPoint:
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


def check_run(
    protocol: Protocol, *, reps: int, jobs: int, analysis_id: str | None, alpha: float | None
) -> tuple[str, AnalysisSpec, float]:
    """Check a power run's counts and find its analysis (default: the protocol's first) and
    significance level (default: the protocol's ``analysis.alpha``)."""
    if reps < 1:
        raise PowerError(f"reps must be at least 1, got {reps}")
    if jobs < 1:
        raise PowerError(f"jobs must be at least 1, got {jobs}")
    level = protocol.analysis.alpha if alpha is None else alpha
    check_alpha(level)
    chosen = analysis_id or protocol.analysis.analyses[0].id
    try:
        spec = protocol.analysis_spec(chosen)
    except KeyError:
        known = ", ".join(a.id for a in protocol.analysis.analyses)
        raise PowerError(
            f"analysis {chosen!r} is not in protocol {protocol.id} ({known})"
        ) from None
    return chosen, spec, level


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
    chosen, spec, level = check_run(
        protocol, reps=reps, jobs=jobs, analysis_id=analysis_id, alpha=alpha
    )
    base = default_scenario(protocol) if scenario is None else scenario
    if effect is not None:
        base = with_effect(base, protocol, spec, effect)
    scenario_json = base.model_dump_json()
    key = config_key(
        {
            "protocol": protocol.id,
            "version": protocol.version,
            "analysis": chosen,
            "scenario": scenario_json,
            "seed": seed,
            "alpha": level,
        }
    )
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
    start = time.perf_counter()
    record_reps(
        run_rep,
        tasks,
        lambda result: (result,),
        {key: done},
        path=path,
        jobs=jobs,
        dask_address=dask_address,
        progress=progress,
        total=len(sizes) * reps,
        already=len(sizes) * reps - len(tasks),  # a task per rep not done
    )
    points = tuple(
        summarise_reps(int(k), (done[(int(k), r)] for r in range(reps)), truth) for k in sizes
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
    """A matplotlib ``Figure``: simulated power against the number randomized (or, when the
    points carry several effects, against the effect, one line per n), with the
    Monte-Carlo (Wilson 95%) interval of each point and the nominal alpha as a line."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    by_effect = len({p.effect for p in result.points}) > 1
    figure = Figure(figsize=(6.0, 4.0))
    axes = figure.add_subplot()
    curves: dict[object, list[PowerPoint]] = {}
    for point in result.points:  # one line per n on an effect curve, else one line
        curves.setdefault(point.n if by_effect else None, []).append(point)
    for label, members in curves.items():
        points = sorted(members, key=lambda p: (p.effect or 0.0) if by_effect else p.n)
        where = [float(p.effect or 0.0) if by_effect else float(p.n) for p in points]
        power = np.array([p.power for p in points])
        lower = power - np.array([p.ci_lower for p in points])
        upper = np.array([p.ci_upper for p in points]) - power
        name = f"power, n = {label}" if by_effect else "power"
        axes.errorbar(where, power, yerr=[lower, upper], marker="o", capsize=4, label=name)
    axes.axhline(result.alpha, linestyle=":", color="grey", label=f"alpha {result.alpha:g}")
    axes.set_ylim(0.0, 1.0)
    axes.set_xlabel(
        "true effect (the estimand's scale)" if by_effect else "participants randomized"
    )
    axes.set_ylabel("power (95% Monte-Carlo CI)")
    points = list(result.points)
    reps = max((p.reps for p in points), default=0)
    what = "replicates of one design" if result.engine == "batch" else "simulated trials"
    per = "point" if by_effect else "n"
    axes.set_title(f"{result.protocol_id} / {result.analysis_id}: {reps} {what} per {per}")
    axes.legend(loc="best")
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
    "PowerPoint",
    "RepResult",
    "RepTask",
    "SimulationPowerResult",
    "append_result",
    "check_run",
    "config_key",
    "execute",
    "power_curve_figure",
    "read_results",
    "record_reps",
    "rep_seed",
    "run_rep",
    "simulation_power",
    "summarise_reps",
    "true_effect_of",
    "write_power_curve",
]
