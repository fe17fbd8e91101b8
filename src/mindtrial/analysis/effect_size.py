"""Cohen's d for the M-ROCC style change analyses.

Definition used throughout MindTrial (the paper does not state its SD; this is our choice):

* **within-arm change** (baseline → week 24): ``d = model-estimated mean change / SD of the
  observed change scores`` (follow-up minus baseline, participants of that arm with both
  values, ``ddof=1``) — :func:`change_score_sd` + :func:`cohen_d`;
* **between-arm difference in change**: ``d = model-estimated difference / pooled SD of the
  change scores of the two arms`` — :func:`pooled_sd`.

Plausibility against the published M-ROCC results (docs/sources.md, Trials): the SDs implied by the
published d are anxiety 9.0/1.1 ≈ 8.2 and 10.0/1.3 ≈ 7.7 T points, craving 2.3/1.3 ≈ 1.8 and
1.3/0.7 ≈ 1.9 points, and the between-arm craving d of −0.5 for −1.0 implies ≈ 2.0 — one
consistent SD per outcome across within- and between-arm d, as the change-score SD gives
(the baseline SD of a sample selected for T > 55 is truncated by that selection
and would inflate |d|). ``tests/analysis/test_effect_size.py`` checks this.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mindtrial.analysis.errors import AnalysisError

__all__ = ["change_score_sd", "cohen_d", "pooled_sd"]


def cohen_d(difference: float, *, sd: float) -> float:
    """Standardized difference ``difference / sd``."""
    if not np.isfinite(sd) or sd <= 0:
        raise AnalysisError(f"cohen_d: the SD must be positive and finite, got {sd!r}")
    return float(difference / sd)


def change_score_sd(
    baseline: Sequence[float] | np.ndarray, follow_up: Sequence[float] | np.ndarray
) -> float:
    """SD (``ddof=1``) of ``follow_up - baseline`` over pairs where both are observed.

    The two sequences are aligned per participant; NaN marks a missing value.
    """
    b = np.asarray(baseline, dtype=float)
    f = np.asarray(follow_up, dtype=float)
    if b.shape != f.shape:
        raise AnalysisError(
            f"change_score_sd: baseline has {b.size} values, follow-up {f.size}; align them "
            "per participant"
        )
    change = (f - b)[~(np.isnan(b) | np.isnan(f))]
    if change.size < 2:
        raise AnalysisError(
            f"change_score_sd: {change.size} participant(s) with both values; need at least 2"
        )
    return float(np.std(change, ddof=1))


def pooled_sd(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Pooled SD of two samples: ``sqrt(((n_a - 1) s_a^2 + (n_b - 1) s_b^2) / (n_a + n_b - 2))``
    (NaN ignored)."""
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    x = x[~np.isnan(x)]
    y = y[~np.isnan(y)]
    if x.size < 2 or y.size < 2:
        raise AnalysisError(
            f"pooled_sd: each group needs at least 2 values (got {x.size} and {y.size})"
        )
    num = (x.size - 1) * np.var(x, ddof=1) + (y.size - 1) * np.var(y, ddof=1)
    return float(np.sqrt(num / (x.size + y.size - 2)))
