"""Rubin's rules for multiply imputed analyses, with Barnard–Rubin (1999) degrees of freedom.

Matches ``mice::pool()`` / ``summary(pool(fit), conf.int = TRUE)`` (mice 3.x):

* ``qbar`` = mean of the m estimates, ``ubar`` = mean of the m squared SEs,
  ``b`` = between-imputation variance (``ddof=1``), ``t = ubar + (1 + 1/m) b``;
* ``riv = (1 + 1/m) b / ubar``, ``lambda = (1 + 1/m) b / t`` (floored at 1e-4 for the df, as mice);
* ``df_old = (m - 1) / lambda^2``,
  ``df_obs = (dfcom + 1) / (dfcom + 3) * dfcom * (1 - lambda)``,
  ``df = df_old * df_obs / (df_old + df_obs)``;
* ``fmi = (riv + 2 / (df + 3)) / (riv + 1)``; t intervals and p-values on ``df``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from mindtrial.analysis.errors import AnalysisError
from mindtrial.analysis.results import COEFFICIENT_COLUMNS, Estimate, ModelResult, PooledResult

__all__ = ["barnard_rubin_df", "pool", "pool_scalar"]

_LARGE_DFCOM = 999999.0  # what mice uses when the complete-data df is unknown


def barnard_rubin_df(m: int, b: np.ndarray, t: np.ndarray, dfcom: float) -> np.ndarray:
    """Barnard–Rubin small-sample degrees of freedom (element-wise), as mice's
    ``barnard.rubin()``; ``dfcom = inf`` gives the classic Rubin (1987) df."""
    lam = (1 + 1 / m) * np.asarray(b, dtype=float) / np.asarray(t, dtype=float)
    lam = np.where(np.isnan(lam), 1e-4, np.maximum(lam, 1e-4))
    df_old = (m - 1) / lam**2
    if math.isinf(dfcom):
        return np.asarray(df_old, dtype=float)
    df_obs = (dfcom + 1) / (dfcom + 3) * dfcom * (1 - lam)
    return np.asarray(df_old * df_obs / (df_old + df_obs), dtype=float)


def _pool_arrays(
    estimates: np.ndarray, variances: np.ndarray, dfcom: float
) -> dict[str, np.ndarray]:
    m = estimates.shape[0]
    if m < 2:
        raise AnalysisError(f"pooling needs at least 2 imputations, got {m}")
    if dfcom <= 0:
        raise AnalysisError(f"dfcom {dfcom!r}: the complete-data df must be positive")
    if not (np.isfinite(estimates).all() and np.isfinite(variances).all()):
        raise AnalysisError("pooling: an imputation produced a non-finite estimate or SE")
    qbar = estimates.mean(axis=0)
    ubar = variances.mean(axis=0)
    b = estimates.var(axis=0, ddof=1)
    t = ubar + (1 + 1 / m) * b
    with np.errstate(divide="ignore", invalid="ignore"):
        riv = (1 + 1 / m) * b / ubar
        lam = (1 + 1 / m) * b / t
    df = barnard_rubin_df(m, b, t, dfcom)
    fmi = (riv + 2 / (df + 3)) / (riv + 1)
    return {
        "qbar": qbar,
        "ubar": ubar,
        "b": b,
        "t": t,
        "riv": riv,
        "lambda": lam,
        "df": df,
        "fmi": fmi,
    }


def pool_scalar(
    estimates: Sequence[float],
    std_errors: Sequence[float],
    *,
    dfcom: float = math.inf,
    level: float = 0.95,
) -> Estimate:
    """Pool one quantity (e.g. a contrast or a marginal difference computed in each completed
    dataset) across imputations; t interval on the Barnard–Rubin df."""
    est = np.asarray(estimates, dtype=float)[:, None]
    se = np.asarray(std_errors, dtype=float)[:, None]
    if est.shape != se.shape:
        raise AnalysisError("pool_scalar: estimates and std_errors differ in length")
    pooled = _pool_arrays(est, se**2, dfcom)
    q = float(pooled["qbar"][0])
    s = float(np.sqrt(pooled["t"][0]))
    df = float(pooled["df"][0])
    crit = float(stats.t.ppf(0.5 + level / 2, df))
    return Estimate(
        estimate=q,
        std_error=s,
        ci_lower=q - crit * s,
        ci_upper=q + crit * s,
        p_value=float(2 * stats.t.sf(abs(q / s), df)),
        df=df,
    )


def pool(
    results: Sequence[ModelResult], *, dfcom: float | None = None, level: float = 0.95
) -> PooledResult:
    """Pool the same model fitted to each of m completed datasets.

    Args:
        results: m fits with identical terms (from :mod:`mindtrial.analysis.imputation`).
        dfcom: complete-data degrees of freedom. Default: ``df_resid`` of the first fit if it
            has one (OLS), else ``n_obs - number of coefficients`` (what mice takes from
            ``df.residual()`` for glm/lmer fits). Pass ``math.inf`` for Rubin's large-sample df.
    """
    if len(results) < 2:
        raise AnalysisError(f"pool: needs at least 2 imputations, got {len(results)}")
    terms = results[0].terms
    for i, res in enumerate(results):
        if res.terms != terms:
            raise AnalysisError(f"pool: imputation {i + 1} has terms {res.terms}, expected {terms}")
    if dfcom is None:
        first = results[0]
        dfcom = first.df_resid if first.df_resid is not None else float(first.n_obs - len(terms))
    est = np.vstack([r.coefficients["estimate"].to_numpy(dtype=float) for r in results])
    var = np.vstack([r.coefficients["std_error"].to_numpy(dtype=float) ** 2 for r in results])
    pooled = _pool_arrays(est, var, float(dfcom))
    m = len(results)
    se = np.sqrt(pooled["t"])
    crit = stats.t.ppf(0.5 + level / 2, pooled["df"])
    coefficients = pd.DataFrame(
        {
            "term": list(terms),
            "estimate": pooled["qbar"],
            "std_error": se,
            "ci_lower": pooled["qbar"] - crit * se,
            "ci_upper": pooled["qbar"] + crit * se,
            "p_value": 2 * stats.t.sf(np.abs(pooled["qbar"] / se), pooled["df"]),
        }
    ).loc[:, list(COEFFICIENT_COLUMNS)]
    diagnostics = pd.DataFrame(
        {
            "term": list(terms),
            "df": pooled["df"],
            "ubar": pooled["ubar"],
            "b": pooled["b"],
            "t": pooled["t"],
            "riv": pooled["riv"],
            "lambda_": pooled["lambda"],
            "fmi": pooled["fmi"],
        }
    )
    covs = np.stack(
        [r.cov_params.loc[list(terms), list(terms)].to_numpy(dtype=float) for r in results]
    )
    centred = est - pooled["qbar"]
    between = centred.T @ centred / (m - 1)
    total = covs.mean(axis=0) + (1 + 1 / m) * between
    warnings = tuple(
        f"imputation {i + 1}: {w}" for i, r in enumerate(results) for w in r.warnings
    ) + tuple(
        f"imputation {i + 1} did not converge" for i, r in enumerate(results) if not r.converged
    )
    return PooledResult(
        m=m,
        dfcom=float(dfcom),
        coefficients=coefficients,
        diagnostics=diagnostics,
        cov_params=pd.DataFrame(total, index=list(terms), columns=list(terms)),
        warnings=warnings,
    )
