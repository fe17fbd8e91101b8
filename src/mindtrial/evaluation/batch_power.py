"""Batch simulation power: one fixed design, many replicate outcomes, fitted all at once.

:func:`batch_power` answers the question simr answers: with *this* design (these
participants, arms, covariates and observed visits), how often does the prespecified
analysis find the stated effect? For each n:

1. a **template** fixes the design: the trial :func:`mindtrial.simulate.simulate_trial`
   simulates with the run's seed (or a study dataset the user gives), through the runner's
   own frame and formula (:func:`mindtrial.analysis.runner.fit_main_model`); its analysed
   rows (the observed outcomes' rows and pattern of visits) are the rows of every replicate;
2. the analysis model, **fitted to the template**, gives the nuisance parameters (the
   coefficients of time and covariates, the GEE working correlation, the LMM's two
   variances); the arm terms are replaced so that the model's estimand equals the effect
   (the scenario's truth, :func:`mindtrial.simulate.effects.true_effect`, or ``effect``);
3. every replicate draws a new outcome vector from that model (its own seed,
   :func:`~mindtrial.evaluation.simulation_power.rep_seed`), and all replicates are fitted
   together (:mod:`mindtrial.evaluation.batch_fits`), giving the estimand's estimate, SE
   and p-value as :func:`~mindtrial.analysis.runner.run_analysis` would on the same rows.

What this conditions on: the design is the template's for every replicate. Attrition,
missed visits, covariates and arm sizes do not vary between replicates, and outcomes come
from the analysis model itself (binary outcomes with the fitted exchangeable correlation,
LMM outcomes with normal random intercepts and errors), not from the trial simulator. The
full engine (:func:`~mindtrial.evaluation.simulation_power.simulation_power`) simulates a
whole new trial each time and runs the complete pipeline; it is slower and is the one to
use when the design itself is uncertain.

Supported analyses: logistic GEE (exchangeable or independence working correlation) and
random-intercept linear mixed models (the plans' ``gee_logistic`` and ``lmm``); others raise
:class:`~mindtrial.design.power.PowerError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from mindtrial.analysis.errors import AnalysisError
from mindtrial.analysis.plans.frames import ARM, ID
from mindtrial.design.power import PowerError, check_alpha
from mindtrial.evaluation.batch_fits import (
    BatchFit,
    Clusters,
    RandomInterceptDesign,
    gee_binomial,
    lmm_random_intercept,
)
from mindtrial.evaluation.simulation_power import (
    ProgressCallback,
    RepResult,
    SimulationPowerResult,
    append_result,
    execute,
    read_results,
    rep_seed,
    summarise_reps,
)
from mindtrial.protocols.schema import AnalysisSpec, Protocol

CHUNK = 50
"""Replicates fitted together in one task (the unit a worker runs and a checkpoint holds)."""

_Z = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class BatchDesign:
    """Everything a worker needs for the replicates at one n (picklable)."""

    model: str  # "gee" or "lmm"
    frame: pd.DataFrame  # the template's analysed rows (sorted by cluster)
    formula: str
    outcome: str
    time: str | None
    levels: dict[str, list[str]]
    x: np.ndarray  # (rows, p)
    codes: np.ndarray  # cluster of each row (contiguous)
    terms: tuple[str, ...]
    beta: np.ndarray  # generating coefficients (effect set)
    exchangeable: bool  # GEE working correlation
    alpha: float  # GEE: the fitted exchangeable correlation
    tau2: float  # LMM: random-intercept variance
    sigma2: float  # LMM: residual variance
    measure: str  # the estimand's measure
    weights: np.ndarray | None  # linear contrast (LMM) or the arm term (odds ratio)
    x_reference: np.ndarray | None  # GEE percent: every row set to the reference arm
    x_comparison: np.ndarray | None
    sign: float  # -1 when the estimand reports improvement positive
    target: float  # the effect the replicates are drawn with (comparison − reference)

    @property
    def clusters(self) -> Clusters:
        return Clusters.of(self.codes)


@dataclass(frozen=True)
class BatchTask:
    design: BatchDesign
    n: int
    reps: tuple[int, ...]
    seeds: tuple[int, ...]
    alpha: float
    key: str


# --------------------------------------------------------------------------- template


def _arm_terms(terms: Sequence[str]) -> np.ndarray:
    """Terms that involve the arm (its main effect and its interactions)."""
    return np.array(
        [any(part.startswith(f"{ARM}[") for part in t.split(":")) for t in terms], dtype=bool
    )


def _counterfactual(result: Any, level: str) -> np.ndarray:
    """The analysed rows' design with every row set to one arm (as the marginal
    probabilities of :func:`mindtrial.analysis.contrasts.marginal_probabilities`)."""
    frame = result.data.copy()
    frame[ARM] = pd.Series([level] * len(frame), index=frame.index, dtype=frame[ARM].dtype)
    matrix: np.ndarray = result.design(frame)
    return matrix


def _percent_difference(beta: np.ndarray, x_cmp: np.ndarray, x_ref: np.ndarray) -> float:
    return float(np.mean(special.expit(x_cmp @ beta)) - np.mean(special.expit(x_ref @ beta)))


def build_design(dataset: Any, protocol: Protocol, spec: AnalysisSpec, raw: float) -> BatchDesign:
    """The batch design of ``spec`` on ``dataset`` (the template) with the effect set to
    ``raw``: comparison (first) arm minus reference (last) arm in percentage points or in
    the outcome's units, or their ratio for a ratio measure (the estimand's scale before
    any sign reversal, as ``--effect`` of the full engine)."""
    from mindtrial.analysis.plans.summaries import mean_rows
    from mindtrial.analysis.runner import fit_main_model

    if spec.model not in ("gee_logistic", "lmm"):
        raise PowerError(
            f"analysis {spec.id!r} ({spec.model}): the batch engine fits logistic GEEs and "
            "random-intercept mixed models; use the full engine (--engine full)"
        )
    if spec.model == "gee_logistic" and (spec.correlation or "exchangeable") == "ar1":
        raise PowerError(
            f"analysis {spec.id!r}: the batch engine has no AR(1) GEE; use --engine full"
        )
    try:
        main = fit_main_model(dataset, protocol, spec)
    except (AnalysisError, np.linalg.LinAlgError) as exc:
        raise PowerError(
            f"analysis {spec.id!r}: the template trial cannot be analysed ({exc})"
        ) from None
    result = main.result
    frame = result.data
    assert frame is not None and result.design is not None
    x = np.asarray(result.design(frame), dtype=float)
    codes = pd.factorize(frame[ID])[0]
    if np.any(np.diff(codes) < 0):
        order = np.argsort(codes, kind="stable")
        frame, x, codes = frame.iloc[order], x[order], codes[order]
    terms = tuple(result.terms)
    beta = result.coefficients["estimate"].to_numpy(dtype=float).copy()
    beta[_arm_terms(terms)] = 0.0
    measure = spec.estimand.measure
    sign = -1.0 if spec.estimand.flips_sign else 1.0
    arms = main.arms
    weights: np.ndarray | None = None
    x_ref = x_cmp = None
    if spec.model == "gee_logistic":
        arm_index = terms.index(f"{ARM}[T.{arms.comparison}]")
        if measure == "odds_ratio":
            if raw <= 0:
                raise PowerError(f"effect {raw:g}: an odds ratio must be positive")
            beta[arm_index] = math.log(raw)
            weights = np.eye(len(terms))[arm_index]
        else:
            x_ref = _counterfactual(result, arms.reference)
            x_cmp = _counterfactual(result, arms.comparison)
            goal = raw / 100.0

            def gap(b: float) -> float:
                trial = beta.copy()
                trial[arm_index] = b
                return _percent_difference(trial, x_cmp, x_ref) - goal

            try:
                beta[arm_index] = optimize.brentq(gap, -40.0, 40.0, xtol=1e-14)
            except ValueError:
                raise PowerError(
                    f"effect {raw:g} percentage points cannot be reached from the template's "
                    "control-arm percentage"
                ) from None
        alpha = float(result.alpha or 0.0)
        tau2 = sigma2 = 0.0
    else:
        data = main.data
        assert data.time is not None
        first, last = data.time_values[0], data.time_values[-1]
        keys = [(a, t) for a in arms.levels for t in (first, last)]
        rows = dict(
            zip(keys, mean_rows(result, [{ARM: a, data.time: t} for a, t in keys]), strict=True)
        )
        at_last = rows[(arms.comparison, last)] - rows[(arms.reference, last)]
        at_first = rows[(arms.comparison, first)] - rows[(arms.reference, first)]
        weights = at_last if measure == "difference_in_means" else at_last - at_first
        beta = beta + weights * raw / float(weights @ weights)
        alpha = 0.0
        assert result.random_effects_cov is not None and result.residual_variance is not None
        tau2 = float(result.random_effects_cov.to_numpy(dtype=float)[0, 0])
        sigma2 = float(result.residual_variance)
    return BatchDesign(
        model="gee" if spec.model == "gee_logistic" else "lmm",
        frame=frame,
        formula=main.formula,
        outcome=main.data.outcome,
        time=main.data.time,
        levels={ARM: list(arms.levels)},
        x=x,
        codes=codes,
        terms=terms,
        beta=beta,
        exchangeable=(spec.correlation or "exchangeable") == "exchangeable",
        alpha=alpha,
        tau2=tau2,
        sigma2=sigma2,
        measure=measure,
        weights=weights,
        x_reference=x_ref,
        x_comparison=x_cmp,
        sign=sign,
        target=raw,
    )


# --------------------------------------------------------------------------- replicates


def draw_outcomes(design: BatchDesign, seeds: Sequence[int]) -> np.ndarray:
    """One outcome vector per seed, drawn from the design's model: ``(len(seeds), rows)``.

    Binary (GEE): row ``j`` of cluster ``i`` is ``1`` when ``U_ij < p_ij`` with ``p`` the
    model's marginal probability; ``U_ij`` is the cluster's shared uniform with probability
    ``sqrt(alpha)``, else the row's own, so every row keeps its marginal probability and two
    rows of a cluster with equal ``p`` correlate by ``alpha`` (the fitted exchangeable
    correlation). Gaussian (LMM): ``X beta + b_i + e_ij`` with ``b_i ~ N(0, tau^2)`` and
    ``e_ij ~ N(0, sigma^2)``.
    """
    cl = design.clusters
    n_rows, n_clusters = len(design.x), len(cl.sizes)
    mean = design.x @ design.beta
    out = np.empty((len(seeds), n_rows))
    share = math.sqrt(max(design.alpha, 0.0)) if design.exchangeable else 0.0
    p = special.expit(mean)
    for i, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        if design.model == "gee":
            shared = rng.random(n_clusters)[cl.codes]
            own = rng.random(n_rows)
            u = np.where(rng.random(n_rows) < share, shared, own)
            out[i] = (u < p).astype(float)
        else:
            b = rng.standard_normal(n_clusters)[cl.codes] * math.sqrt(design.tau2)
            out[i] = mean + b + rng.standard_normal(n_rows) * math.sqrt(design.sigma2)
    return out


def fit_replicates(design: BatchDesign, y: np.ndarray) -> BatchFit:
    """Every replicate's fit: vectorised, and one by one (the single-fit estimators) for the
    few replicates the vectorised fit hands back (``refit``)."""
    if design.model == "gee":
        fit = gee_binomial(y, design.x, design.clusters, exchangeable=design.exchangeable)
    else:
        fit = lmm_random_intercept(RandomInterceptDesign(design.x, design.clusters), y)
    for r in np.flatnonzero(fit.refit):
        beta, cov, converged, boundary = _single_fit(design, y[r])
        fit.beta[r], fit.cov[r] = beta, cov
        fit.converged[r], fit.boundary[r] = converged, boundary
        fit.ok[r] = bool(np.all(np.isfinite(beta)) and np.all(np.isfinite(cov)))
    return fit


def _single_fit(design: BatchDesign, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool, bool]:
    from mindtrial.analysis.models import fit_gee, fit_lmm

    frame = design.frame.assign(**{design.outcome: y})
    p = len(design.terms)
    try:
        if design.model == "gee":
            result = fit_gee(
                frame,
                design.formula,
                groups=ID,
                family="binomial",
                cov_struct="exchangeable" if design.exchangeable else "independence",
                time=design.time,
                levels=design.levels,
            )
        else:
            result = fit_lmm(frame, design.formula, groups=ID, reml=False, levels=design.levels)
    except (AnalysisError, np.linalg.LinAlgError):
        return np.full(p, np.nan), np.full((p, p), np.nan), False, False
    boundary = any("estimated as 0" in w for w in result.warnings)
    return (
        result.coefficients["estimate"].to_numpy(dtype=float),
        result.cov_params.to_numpy(dtype=float),
        bool(result.converged),
        boundary,
    )


def contrasts(design: BatchDesign, fit: BatchFit) -> tuple[np.ndarray, np.ndarray]:
    """The estimand's estimate and SE per replicate, comparison − reference on the model's
    scale (proportions for percentages, log for an odds ratio), as the runner's summaries
    compute them (the delta method for model-based percentages)."""
    beta, cov = fit.beta, fit.cov
    if design.weights is not None:
        w = design.weights
        return beta @ w, np.sqrt(np.einsum("p,rpq,q->r", w, cov, w))
    assert design.x_comparison is not None and design.x_reference is not None
    parts = []
    for x in (design.x_comparison, design.x_reference):
        prob = 0.5 * (1.0 + np.tanh(0.5 * (beta @ x.T)))
        parts.append((prob.mean(axis=1), (prob * (1 - prob)) @ x / x.shape[0]))
    (p_cmp, g_cmp), (p_ref, g_ref) = parts
    g = g_cmp - g_ref
    return p_cmp - p_ref, np.sqrt(np.einsum("rp,rpq,rq->r", g, cov, g))


def run_batch(task: BatchTask) -> list[RepResult]:
    """Draw and fit one chunk of replicates (executed in workers)."""
    from mindtrial.analysis.models.common import single_threaded

    return single_threaded(_run_batch)(task)


def _run_batch(task: BatchTask) -> list[RepResult]:
    start = time.perf_counter()
    design = task.design
    y = draw_outcomes(design, task.seeds)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        fit = fit_replicates(design, y)
        estimate, se = contrasts(design, fit)
    elapsed = (time.perf_counter() - start) / len(task.reps)
    out: list[RepResult] = []
    for i, (rep, seed) in enumerate(zip(task.reps, task.seeds, strict=True)):
        est, s = float(estimate[i]), float(se[i])
        if not (fit.ok[i] and math.isfinite(est) and math.isfinite(s) and s > 0):
            out.append(
                RepResult(
                    task.key,
                    task.n,
                    rep,
                    seed,
                    "error",
                    error="the fit gave no finite estimate and standard error",
                    seconds=elapsed,
                )
            )
            continue
        p_value = float(2 * stats.norm.sf(abs(est / s)))
        low, high = est - _Z * s, est + _Z * s
        if design.measure == "odds_ratio":
            value, low, high = math.exp(est), math.exp(low), math.exp(high)
        else:
            unit = 100.0 if design.model == "gee" else 1.0
            value, s, low, high = est * unit, s * unit, low * unit, high * unit
            if design.sign < 0:
                value, low, high = -value, -high, -low
        status = "ok" if fit.converged[i] and not fit.boundary[i] else "warning"
        out.append(
            RepResult(
                key=task.key,
                n=task.n,
                rep=rep,
                seed=seed,
                status=status,
                estimate=value,
                std_error=s,
                ci_lower=low,
                ci_upper=high,
                p_value=p_value,
                significant=bool(p_value < task.alpha),
                seconds=elapsed,
            )
        )
    return out


# --------------------------------------------------------------------------- the run


def _key(design_key: dict[str, Any]) -> str:
    text = json.dumps({"engine": "batch", **design_key}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _frame_digest(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def batch_power(
    protocol: Protocol,
    *,
    n: int | Sequence[int] | None,
    reps: int,
    seed: int,
    analysis_id: str | None = None,
    scenario: Any | None = None,
    effect: float | Sequence[float] | None = None,
    alpha: float | None = None,
    template: Any | None = None,
    jobs: int = 1,
    dask_address: Any | None = None,
    resume: str | Path | None = None,
    progress: ProgressCallback | None = None,
    chunk: int = CHUNK,
) -> SimulationPowerResult:
    """Power of ``protocol``'s analysis ``analysis_id`` with the design fixed (see the
    module): ``reps`` replicate outcome vectors per n, fitted together.

    Args:
        n: randomized participants of the template trial (several: a curve; each n has its
            own template, simulated with ``seed``); ``None`` with a ``template`` dataset.
        template: a :class:`~mindtrial.dataset.StudyDataset` whose design is used instead of
            a simulated trial (``n`` must then be ``None``).
        effect: the effect, comparison (first) arm minus reference (last) arm, in
            percentage points for a logistic GEE's difference in percentages, in the
            outcome's units for a mixed model's difference in change (or in means), or the
            odds ratio; default the scenario's truth
            (:func:`mindtrial.simulate.effects.true_effect`). Several effects give a power
            curve against the effect (each point carries its ``effect``).
        chunk: replicates per task (results do not depend on it).

    The other arguments are those of
    :func:`~mindtrial.evaluation.simulation_power.simulation_power`.
    """
    from mindtrial.simulate import default_scenario, simulate_trial
    from mindtrial.simulate.effects import true_effect

    if template is None and not n:
        raise PowerError("n: give a sample size (or a study dataset as the template)")
    if template is not None and n:
        raise PowerError("n: a study dataset template fixes n; give one or the other")
    sizes = [] if template is not None else ([n] if isinstance(n, int) else list(n or []))
    if any(int(k) < 2 for k in sizes):
        raise PowerError(f"n: every sample size must be at least 2, got {sizes}")
    if reps < 1:
        raise PowerError(f"reps must be at least 1, got {reps}")
    if jobs < 1:
        raise PowerError(f"jobs must be at least 1, got {jobs}")
    if chunk < 1:
        raise PowerError(f"chunk must be at least 1, got {chunk}")
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
    base = default_scenario(protocol) if scenario is None else scenario
    sign = 1.0 if spec.estimand.is_ratio or not spec.estimand.flips_sign else -1.0
    given = [] if effect is None else ([effect] if isinstance(effect, int | float) else effect)
    scenario_truth = true_effect(base, protocol, spec) if not given else None
    if not given and scenario_truth is None:
        raise PowerError(
            f"analysis {chosen!r}: the scenario sets no effect for it; give the effect"
        )
    truths = [sign * float(e) for e in given] if given else [float(scenario_truth or 0.0)]
    effects = [sign * t for t in truths]  # comparison − reference
    trials = (
        {int(template.participants.shape[0]): template}
        if template is not None
        else {int(k): simulate_trial(protocol, n=int(k), seed=seed, scenario=base) for k in sizes}
    )
    sizes = list(trials)
    curve = len(effects) > 1
    path = Path(resume) if resume is not None else None
    runs: list[_EffectRun] = []
    for raw in effects:
        designs = {k: build_design(trial, protocol, spec, raw) for k, trial in trials.items()}
        key = _key(
            {
                "protocol": protocol.id,
                "version": protocol.version,
                "analysis": chosen,
                "scenario": base.model_dump_json(),
                "effect": raw,
                "seed": seed,
                "alpha": level,
                "designs": {str(k): _frame_digest(d.frame) for k, d in designs.items()},
            }
        )
        done = read_results(path, key) if path is not None else {}
        runs.append(_EffectRun(sign * raw, key, designs, done))
    resumed = sum(len(run.done) for run in runs)
    tasks: list[BatchTask] = []
    for run in runs:
        for k in sizes:
            for first in range(0, reps, chunk):
                block = tuple(range(first, min(first + chunk, reps)))
                if all((k, r) in run.done for r in block):
                    continue
                seeds = tuple(rep_seed(seed, k, r) for r in block)
                tasks.append(BatchTask(run.designs[k], k, block, seeds, level, run.key))
    total = len(runs) * len(sizes) * reps
    finished = resumed
    if progress is not None:
        progress(finished, total)
    by_key = {run.key: run.done for run in runs}
    start = time.perf_counter()
    handle = path.open("a", encoding="utf-8") if path is not None else None
    try:
        for results in execute(run_batch, tasks, jobs=jobs, dask_address=dask_address):
            for result in results:
                done = by_key[result.key]
                if (result.n, result.rep) in done:
                    continue
                done[(result.n, result.rep)] = result
                if handle is not None:
                    append_result(handle, result)
                finished += 1
            if progress is not None:
                progress(finished, total)
    finally:
        if handle is not None:
            handle.close()
    points = tuple(
        dataclasses.replace(
            summarise_reps(k, (run.done[(k, r)] for r in range(reps)), run.truth),
            effect=run.truth if curve else None,
        )
        for run in runs
        for k in sizes
    )
    return SimulationPowerResult(
        protocol_id=protocol.id,
        analysis_id=chosen,
        alpha=level,
        true_effect=None if curve else runs[0].truth,
        seed=seed,
        points=points,
        seconds=time.perf_counter() - start,
        resumed=resumed,
        results=tuple(run.done[(k, r)] for run in runs for k in sizes for r in range(reps)),
        engine="batch",
    )


@dataclass
class _EffectRun:
    """The replicates of one effect: its (oriented) truth, results key, designs per n and
    finished replicates."""

    truth: float
    key: str
    designs: dict[int, BatchDesign]
    done: dict[tuple[int, int], RepResult]


__all__ = [
    "CHUNK",
    "BatchDesign",
    "BatchTask",
    "batch_power",
    "build_design",
    "contrasts",
    "draw_outcomes",
    "fit_replicates",
    "run_batch",
]
