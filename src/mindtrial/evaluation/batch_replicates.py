"""The worker's side of batch simulation power: draw a chunk of replicate outcomes from a
fixed design's model, fit them all at once and return the estimand per replicate.

numpy, scipy and :mod:`mindtrial.evaluation.batch_fits` only (no pandas, no estimator
package): a fresh worker process (joblib, Dask) starts quickly. The template, the single
fits of the rare replicates the vectorised fit hands back, and the results' bookkeeping
stay in the parent (:mod:`mindtrial.evaluation.batch_power`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from mindtrial.evaluation.batch_fits import (
    BatchFit,
    Clusters,
    RandomInterceptDesign,
    gee_binomial,
    lmm_random_intercept,
)


@dataclass(frozen=True)
class ReplicateDesign:
    """The fixed design and the model replicates are drawn from (arrays only, picklable)."""

    model: str  # "gee" (logistic GEE) or "lmm" (random-intercept LMM)
    x: np.ndarray  # (rows, p), rows contiguous per cluster
    codes: np.ndarray  # cluster of each row
    beta: np.ndarray  # generating coefficients (effect set)
    exchangeable: bool  # GEE working correlation (else independence)
    alpha: float  # GEE: the exchangeable correlation the binary rows are drawn with
    tau2: float  # LMM: random-intercept variance
    sigma2: float  # LMM: residual variance
    weights: np.ndarray | None  # the estimand as a linear combination of beta
    x_reference: np.ndarray | None  # GEE percentages: every row set to the reference arm
    x_comparison: np.ndarray | None

    @property
    def clusters(self) -> Clusters:
        return Clusters.of(self.codes)


def draw_outcomes(design: ReplicateDesign, seeds: Sequence[int]) -> np.ndarray:
    """One outcome vector per seed, drawn from the design's model: ``(len(seeds), rows)``.

    Binary (GEE): row ``j`` of cluster ``i`` is ``1`` when ``U_ij < p_ij`` with ``p`` the
    model's marginal probability; ``U_ij`` is the cluster's shared uniform with probability
    ``sqrt(alpha)``, else the row's own, so every row keeps its marginal probability and two
    rows of a cluster with equal ``p`` correlate by ``alpha``. Gaussian (LMM):
    ``X beta + b_i + e_ij`` with ``b_i ~ N(0, tau^2)`` and ``e_ij ~ N(0, sigma^2)``.
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


def fit_all(design: ReplicateDesign, y: np.ndarray) -> BatchFit:
    """Every replicate's fit, vectorised (``refit`` marks those to fit one by one)."""
    if design.model == "gee":
        return gee_binomial(y, design.x, design.clusters, exchangeable=design.exchangeable)
    return lmm_random_intercept(RandomInterceptDesign(design.x, design.clusters), y)


def contrasts(design: ReplicateDesign, fit: BatchFit) -> tuple[np.ndarray, np.ndarray]:
    """The estimand's estimate and SE per replicate, comparison − reference on the model's
    scale (proportions for percentages, log for an odds ratio), as the runner's summaries
    compute them (the delta method for model-based percentages)."""
    beta, cov = fit.beta, fit.cov
    with np.errstate(invalid="ignore"):
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


@dataclass(frozen=True)
class ChunkTask:
    """Replicates ``reps`` (with their ``seeds``) of one design."""

    design: ReplicateDesign
    n: int
    reps: tuple[int, ...]
    seeds: tuple[int, ...]
    key: str


@dataclass(frozen=True)
class ChunkResult:
    """The estimand of each replicate of a :class:`ChunkTask` (arrays in ``reps`` order)."""

    n: int
    reps: tuple[int, ...]
    seeds: tuple[int, ...]
    key: str
    estimate: np.ndarray
    std_error: np.ndarray
    ok: np.ndarray
    converged: np.ndarray
    boundary: np.ndarray
    refit: np.ndarray
    seconds: float


def run_chunk(task: ChunkTask) -> ChunkResult:
    """Draw and fit one chunk (executed in workers, with one BLAS thread: the matrices are
    narrow and threads only contend on a shared machine)."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    start = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):
        y = draw_outcomes(task.design, task.seeds)
        fit = fit_all(task.design, y)
        estimate, se = contrasts(task.design, fit)
    return ChunkResult(
        n=task.n,
        reps=task.reps,
        seeds=task.seeds,
        key=task.key,
        estimate=estimate,
        std_error=se,
        ok=fit.ok,
        converged=fit.converged,
        boundary=fit.boundary,
        refit=fit.refit,
        seconds=time.perf_counter() - start,
    )


__all__ = [
    "ChunkResult",
    "ChunkTask",
    "ReplicateDesign",
    "contrasts",
    "draw_outcomes",
    "fit_all",
    "run_chunk",
]
