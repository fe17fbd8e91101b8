"""Model fitting, pooling, multiplicity and effect sizes for the prespecified analyses.

Pure layer (no Django). The public API, validated against R in ``tests/analysis``:

* estimators (:mod:`.models`, one module per model kind; the only package importing
  statsmodels):
  :func:`fit_gee`, :func:`fit_lmm`, :func:`fit_logit`, :func:`fit_ols`, :func:`fit_negbin`,
  :func:`fit_cox` → :class:`ModelResult` (:class:`GeeResult`, :class:`MixedResult`,
  :class:`NegBinResult`, :class:`CoxResult` where the model has parameters of its own);
* derived inference (:mod:`.contrasts`): :func:`contrast`, :func:`wald_test`,
  :func:`interaction_terms`, :func:`marginal_probabilities`, :func:`wald_estimate`;
* multiple imputation: :func:`impute_pmm` (:mod:`.imputation`), :func:`pool` and
  :func:`pool_scalar` (:mod:`.pooling`, Rubin + Barnard–Rubin df);
* :func:`benjamini_hochberg` (:mod:`.multiplicity`); :func:`cohen_d`,
  :func:`change_score_sd`, :func:`pooled_sd` (:mod:`.effect_size`).

Every failure to analyse raises :class:`AnalysisError` with a message naming the input at
fault; fitting problems that still give numbers (non-convergence, boundary fits, separation)
appear in ``ModelResult.warnings`` with ``converged=False`` where relevant.
"""

from mindtrial.analysis.contrasts import (
    contrast,
    interaction_terms,
    marginal_probabilities,
    wald_estimate,
    wald_test,
)
from mindtrial.analysis.effect_size import change_score_sd, cohen_d, pooled_sd
from mindtrial.analysis.errors import AnalysisError
from mindtrial.analysis.imputation import impute_pmm
from mindtrial.analysis.models import (
    fit_cox,
    fit_gee,
    fit_lmm,
    fit_logit,
    fit_negbin,
    fit_ols,
)
from mindtrial.analysis.multiplicity import benjamini_hochberg
from mindtrial.analysis.pooling import barnard_rubin_df, pool, pool_scalar
from mindtrial.analysis.results import (
    COEFFICIENT_COLUMNS,
    CoxResult,
    Estimate,
    GeeResult,
    MarginalProbabilities,
    MixedResult,
    ModelResult,
    NegBinResult,
    PooledResult,
    WaldTest,
)

__all__ = [
    "COEFFICIENT_COLUMNS",
    "AnalysisError",
    "CoxResult",
    "Estimate",
    "GeeResult",
    "MarginalProbabilities",
    "MixedResult",
    "ModelResult",
    "NegBinResult",
    "PooledResult",
    "WaldTest",
    "barnard_rubin_df",
    "benjamini_hochberg",
    "change_score_sd",
    "cohen_d",
    "contrast",
    "fit_cox",
    "fit_gee",
    "fit_lmm",
    "fit_logit",
    "fit_negbin",
    "fit_ols",
    "impute_pmm",
    "interaction_terms",
    "marginal_probabilities",
    "pool",
    "pool_scalar",
    "pooled_sd",
    "wald_estimate",
    "wald_test",
]
