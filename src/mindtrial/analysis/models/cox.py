"""Cox proportional hazards (statsmodels ``PHReg``, Efron ties), as ``survival::coxph``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import patsy  # type: ignore[import-untyped]
import statsmodels.api as sm

from mindtrial.analysis.errors import AnalysisError
from mindtrial.analysis.input_checks import check_full_rank, prepare
from mindtrial.analysis.models.common import (
    FORMULA_ENV,
    Levels,
    capture_warnings,
    finish,
    single_threaded,
    warn_tuple,
)
from mindtrial.analysis.results import CoxResult


@single_threaded
def fit_cox(
    data: pd.DataFrame,
    *,
    duration: str,
    event: str,
    covariates: Sequence[str],
    levels: Levels | None = None,
) -> CoxResult:
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
        x = patsy.dmatrix(rhs, frame, return_type="dataframe", eval_env=FORMULA_ENV)
    except patsy.PatsyError as exc:
        raise AnalysisError(f"covariates {list(covariates)}: {exc}") from exc
    x = x.drop(columns="Intercept")
    check_full_rank(x.to_numpy(dtype=float), list(x.columns))
    with capture_warnings() as capture:
        fitted = sm.PHReg(times, x.to_numpy(), status=status, ties="efron").fit()
    converged = not capture.convergence_problem
    names = list(x.columns)
    return finish(
        CoxResult,
        model="cox",
        formula=f"{duration}, {event} ~ {rhs}",
        family="cox",
        link="none",
        n_groups=None,
        dropped=dropped,
        converged=converged,
        warnings=warn_tuple(
            capture, [] if converged or capture.messages else ["Cox model did not converge"]
        ),
        names=names,
        estimate=fitted.params,
        cov=fitted.cov_params(),
        loglik=float(fitted.llf),
        n_events=int(status.sum()),
        frame=frame,
    )
