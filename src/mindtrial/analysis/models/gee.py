"""Generalized estimating equations, vectorised over clusters (geepack's estimators).

With a canonical link the GEE score and information need, per cluster, only the inverse of
the working correlation ``R_i`` applied to Pearson residuals and to ``sqrt(v) x`` rows.
Both working correlations used by the plans have closed-form inverses:

* exchangeable, ``R = (1 - a) I + a 11'``: ``R^-1 r = (r - c_i sum(r)) / (1 - a)`` with
  ``c_i = a / (1 - a + n_i a)``;
* AR(1), ``corr = a^|t_j - t_k|``: ``R^-1`` is tridiagonal (the process is Markov for any
  spacing of the times), with ``rho_j = a^(t_{j+1} - t_j)`` between neighbours.

So one iteration is a few passes over the rows (``O(N p^2)``) with no per-cluster Python loop,
and the working-correlation parameters are geepack's moment estimators (as documented on
:func:`fit_gee`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

from mindtrial.analysis.errors import AnalysisError
from mindtrial.analysis.input_checks import formula_variables, prepare
from mindtrial.analysis.models.common import (
    LINKS,
    CovStructName,
    FamilyName,
    Levels,
    check_outcome,
    design,
    finish,
    single_threaded,
)
from mindtrial.analysis.results import GeeResult

_FAMILIES = ("binomial", "gaussian", "poisson")
_STRUCTURES = ("exchangeable", "independence", "ar1")


def _mean_and_variance(family: str, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if family == "binomial":
        mu = special.expit(eta)
        return mu, mu * (1.0 - mu)
    if family == "poisson":
        mu = np.exp(eta)
        return mu, mu
    return eta, np.ones_like(eta)


@dataclass(frozen=True)
class _Clusters:
    """Rows sorted by cluster (then time): cluster codes, starts, sizes, times."""

    codes: np.ndarray  # cluster index per row (0..G-1, non-decreasing)
    starts: np.ndarray  # first row of each cluster
    sizes: np.ndarray
    times: np.ndarray  # within-cluster time (position when no time column)

    def sums(self, values: np.ndarray) -> np.ndarray:
        summed: np.ndarray = np.add.reduceat(values, self.starts, axis=0)
        return summed

    @property
    def same_next(self) -> np.ndarray:
        """Row j and row j+1 belong to the same cluster (length N - 1)."""
        same: np.ndarray = self.codes[1:] == self.codes[:-1]
        return same


class _Working:
    """A working correlation: its moment estimator and ``R^-1`` applied to row vectors."""

    def __init__(self, kind: str, clusters: _Clusters) -> None:
        self.kind = kind
        self.clusters = clusters
        self.alpha = 0.0
        gaps = np.diff(clusters.times)[clusters.same_next] if clusters.times.size else np.array([])
        if kind == "ar1" and gaps.size and (gaps <= 0).any():
            raise AnalysisError(
                "AR(1) working correlation: two observations of one cluster share a time"
            )

    def update(self, r: np.ndarray) -> None:
        """geepack's moment estimate of alpha from Pearson residuals ``r``."""
        cl = self.clusters
        phi = float(np.mean(r * r))
        if self.kind == "independence":
            return
        if self.kind == "exchangeable":
            totals = cl.sums(r)
            squares = cl.sums(r * r)
            n_pairs = float(np.sum(cl.sizes * (cl.sizes - 1) / 2))
            pairs = float(np.sum((totals**2 - squares) / 2))
            self.alpha = pairs / n_pairs / phi if n_pairs else 0.0
            return
        self.alpha = _ar1_alpha(r, cl, phi)

    def solve(self, values: np.ndarray) -> np.ndarray:
        """``R_i^-1`` applied within each cluster to ``values`` (rows; 1-d or 2-d)."""
        cl = self.clusters
        a = self.alpha
        if self.kind == "independence" or a == 0.0:
            return values
        if self.kind == "exchangeable":
            c = a / (1.0 - a + cl.sizes * a)
            totals = cl.sums(values)
            scaled = c.reshape(-1, *([1] * (values.ndim - 1))) * totals
            out: np.ndarray = (values - scaled[cl.codes]) / (1.0 - a)
            return out
        rho = np.zeros(len(cl.codes) - 1)
        same = cl.same_next
        rho[same] = np.power(a, np.diff(cl.times)[same])
        q = rho / (1.0 - rho * rho)  # -R^-1[j, j+1]
        d = np.ones(len(cl.codes))
        s = rho * q  # rho^2 / (1 - rho^2)
        d[:-1] += s
        d[1:] += s
        shape = (-1, *([1] * (values.ndim - 1)))
        out = d.reshape(shape) * values
        out[:-1] -= q.reshape(shape) * values[1:]
        out[1:] -= q.reshape(shape) * values[:-1]
        return out


