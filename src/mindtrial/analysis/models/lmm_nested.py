"""Linear mixed model of participants nested in clusters (therapy groups), as
``lme4::lmer(formula + (1 | cluster) + (1 | cluster:groups))``, fitted by lme4's profiled
deviance (:mod:`.lmm_blocks`, one block per cluster)."""

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


def _nested_design(clusters: np.ndarray, members: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Block per cluster; ``Z`` columns: the cluster intercept, then one indicator per member
    (participant) in order of appearance within the cluster, padded to the largest cluster."""
    frame = pd.DataFrame({"c": clusters, "m": members})
    first = frame.drop_duplicates()
    rank = first.groupby("c", sort=False).cumcount()
    slot = pd.Series(rank.to_numpy(), index=pd.MultiIndex.from_frame(first))
    positions = slot.reindex(pd.MultiIndex.from_frame(frame)).to_numpy(dtype=int)
    width = int(positions.max()) + 1
    z = np.zeros((len(clusters), 1 + width))
    z[:, 0] = 1.0
    z[np.arange(len(clusters)), 1 + positions] = 1.0
    return z, clusters, width


class LambdaNested:
    """``theta = (theta_cluster, theta_member)`` → ``diag(theta_cluster, theta_member, ...)``."""

    def __init__(self, width: int) -> None:
        self.width = width

    def __call__(self, theta: np.ndarray) -> np.ndarray:
        return np.diag(np.concatenate(([theta[0]], np.full(self.width, theta[1]))))


@single_threaded
def fit_lmm_nested(
    data: pd.DataFrame,
    formula: str,
    *,
    groups: str,
    clusters: str,
    reml: bool = True,
    levels: Levels | None = None,
) -> MixedResult:
    """Random intercepts for ``clusters`` and for ``groups`` within ``clusters``, as
    ``lmer(formula + (1 | clusters) + (1 | clusters:groups), REML = reml)``.

    A cluster may hold a single member (a participant not treated in a group): its two
    intercepts are then not told apart within it, but both variances are estimated from the
    whole data, as lme4 does. REML by default (lme4's default); fixed effects and their
    covariance as :func:`~.lmm_slopes.fit_lmm_slopes`. ``random_effects_cov`` is the 2 x 2
    diagonal of the cluster and member variances. ``n_groups`` counts clusters.

    Args:
        formula: fixed effects, e.g. ``"t_score ~ arm * C(week)"``.
        groups: member column (participant id), nested in ``clusters``.
        clusters: cluster column (therapy group).
        reml: REML (default) or ML.
        levels: expected levels per column (see :func:`~.gee.fit_gee`).
    """
    outcome, predictors = formula_variables(formula, list(data.columns))
    frame, dropped = prepare(
        data, outcome=outcome, predictors=predictors, extra=[groups, clusters], levels=levels
    )
    y, x, build = design(formula, frame)
    check_outcome(y, "gaussian", outcome)
    cluster_codes = pd.factorize(frame[clusters])[0]
    member_codes = pd.factorize(frame[clusters].astype(str) + "\x1f" + frame[groups].astype(str))[0]
    n_clusters = int(cluster_codes.max()) + 1
    if n_clusters < 3:
        raise AnalysisError(f"clusters {clusters!r}: a cluster random effect needs at least 3")
    z, blocks, width = _nested_design(cluster_codes, member_codes)
    if width < 2:
        raise AnalysisError(
            f"clusters {clusters!r}: no cluster holds more than one {groups!r}, so the cluster "
            "and member variances cannot be told apart (no therapy groups recorded?)"
        )
    profile = BlockProfile(y, x.to_numpy(dtype=float), z, blocks, LambdaNested(width))
    solution, converged = profile.optimum(np.array([1.0, 1.0]), [0.0, 0.0], reml=reml)
    notes: list[str] = []
    if not converged:
        notes.append("nested random-intercept model: the optimizer did not converge")
    if singular(solution, [0, 1]):
        which = [
            name
            for name, t in zip(
                ("between groups", "between members within a group"), solution.theta, strict=True
            )
            if abs(t) < 1e-4
        ]
        notes.append(
            f"the random-intercept variance {' and '.join(which)} is estimated as 0 "
            "(boundary, singular fit)"
        )
    variances = solution.scale * np.asarray(solution.theta, dtype=float) ** 2
    return finish_block_fit(
        solution,
        formula=formula,
        names=list(x.columns),
        frame=frame,
        dropped=dropped,
        converged=converged,
        warnings=notes,
        n_groups=n_clusters,
        random_effects_cov=labelled(np.diag(variances), [clusters, groups]),
        design=build,
    )
