"""The estimators, one module per model kind, all finished by
:func:`mindtrial.analysis.models.common.finish` into a :class:`ModelResult`.

* :mod:`.gee`: GEE (exchangeable, AR(1), independence), vectorised over clusters;
* :mod:`.lmm`: linear mixed models (a random intercept by lme4's profiled likelihood);
* :mod:`.lmm_slopes`, :mod:`.lmm_nested`: random intercept and slope per participant, and
  participants nested in therapy groups (lme4's profiled deviance, :mod:`.lmm_blocks`);
* :mod:`.glm`: logistic, OLS and negative binomial regression;
* :mod:`.cox`: Cox proportional hazards.

These modules (with :mod:`.common`) are the only ones importing statsmodels and patsy.
"""

from mindtrial.analysis.models.common import CovStructName, FamilyName
from mindtrial.analysis.models.cox import fit_cox
from mindtrial.analysis.models.gee import fit_gee
from mindtrial.analysis.models.glm import fit_logit, fit_negbin, fit_ols
from mindtrial.analysis.models.lmm import OneReProfile, OneReSolution, fit_lmm
from mindtrial.analysis.models.lmm_nested import fit_lmm_nested
from mindtrial.analysis.models.lmm_slopes import fit_lmm_slopes

__all__ = [
    "CovStructName",
    "FamilyName",
    "OneReProfile",
    "OneReSolution",
    "fit_cox",
    "fit_gee",
    "fit_lmm",
    "fit_lmm_nested",
    "fit_lmm_slopes",
    "fit_logit",
    "fit_negbin",
    "fit_ols",
]
