"""The one module that imports statsmodels (and its formula engine, patsy).

Every public function takes a pandas ``DataFrame`` and a formula (or column names), checks the
data (:mod:`mindtrial.analysis._checks`), fits, and returns our own frozen
:class:`~mindtrial.analysis.results.ModelResult`. Warnings raised while fitting are captured
into ``ModelResult.warnings`` (and clear ``converged`` when they are about convergence), never
swallowed and never leaked as Python warnings. Bad input raises
:class:`~mindtrial.analysis.errors.AnalysisError`.

Formulas use patsy syntax: ``y ~ arm + C(period) + bup_dose_mg``; string columns are treated
as categorical with the alphabetically first level as reference (as R does for factors built
from character vectors); term names look like ``arm[T.mrocc]`` and ``arm[T.mrocc]:week[T.w24]``.
Each estimator is validated against R in ``tests/analysis/test_against_r.py``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import patsy  # type: ignore[import-untyped]
import statsmodels.api as sm
from scipy import linalg, optimize, special, stats
from statsmodels.regression.mixed_linear_model import MixedLMParams
from statsmodels.tools.sm_exceptions import (
    ConvergenceWarning,
    HessianInversionWarning,
    IterationLimitWarning,
    PerfectSeparationWarning,
)

from mindtrial.analysis._checks import check_full_rank, formula_variables, prepare
from mindtrial.analysis.errors import AnalysisError
from mindtrial.analysis.results import COEFFICIENT_COLUMNS, DesignBuilder, ModelResult

__all__ = [
    "CovStructName",
    "FamilyName",
    "fit_cox",
    "fit_gee",
    "fit_lmm",
    "fit_logit",
    "fit_negbin",
    "fit_ols",
]

FamilyName = Literal["binomial", "gaussian", "poisson"]
CovStructName = Literal["exchangeable", "independence", "ar1"]
Levels = Mapping[str, Sequence[object]]

_LINKS: dict[str, str] = {"binomial": "logit", "gaussian": "identity", "poisson": "log"}
_CONVERGENCE_WARNINGS = (
    ConvergenceWarning,
    HessianInversionWarning,
    IterationLimitWarning,
    PerfectSeparationWarning,
)


# --------------------------------------------------------------------------- helpers


@dataclass
class _Capture:
    messages: list[str] = field(default_factory=list)
    convergence_problem: bool = False


@contextmanager
def _capture_warnings() -> Iterator[_Capture]:
    """Record every warning raised inside the block (deduplicated, in order)."""
    captured = _Capture()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield captured
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if text not in captured.messages:
            captured.messages.append(text)
        if issubclass(w.category, _CONVERGENCE_WARNINGS):
            captured.convergence_problem = True


_FORMULA_ENV = patsy.EvalEnvironment([{"np": np}])


def _design(formula: str, frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame, DesignBuilder]:
    """Outcome vector, design matrix (labelled) and a builder for new data."""
    try:
        y, x = patsy.dmatrices(
            formula, frame, return_type="dataframe", NA_action="raise", eval_env=_FORMULA_ENV
        )
    except patsy.PatsyError as exc:
        raise AnalysisError(f"formula {formula!r}: {exc}") from exc
    if y.shape[1] != 1:
        raise AnalysisError(f"formula {formula!r}: the outcome must be one numeric column")
    design_info = x.design_info

    def build(new: pd.DataFrame) -> np.ndarray:
        try:
            (matrix,) = patsy.build_design_matrices([design_info], new, NA_action="raise")
        except patsy.PatsyError as exc:
            raise AnalysisError(
                f"cannot build the design of {formula!r} for new data: {exc}"
            ) from exc
        return np.asarray(matrix, dtype=float)

    check_full_rank(x.to_numpy(dtype=float), list(x.columns))
    return y.iloc[:, 0].to_numpy(dtype=float), x, build


def _wald_table(
    names: Sequence[str],
    estimate: np.ndarray,
    std_error: np.ndarray,
    *,
    df: float | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Tidy coefficient table with Wald intervals (normal, or t on ``df`` degrees of freedom)."""
    estimate = np.asarray(estimate, dtype=float)
    std_error = np.asarray(std_error, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = estimate / std_error
    if df is None:
        crit = float(stats.norm.ppf(0.5 + level / 2))
        p = 2 * stats.norm.sf(np.abs(stat))
    else:
        crit = float(stats.t.ppf(0.5 + level / 2, df))
        p = 2 * stats.t.sf(np.abs(stat), df)
    table = pd.DataFrame(
        {
            "term": [str(n) for n in names],
            "estimate": estimate,
            "std_error": std_error,
            "ci_lower": estimate - crit * std_error,
            "ci_upper": estimate + crit * std_error,
            "p_value": p,
        }
    )
    return table.loc[:, list(COEFFICIENT_COLUMNS)]


def _labelled(cov: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    labels = [str(n) for n in names]
    return pd.DataFrame(np.asarray(cov, dtype=float), index=labels, columns=labels)


def _check_outcome(y: np.ndarray, family: str, outcome: str) -> None:
    if family == "binomial" and not np.isin(y, (0.0, 1.0)).all():
        bad = sorted(set(np.unique(y)) - {0.0, 1.0})[:5]
        raise AnalysisError(f"outcome {outcome!r}: binomial models need 0/1 values, found {bad}")
    if family in ("poisson", "negative_binomial") and (
        (y < 0).any() or not np.allclose(y, np.round(y))
    ):
        raise AnalysisError(f"outcome {outcome!r}: count models need non-negative integers")
    if np.unique(y).size < 2:
        raise AnalysisError(
            f"outcome {outcome!r} takes a single value ({y[0]:g}) in all {y.size} analysed rows; "
            "no model can be fitted"
        )


def _rhs_columns(formula: str, columns: Sequence[str]) -> list[str]:
    _, names = formula_variables(f"{columns[0]} ~ {formula.lstrip('~ ')}", columns)
    return names


def _warn_tuple(capture: _Capture, extra: Sequence[str] = ()) -> tuple[str, ...]:
    return (*capture.messages, *extra)


# --------------------------------------------------------------------------- GEE


def _pearson_residuals(model: Any) -> list[np.ndarray]:
    """Per-cluster Pearson residuals (y - mu) / sqrt(V(mu)) at the current GEE estimates."""
    varfunc = model.family.variance
    out: list[np.ndarray] = []
    for i in range(model.num_group):
        expval, _ = model.cached_means[i]
        out.append((model.endog_li[i] - expval) / np.sqrt(varfunc(expval)))
    return out


def _geepack_scale(residuals: list[np.ndarray]) -> float:
    """geepack's dispersion estimate: mean squared Pearson residual (no df correction)."""
    return float(sum(np.sum(r**2) for r in residuals) / sum(r.size for r in residuals))


class _GeepackExchangeable(sm.cov_struct.Exchangeable):  # type: ignore[misc]
    """Exchangeable working correlation with geepack's moment estimator.

    alpha = mean over all within-cluster pairs of r_j r_k, divided by the mean squared Pearson
    residual. (statsmodels' own ``Exchangeable`` subtracts the number of parameters in both
    denominators, which moves alpha by ~5e-4 relative on ``ohio``.)
    """

    def update(self, params: np.ndarray) -> None:
        residuals = _pearson_residuals(self.model)
        total = 0.0
        n_pairs = 0
        for r in residuals:
            total += (float(np.sum(r)) ** 2 - float(np.sum(r**2))) / 2
            n_pairs += r.size * (r.size - 1) // 2
        self.dep_params = total / n_pairs / _geepack_scale(residuals) if n_pairs else 0.0


class _GeepackAR1(sm.cov_struct.Autoregressive):  # type: ignore[misc]
    """AR(1) working correlation, corr = alpha^|t_j - t_k|, fitted as geepack does.

    alpha minimises the sum over all within-cluster pairs of (r_j r_k / phi - alpha^d)^2, with
    phi the mean squared Pearson residual and d the time distance (position in the cluster when
    no time is given). statsmodels' own ``Autoregressive`` weights the pairs differently and
    disagrees with geepack::geeglm(corstr = "ar1") at the 1e-2 level.
    """

    def __init__(self) -> None:
        super().__init__(grid=False)

    def update(self, params: np.ndarray) -> None:
        residuals = _pearson_residuals(self.model)
        phi = _geepack_scale(residuals)
        products: list[np.ndarray] = []
        distances: list[np.ndarray] = []
        for i, r in enumerate(residuals):
            if r.size < 2:
                continue
            t = np.asarray(self.model.time_li[i], dtype=float)[:, 0]
            j, k = np.triu_indices(r.size, 1)
            products.append(r[j] * r[k] / phi)
            distances.append(np.abs(t[j] - t[k]))
        if not products:
            self.dep_params = 0.0
            return
        prod = np.concatenate(products)
        dist = np.concatenate(distances)
        integral = bool(np.allclose(dist, np.round(dist)))
        lower = -0.999 if integral else 0.0

        def loss(a: float) -> float:
            return float(np.sum((prod - np.power(a, dist)) ** 2))

        found = optimize.minimize_scalar(
            loss, bounds=(lower, 0.999), method="bounded", options={"xatol": 1e-10}
        )
        self.dep_params = float(found.x)


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
) -> ModelResult:
    """Generalized estimating equations with robust (sandwich) standard errors.

    Matches ``geepack::geeglm(formula, family, id = groups, corstr = cov_struct)``: canonical
    link, Pearson-residual moment estimators of the working correlation, robust ("sandwich")
    covariance without small-sample correction, Wald z tests.

    Args:
        data: one row per observation (e.g. participant × period).
        formula: patsy formula, e.g. ``"nonabstinent ~ arm + C(period) + bup_dose_mg"``.
        groups: cluster column (participant id).
        family: ``"binomial"`` (logit link), ``"gaussian"`` (identity) or ``"poisson"`` (log).
        cov_struct: working correlation; ``"ar1"`` uses lag-1 pairs in the order of ``time``
            (rows are sorted by ``groups`` then ``time`` when ``time`` is given, else kept in
            data order within each cluster) — geepack's moment estimator.
        time: optional ordering column within clusters (used by ``"ar1"``).
        levels: expected levels per column, e.g. ``{"arm": ["control", "mrocc"]}``; a level with
            no analysed rows (an empty arm) raises :class:`AnalysisError`.
        maxiter: iteration limit; reaching it sets ``converged=False`` with a warning.
    """
    outcome, predictors = formula_variables(formula, list(data.columns))
    extra = [groups] + ([time] if time else [])
    frame, dropped = prepare(
        data, outcome=outcome, predictors=predictors, extra=extra, levels=levels
    )
    if time is not None:
        frame = frame.sort_values([groups, time], kind="stable")
    y, x, build = _design(formula, frame)
    _check_outcome(y, family, outcome)
    n_groups = int(frame[groups].nunique())
    if n_groups < 2:
        raise AnalysisError(f"groups {groups!r}: GEE needs at least 2 clusters, found {n_groups}")
    families: dict[str, Any] = {
        "binomial": sm.families.Binomial(),
        "gaussian": sm.families.Gaussian(),
        "poisson": sm.families.Poisson(),
    }
    if family not in families:
        raise AnalysisError(f"family {family!r}: expected one of {', '.join(families)}")
    structures: dict[str, Any] = {
        "exchangeable": _GeepackExchangeable,
        "independence": sm.cov_struct.Independence,
        "ar1": _GeepackAR1,
    }
    if cov_struct not in structures:
        raise AnalysisError(f"cov_struct {cov_struct!r}: expected one of {', '.join(structures)}")
    structure = structures[cov_struct]()
    group_codes = pd.factorize(frame[groups])[0]
    with _capture_warnings() as capture:
        time_values = None
        if time is not None:
            time_values = frame[time].to_numpy(dtype=float)
        elif cov_struct == "ar1":
            time_values = frame.groupby(groups, sort=False).cumcount().to_numpy(dtype=float)
        model = sm.GEE(
            y,
            x.to_numpy(),
            groups=group_codes,
            time=time_values,
            family=families[family],
            cov_struct=structure,
        )
        fitted = model.fit(maxiter=maxiter)
        scale = _geepack_scale(_pearson_residuals(model))
        # statsmodels tests convergence before its last working-correlation update, so a run
        # stopped early can claim convergence; re-check the estimating equations at the end.
        _, score = model._update_mean_params()
    extra_warnings: list[str] = []
    score_norm = float(np.sqrt(np.sum(np.asarray(score) ** 2))) if score is not None else np.inf
    if score_norm > 1e-6:
        extra_warnings.append(
            f"GEE estimating equations are not solved at the returned estimates "
            f"(score norm {score_norm:.2g}); the fit did not converge"
        )
    converged = (
        bool(getattr(fitted, "converged", True))
        and not capture.convergence_problem
        and not extra_warnings
    )
    if not converged and not capture.messages and not extra_warnings:
        extra_warnings.append("GEE did not converge")
    names = list(x.columns)
    alpha = None
    if cov_struct != "independence":
        alpha = float(np.ravel(structure.dep_params)[0])
    return ModelResult(
        model="gee",
        formula=formula,
        family=family,
        link=_LINKS[family],
        n_obs=len(frame),
        n_groups=n_groups,
        n_dropped=dropped,
        converged=converged,
        warnings=_warn_tuple(capture, extra_warnings),
        coefficients=_wald_table(names, fitted.params, fitted.bse),
        cov_params=_labelled(fitted.cov_params(), names),
        cov_struct=cov_struct,
        alpha=alpha,
        scale=scale,
        data=frame,
        design=build,
    )


# --------------------------------------------------------------------------- mixed models


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
class _OneReSolution:
    """GLS solution of a one-random-effect model at a relative standard deviation ``theta``
    (random-effect SD / residual SD, lme4's ``theta``)."""

    theta: float
    deviance: float  # -2 x (profiled) log-likelihood, ML or REML
    beta: np.ndarray
    scale: float  # residual variance sigma^2
    info: np.ndarray  # X' V^-1 X * sigma^2


class _OneReProfile:
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
        self.y, self.x, self.z, self.codes = y, x, z, codes
        self.zz = np.bincount(codes, weights=z * z, minlength=n_groups)
        order = np.argsort(codes, kind="stable")
        starts = np.concatenate(([0], np.flatnonzero(np.diff(codes[order])) + 1))
        self._order, self._starts = order, starts
        self.zx = self._group_sum(z[:, None] * x)
        self.zy = self._group_sum(z * y)
        self.xtx = x.T @ x
        self.xty = x.T @ y

    def _group_sum(self, values: np.ndarray) -> np.ndarray:
        summed: np.ndarray = np.add.reduceat(values[self._order], self._starts, axis=0)
        return summed

    def solve(self, theta: float, *, reml: bool) -> _OneReSolution:
        n, k = self.x.shape
        t2 = theta * theta
        c = t2 / (1.0 + t2 * self.zz)
        info = self.xtx - self.zx.T @ (c[:, None] * self.zx)
        rhs = self.xty - self.zx.T @ (c * self.zy)
        factor = linalg.cho_factor(info)
        beta = linalg.cho_solve(factor, rhs)
        resid = self.y - self.x @ beta
        q = float(resid @ resid - c @ self._group_sum(self.z * resid) ** 2)
        logdet_v = float(np.sum(np.log1p(t2 * self.zz)))
        if reml:
            dof = n - k
            logdet_info = 2.0 * float(np.sum(np.log(np.diag(factor[0]))))
            deviance = logdet_v + logdet_info + dof * (1.0 + np.log(2.0 * np.pi * q / dof))
            scale = q / dof
        else:
            deviance = logdet_v + n * (1.0 + np.log(2.0 * np.pi * q / n))
            scale = q / n
        return _OneReSolution(theta, float(deviance), beta, scale, info)

    def optimum(self, *, reml: bool) -> _OneReSolution:
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
) -> ModelResult:
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
    names = list(x.columns)
    return ModelResult(
        model="lmm",
        formula=formula,
        family="gaussian",
        link="identity",
        n_obs=n,
        n_groups=n_groups,
        n_dropped=dropped,
        converged=True,
        warnings=(
            *messages,
            f"random-intercept variance for {groups!r} is estimated as 0 (boundary, singular "
            "fit); fixed effects equal the linear model's",
        ),
        coefficients=_wald_table(names, beta, np.sqrt(np.diag(cov))),
        cov_params=_labelled(cov, names),
        loglik=None if reml else float(loglik),
        scale=sigma2,
        random_effects_cov=_labelled(np.zeros((1, 1)), ["Intercept"]),
        residual_variance=sigma2,
        data=frame,
        design=build,
    )


