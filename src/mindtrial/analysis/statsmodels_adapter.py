"""The estimators' former home, kept so existing imports keep working.

The estimators now live in :mod:`mindtrial.analysis.models` (one module per model kind);
import from there or from :mod:`mindtrial.analysis`.
"""

from __future__ import annotations

from mindtrial.analysis.models import (
    CovStructName,
    FamilyName,
    fit_cox,
    fit_gee,
    fit_lmm,
    fit_logit,
    fit_negbin,
    fit_ols,
)

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
