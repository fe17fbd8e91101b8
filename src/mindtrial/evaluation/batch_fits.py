"""One design, many outcome vectors: the plans' GEE and random-intercept mixed model fitted to
all replicates at once.

Each function takes the design (rows sorted by cluster) and a matrix ``y`` of shape
``(reps, rows)``, and returns every replicate's estimates and covariance, computed as
:func:`mindtrial.analysis.models.fit_gee` and :func:`mindtrial.analysis.models.fit_lmm`
compute them for one outcome vector (same starting values, iterations, stopping rules and
variance formulas), but with numpy arrays over replicates instead of a Python loop:

* GEE (exchangeable or independence working correlation, binomial): every replicate's
  IRLS start and Fisher-scoring steps run together on arrays of shape ``(reps, p)``; the
  row sums ``sum v x x'`` are one product of the ``(reps, rows)`` weights with the rows'
  ``x x'`` (shared), and the cluster sums come from one ``reduceat``; a replicate stops
  iterating when its own step is small, as a single fit does.
* Random-intercept LMM (ML): ``X'X``, the cluster sums of ``X`` and their products per
  cluster size are shared by all replicates; only ``X'y``, the cluster sums of ``y`` and
  ``y'y`` change. The profiled deviance is evaluated for all replicates on the single fit's grid
  of the variance ratio (one Cholesky factor per grid point serves every replicate), then
  each replicate's optimum is the root of the deviance's derivative (closed form) between
  the grid neighbours of its best grid point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, special

_GRID = np.concatenate(([0.0], np.geomspace(1e-3, 1e3, 49)))
"""Relative random-intercept SDs tried first (the single fit's grid)."""


@dataclass(frozen=True)
class BatchFit:
    """Estimates of every replicate (row ``r`` of each array is replicate ``r``).

    ``ok`` is false where the fit gave no usable numbers (then ``beta``/``cov`` are NaN);
    ``converged`` as the single fit reports it; ``boundary`` marks a random-intercept
    variance estimated at 0 (lme4's singular fit); ``refit`` marks replicates this module
    could not follow exactly (a caller fits those one by one)."""

    beta: np.ndarray  # (reps, p)
    cov: np.ndarray  # (reps, p, p)
    converged: np.ndarray  # (reps,) bool
    ok: np.ndarray  # (reps,) bool
    boundary: np.ndarray  # (reps,) bool
    refit: np.ndarray  # (reps,) bool
    theta: np.ndarray | None = None  # LMM: random-intercept SD / residual SD


@dataclass(frozen=True)
class Clusters:
    """Rows sorted by cluster: cluster index per row, first row and size of each cluster."""

    codes: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray

    @staticmethod
    def of(codes: np.ndarray) -> Clusters:
        """From cluster codes of rows that are already contiguous per cluster."""
        starts = np.concatenate(([0], np.flatnonzero(np.diff(codes)) + 1))
        sizes = np.diff(np.concatenate((starts, [len(codes)])))
        dense = np.repeat(np.arange(len(starts)), sizes)
        return Clusters(codes=dense, starts=starts, sizes=sizes)

    def sums(self, values: np.ndarray) -> np.ndarray:
        """Per-cluster sums along axis 1 of ``(reps, rows, ...)`` values."""
        summed: np.ndarray = np.add.reduceat(values, self.starts, axis=1)
        return summed


def _outer_rows(x: np.ndarray) -> np.ndarray:
    """``x_n x_n'`` of every row, flattened: ``(rows, p * p)``."""
    outer: np.ndarray = (x[:, :, None] * x[:, None, :]).reshape(len(x), -1)
    return outer


def _batched_solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    solved: np.ndarray = np.linalg.solve(a, b[..., None])[..., 0]
    return solved


def _glm_start(y: np.ndarray, x: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Independence-GLM (logistic IRLS) estimates of every replicate: the GEE's start, with
    the single fit's starting values and stopping rule (at most 50 steps)."""
    reps, p = y.shape[0], x.shape[1]
    mu = (y + 0.5) / 2.0
    eta = np.log(mu / (1 - mu))
    beta = np.zeros((reps, p))
    active = np.arange(reps)
    for _ in range(50):
        e = eta[active]
        m = special.expit(e)
        v = m * (1.0 - m)
        z = e + (y[active] - m) / v
        new = _batched_solve((v @ xx).reshape(-1, p, p), (v * z) @ x)
        eta[active] = new @ x.T
        small = np.max(np.abs(new - beta[active]), axis=1) <= 1e-10 * (
            1 + np.max(np.abs(new), axis=1)
        )
        beta[active] = new
        active = active[~small]
        if not active.size:
            break
    return beta


def _exchangeable_alpha(r: np.ndarray, cl: Clusters) -> np.ndarray:
    """geepack's moment estimate of the exchangeable correlation, per replicate."""
    phi = np.mean(r * r, axis=1)
    totals = cl.sums(r)
    squares = cl.sums(r * r)
    n_pairs = float(np.sum(cl.sizes * (cl.sizes - 1) / 2))
    if not n_pairs:
        return np.zeros(len(r))
    pairs = np.sum((totals**2 - squares) / 2, axis=1)
    alpha: np.ndarray = pairs / n_pairs / phi
    return alpha


@dataclass(frozen=True)
class _GeeStep:
    r: np.ndarray  # Pearson residuals (reps, rows)
    sv: np.ndarray  # sqrt of the variance (reps, rows)
    alpha: np.ndarray  # (reps,)
    c: np.ndarray  # (reps, clusters): alpha / (1 - alpha + n_i alpha)
    s: np.ndarray  # cluster sums of sv * x (reps, clusters, p)
    t: np.ndarray  # cluster sums of r (reps, clusters)
    info: np.ndarray  # (reps, p, p)
    score: np.ndarray  # (reps, p)


def _gee_step(
    y: np.ndarray, beta: np.ndarray, x: np.ndarray, xx: np.ndarray, cl: Clusters, exch: bool
) -> _GeeStep:
    p = x.shape[1]
    mu = special.expit(beta @ x.T)
    v = mu * (1.0 - mu)
    sv = np.sqrt(v)
    r = (y - mu) / sv
    alpha = _exchangeable_alpha(r, cl) if exch else np.zeros(len(y))
    c = alpha[:, None] / (1.0 - alpha[:, None] + cl.sizes[None, :] * alpha[:, None])
    s = cl.sums(sv[:, :, None] * x[None, :, :])
    t = cl.sums(r)
    scale = (1.0 - alpha)[:, None]
    info = ((v @ xx) - np.einsum("rg,rgp,rgq->rpq", c, s, s).reshape(len(y), -1)) / scale
    score = ((sv * r) @ x - np.einsum("rg,rgp,rg->rp", c, s, t)) / scale
    return _GeeStep(r, sv, alpha, c, s, t, info.reshape(-1, p, p), score)


def gee_binomial(
    y: np.ndarray,
    x: np.ndarray,
    clusters: Clusters,
    *,
    exchangeable: bool,
    maxiter: int = 100,
    tol: float = 1e-10,
) -> BatchFit:
    """Logistic GEE of every replicate (rows of ``y``) with robust (sandwich) covariance, as
    :func:`~mindtrial.analysis.models.fit_gee` with ``family="binomial"`` and an
    exchangeable (or independence) working correlation."""
    reps, p = y.shape[0], x.shape[1]
    xx = _outer_rows(x)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        try:
            beta = _glm_start(y, x, xx)
        except np.linalg.LinAlgError:
            return _all_refit(reps, p)
        converged = np.zeros(reps, dtype=bool)
        stopped = np.zeros(reps, dtype=bool)  # non-finite estimates: the single fit breaks
        active = np.arange(reps)
        for _ in range(maxiter):
            step_of = _gee_step(y[active], beta[active], x, xx, clusters, exchangeable)
            try:
                step = _batched_solve(step_of.info, step_of.score)
            except np.linalg.LinAlgError:
                return _all_refit(reps, p)
            new = beta[active] + step
            beta[active] = new
            finite = np.all(np.isfinite(new), axis=1)
            small = np.max(np.abs(step), axis=1) <= tol * (1.0 + np.max(np.abs(new), axis=1))
            done = finite & small
            converged[active[done]] = True
            stopped[active[~finite]] = True
            active = active[~(done | ~finite)]
            if not active.size:
                break
        final = _gee_step(y, beta, x, xx, clusters, exchangeable)
        scale = (1.0 - final.alpha)[:, None]
        w = (final.r - final.c[:, clusters.codes] * final.t[:, clusters.codes]) / scale
        per_cluster = clusters.sums((final.sv * w)[:, :, None] * x[None, :, :])
        meat = np.einsum("rgp,rgq->rpq", per_cluster, per_cluster)
        score_norm = np.sqrt(np.sum(final.score**2, axis=1))
        try:
            bread = np.linalg.inv(final.info)
        except np.linalg.LinAlgError:
            return _all_refit(reps, p)
        cov = bread @ meat @ bread
        cov = (cov + np.swapaxes(cov, 1, 2)) / 2
    finite = np.all(np.isfinite(beta), axis=1) & np.all(np.isfinite(cov), axis=(1, 2))
    return BatchFit(
        beta=beta,
        cov=cov,
        converged=converged & ~stopped & finite & (score_norm <= 1e-6),
        ok=finite,
        boundary=np.zeros(reps, dtype=bool),
        refit=np.zeros(reps, dtype=bool),
    )


def _all_refit(reps: int, p: int) -> BatchFit:
    nan = np.full((reps, p), np.nan)
    return BatchFit(
        beta=nan,
        cov=np.full((reps, p, p), np.nan),
        converged=np.zeros(reps, dtype=bool),
        ok=np.zeros(reps, dtype=bool),
        boundary=np.zeros(reps, dtype=bool),
        refit=np.ones(reps, dtype=bool),
    )


# --------------------------------------------------------------------------- random intercept


class RandomInterceptDesign:
    """What every replicate of ``y = X beta + b_i + e`` shares: ``X'X``, the cluster sums
    of ``X`` and, per distinct cluster size ``m_k``, the sum of their outer products."""

    def __init__(self, x: np.ndarray, clusters: Clusters) -> None:
        self.x = x
        self.clusters = clusters
        self.n, self.p = x.shape
        self.xtx = x.T @ x
        self.xtx_factor = linalg.cho_factor(self.xtx)
        self.zx = np.add.reduceat(x, clusters.starts, axis=0)  # (G, p)
        sizes, kinds = np.unique(clusters.sizes, return_inverse=True)
        self.m = sizes.astype(float)  # (K,)
        self.kind = kinds  # size class of each cluster
        self.count = np.bincount(kinds, minlength=len(sizes)).astype(float)
        self.indicator = np.eye(len(sizes))[kinds]  # (G, K)
        zxzx = self.indicator.T @ _outer_rows(self.zx)  # (K, p * p)
        self.zxzx_flat = zxzx


@dataclass(frozen=True)
class _Sums:
    """Per-replicate sums of the least-squares residuals ``e`` (``y`` less its OLS fit)."""

    beta0: np.ndarray  # (R, p) least squares
    xty: np.ndarray  # (R, p)  X'e
    yty: np.ndarray  # (R,)    e'e
    zy: np.ndarray  # (R, G)  cluster sums of e


def _sums(d: RandomInterceptDesign, y: np.ndarray) -> _Sums:
    beta0 = linalg.cho_solve(d.xtx_factor, d.x.T @ y.T).T
    e = y - beta0 @ d.x.T
    return _Sums(beta0, e @ d.x, np.sum(e * e, axis=1), d.clusters.sums(e))


@dataclass(frozen=True)
class _Profile:
    b: np.ndarray  # (R, p) correction to beta0
    info: np.ndarray  # (R, p, p) or (p, p): X'V^-1X sigma^2
    q: np.ndarray  # (R,) penalised residual sum of squares
    within: np.ndarray  # (R, K) per size: sum of (z_i'e_i - z_i'X_i b)^2
    deviance: np.ndarray  # (R,)


def _profile(d: RandomInterceptDesign, s: _Sums, t2: np.ndarray) -> _Profile:
    """lme4's ML profiled deviance at ``theta^2 = t2`` (a scalar shared by all replicates,
    or one value per replicate), as :class:`~mindtrial.analysis.models.OneReProfile`."""
    k = d.p
    t2 = np.asarray(t2, dtype=float)
    c = t2[..., None] / (1.0 + t2[..., None] * d.m)  # (K,) or (R, K)
    c_group = c[..., d.kind]  # (G,) or (R, G)
    rhs = s.xty - (s.zy * c_group) @ d.zx
    if c.ndim == 1:
        info = d.xtx - (c @ d.zxzx_flat).reshape(k, k)
        b = linalg.cho_solve(linalg.cho_factor(info, check_finite=False), rhs.T).T
    else:
        info = d.xtx[None] - (c @ d.zxzx_flat).reshape(-1, k, k)
        b = _batched_solve(info, rhs)
    within = (s.zy - b @ d.zx.T) ** 2 @ d.indicator
    q = (
        s.yty
        - 2.0 * np.sum(b * s.xty, axis=1)
        + np.sum((b @ d.xtx) * b, axis=1)
        - np.sum(c * within, axis=1)
    )
    logdet = np.log1p(t2[..., None] * d.m) @ d.count
    deviance = logdet + d.n * (1.0 + np.log(2.0 * np.pi * q / d.n))
    return _Profile(b, info, q, within, deviance)


def _slope(d: RandomInterceptDesign, t2: np.ndarray, prof: _Profile) -> np.ndarray:
    """The derivative of the deviance in ``theta^2`` (per replicate)."""
    denom = 1.0 + t2[:, None] * d.m
    first = (d.count * d.m / denom).sum(axis=1)
    slope: np.ndarray = first - d.n / prof.q * np.sum(prof.within / denom**2, axis=1)
    return slope


def lmm_random_intercept(design: RandomInterceptDesign, y: np.ndarray) -> BatchFit:
    """ML random-intercept LMM of every replicate, as :func:`~mindtrial.analysis.models.fit_lmm`
    (lme4's profiled deviance; a variance ratio on the boundary gives the linear model)."""
    d = design
    reps = y.shape[0]
    s = _sums(d, y)
    grid_dev = np.stack([_profile(d, s, np.asarray(t * t)).deviance for t in _GRID], axis=1)
    best = np.argmin(grid_dev, axis=1)
    refit = best == len(_GRID) - 1  # optimum beyond the grid: fitted one by one
    lo = _GRID[np.maximum(best - 1, 0)] ** 2
    hi = _GRID[np.minimum(best + 1, len(_GRID) - 1)] ** 2
    f_lo = _slope(d, lo, _profile(d, s, lo))
    f_hi = _slope(d, hi, _profile(d, s, hi))
    boundary = (best == 0) & (f_lo >= 0)
    bracketed = (f_lo < 0) & (f_hi > 0)
    refit |= ~boundary & ~bracketed
    t2 = np.where(boundary | refit, 0.0, (lo + hi) / 2)
    work = np.flatnonzero(~boundary & ~refit)
    # Illinois (modified regula falsi) on the derivative, all replicates together
    a, b_, fa, fb = lo[work], hi[work], f_lo[work], f_hi[work]
    sums = _take(s, work)
    side = np.zeros(len(work), dtype=int)
    root = (a + b_) / 2
    done = np.zeros(len(work), dtype=bool)
    for _ in range(200):
        if done.all():
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            guess = (a * fb - b_ * fa) / (fb - fa)
        guess = np.where(np.isfinite(guess) & (guess > a) & (guess < b_), guess, (a + b_) / 2)
        new = np.where(done, root, guess)
        fr = _slope(d, new, _profile(d, sums, new))
        done |= (np.abs(new - root) <= 1e-15 * new) | (fr == 0)
        root = new
        left = fr < 0
        a, fa = np.where(left, root, a), np.where(left, fr, fa)
        b_, fb = np.where(left, b_, root), np.where(left, fb, fr)
        fb = np.where(left & (side == 1), fb / 2, fb)  # the same end moved twice: Illinois
        fa = np.where(~left & (side == -1), fa / 2, fa)
        side = np.where(left, 1, -1)
        done |= (b_ - a) <= 1e-15 * b_
    t2[work] = root
    sol = _profile(d, s, t2)
    # lme4's singular fit: the boundary wins when its deviance is no higher
    zero = _profile(d, s, np.zeros(reps))
    boundary |= ~refit & (zero.deviance <= sol.deviance)
    sol = _profile(d, s, np.where(boundary, 0.0, t2))
    scale = sol.q / d.n
    inverse = np.linalg.inv(sol.info)
    cov = scale[:, None, None] * (inverse + np.swapaxes(inverse, 1, 2)) / 2
    beta = s.beta0 + sol.b
    ok = ~refit & np.all(np.isfinite(beta), axis=1) & np.all(np.isfinite(cov), axis=(1, 2))
    return BatchFit(
        beta=np.where(ok[:, None], beta, np.nan),
        cov=np.where(ok[:, None, None], cov, np.nan),
        converged=ok,
        ok=ok,
        boundary=boundary & ok,
        refit=refit,
        theta=np.where(ok, np.sqrt(np.where(boundary, 0.0, t2)), np.nan),
    )


def _take(s: _Sums, rows: np.ndarray) -> _Sums:
    return _Sums(s.beta0[rows], s.xty[rows], s.yty[rows], s.zy[rows])


__all__ = ["BatchFit", "Clusters", "RandomInterceptDesign", "gee_binomial", "lmm_random_intercept"]