def fit_lmm(
    data: pd.DataFrame,
    formula: str,
    *,
    groups: str,
    re_formula: str | None = None,
    reml: bool = False,
    levels: Levels | None = None,
) -> ModelResult:
    """Linear mixed model, as ``lme4::lmer(formula + (re | groups), REML = reml)``.

    ML by default (the M-ROCC plan); ``reml=True`` for REML. Fixed effects come from
    statsmodels' ``fe_params`` (its ``params`` mix in scaled variance parameters); their
    covariance is the GLS one given the variance estimates, as lme4's ``vcov()``. Wald z
    inference for fixed effects (lme4 gives no p-values; the paper's χ² tests are Wald tests
    on these). ``loglik`` is the log-likelihood (ML) or the REML log-likelihood.

    With one random effect (a random intercept, the usual case) the variance ratio is first
    found by maximising lme4's profiled likelihood (:class:`_OneReProfile`, finite at a zero
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
    re_columns = _rhs_columns(re_formula, list(data.columns)) if re_formula else []
    frame, dropped = prepare(
        data, outcome=outcome, predictors=predictors, extra=[groups, *re_columns], levels=levels
    )
    y, x, build = _design(formula, frame)
    _check_outcome(y, "gaussian", outcome)
    n_groups = int(frame[groups].nunique())
    if n_groups < 2:
        raise AnalysisError(f"groups {groups!r}: a mixed model needs at least 2 groups")
    if re_formula:
        try:
            z = patsy.dmatrix(re_formula, frame, return_type="dataframe", eval_env=_FORMULA_ENV)
        except patsy.PatsyError as exc:
            raise AnalysisError(f"re_formula {re_formula!r}: {exc}") from exc
    else:
        z = pd.DataFrame({"Intercept": np.ones(len(frame))}, index=frame.index)
    names = list(x.columns)
    re_names = [str(c) for c in z.columns]
    xm = x.to_numpy(dtype=float)
    zm = z.to_numpy(dtype=float)
    codes = pd.factorize(frame[groups])[0]
    own: _OneReSolution | None = None
    start: np.ndarray | None = None
    messages: tuple[str, ...]
    if zm.shape[1] == 1:
        own = _OneReProfile(y, xm, zm[:, 0], codes).optimum(reml=reml)
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
        start = np.array([own.theta])
    with _capture_warnings() as capture:
        model = sm.MixedLM(y, xm, groups=frame[groups].to_numpy(), exog_re=zm)
        fitted = _mixedlm_fit(model, reml=reml, start=start)
    if own is not None and (fitted is None or not fitted.llf >= -own.deviance / 2 - 1e-6):
        # statsmodels left the optimum it was started at (or failed to finish): the profiled
        # solution is the maximum likelihood answer, as lme4 gives it.
        fe_params, scale = own.beta, own.scale
        cov_re = np.array([[own.theta**2 * own.scale]])
        loglik, converged, messages = -own.deviance / 2, True, ()
    elif fitted is None or not np.isfinite(fitted.llf):
        raise AnalysisError(
            f"mixed model {formula!r} with random effects {re_formula!r}: the optimizer ended "
            "at a non-finite likelihood (a random-effect covariance is singular); simplify "
            "re_formula"
        )
    else:
        fe_params = np.asarray(fitted.fe_params, dtype=float)
        scale = float(fitted.scale)
        cov_re = np.asarray(fitted.cov_re, dtype=float)
        loglik = float(fitted.llf)
        converged = bool(fitted.converged) and not any(
            "converge" in m.lower() or "Hessian" in m for m in capture.messages
        )
        messages = _warn_tuple(
            capture, [] if converged or capture.messages else ["mixed model did not converge"]
        )
    cov_fe = _conditional_fe_cov(xm, zm, codes, cov_re, scale)
    return ModelResult(
        model="lmm",
        formula=formula,
        family="gaussian",
        link="identity",
        n_obs=len(frame),
        n_groups=n_groups,
        n_dropped=dropped,
        converged=converged,
        warnings=messages,
        coefficients=_wald_table(names, fe_params, np.sqrt(np.diag(cov_fe))),
        cov_params=_labelled(cov_fe, names),
        loglik=loglik,
        scale=scale,
        random_effects_cov=_labelled(cov_re, re_names),
        residual_variance=scale,
        data=frame,
        design=build,
    )


def _mixedlm_fit(model: Any, *, reml: bool, start: np.ndarray | None) -> Any:
    """``MixedLM.fit``, or ``None`` when statsmodels cannot finish (it inverts the Hessian
    after optimising, which fails with a variance exactly on the boundary).

    Without a start the default (random-effect covariance = residual variance x I) is used,
    and, if that run ends at a non-finite likelihood (a first optimizer step landing exactly
    on a zero variance, see :class:`_OneReProfile`), once more from half that covariance.
    """
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


# --------------------------------------------------------------------------- GLMs


def fit_logit(data: pd.DataFrame, formula: str, *, levels: Levels | None = None) -> ModelResult:
    """Logistic regression by maximum likelihood, as ``glm(formula, family = binomial)``.

    Model-based (inverse Fisher information) SEs, Wald z tests. Perfect separation or
    non-convergence sets ``converged=False`` and adds a warning.
    """
    outcome, predictors = formula_variables(formula, list(data.columns))
    frame, dropped = prepare(data, outcome=outcome, predictors=predictors, levels=levels)
    y, x, build = _design(formula, frame)
    _check_outcome(y, "binomial", outcome)
    with _capture_warnings() as capture:
        fitted = sm.GLM(y, x.to_numpy(), family=sm.families.Binomial()).fit()
    converged = bool(fitted.converged) and not capture.convergence_problem
    names = list(x.columns)
    return ModelResult(
        model="logit",
        formula=formula,
        family="binomial",
        link="logit",
        n_obs=len(frame),
        n_groups=None,
        n_dropped=dropped,
        converged=converged,
        warnings=_warn_tuple(
            capture,
            [] if converged or capture.messages else ["logistic regression did not converge"],
        ),
        coefficients=_wald_table(names, fitted.params, fitted.bse),
        cov_params=_labelled(fitted.cov_params(), names),
        loglik=float(fitted.llf),
        data=frame,
        design=build,
    )


def fit_ols(data: pd.DataFrame, formula: str, *, levels: Levels | None = None) -> ModelResult:
    """Ordinary least squares, as ``lm(formula)``: t intervals on ``df_resid`` degrees of
    freedom (the complete-data df that :func:`mindtrial.analysis.pooling.pool` uses)."""
    outcome, predictors = formula_variables(formula, list(data.columns))
    frame, dropped = prepare(data, outcome=outcome, predictors=predictors, levels=levels)
    y, x, build = _design(formula, frame)
    _check_outcome(y, "gaussian", outcome)
    if len(y) <= x.shape[1]:
        raise AnalysisError(
            f"formula {formula!r}: {len(y)} analysed rows for {x.shape[1]} coefficients; "
            "no residual degrees of freedom"
        )
    with _capture_warnings() as capture:
        fitted = sm.OLS(y, x.to_numpy()).fit()
    names = list(x.columns)
    df_resid = float(fitted.df_resid)
    return ModelResult(
        model="ols",
        formula=formula,
        family="gaussian",
        link="identity",
        n_obs=len(frame),
        n_groups=None,
        n_dropped=dropped,
        converged=True,
        warnings=_warn_tuple(capture),
        coefficients=_wald_table(names, fitted.params, fitted.bse, df=df_resid),
        cov_params=_labelled(fitted.cov_params(), names),
        df_resid=df_resid,
        loglik=float(fitted.llf),
        scale=float(fitted.scale),
        residual_variance=float(fitted.scale),
        data=frame,
        design=build,
    )


def _nb_loglik(y: np.ndarray, mu: np.ndarray, theta: float) -> float:
    return float(
        np.sum(
            special.gammaln(theta + y)
            - special.gammaln(theta)
            - special.gammaln(y + 1)
            + theta * np.log(theta)
            + special.xlogy(y, mu)
            - (theta + y) * np.log(theta + mu)
        )
    )


def _theta_ml(
    y: np.ndarray, mu: np.ndarray, start: float, *, maxiter: int = 100
) -> tuple[float, float, bool]:
    """ML estimate of the NB shape given the means (Newton on the score, as MASS::theta.ml).

    Returns (theta, se, converged); the SE is 1/sqrt(observed information) given ``mu``.
    """

    def score(th: float) -> float:
        return float(
            np.sum(
                special.digamma(th + y)
                - special.digamma(th)
                + np.log(th)
                + 1
                - np.log(th + mu)
                - (y + th) / (mu + th)
            )
        )

    def info(th: float) -> float:
        return float(
            np.sum(
                -special.polygamma(1, th + y)
                + special.polygamma(1, th)
                - 1 / th
                + 2 / (mu + th)
                - (y + th) / (mu + th) ** 2
            )
        )

    theta = start
    for _ in range(maxiter):
        i = info(theta)
        if not np.isfinite(i) or i <= 0:
            return theta, float("nan"), False
        step = score(theta) / i
        new = theta + step
        if new <= 0:
            new = theta / 2
        if abs(new - theta) <= 1e-12 * max(1.0, theta):
            theta = new
            break
        theta = new
    else:
        return theta, float(1 / np.sqrt(info(theta))), False
    return theta, float(1 / np.sqrt(info(theta))), True


def fit_negbin(
    data: pd.DataFrame,
    formula: str,
    *,
    exposure: str | None = None,
    offset: str | None = None,
    levels: Levels | None = None,
    maxiter: int = 100,
) -> ModelResult:
    """Negative binomial (NB2, log link) regression by ML, as ``MASS::glm.nb``.

    Alternates IRLS for the coefficients at fixed ``theta`` with Newton steps for ``theta``
    at fixed means until the log-likelihood is stable (MASS's algorithm, tighter tolerance).
    Coefficient SEs are the GLM's at the final ``theta`` (as ``summary(glm.nb)``), ``theta_se``
    is MASS's ``SE.theta``. ``loglik`` is the full NB log-likelihood.

    Args:
        exposure: column of positive follow-up times; the model gets ``log(exposure)`` as an
            offset, so coefficients are log rate ratios per unit of time.
        offset: column already on the log scale (mutually exclusive with ``exposure``).
    """
    if exposure is not None and offset is not None:
        raise AnalysisError("fit_negbin: give exposure or offset, not both")
    outcome, predictors = formula_variables(formula, list(data.columns))
    extra = [c for c in (exposure, offset) if c is not None]
    frame, dropped = prepare(
        data, outcome=outcome, predictors=predictors, extra=extra, levels=levels
    )
    y, x, build = _design(formula, frame)
    _check_outcome(y, "negative_binomial", outcome)
    if exposure is not None:
        times = frame[exposure].to_numpy(dtype=float)
        if (times <= 0).any():
            raise AnalysisError(f"exposure {exposure!r}: follow-up times must be > 0")
        off = np.log(times)
    elif offset is not None:
        off = frame[offset].to_numpy(dtype=float)
    else:
        off = np.zeros(len(y))
    exog = x.to_numpy()
    notes: list[str] = []
    with _capture_warnings() as capture:
        poisson = sm.GLM(y, exog, family=sm.families.Poisson(), offset=off).fit()
        mu = poisson.fittedvalues
        theta, _, ok = _theta_ml(y, mu, len(y) / float(np.sum((y / mu - 1) ** 2)))
        loglik_old = _nb_loglik(y, mu, theta)
        converged = False
        for _ in range(maxiter):
            family = sm.families.NegativeBinomial(link=sm.families.links.Log(), alpha=1 / theta)
            fitted = sm.GLM(y, exog, family=family, offset=off).fit(tol=1e-12)
            mu = fitted.fittedvalues
            theta_new, theta_se, ok = _theta_ml(y, mu, theta)
            loglik = _nb_loglik(y, mu, theta_new)
            change = abs(loglik - loglik_old) / max(1.0, abs(loglik)) + abs(
                theta_new - theta
            ) / max(1.0, theta)
            theta, loglik_old = theta_new, loglik
            if change < 1e-12 and ok:
                converged = True
                break
        family = sm.families.NegativeBinomial(link=sm.families.links.Log(), alpha=1 / theta)
        fitted = sm.GLM(y, exog, family=family, offset=off).fit(tol=1e-12)
    if not ok:
        notes.append("theta estimation did not converge (data may show no overdispersion)")
    converged = converged and ok and bool(fitted.converged) and not capture.convergence_problem
    if not converged and not notes:
        notes.append("negative binomial alternation did not converge")
    if theta > 1e6:
        notes.append(f"theta = {theta:.3g} is very large: no overdispersion, a Poisson model fits")
    names = list(x.columns)
    return ModelResult(
        model="negbin",
        formula=formula,
        family="negative_binomial",
        link="log",
        n_obs=len(frame),
        n_groups=None,
        n_dropped=dropped,
        converged=converged,
        warnings=_warn_tuple(capture, notes),
        coefficients=_wald_table(names, fitted.params, fitted.bse),
        cov_params=_labelled(fitted.cov_params(), names),
        loglik=_nb_loglik(y, fitted.fittedvalues, theta),
        theta=float(theta),
        theta_se=float(theta_se),
        data=frame,
        design=build,
    )


# --------------------------------------------------------------------------- Cox


def fit_cox(
    data: pd.DataFrame,
    *,
    duration: str,
    event: str,
    covariates: Sequence[str],
    levels: Levels | None = None,
) -> ModelResult:
    """Cox proportional hazards by partial likelihood with Efron ties, as
    ``survival::coxph(Surv(duration, event) ~ covariates)`` (statsmodels ``PHReg``).

    ``event`` is 1 for an event and 0 for censoring; covariates may be numeric or categorical
    (string columns get treatment coding, reference = first level). Coefficients are log
    hazard ratios with model-based SEs and Wald z tests.
    """
    if not covariates:
        raise AnalysisError("fit_cox: at least one covariate is needed")
    frame, dropped = prepare(
        data, outcome=None, predictors=list(covariates), extra=[duration, event], levels=levels
    )
    times = frame[duration].to_numpy(dtype=float)
    status = frame[event].to_numpy(dtype=float)
    if (times < 0).any():
        raise AnalysisError(f"duration {duration!r}: times must be >= 0")
    if not np.isin(status, (0.0, 1.0)).all():
        raise AnalysisError(f"event {event!r}: expected 1 (event) or 0 (censored)")
    if status.sum() == 0:
        raise AnalysisError(f"event {event!r}: no events among the {len(frame)} analysed rows")
    rhs = " + ".join(covariates)
    try:
        x = patsy.dmatrix(rhs, frame, return_type="dataframe", eval_env=_FORMULA_ENV)
    except patsy.PatsyError as exc:
        raise AnalysisError(f"covariates {list(covariates)}: {exc}") from exc
    x = x.drop(columns="Intercept")
    check_full_rank(x.to_numpy(dtype=float), list(x.columns))
    with _capture_warnings() as capture:
        fitted = sm.PHReg(times, x.to_numpy(), status=status, ties="efron").fit()
    converged = not capture.convergence_problem
    names = list(x.columns)
    return ModelResult(
        model="cox",
        formula=f"{duration}, {event} ~ {rhs}",
        family="cox",
        link="none",
        n_obs=len(frame),
        n_groups=None,
        n_dropped=dropped,
        converged=converged,
        warnings=_warn_tuple(
            capture, [] if converged or capture.messages else ["Cox model did not converge"]
        ),
        coefficients=_wald_table(names, fitted.params, fitted.bse),
        cov_params=_labelled(fitted.cov_params(), names),
        loglik=float(fitted.llf),
        n_events=int(status.sum()),
        data=frame,
    )
