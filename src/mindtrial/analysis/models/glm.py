"""Generalized linear models: logistic, OLS and negative binomial (MASS::glm.nb's algorithm),
on statsmodels' GLM/OLS."""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import special

from mindtrial.analysis.errors import AnalysisError
from mindtrial.analysis.input_checks import formula_variables, prepare
from mindtrial.analysis.models.common import (
    Levels,
    capture_warnings,
    check_outcome,
    design,
    finish,
    single_threaded,
    warn_tuple,
)
from mindtrial.analysis.results import ModelResult, NegBinResult


@single_threaded
def fit_logit(data: pd.DataFrame, formula: str, *, levels: Levels | None = None) -> ModelResult:
    """Logistic regression by maximum likelihood, as ``glm(formula, family = binomial)``.

    Model-based (inverse Fisher information) SEs, Wald z tests. Perfect separation or
    non-convergence sets ``converged=False`` and adds a warning.
    """
    outcome, predictors = formula_variables(formula, list(data.columns))
    frame, dropped = prepare(data, outcome=outcome, predictors=predictors, levels=levels)
    y, x, build = design(formula, frame)
    check_outcome(y, "binomial", outcome)
    with capture_warnings() as capture:
        fitted = sm.GLM(y, x.to_numpy(), family=sm.families.Binomial()).fit()
    converged = bool(fitted.converged) and not capture.convergence_problem
    names = list(x.columns)
    return finish(
        ModelResult,
        model="logit",
        formula=formula,
        family="binomial",
        link="logit",
        n_groups=None,
        dropped=dropped,
        converged=converged,
        warnings=warn_tuple(
            capture,
            [] if converged or capture.messages else ["logistic regression did not converge"],
        ),
        names=names,
        estimate=fitted.params,
        cov=fitted.cov_params(),
        loglik=float(fitted.llf),
        frame=frame,
        design=build,
    )


@single_threaded
def fit_ols(data: pd.DataFrame, formula: str, *, levels: Levels | None = None) -> ModelResult:
    """Ordinary least squares, as ``lm(formula)``: t intervals on ``df_resid`` degrees of
    freedom (the complete-data df that :func:`mindtrial.analysis.pooling.pool` uses)."""
    outcome, predictors = formula_variables(formula, list(data.columns))
    frame, dropped = prepare(data, outcome=outcome, predictors=predictors, levels=levels)
    y, x, build = design(formula, frame)
    check_outcome(y, "gaussian", outcome)
    if len(y) <= x.shape[1]:
        raise AnalysisError(
            f"formula {formula!r}: {len(y)} analysed rows for {x.shape[1]} coefficients; "
            "no residual degrees of freedom"
        )
    with capture_warnings() as capture:
        fitted = sm.OLS(y, x.to_numpy()).fit()
    names = list(x.columns)
    df_resid = float(fitted.df_resid)
    return finish(
        ModelResult,
        model="ols",
        formula=formula,
        family="gaussian",
        link="identity",
        n_groups=None,
        dropped=dropped,
        converged=True,
        warnings=warn_tuple(capture),
        names=names,
        estimate=fitted.params,
        df=df_resid,
        cov=fitted.cov_params(),
        loglik=float(fitted.llf),
        scale=float(fitted.scale),
        residual_variance=float(fitted.scale),
        frame=frame,
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


@single_threaded
def fit_negbin(
    data: pd.DataFrame,
    formula: str,
    *,
    exposure: str | None = None,
    offset: str | None = None,
    levels: Levels | None = None,
    maxiter: int = 100,
) -> NegBinResult:
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
    y, x, build = design(formula, frame)
    check_outcome(y, "negative_binomial", outcome)
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
    with capture_warnings() as capture:
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
    return finish(
        NegBinResult,
        model="negbin",
        formula=formula,
        family="negative_binomial",
        link="log",
        n_groups=None,
        dropped=dropped,
        converged=converged,
        warnings=warn_tuple(capture, notes),
        names=names,
        estimate=fitted.params,
        cov=fitted.cov_params(),
        loglik=_nb_loglik(y, fitted.fittedvalues, theta),
        theta=float(theta),
        theta_se=float(theta_se),
        frame=frame,
        design=build,
    )
