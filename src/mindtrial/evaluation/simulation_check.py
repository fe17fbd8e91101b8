"""Operating characteristics of a protocol's analyses by simulation (``mindtrial simulate-check``).

:func:`simulation_check` simulates ``reps`` trials with every treatment effect removed
(:func:`mindtrial.simulate.effects.null_scenario`) and ``reps`` trials of the scenario as it
is, fits each checked analysis with the protocol's own runner (only those analyses: no
sensitivity analyses, no multiple imputation, no report, nothing written to disk) and
summarises, per estimand:

* ``type_i_error``: the share of null trials with p < alpha;
* ``power``: the share of alternative trials with p < alpha;
* ``coverage``: the share of alternative trials whose 95% CI holds the simulated truth;
* ``bias``: mean estimate minus truth, on the scale of the standard error (log for ratios);
* ``mean_se`` and ``empirical_sd`` (of the estimates), on that scale;

each with a Monte-Carlo 95% interval (Wilson for proportions; mean ± 1.96 SD/√k for
means; for the SD, ± 1.96 SD/√(2(k−1))). The checked analyses default to those whose
estimand names a published result (the trial's published estimands); the published SE is
derived from the published 95% CI: (upper − lower) / (2 × 1.96) for a difference,
(ln upper − ln lower) / (2 × 1.96) for a ratio.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mindtrial.design.power import PowerError, wilson_interval
from mindtrial.protocols.schema import AnalysisSpec, Protocol

if TYPE_CHECKING:
    from mindtrial.simulate import Scenario

Arm = Literal["null", "alternative"]
_Z = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    """A Monte-Carlo figure: the estimate and its 95% interval."""

    estimate: float | None
    ci_lower: float | None
    ci_upper: float | None

    def to_json(self) -> dict[str, float | None]:
        return {"estimate": self.estimate, "ci_lower": self.ci_lower, "ci_upper": self.ci_upper}


_NONE = Interval(None, None, None)


@dataclass(frozen=True)
class Fit:
    """One analysis of one simulated trial (estimate on the estimand's reporting scale)."""

    analysis_id: str
    estimate: float | None
    std_error: float | None
    ci_lower: float | None
    ci_upper: float | None
    p_value: float | None
    error: str | None = None


@dataclass(frozen=True)
class _Task:
    protocol: Protocol
    scenario_json: str
    n: int
    arm: Arm
    reps: tuple[tuple[int, int], ...]  # (rep, simulation seed)


@dataclass(frozen=True)
class EstimandCheck:
    """Operating characteristics of one analysis' contrast."""

    analysis_id: str
    measure: str
    scale: Literal["log", "identity"]
    truth: float | None
    null_truth: float
    reps: int
    fitted_null: int
    fitted_alternative: int
    type_i_error: Interval
    power: Interval
    coverage: Interval
    bias: Interval
    mean_se: Interval
    empirical_sd: Interval
    mean_ci_width: float | None
    published_se: float | None
    published_ci_width: float | None
    estimate_quantiles: tuple[float, float, float] | None = None
    """2.5%, 50% and 97.5% quantiles of the alternative trials' estimates (reporting scale)."""
    failures: tuple[tuple[str, int], ...] = ()
    """Why trials gave no estimate: (message, trials), most frequent first (at most 3)."""

    @property
    def se_ratio(self) -> float | None:
        """Mean simulated SE / published SE (None without a published CI)."""
        if self.published_se is None or self.mean_se.estimate is None:
            return None
        return self.mean_se.estimate / self.published_se

    def to_json(self) -> dict[str, Any]:
        return {
            "analysis_id": self.analysis_id,
            "measure": self.measure,
            "scale": self.scale,
            "truth": self.truth,
            "null_truth": self.null_truth,
            "reps": self.reps,
            "fitted_null": self.fitted_null,
            "fitted_alternative": self.fitted_alternative,
            "type_i_error": self.type_i_error.to_json(),
            "power": self.power.to_json(),
            "coverage": self.coverage.to_json(),
            "bias": self.bias.to_json(),
            "mean_se": self.mean_se.to_json(),
            "empirical_sd": self.empirical_sd.to_json(),
            "mean_ci_width": self.mean_ci_width,
            "published_se": self.published_se,
            "published_ci_width": self.published_ci_width,
            "se_ratio": self.se_ratio,
            "estimate_quantiles": None
            if self.estimate_quantiles is None
            else list(self.estimate_quantiles),
            "failures": [{"reason": r, "trials": k} for r, k in self.failures],
        }


@dataclass(frozen=True)
class CheckResult:
    """``simulation_check``'s answer: one :class:`EstimandCheck` per checked analysis."""

    protocol_id: str
    n: int
    reps: int
    seed: int
    alpha: float
    jobs: int
    seconds: float
    estimands: tuple[EstimandCheck, ...]
    fits: dict[Arm, tuple[tuple[Fit, ...], ...]] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol_id": self.protocol_id,
            "n": self.n,
            "reps": self.reps,
            "seed": self.seed,
            "alpha": self.alpha,
            "jobs": self.jobs,
            "seconds": self.seconds,
            "estimands": {e.analysis_id: e.to_json() for e in self.estimands},
        }


