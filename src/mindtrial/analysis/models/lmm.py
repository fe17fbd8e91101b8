"""Linear mixed models as lme4 fits them.

A random intercept (the plans' case) is fitted without statsmodels: lme4's profiled deviance
needs only per-cluster sums (:class:`OneReProfile`, ``O(N p + G p^2)`` once, then ``O(S p^2)``
per evaluation for ``S`` distinct cluster sizes), is maximised over the variance ratio, and the fixed effects' covariance is the
GLS one at the optimum. Other random-effect designs use statsmodels' ``MixedLM``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import patsy  # type: ignore[import-untyped]
from scipy import linalg, optimize, sparse

from mindtrial.analysis.errors import AnalysisError
from mindtrial.analysis.input_checks import formula_variables, prepare
from mindtrial.analysis.models.common import (
    FORMULA_ENV,
    Levels,
    capture_warnings,
    check_outcome,
    design,
    labelled,
    rhs_columns,
    single_threaded,
    warn_tuple,
)
from mindtrial.analysis.models.lmm_blocks import finish_block_fit, finish_lmm
from mindtrial.analysis.results import DesignBuilder, MixedResult


def _conditional_fe_cov(
    x: np.ndarray, z: np.ndarray, codes: np.ndarray, cov_re: np.ndarray, scale: float
) -> np.ndarray:
    """``(sum_i X_i' V_i^-1 X_i)^-1`` with ``V_i = Z_i G Z_i' + sigma^2 I`` at the estimates.

    This is lme4's ``vcov(lmer_fit)`` (and the GLS covariance given the variance parameters).
    statsmodels' ``bse_fe`` instead inverts the joint Hessian of fixed effects and variance
    parameters, which differs when the data are unbalanced (8e-4 relative on a trial with
    missed visits), so we compute the conditional version to match R.
    """
    k = x.shape[1]
    info = np.zeros((k, k))
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    for rows in np.split(order, bounds):
        zi = z[rows]
        vi = zi @ cov_re @ zi.T + scale * np.eye(len(rows))
        xi = x[rows]
        info += xi.T @ np.linalg.solve(vi, xi)
    cov: np.ndarray = np.linalg.inv(info)
    symmetric: np.ndarray = (cov + cov.T) / 2
    return symmetric


@dataclass(frozen=True)
class OneReSolution:
    """GLS solution of a one-random-effect model at a relative standard deviation ``theta``
    (random-effect SD / residual SD, lme4's ``theta``)."""

    theta: float
    deviance: float  # -2 x (profiled) log-likelihood, ML or REML
    beta: np.ndarray
    scale: float  # residual variance sigma^2
    info: np.ndarray  # X' V^-1 X * sigma^2


_MAX_KINDS = 256
"""Above this many distinct ``z_i'z_i`` the per-group sums are kept per group."""


class OneReProfile:
    """lme4's profiled deviance for ``y = X beta + z_i b_i + e`` with one random effect per
    group, ``b_i ~ N(0, theta^2 sigma^2)``, ``e ~ N(0, sigma^2 I)``.

    ``V_i / sigma^2 = I + theta^2 z_i z_i'``; with ``c_i = theta^2 / (1 + theta^2 z_i'z_i)``
    its inverse is ``I - c_i z_i z_i'`` and its log-determinant ``log(1 + theta^2 z_i'z_i)``,
    so the deviance needs only per-group sums and is finite on the boundary ``theta = 0``.
    (statsmodels writes the same likelihood with ``log det(cov_re)``, which is ``-inf`` there:
    its optimizer, started at ``theta = 1`` and taking a first step of length 1, can land on
    exactly 0 and report an infinite log-likelihood.)
    """

    def __init__(self, y: np.ndarray, x: np.ndarray, z: np.ndarray, codes: np.ndarray) -> None:
        n_groups = int(codes.max()) + 1
        self.n, self.k = x.shape
        # Work with the least-squares residuals (and beta as a correction to the least-
        # squares fit): the quadratic forms below are then sums of small terms, not small
        # differences of large ones.
        self.xtx = x.T @ x
        self.beta0 = linalg.cho_solve(linalg.cho_factor(self.xtx), x.T @ y)
        y = y - x @ self.beta0
        zz = np.bincount(codes, weights=z * z, minlength=n_groups)
        # z_i'X_i and z_i'y_i as one sparse product (group x row, z in the cells): no copy
        # of X (an N x p matrix of ~1 GB for 100,000 participants) is made on the way
        rows = np.arange(self.n)
        by_group = sparse.csr_matrix((z, (codes, rows)), shape=(n_groups, self.n))
        zx = np.asarray(by_group @ x)
        zy = np.asarray(by_group @ y)
        self.xty = x.T @ y
        self.yty = float(y @ y)
        # Groups with the same z_i'z_i (a random intercept: the same size) share c_i, so
        # every per-group sum the deviance needs is summed once per distinct z_i'z_i (each
        # group on its own when they are nearly all distinct, e.g. a continuous slope).
        self.zz, kinds = np.unique(zz, return_inverse=True)
        if len(self.zz) > _MAX_KINDS:
            self.zz, kinds = zz, np.arange(n_groups)
        self.count = np.bincount(kinds, minlength=len(self.zz)).astype(float)
        by_kind = np.argsort(kinds, kind="stable")
        bounds = np.flatnonzero(np.diff(kinds[by_kind])) + 1
        self.zx, self.zy = zx, zy
        if len(self.zz) == n_groups:  # no two alike: sums per group, as they are
            self.zxzx = None
            self.zxzy = zx * zy[:, None]
            self.zyzy = zy * zy
            return
        groups = np.split(by_kind, bounds)
        self.zxzx = np.stack([zx[g].T @ zx[g] for g in groups])
        self.zxzy = np.stack([zx[g].T @ zy[g] for g in groups])
        self.zyzy = np.array([float(zy[g] @ zy[g]) for g in groups])

    def solve(self, theta: float, *, reml: bool) -> OneReSolution:
        n, k = self.n, self.k
        t2 = theta * theta
        c = t2 / (1.0 + t2 * self.zz)
        if self.zxzx is None:
            info = self.xtx - self.zx.T @ (c[:, None] * self.zx)
        else:
            info = self.xtx - (c @ self.zxzx.reshape(len(c), -1)).reshape(k, k)
        rhs = self.xty - c @ self.zxzy
        factor = linalg.cho_factor(info, check_finite=False)
        beta = linalg.cho_solve(factor, rhs, check_finite=False)
        # (y - X beta)' V^-1 (y - X beta) sigma^2 from the sums: y'y - 2 beta'X'y +
        # beta'X'X beta, less sum_i c_i (z_i'y_i - z_i'X_i beta)^2
        if self.zxzx is None:
            within = (self.zy - self.zx @ beta) ** 2
        else:
            quad = (self.zxzx.reshape(-1, k) @ beta).reshape(-1, k) @ beta
            within = self.zyzy - 2.0 * self.zxzy @ beta + quad
        q = float(self.yty - 2.0 * beta @ self.xty + beta @ self.xtx @ beta - c @ within)
        logdet_v = float(self.count @ np.log1p(t2 * self.zz))
        if reml:
            dof = n - k
            logdet_info = 2.0 * float(np.sum(np.log(np.diag(factor[0]))))
            deviance = logdet_v + logdet_info + dof * (1.0 + np.log(2.0 * np.pi * q / dof))
            scale = q / dof
        else:
            deviance = logdet_v + n * (1.0 + np.log(2.0 * np.pi * q / n))
            scale = q / n
        return OneReSolution(theta, float(deviance), self.beta0 + beta, scale, info)

    def optimum(self, *, reml: bool) -> OneReSolution:
        """Minimise the deviance over ``theta >= 0``: a log-spaced grid (and 0), then Brent's
        method between the grid neighbours of the best point, to ``theta`` within 1e-10."""

        def dev(theta: float) -> float:
            return self.solve(theta, reml=reml).deviance

        grid = np.concatenate(([0.0], np.geomspace(1e-3, 1e3, 49)))
        values = np.array([dev(float(t)) for t in grid])
        best = int(np.argmin(values))
        while best == len(grid) - 1 and grid[-1] < 1e8:  # optimum beyond the grid
            more = grid[-1] * np.geomspace(10 ** (1 / 8), 1e2, 16)
            grid = np.concatenate((grid, more))
            values = np.concatenate((values, [dev(float(t)) for t in more]))
            best = int(np.argmin(values))
        lower = grid[max(best - 1, 0)]
        upper = grid[min(best + 1, len(grid) - 1)]
        found = optimize.minimize_scalar(
            dev, bounds=(lower, upper), method="bounded", options={"xatol": 1e-10}
        )
        # on the boundary (lme4's singular fit) the deviance does not fall away from theta = 0
        theta = 0.0 if values[0] <= float(found.fun) else float(found.x)
        return self.solve(theta, reml=reml)


def _lmm_zero_variance(
    formula: str,
    frame: pd.DataFrame,
    y: np.ndarray,
    x: pd.DataFrame,
    build: DesignBuilder,
    *,
    groups: str,
    reml: bool,
    dropped: int,
    n_groups: int,
    messages: Sequence[str],
) -> MixedResult:
    """Random-intercept model whose intercept variance is estimated as 0 (boundary, lme4's
    "singular fit"): the likelihood is then that of a linear model, so the fixed effects are
    OLS and sigma^2 = RSS / n (ML) or RSS / (n - p) (REML)."""
    xm = x.to_numpy(dtype=float)
    n, k = xm.shape
    beta, *_ = np.linalg.lstsq(xm, y, rcond=None)
    rss = float(np.sum((y - xm @ beta) ** 2))
    sigma2 = rss / (n - k if reml else n)
    cov = sigma2 * np.linalg.inv(xm.T @ xm)
    loglik = -0.5 * n * (np.log(2 * np.pi * rss / n) + 1)
    return finish_lmm(
        formula=formula,
        names=list(x.columns),
        estimate=beta,
        cov=cov,
        frame=frame,
        dropped=dropped,
        converged=True,
        warnings=(
            *messages,
            f"random-intercept variance for {groups!r} is estimated as 0 (boundary, singular "
            "fit); fixed effects equal the linear model's",
        ),
        n_groups=n_groups,
        loglik=None if reml else float(loglik),
        scale=sigma2,
        random_effects_cov=labelled(np.zeros((1, 1)), ["Intercept"]),
        residual_variance=sigma2,
        design=build,
    )


@single_threaded
def fit_lmm(
    data: pd.DataFrame,
    formula: str,
    *,
    groups: str,
    re_formula: str | None = None,
    reml: bool = False,
    levels: Levels | None = None,
) -> MixedResult:
    """Linear mixed model, as ``lme4::lmer(formula + (re | groups), REML = reml)``.

    ML by default (the M-ROCC plan); ``reml=True`` for REML. Fixed effects come from
    statsmodels' ``fe_params`` (its ``params`` mix in scaled variance parameters); their
    covariance is the GLS one given the variance estimates, as lme4's ``vcov()``. Wald z
    inference for fixed effects (lme4 gives no p-values; the paper's χ² tests are Wald tests
    on these). ``loglik`` is the log-likelihood (ML) or the REML log-likelihood.

    With one random effect (a random intercept, the usual case) the variance ratio is first
    found by maximising lme4's profiled likelihood (:class:`OneReProfile`, finite at a zero
    variance) and statsmodels is started there; if that optimum is the boundary (lme4's
    "singular fit") the answer is lme4's: variance 0, the linear model's fixed effects, and a
    warning. statsmodels from its own default start can stop at an infinite likelihood with a
    zero variance where lme4 converges (M-ROCC craving, seed 1).

    Args:
        formula: fixed effects, e.g. ``"t_score ~ arm * C(week) + bup_dose_mg"``.
        groups: grouping column for the random effects (participant id).
        re_formula: random-effects design, e.g. ``"~ Days"`` for a random intercept and slope;
            ``None`` means a random intercept only.
        levels: expected levels per column (see :func:`fit_gee`).
    """
    outcome, predictors = formula_variables(formula, list(data.columns))
    re_columns = rhs_columns(re_formula, list(data.columns)) if re_formula else []
    frame, dropped = prepare(
        data, outcome=outcome, predictors=predictors, extra=[groups, *re_columns], levels=levels
    )
    y, x, build = design(formula, frame)
    check_outcome(y, "gaussian", outcome)
    n_groups = int(frame[groups].nunique())
    if n_groups < 2:
        raise AnalysisError(f"groups {groups!r}: a mixed model needs at least 2 groups")
    if re_formula:
        try:
            z = patsy.dmatrix(re_formula, frame, return_type="dataframe", eval_env=FORMULA_ENV)
        except patsy.PatsyError as exc:
            raise AnalysisError(f"re_formula {re_formula!r}: {exc}") from exc
    else:
        z = pd.DataFrame({"Intercept": np.ones(len(frame))}, index=frame.index)
    names = list(x.columns)
    re_names = [str(c) for c in z.columns]
    xm = x.to_numpy(dtype=float)
    zm = z.to_numpy(dtype=float)
    codes = pd.factorize(frame[groups])[0]
    if zm.shape[1] == 1:
        # one random effect (a random intercept, or one slope): lme4's profiled likelihood
        own = OneReProfile(y, xm, zm[:, 0], codes).optimum(reml=reml)
        if own.theta == 0.0:
            return _lmm_zero_variance(
                formula,
                frame,
                y,
                x,
                build,
                groups=groups,
                reml=reml,
                dropped=dropped,
                n_groups=n_groups,
                messages=(),
            )
        return finish_block_fit(
            own,
            formula=formula,
            names=names,
            frame=frame,
            dropped=dropped,
            converged=True,
            warnings=(),
            n_groups=n_groups,
            random_effects_cov=labelled(np.array([[own.theta**2 * own.scale]]), re_names),
            design=build,
        )
    import statsmodels.api as sm

    with capture_warnings() as capture:
        model = sm.MixedLM(y, xm, groups=frame[groups].to_numpy(), exog_re=zm)
        fitted = _mixedlm_fit(model, reml=reml, start=None)
    if fitted is None or not np.isfinite(fitted.llf):
        raise AnalysisError(
            f"mixed model {formula!r} with random effects {re_formula!r}: the optimizer ended "
            "at a non-finite likelihood (a random-effect covariance is singular); simplify "
            "re_formula"
        )
    fe_params = np.asarray(fitted.fe_params, dtype=float)
    scale = float(fitted.scale)
    cov_re = np.asarray(fitted.cov_re, dtype=float)
    converged = bool(fitted.converged) and not any(
        "converge" in m.lower() or "Hessian" in m for m in capture.messages
    )
    messages = warn_tuple(
        capture, [] if converged or capture.messages else ["mixed model did not converge"]
    )
    return finish_lmm(
        formula=formula,
        names=names,
        estimate=fe_params,
        cov=_conditional_fe_cov(xm, zm, codes, cov_re, scale),
        frame=frame,
        dropped=dropped,
        converged=converged,
        warnings=messages,
        n_groups=n_groups,
        loglik=float(fitted.llf),
        scale=scale,
        random_effects_cov=labelled(cov_re, re_names),
        residual_variance=scale,
        design=build,
    )


def _mixedlm_fit(model: Any, *, reml: bool, start: np.ndarray | None) -> Any:
    """``MixedLM.fit``, or ``None`` when statsmodels cannot finish (it inverts the Hessian
    after optimising, which fails with a variance exactly on the boundary).

    Without a start the default (random-effect covariance = residual variance x I) is used,
    and, if that run ends at a non-finite likelihood (a first optimizer step landing exactly
    on a zero variance, see :class:`OneReProfile`), once more from half that covariance.
    """
    from statsmodels.regression.mixed_linear_model import MixedLMParams

    starts: list[np.ndarray | None] = [start]
    if start is None:
        k_re = int(model.k_re)
        half = MixedLMParams.from_components(cov_re=0.5 * np.eye(k_re))
        starts.append(half.get_packed(use_sqrt=True, has_fe=False))
    fitted: Any = None
    for packed in starts:
        try:
            fitted = model.fit(
                reml=reml, start_params=packed, method=["lbfgs", "bfgs", "cg"], maxiter=2000
            )
        except np.linalg.LinAlgError:
            fitted = None
        if fitted is not None and np.isfinite(fitted.llf):
            break
    return fitted