def _ar1_alpha(r: np.ndarray, cl: _Clusters, phi: float) -> float:
    """alpha minimising the sum over within-cluster pairs of (r_j r_k / phi - alpha^d)^2;
    the pairs are formed per cluster size, all clusters of one size at once."""
    products: list[np.ndarray] = []
    distances: list[np.ndarray] = []
    for size in np.unique(cl.sizes):
        if size < 2:
            continue
        starts = cl.starts[cl.sizes == size]
        rows = starts[:, None] + np.arange(size)[None, :]
        j, k = np.triu_indices(int(size), 1)
        rr, tt = r[rows], cl.times[rows]
        products.append((rr[:, j] * rr[:, k]).ravel() / phi)
        distances.append(np.abs(tt[:, j] - tt[:, k]).ravel())
    if not products:
        return 0.0
    prod = np.concatenate(products)
    dist = np.concatenate(distances)
    integral = bool(np.allclose(dist, np.round(dist)))
    lower = -0.999 if integral else 0.0

    def loss(a: float) -> float:
        return float(np.sum((prod - np.power(a, dist)) ** 2))

    found = optimize.minimize_scalar(
        loss, bounds=(lower, 0.999), method="bounded", options={"xatol": 1e-10}
    )
    return float(found.x)


@dataclass(frozen=True)
class GeeSolution:
    beta: np.ndarray
    cov_robust: np.ndarray
    alpha: float | None
    scale: float
    iterations: int
    score_norm: float
    converged: bool


def _glm_start(y: np.ndarray, x: np.ndarray, family: str, offset: np.ndarray) -> np.ndarray:
    """Independence (GLM) estimates by IRLS: the GEE's starting values, as in geepack."""
    if family == "binomial":
        mu = (y + 0.5) / 2.0
        eta = np.log(mu / (1 - mu))
    elif family == "poisson":
        mu = y + 0.1
        eta = np.log(mu)
    else:
        eta = y.astype(float)
    beta = np.zeros(x.shape[1])
    for _ in range(50):
        mu, v = _mean_and_variance(family, eta)
        z = eta - offset + (y - mu) / v
        xw = x * v[:, None]
        new = np.linalg.solve(xw.T @ x, xw.T @ z)
        eta = offset + x @ new
        if np.max(np.abs(new - beta)) <= 1e-10 * (1 + np.max(np.abs(new))):
            return new
        beta = new
    return beta


def gee_solve(
    y: np.ndarray,
    x: np.ndarray,
    clusters: _Clusters,
    *,
    family: str,
    cov_struct: str,
    maxiter: int,
    tol: float = 1e-10,
) -> GeeSolution:
    """Alternate a Fisher-scoring step for beta with the moment update of alpha (geepack's
    order), until the step is below ``tol`` relative; then the sandwich covariance."""
    offset = np.zeros(len(y))
    beta = _glm_start(y, x, family, offset)
    working = _Working(cov_struct, clusters)
    converged = False
    iterations = 0
    for iterations in range(1, maxiter + 1):  # noqa: B007 - reported below
        mu, v = _mean_and_variance(family, x @ beta)
        sv = np.sqrt(v)
        r = (y - mu) / sv
        working.update(r)
        xt = x * sv[:, None]
        info = xt.T @ working.solve(xt)
        score = xt.T @ working.solve(r)
        step = np.linalg.solve(info, score)
        beta = beta + step
        if not np.all(np.isfinite(beta)):
            break
        if np.max(np.abs(step)) <= tol * (1.0 + np.max(np.abs(beta))):
            converged = True
            break
    mu, v = _mean_and_variance(family, x @ beta)
    sv = np.sqrt(v)
    r = (y - mu) / sv
    working.update(r)
    xt = x * sv[:, None]
    info = xt.T @ working.solve(xt)
    w = working.solve(r)
    score = xt.T @ w
    per_cluster = clusters.sums(xt * w[:, None])
    bread = np.linalg.inv(info)
    cov = bread @ (per_cluster.T @ per_cluster) @ bread
    return GeeSolution(
        beta=beta,
        cov_robust=(cov + cov.T) / 2,
        alpha=None if cov_struct == "independence" else float(working.alpha),
        scale=float(np.mean(r * r)),
        iterations=iterations,
        score_norm=float(np.sqrt(np.sum(score**2))),
        converged=converged,
    )


def clusters_of(codes: np.ndarray, times: np.ndarray) -> _Clusters:
    """Cluster bookkeeping for rows already sorted by cluster (then time)."""
    starts = np.concatenate(([0], np.flatnonzero(np.diff(codes)) + 1))
    if len(pd.unique(codes)) != len(starts):
        raise AnalysisError("GEE: the rows of a cluster must be contiguous")
    sizes = np.diff(np.concatenate((starts, [len(codes)])))
    dense = np.repeat(np.arange(len(starts)), sizes)
    return _Clusters(codes=dense, starts=starts, sizes=sizes, times=times.astype(float))


