"""Results of fitting one model and of the inference derived from it.

Every estimator returns a :class:`ModelResult` whose ``coefficients`` table has exactly the
columns :data:`COEFFICIENT_COLUMNS`, whatever the model; :mod:`.plan` holds what a whole
analysis plan gives. Each result's ``to_frame()`` is its tidy table (:mod:`.tidy`);
rendering lives in :mod:`mindtrial.report.printer`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mindtrial.analysis.results.tidy import frame

COEFFICIENT_COLUMNS: tuple[str, ...] = (
    "term",
    "estimate",
    "std_error",
    "ci_lower",
    "ci_upper",
    "p_value",
)
"""Column names of every coefficient table, in order."""

DesignBuilder = Callable[[pd.DataFrame], np.ndarray]
"""Maps a data frame to the fixed-effects design matrix of a fitted model (same columns as
``ModelResult.terms``), re-using the model's factor levels. Used for marginal predictions."""


@dataclass(frozen=True, eq=False)
class ModelResult:
    """One fitted model: what every estimator gives. The estimators with parameters of their
    own return a subclass: :class:`GeeResult`, :class:`NegBinResult`, :class:`MixedResult`,
    :class:`CoxResult`.

    Attributes:
        model: estimator name, e.g. ``"gee"``, ``"lmm"``, ``"negbin"``, ``"logit"``, ``"cox"``.
        formula: the model formula as given (Cox: ``"duration, event ~ covariates"``).
        glm_family: ``"binomial"``, ``"gaussian"``, ``"poisson"``, ``"negative_binomial"`` or
            ``"cox"``; together with :attr:`link` decides how predictions are made.
        link: ``"logit"``, ``"identity"``, ``"log"``, or ``"none"`` (Cox).
        n_obs: rows used in the fit (after listwise deletion of missing values).
        n_groups: number of clusters/participants for GEE and mixed models, else ``None``.
        n_dropped: rows of the input left out because a model variable was missing.
        converged: ``False`` when the optimizer said so or warned; see :attr:`warnings`.
        warnings: human-readable warnings raised while fitting (never swallowed).
        coefficients: tidy table with exactly :data:`COEFFICIENT_COLUMNS`; for mixed models the
            fixed effects only. Wald intervals; ``z`` unless :attr:`df_resid` is set (then ``t``).
        cov_params: covariance matrix of the estimates in ``coefficients`` (robust sandwich for
            GEE), indexed and labelled by term. Use it for contrasts and joint tests.
        df_resid: residual degrees of freedom for ``t`` inference (OLS), else ``None``.
        loglik: maximized log-likelihood (ML fits; REML criterion for REML mixed models;
            ``None`` for GEE).
        scale: dispersion/scale reported by the fit (residual variance for Gaussian models).
        residual_variance: mixed models and OLS: residual variance sigma^2.
        data: the analysed rows (after listwise deletion); marginal predictions average over
            these. Not part of equality or repr.
        design: builds the design matrix for new data (see :data:`DesignBuilder`).
    """

    model: str
    formula: str
    glm_family: str
    link: str
    n_obs: int
    n_groups: int | None
    n_dropped: int
    converged: bool
    warnings: tuple[str, ...]
    coefficients: pd.DataFrame
    cov_params: pd.DataFrame
    df_resid: float | None = None
    loglik: float | None = None
    scale: float | None = None
    residual_variance: float | None = None
    data: pd.DataFrame | None = field(default=None, repr=False)
    design: DesignBuilder | None = field(default=None, repr=False)

    @property
    def terms(self) -> tuple[str, ...]:
        """Coefficient names, in table order."""
        return tuple(str(t) for t in self.coefficients["term"])

    def estimate(self, term: str) -> float:
        """The point estimate of one coefficient (raises ``KeyError`` for an unknown term)."""
        row = self.coefficients.loc[self.coefficients["term"] == term, "estimate"]
        if row.empty:
            raise KeyError(term)
        return float(row.iloc[0])

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table (a copy)."""
        return self.coefficients.copy()


@dataclass(frozen=True, eq=False, kw_only=True)
class GeeResult(ModelResult):
    """A GEE fit. ``cov_struct`` is the working correlation (``"exchangeable"``,
    ``"independence"``, ``"ar1"``), ``alpha`` its parameter (exchangeable correlation or
    AR(1) rho; ``None`` under independence)."""

    cov_struct: str
    alpha: float | None


@dataclass(frozen=True, eq=False, kw_only=True)
class NegBinResult(ModelResult):
    """A negative binomial fit. ``theta`` is the shape (``Var = mu + mu^2/theta``, as
    MASS::glm.nb), ``theta_se`` its standard error (observed information given the fitted
    means, as MASS::glm.nb's ``SE.theta``)."""

    theta: float
    theta_se: float


@dataclass(frozen=True, eq=False, kw_only=True)
class MixedResult(ModelResult):
    """A linear mixed model fit. ``random_effects_cov`` is the covariance matrix of the
    random effects (actual, not scaled by the residual variance), labelled by random-effect
    term; ``coefficients`` holds the fixed effects only."""

    random_effects_cov: pd.DataFrame


@dataclass(frozen=True, eq=False, kw_only=True)
class CoxResult(ModelResult):
    """A Cox proportional-hazards fit; ``n_events`` is the number of events."""

    n_events: int


@dataclass(frozen=True)
class Estimate:
    """One derived quantity with a Wald interval (a contrast, a marginal mean, a pooled value).

    ``df`` is ``None`` for normal (z) inference, else the t degrees of freedom used.
    """

    estimate: float
    std_error: float
    ci_lower: float
    ci_upper: float
    p_value: float
    df: float | None = None

    def to_frame(self) -> pd.DataFrame:
        """One row: ``estimate, std_error, ci_lower, ci_upper, p_value, df``."""
        return frame([self], ("estimate", "std_error", "ci_lower", "ci_upper", "p_value", "df"))


@dataclass(frozen=True)
class WaldTest:
    """Joint Wald chi-square test that a set of coefficients are all zero (e.g. the arm ×
    time interaction terms of an analysis)."""

    terms: tuple[str, ...]
    chi2: float
    df: int
    p_value: float

    def to_frame(self) -> pd.DataFrame:
        """One row: ``terms`` (joined with ``", "``), ``chi2, df, p_value``."""
        return frame([self], ("terms", "chi2", "df", "p_value"))


@dataclass(frozen=True, eq=False)
class MarginalProbabilities:
    """Model-based marginal probabilities per arm and their difference.

    ``table`` has columns ``arm, estimate, std_error, ci_lower, ci_upper, p_value`` (one row per
    arm level, in the order given); ``difference`` is ``comparison - reference``.
    """

    arm: str
    reference: str
    comparison: str
    table: pd.DataFrame
    difference: Estimate
    level: float

    def to_frame(self) -> pd.DataFrame:
        """The per-arm table (a copy)."""
        return self.table.copy()


@dataclass(frozen=True, eq=False)
class PooledResult:
    """Rubin's-rules pooling of ``m`` fits.

    ``coefficients`` has exactly :data:`COEFFICIENT_COLUMNS` (t intervals with the
    Barnard–Rubin degrees of freedom); ``diagnostics`` has ``term, df, ubar, b, t, riv,
    lambda_, fmi`` (as mice's ``pool()$pooled``); ``cov_params`` is the total covariance
    ``Ubar + (1 + 1/m) B``.
    """

    m: int
    dfcom: float
    coefficients: pd.DataFrame
    diagnostics: pd.DataFrame
    cov_params: pd.DataFrame
    warnings: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """The pooled coefficient table (a copy)."""
        return self.coefficients.copy()