# --------------------------------------------------------------------------- published


def published_se(protocol: Protocol, spec: AnalysisSpec) -> float | None:
    """The SE implied by the published 95% CI of ``spec``'s estimand (None if none)."""
    name = spec.estimand.published
    result = next((r for r in protocol.published.results if r.id == name), None)
    if result is None:
        return None
    if spec.estimand.is_ratio:
        if result.ratio_ci is None or min(result.ratio_ci) <= 0:
            return None
        low, high = result.ratio_ci
        return (math.log(high) - math.log(low)) / (2 * _Z)
    if result.difference_ci is None:
        return None
    low, high = result.difference_ci
    return (high - low) / (2 * _Z)


def _published_width(protocol: Protocol, spec: AnalysisSpec) -> float | None:
    result = next((r for r in protocol.published.results if r.id == spec.estimand.published), None)
    if result is None:
        return None
    ci = result.ratio_ci if spec.estimand.is_ratio else result.difference_ci
    return None if ci is None else ci[1] - ci[0]


def default_analyses(protocol: Protocol) -> list[str]:
    """The analyses whose estimand names a published result (all analyses if none does)."""
    ids = [a.id for a in protocol.analysis.analyses if a.estimand.published]
    return ids or [a.id for a in protocol.analysis.analyses]


# --------------------------------------------------------------------------- running


def _restricted(protocol: Protocol, analysis_ids: Sequence[str]) -> Protocol:
    specs = [protocol.analysis_spec(i) for i in analysis_ids]
    # One family per analysis: no multiplicity adjustment between the checked estimands.
    plan = protocol.analysis.model_copy(
        update={"analyses": specs, "sensitivity": [], "multiplicity": "none"}
    )
    return protocol.model_copy(update={"analysis": plan})


def _run_task(task: _Task) -> list[tuple[int, tuple[Fit, ...]]]:
    """Simulate and analyse a batch of trials (runs in workers)."""
    from mindtrial.analysis.runner import run_analysis
    from mindtrial.simulate import Scenario, simulate_trial

    scenario = Scenario.model_validate_json(task.scenario_json)
    ids = [a.id for a in task.protocol.analysis.analyses]
    out: list[tuple[int, tuple[Fit, ...]]] = []
    for rep, seed in task.reps:
        try:
            ds = simulate_trial(task.protocol, n=task.n, seed=seed, scenario=scenario)
            report = run_analysis(ds, protocol=task.protocol, seed=seed, imputations=2)
        except Exception as exc:  # a failed trial is recorded, never ends the run
            message = f"{type(exc).__name__}: {exc}"
            out.append((rep, tuple(Fit(i, None, None, None, None, None, message) for i in ids)))
            continue
        fits = []
        for result in report.analyses:
            contrast = result.summary.contrast if result.summary is not None else None
            if result.status == "error" or contrast is None:
                fits.append(
                    Fit(result.id, None, None, None, None, None, result.error or "no contrast")
                )
                continue
            fits.append(
                Fit(
                    result.id,
                    contrast.estimate,
                    contrast.std_error,
                    contrast.ci_lower,
                    contrast.ci_upper,
                    contrast.p_value,
                )
            )
        out.append((rep, tuple(fits)))
    return out


def _seed(seed: int, arm: Arm, rep: int) -> int:
    """The simulation seed of rep ``rep`` of the null (0) or alternative (1) trials."""
    which = 0 if arm == "null" else 1
    state = np.random.SeedSequence([seed, which, rep]).generate_state(1, dtype=np.uint32)
    return int(state[0])


