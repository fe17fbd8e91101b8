"""Linear mixed model with a random intercept and a random slope per participant, as
``lme4::lmer(formula + (1 + slope | groups))``, fitted by lme4's profiled deviance
(:mod:`.lmm_blocks`, one block per participant)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mindtrial.analysis.errors import AnalysisError
from mindtrial.analysis.input_checks import formula_variables, prepare
from mindtrial.analysis.models.common import (
    Levels,
    check_outcome,
    design,
    labelled,
    single_threaded,
)
from mindtrial.analysis.models.lmm_blocks import (
    BlockProfile,
    finish_block_fit,
    singular,
)
from mindtrial.analysis.results import MixedResult


def _lower_triangular(theta: np.ndarray) -> np.ndarray:
    return np.array([[theta[0], 0.0], [theta[1], theta[2]]])


@single_threaded
def fit_lmm_slopes(
    data: pd.DataFrame,
    formula: str,
    *,
    groups: str,
    slope: str,
    reml: bool = True,
    levels: Levels | None = None,
) -> MixedResult:
    """Random intercept and slope on ``slope`` per ``groups``, correlated (an unstructured
    2 x 2 covariance), as ``lmer(formula + (1 + slope | groups), REML = reml)``.

    REML by default (lme4's default). Fixed effects are the GLS estimates at the variance
    estimates and their covariance lme4's ``vcov()``; Wald z inference. A variance estimated
    on the boundary (a zero or a perfect intercept-slope correlation, lme4's "singular fit")
    is kept, with a warning.

    Args:
        formula: fixed effects, e.g. ``"t_score ~ arm * C(week)"``.
        groups: grouping column (participant id).
        slope: numeric column whose coefficient varies by group (time, e.g. ``week``).
        reml: REML (default) or ML.
        levels: expected levels per column (see :func:`~.gee.fit_gee`).
    """
    outcome, predictors = formula_variables(formula, list(data.columns))
    frame, dropped = prepare(
        data, outcome=outcome, predictors=predictors, extra=[groups, slope], levels=levels
    )
    if not pd.api.types.is_numeric_dtype(frame[slope]):
        raise AnalysisError(f"slope {slope!r}: a random slope needs a numeric column")
    y, x, build = design(formula, frame)
    check_outcome(y, "gaussian", outcome)
    blocks = pd.factorize(frame[groups])[0]
    n_groups = int(blocks.max()) + 1
    if n_groups < 3:
        raise AnalysisError(f"groups {groups!r}: a random slope needs at least 3 groups")
    times = frame[slope].to_numpy(dtype=float)
    z = np.column_stack([np.ones(len(frame)), times])
    profile = BlockProfile(y, x.to_numpy(dtype=float), z, blocks, _lower_triangular)
    solution, converged = profile.optimum(np.array([1.0, 0.0, 1.0]), [0.0, -np.inf, 0.0], reml=reml)
    notes: list[str] = []
    if not converged:
        notes.append("random-slope model: the optimizer did not converge")
    if singular(solution, [0, 2]):
        notes.append(
            "random intercept and slope: their covariance is on the boundary (a slope or "
            "intercept variance of 0, or a correlation of ±1; singular fit)"
        )
    lam = solution.lam
    return finish_block_fit(
        solution,
        formula=formula,
        names=list(x.columns),
        frame=frame,
        dropped=dropped,
        converged=converged,
        warnings=notes,
        n_groups=n_groups,
        random_effects_cov=labelled(solution.scale * lam @ lam.T, ["Intercept", slope]),
        design=build,
    )