@single_threaded
def fit_gee(
    data: pd.DataFrame,
    formula: str,
    *,
    groups: str,
    family: FamilyName = "binomial",
    cov_struct: CovStructName = "exchangeable",
    time: str | None = None,
    levels: Levels | None = None,
    maxiter: int = 100,
) -> GeeResult:
    """Generalized estimating equations with robust (sandwich) standard errors.

    Matches ``geepack::geeglm(formula, family, id = groups, corstr = cov_struct)``: canonical
    link, Pearson-residual moment estimators of the working correlation (exchangeable: mean
    of ``r_j r_k`` over within-cluster pairs over the mean squared Pearson residual ``phi``;
    AR(1): ``alpha`` minimising the squared distance of ``r_j r_k / phi`` to ``alpha^|t_j -
    t_k|`` over all within-cluster pairs), ``scale`` = ``phi`` (no df correction), robust
    ("sandwich") covariance without small-sample correction, Wald z tests. Vectorised over
    clusters with closed-form inverses of the working correlation (see the module).

    Args:
        data: one row per observation (e.g. participant × period).
        formula: patsy formula, e.g. ``"nonabstinent ~ arm + C(period) + bup_dose_mg"``.
        groups: cluster column (participant id).
        family: ``"binomial"`` (logit link), ``"gaussian"`` (identity) or ``"poisson"`` (log).
        cov_struct: working correlation; ``"ar1"`` uses the times of ``time`` (rows are sorted
            by ``groups`` then ``time`` when ``time`` is given, else kept in data order within
            each cluster and numbered 0, 1, …).
        time: optional ordering column within clusters (used by ``"ar1"``).
        levels: expected levels per column, e.g. ``{"arm": ["control", "mrocc"]}``; a level with
            no analysed rows (an empty arm) raises :class:`AnalysisError`.
        maxiter: iteration limit; reaching it sets ``converged=False`` with a warning.
    """
    if family not in _FAMILIES:
        raise AnalysisError(f"family {family!r}: expected one of {', '.join(_FAMILIES)}")
    if cov_struct not in _STRUCTURES:
        raise AnalysisError(f"cov_struct {cov_struct!r}: expected one of {', '.join(_STRUCTURES)}")
    outcome, predictors = formula_variables(formula, list(data.columns))
    extra = [groups] + ([time] if time else [])
    frame, dropped = prepare(
        data, outcome=outcome, predictors=predictors, extra=extra, levels=levels
    )
    # clusters contiguous, in order of first appearance (then by time when given)
    first = pd.factorize(frame[groups])[0]
    if time is None:
        order = np.argsort(first, kind="stable")
    else:
        order = np.lexsort((frame[time].to_numpy(dtype=float), first))
    frame = frame.iloc[order]
    y, x, build = design(formula, frame)
    check_outcome(y, family, outcome)
    codes = pd.factorize(frame[groups])[0]
    n_groups = int(codes.max()) + 1
    if n_groups < 2:
        raise AnalysisError(f"groups {groups!r}: GEE needs at least 2 clusters, found {n_groups}")
    if time is not None:
        times = frame[time].to_numpy(dtype=float)
    else:
        times = frame.groupby(groups, sort=False).cumcount().to_numpy(dtype=float)
    clusters = clusters_of(codes, times)
    xm = x.to_numpy(dtype=float)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        try:
            sol = gee_solve(y, xm, clusters, family=family, cov_struct=cov_struct, maxiter=maxiter)
        except np.linalg.LinAlgError as exc:
            raise AnalysisError(
                f"GEE {formula!r}: the estimating equations became singular ({exc}); "
                "the outcome may be perfectly predicted by a covariate"
            ) from exc
    notes: list[str] = []
    finite = bool(np.all(np.isfinite(sol.beta)) and np.all(np.isfinite(sol.cov_robust)))
    if not finite:
        notes.append("GEE estimates are not finite (separation or divergence); not converged")
    elif sol.score_norm > 1e-6:
        notes.append(
            f"GEE estimating equations are not solved at the returned estimates "
            f"(score norm {sol.score_norm:.2g}); the fit did not converge"
        )
    elif not sol.converged:
        notes.append(f"GEE did not converge in {maxiter} iterations")
    converged = sol.converged and finite and sol.score_norm <= 1e-6
    return finish(
        GeeResult,
        model="gee",
        formula=formula,
        family=family,
        link=LINKS[family],
        names=list(x.columns),
        estimate=sol.beta,
        cov=sol.cov_robust,
        frame=frame,
        dropped=dropped,
        converged=converged,
        warnings=notes,
        n_groups=n_groups,
        cov_struct=cov_struct,
        alpha=sol.alpha,
        scale=sol.scale,
        design=build,
    )
