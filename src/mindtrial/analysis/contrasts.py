"""Inference derived from a fitted model: linear contrasts, joint Wald tests and model-based
marginal probabilities per arm (the way the M-ROCC paper reports its substance-use outcomes).

Pure numpy/scipy: works on :class:`~mindtrial.analysis.results.ModelResult` only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from mindtrial.analysis.errors import AnalysisError
from mindtrial.analysis.results import Estimate, MarginalProbabilities, ModelResult, WaldTest

__all__ = ["contrast", "interaction_terms", "marginal_probabilities", "wald_estimate", "wald_test"]


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise AnalysisError(f"level {level!r}: expected a confidence level between 0 and 1")


def wald_estimate(
    estimate: float, std_error: float, *, df: float | None = None, level: float = 0.95
) -> Estimate:
    """Wald interval and two-sided p-value for an estimate (normal, or t on ``df``)."""
    _check_level(level)
    if not np.isfinite(std_error) or std_error <= 0:
        raise AnalysisError(f"standard error {std_error!r}: expected a positive finite number")
    z = estimate / std_error
    if df is None:
        crit = float(stats.norm.ppf(0.5 + level / 2))
        p = float(2 * stats.norm.sf(abs(z)))
    else:
        crit = float(stats.t.ppf(0.5 + level / 2, df))
        p = float(2 * stats.t.sf(abs(z), df))
    return Estimate(
        estimate=float(estimate),
        std_error=float(std_error),
        ci_lower=float(estimate - crit * std_error),
        ci_upper=float(estimate + crit * std_error),
        p_value=p,
        df=df,
    )


def _weight_vector(result: ModelResult, weights: Mapping[str, float]) -> np.ndarray:
    terms = result.terms
    unknown = [t for t in weights if t not in terms]
    if unknown:
        raise AnalysisError(
            f"contrast: unknown term(s) {', '.join(map(repr, unknown))}; the model has "
            f"{', '.join(terms)}"
        )
    if not weights:
        raise AnalysisError("contrast: no weights given")
    return np.array([float(weights.get(t, 0.0)) for t in terms])


def _cov_in_term_order(result: ModelResult) -> np.ndarray:  # type: ignore[type-arg]
    """``cov_params`` as a matrix in the coefficient table's order (it is labelled in that
    order already unless built otherwise: then it is reindexed by label)."""
    terms = list(result.terms)
    cov = result.cov_params
    if [str(t) for t in cov.index] == terms and [str(t) for t in cov.columns] == terms:
        return cov.to_numpy(dtype=float)
    return cov.loc[terms, terms].to_numpy(dtype=float)


def contrast(result: ModelResult, weights: Mapping[str, float], *, level: float = 0.95) -> Estimate:
    """The linear combination ``sum(w * beta)`` with its SE from ``result.cov_params``.

    Example (within-arm change 0→24 in the treated arm of ``y ~ arm * week``)::

        contrast(fit, {"week[T.w24]": 1, "arm[T.mrocc]:week[T.w24]": 1})

    Inference uses z, or t on ``result.df_resid`` when the model has one.
    """
    w = _weight_vector(result, weights)
    beta = result.coefficients["estimate"].to_numpy(dtype=float)
    cov = _cov_in_term_order(result)
    return wald_estimate(
        float(w @ beta), float(np.sqrt(w @ cov @ w)), df=result.df_resid, level=level
    )


def interaction_terms(result: ModelResult, *, involving: Sequence[str] = ()) -> tuple[str, ...]:
    """Terms with a ``:`` (interactions), optionally only those mentioning every name given
    (e.g. ``involving=("arm", "week")``)."""
    return tuple(t for t in result.terms if ":" in t and all(name in t for name in involving))


def wald_test(result: ModelResult, terms: Sequence[str]) -> WaldTest:
    """Joint Wald chi-square test of ``beta[terms] == 0`` on ``len(terms)`` df.

    This is the paper's arm × week interaction χ² (3 df for anxiety, 24 for craving) when
    ``terms = interaction_terms(fit, involving=("arm", "week"))``.
    """
    if not terms:
        raise AnalysisError("wald_test: no terms to test")
    unknown = [t for t in terms if t not in result.terms]
    if unknown:
        raise AnalysisError(
            f"wald_test: unknown term(s) {', '.join(map(repr, unknown))}; the model has "
            f"{', '.join(result.terms)}"
        )
    table = result.coefficients.set_index("term")
    b = table.loc[list(terms), "estimate"].to_numpy(dtype=float)
    v = result.cov_params.loc[list(terms), list(terms)].to_numpy(dtype=float)
    try:
        chi2 = float(b @ np.linalg.solve(v, b))
    except np.linalg.LinAlgError as exc:
        raise AnalysisError(
            f"wald_test: the covariance of {', '.join(terms)} is singular; test fewer terms"
        ) from exc
    df = len(terms)
    return WaldTest(terms=tuple(terms), chi2=chi2, df=df, p_value=float(stats.chi2.sf(chi2, df)))


def _expit(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


def marginal_probabilities(
    result: ModelResult,
    *,
    arm: str,
    levels: Sequence[str],
    data: pd.DataFrame | None = None,
    level: float = 0.95,
) -> MarginalProbabilities:
    """Model-based marginal probability of the outcome per arm, and their difference.

    For each arm level ``a``: set ``arm = a`` in every analysed row (or in ``data``), predict
    ``expit(X beta)`` and average — i.e. standardize over the observed covariate distribution
    (periods, doses, ...). The SE is by the delta method with the model's (robust, for GEE)
    covariance: gradient = mean of ``p (1 - p) x``. Wald intervals on the probability scale, as
    the M-ROCC paper reports "13.4% (6.2–20.5)". ``difference`` is ``levels[1] - levels[0]``
    (give ``levels`` as ``[reference, comparison]``; more levels are tabulated too).

    Only for logit-link models (``fit_gee(..., family="binomial")``, ``fit_logit``).
    """
    _check_level(level)
    if result.link != "logit":
        raise AnalysisError(
            f"marginal_probabilities: needs a logit-link model, {result.model} uses {result.link}"
        )
    if result.design is None:
        raise AnalysisError("marginal_probabilities: the result carries no design builder")
    frame = result.data if data is None else data
    if frame is None or frame.empty:
        raise AnalysisError("marginal_probabilities: no rows to average over")
    if arm not in frame.columns:
        raise AnalysisError(f"marginal_probabilities: column {arm!r} is not in the data")
    if len(levels) < 2:
        raise AnalysisError("marginal_probabilities: give at least two arm levels")
    present = set(frame[arm].tolist())
    absent = [lvl for lvl in levels if lvl not in present]
    if absent:
        raise AnalysisError(
            f"marginal_probabilities: arm level(s) {', '.join(map(repr, absent))} have no "
            "analysed rows; the model cannot predict for them"
        )
    beta = result.coefficients["estimate"].to_numpy(dtype=float)
    cov = result.cov_params.to_numpy(dtype=float)
    probs: list[float] = []
    grads: list[np.ndarray] = []
    for lvl in levels:
        counterfactual = frame.copy()
        counterfactual[arm] = pd.Series(
            [lvl] * len(frame), index=frame.index, dtype=frame[arm].dtype
        )
        x = result.design(counterfactual)
        p = _expit(x @ beta)
        probs.append(float(p.mean()))
        grads.append((p * (1 - p)) @ x / len(p))
    rows = []
    for lvl, p_hat, g in zip(levels, probs, grads, strict=True):
        est = wald_estimate(p_hat, float(np.sqrt(g @ cov @ g)), level=level)
        rows.append(
            {
                "arm": str(lvl),
                "estimate": est.estimate,
                "std_error": est.std_error,
                "ci_lower": est.ci_lower,
                "ci_upper": est.ci_upper,
                "p_value": est.p_value,
            }
        )
    g_diff = grads[1] - grads[0]
    difference = wald_estimate(
        probs[1] - probs[0], float(np.sqrt(g_diff @ cov @ g_diff)), level=level
    )
    return MarginalProbabilities(
        arm=arm,
        reference=str(levels[0]),
        comparison=str(levels[1]),
        table=pd.DataFrame(rows),
        difference=difference,
        level=level,
    )