def _execute(tasks: list[_Task], jobs: int) -> Iterator[tuple[_Task, list[Any]]]:
    if jobs == 1:
        for task in tasks:
            yield task, _run_task(task)
        return
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=jobs, return_as="generator")
    yield from zip(tasks, parallel(delayed(_run_task)(t) for t in tasks), strict=True)


# --------------------------------------------------------------------------- summaries


def _proportion(hits: int, total: int) -> Interval:
    if total == 0:
        return _NONE
    low, high = wilson_interval(hits, total)
    return Interval(hits / total, low, high)


def _mean(values: np.ndarray) -> Interval:  # type: ignore[type-arg]
    if values.size == 0:
        return _NONE
    centre = float(values.mean())
    if values.size < 2:
        return Interval(centre, None, None)
    half = _Z * float(values.std(ddof=1)) / math.sqrt(values.size)
    return Interval(centre, centre - half, centre + half)


def _sd(values: np.ndarray) -> Interval:  # type: ignore[type-arg]
    if values.size < 2:
        return _NONE
    sd = float(values.std(ddof=1))
    half = _Z * sd / math.sqrt(2 * (values.size - 1))
    return Interval(sd, sd - half, sd + half)


def _summarise(
    spec: AnalysisSpec,
    *,
    truth: float | None,
    null_fits: Sequence[Fit],
    alt_fits: Sequence[Fit],
    alpha: float,
    protocol: Protocol,
) -> EstimandCheck:
    from mindtrial.simulate.effects import null_effect, on_model_scale

    def ok(fits: Sequence[Fit]) -> list[Fit]:
        return [f for f in fits if f.estimate is not None and f.p_value is not None]

    null_ok, alt_ok = ok(null_fits), ok(alt_fits)
    rejections = sum(1 for f in null_ok if f.p_value is not None and f.p_value < alpha)
    hits = sum(1 for f in alt_ok if f.p_value is not None and f.p_value < alpha)
    with_se = [f for f in alt_ok if f.std_error is not None and math.isfinite(f.std_error)]
    ratio = spec.estimand.is_ratio
    estimates = np.array(
        [
            on_model_scale(spec, f.estimate)
            for f in alt_ok
            if f.estimate is not None and (not ratio or f.estimate > 0)
        ]
    )
    ses = np.array([f.std_error for f in with_se], dtype=np.float64)
    coverage = _NONE
    bias = _NONE
    if truth is not None:
        intervals = [f for f in alt_ok if f.ci_lower is not None and f.ci_upper is not None]
        covered = sum(
            1
            for f in intervals
            if f.ci_lower is not None
            and f.ci_upper is not None
            and f.ci_lower <= truth <= f.ci_upper
        )
        coverage = _proportion(covered, len(intervals))
        if estimates.size:
            shifted = _mean(estimates - on_model_scale(spec, truth))
            bias = shifted
    raw = np.array([f.estimate for f in alt_ok if f.estimate is not None], dtype=np.float64)
    quantiles = None
    if raw.size:
        q = np.quantile(raw, [0.025, 0.5, 0.975])
        quantiles = (float(q[0]), float(q[1]), float(q[2]))
    reasons = Counter(
        (f.error or "no estimate")[:200]
        for f in [*null_fits, *alt_fits]
        if f.estimate is None or f.p_value is None
    )
    widths = [
        f.ci_upper - f.ci_lower for f in alt_ok if f.ci_lower is not None and f.ci_upper is not None
    ]
    return EstimandCheck(
        analysis_id=spec.id,
        measure=spec.estimand.measure,
        scale="log" if ratio else "identity",
        truth=truth,
        null_truth=null_effect(spec),
        reps=max(len(null_fits), len(alt_fits)),
        fitted_null=len(null_ok),
        fitted_alternative=len(alt_ok),
        type_i_error=_proportion(rejections, len(null_ok)),
        power=_proportion(hits, len(alt_ok)),
        coverage=coverage,
        bias=bias,
        mean_se=_mean(ses),
        empirical_sd=_sd(estimates),
        mean_ci_width=float(np.mean(widths)) if widths else None,
        published_se=published_se(protocol, spec),
        published_ci_width=_published_width(protocol, spec),
        estimate_quantiles=quantiles,
        failures=tuple(reasons.most_common(3)),
    )


ProgressCallback = Callable[[int, int], None]


