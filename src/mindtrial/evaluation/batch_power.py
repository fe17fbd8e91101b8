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
from mindtrial.analysis.results import GeeResult, MixedResult, ModelResult
from mindtrial.design.power import PowerError
from mindtrial.evaluation import batch_replicates as replicates
from mindtrial.evaluation.batch_fits import BatchFit
from mindtrial.evaluation.batch_replicates import (
    ChunkResult,
    ChunkTask,
    ReplicateDesign,
    run_chunk,
)
from mindtrial.evaluation.simulation_power import (
    ProgressCallback,
    RepResult,
    SimulationPowerResult,
    check_run,
    config_key,
    read_results,
    record_reps,
    rep_seed,
    summarise_reps,
)
from mindtrial.protocols.schema import AnalysisSpec, Protocol

CHUNK = 50
"""Replicates fitted together in one task (the unit a worker runs and a checkpoint holds)."""

_Z = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class BatchDesign:
    """The replicates' design and model at one n (``core``, what workers get) and the
    template's rows and formula (for the rare replicate fitted one by one)."""

    core: ReplicateDesign
    frame: pd.DataFrame  # the template's analysed rows (contiguous per participant)
    formula: str
    outcome: str
    time: str | None
    levels: dict[str, list[str]]
    terms: tuple[str, ...]
    measure: str  # the estimand's measure
    sign: float  # -1 when the estimand reports improvement positive
    target: float  # the effect the replicates are drawn with (comparison − reference)


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

    if spec.model not in ("gee_logistic", "lmm_gaussian"):
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
        alpha = float(result.alpha or 0.0) if isinstance(result, GeeResult) else 0.0
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
        assert isinstance(result, MixedResult)
        assert result.random_effects_cov is not None and result.residual_variance is not None
        tau2 = float(result.random_effects_cov.to_numpy(dtype=float)[0, 0])
        sigma2 = float(result.residual_variance)
    core = ReplicateDesign(
        model="gee" if spec.model == "gee_logistic" else "lmm",
        x=x,
        codes=codes,
        beta=beta,
        exchangeable=(spec.correlation or "exchangeable") == "exchangeable",
        alpha=alpha,
        tau2=tau2,
        sigma2=sigma2,
        weights=weights,
        x_reference=x_ref,
        x_comparison=x_cmp,
    )
    return BatchDesign(
        core=core,
        frame=frame,
        formula=main.formula,
        outcome=main.data.outcome,
        time=main.data.time,
        levels={ARM: list(arms.levels)},
        terms=terms,
        measure=measure,
        sign=sign,
        target=raw,
    )


# --------------------------------------------------------------------------- replicates


def draw_outcomes(design: BatchDesign, seeds: Sequence[int]) -> np.ndarray:
    """The replicate outcome vectors of ``seeds`` (see :func:`.batch_replicates.draw_outcomes`)."""
    return replicates.draw_outcomes(design.core, seeds)


def fit_replicates(design: BatchDesign, y: np.ndarray) -> BatchFit:
    """Every replicate's fit: vectorised, and one by one (the single-fit estimators) for the
    few replicates the vectorised fit hands back (``refit``)."""
    fit = replicates.fit_all(design.core, y)
    for r in np.flatnonzero(fit.refit):
        beta, cov, converged, boundary = _single_fit(design, y[r])
        fit.beta[r], fit.cov[r] = beta, cov
        fit.converged[r], fit.boundary[r] = converged, boundary
        fit.ok[r] = bool(np.all(np.isfinite(beta)) and np.all(np.isfinite(cov)))
    return fit


def contrasts(design: BatchDesign, fit: BatchFit) -> tuple[np.ndarray, np.ndarray]:
    """The estimand per replicate (see :func:`.batch_replicates.contrasts`)."""
    return replicates.contrasts(design.core, fit)