def simulation_check(
    protocol: Protocol,
    *,
    reps: int,
    seed: int,
    n: int | None = None,
    analysis_ids: Sequence[str] | None = None,
    scenario: Scenario | None = None,
    alpha: float | None = None,
    jobs: int | None = None,
    progress: ProgressCallback | None = None,
) -> CheckResult:
    """Bias, coverage, type I error and power of ``protocol``'s analyses by simulation.

    Args:
        reps: null trials and alternative trials to simulate (``reps`` of each).
        seed: fixes every trial (trial r of each kind has its own seed from ``seed``), so the
            result does not depend on ``jobs``.
        n: randomized participants per trial (default: the published n).
        analysis_ids: the analyses to check (default :func:`default_analyses`).
        scenario: the alternative scenario (default: the protocol's calibrated one).
        alpha: significance level (default: the protocol's ``analysis.alpha``).
        jobs: worker processes (default: the CPU cores, at most one per batch of trials).
        progress: ``progress(done, total)`` after each batch of trials.
    """
    from mindtrial.simulate import check_scenario, default_scenario
    from mindtrial.simulate.effects import null_scenario, true_effect

    if reps < 1:
        raise PowerError(f"reps must be at least 1, got {reps}")
    size = protocol.published.flow.randomized if n is None else n
    if size < 2:
        raise PowerError(f"n must be at least 2, got {size}")
    ids = list(analysis_ids) if analysis_ids else default_analyses(protocol)
    known = [a.id for a in protocol.analysis.analyses]
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise PowerError(
            f"analysis {', '.join(unknown)} is not in protocol {protocol.id} ({', '.join(known)})"
        )
    level = protocol.analysis.alpha if alpha is None else alpha
    if not 0 < level < 1:
        raise PowerError(f"alpha must lie strictly between 0 and 1, got {level}")
    workers = jobs if jobs is not None else max(1, os.cpu_count() or 1)
    if workers < 1:
        raise PowerError(f"jobs must be at least 1, got {workers}")
    alternative = default_scenario(protocol) if scenario is None else scenario
    check_scenario(alternative, protocol)
    null = null_scenario(alternative, protocol)
    checked = _restricted(protocol, ids)

    batches = max(1, min(reps, 4 * workers if workers > 1 else 1))
    bounds = np.linspace(0, reps, batches + 1).round().astype(int)
    tasks: list[_Task] = []
    for arm, sc in (("null", null), ("alternative", alternative)):
        text = sc.model_dump_json()
        for lo, hi in itertools.pairwise(int(b) for b in bounds):
            if hi > lo:
                chosen: Arm = "null" if arm == "null" else "alternative"
                pairs = tuple((r, _seed(seed, chosen, r)) for r in range(lo, hi))
                tasks.append(_Task(checked, text, int(size), chosen, pairs))
    results: dict[Arm, dict[int, tuple[Fit, ...]]] = {"null": {}, "alternative": {}}
    total, done = 2 * reps, 0
    if progress is not None:
        progress(0, total)
    start = time.perf_counter()
    for task, rows in _execute(tasks, min(workers, len(tasks))):
        for rep, fits in rows:
            results[task.arm][rep] = fits
        done += len(rows)
        if progress is not None:
            progress(done, total)
    seconds = time.perf_counter() - start

    ordered: dict[Arm, tuple[tuple[Fit, ...], ...]] = {
        arm: tuple(results[arm][r] for r in range(reps)) for arm in ("null", "alternative")
    }
    estimands = []
    for position, analysis_id in enumerate(ids):
        spec = protocol.analysis_spec(analysis_id)
        estimands.append(
            _summarise(
                spec,
                truth=true_effect(alternative, protocol, spec),
                null_fits=[trial[position] for trial in ordered["null"]],
                alt_fits=[trial[position] for trial in ordered["alternative"]],
                alpha=level,
                protocol=protocol,
            )
        )
    return CheckResult(
        protocol_id=protocol.id,
        n=int(size),
        reps=reps,
        seed=seed,
        alpha=level,
        jobs=min(workers, len(tasks)),
        seconds=seconds,
        estimands=tuple(estimands),
        fits=ordered,
    )


__all__ = [
    "CheckResult",
    "EstimandCheck",
    "Fit",
    "Interval",
    "default_analyses",
    "published_se",
    "simulation_check",
]