def _single_fit(design: BatchDesign, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool, bool]:
    from mindtrial.analysis.models import fit_gee, fit_lmm

    frame = design.frame.assign(**{design.outcome: y})
    p = len(design.terms)
    result: ModelResult
    try:
        if design.core.model == "gee":
            result = fit_gee(
                frame,
                design.formula,
                groups=ID,
                family="binomial",
                cov_struct="exchangeable" if design.core.exchangeable else "independence",
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


def _refitted(design: BatchDesign, chunk: ChunkResult) -> ChunkResult:
    """``chunk`` with the replicates the vectorised fit handed back fitted one by one."""
    rows = np.flatnonzero(chunk.refit)
    if not rows.size:
        return chunk
    y = draw_outcomes(design, [chunk.seeds[i] for i in rows])
    fits = [_single_fit(design, y[j]) for j in range(len(rows))]
    beta = np.array([f[0] for f in fits])
    cov = np.array([f[1] for f in fits])
    ok = np.all(np.isfinite(beta), axis=1) & np.all(np.isfinite(cov), axis=(1, 2))
    none = np.zeros(len(rows), dtype=bool)
    single = BatchFit(beta, cov, np.array([f[2] for f in fits]), ok, none, none)
    estimate, se = replicates.contrasts(design.core, single)
    arrays = {
        name: getattr(chunk, name).copy()
        for name in ("estimate", "std_error", "ok", "converged", "boundary")
    }
    arrays["estimate"][rows], arrays["std_error"][rows] = estimate, se
    arrays["ok"][rows], arrays["converged"][rows] = ok, single.converged
    arrays["boundary"][rows] = [f[3] for f in fits]
    return dataclasses.replace(chunk, **arrays)


def _rep_results(design: BatchDesign, chunk: ChunkResult, alpha: float) -> list[RepResult]:
    """One :class:`RepResult` per replicate of ``chunk``: the estimand on its reported scale
    and sign, its Wald interval and p-value (normal), as the runner's summaries give them."""
    chunk = _refitted(design, chunk)
    elapsed = chunk.seconds / len(chunk.reps)
    out: list[RepResult] = []
    for i, (rep, seed) in enumerate(zip(chunk.reps, chunk.seeds, strict=True)):
        est, s = float(chunk.estimate[i]), float(chunk.std_error[i])
        if not (chunk.ok[i] and math.isfinite(est) and math.isfinite(s) and s > 0):
            error = "the fit gave no finite estimate and standard error"
            out.append(RepResult(chunk.key, chunk.n, rep, seed, "error", error=error))
            continue
        p_value = float(2 * stats.norm.sf(abs(est / s)))
        low, high = est - _Z * s, est + _Z * s
        if design.measure == "odds_ratio":
            value, low, high = math.exp(est), math.exp(low), math.exp(high)
        else:
            unit = 100.0 if design.core.model == "gee" else 1.0
            value, s, low, high = est * unit, s * unit, low * unit, high * unit
            if design.sign < 0:
                value, low, high = -value, -high, -low
        status = "ok" if chunk.converged[i] and not chunk.boundary[i] else "warning"
        out.append(
            RepResult(
                key=chunk.key,
                n=chunk.n,
                rep=rep,
                seed=seed,
                status=status,
                estimate=value,
                std_error=s,
                ci_lower=low,
                ci_upper=high,
                p_value=p_value,
                significant=bool(p_value < alpha),
                seconds=elapsed,
            )
        )
    return out


# --------------------------------------------------------------------------- the run


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
    chosen, spec, level = check_run(
        protocol, reps=reps, jobs=jobs, analysis_id=analysis_id, alpha=alpha
    )
    if chunk < 1:
        raise PowerError(f"chunk must be at least 1, got {chunk}")
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
        key = config_key(
            {
                "engine": "batch",
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
    tasks: list[ChunkTask] = []
    for run in runs:
        for k in sizes:
            for first in range(0, reps, chunk):
                block = tuple(range(first, min(first + chunk, reps)))
                if all((k, r) in run.done for r in block):
                    continue
                seeds = tuple(rep_seed(seed, k, r) for r in block)
                tasks.append(ChunkTask(run.designs[k].core, k, block, seeds, run.key))
    by_key = {run.key: run for run in runs}
    start = time.perf_counter()
    record_reps(
        run_chunk,
        tasks,
        lambda part: _rep_results(by_key[part.key].designs[part.n], part, level),
        {run.key: run.done for run in runs},
        path=path,
        jobs=jobs,
        dask_address=dask_address,
        progress=progress,
        total=len(runs) * len(sizes) * reps,
        already=sum((k, r) in run.done for run in runs for k in sizes for r in range(reps)),
    )
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
    "batch_power",
    "build_design",
    "contrasts",
    "draw_outcomes",
    "fit_replicates",
]
