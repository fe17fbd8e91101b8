"""Numbers as text: the one place that formats an estimate, its interval and its P value.

Results hold numbers (:mod:`mindtrial.analysis.results`); everything that shows them to a
reader — the HTML report and its CSV tables, and ``mindtrial analyze``'s terminal table —
formats them here, so a contrast reads the same wherever it appears.
"""

from __future__ import annotations

import math
from typing import Protocol

import pandas as pd

from mindtrial.analysis.results import AnalysisReport

MISSING = "—"
"""Shown for a number that is missing or not finite."""


class Interval(Protocol):
    """Anything with a point estimate and a confidence interval (an arm's estimate, a
    contrast, a coefficient, an :class:`~mindtrial.analysis.results.Estimate`)."""

    @property
    def estimate(self) -> float | None: ...
    @property
    def ci_lower(self) -> float | None: ...
    @property
    def ci_upper(self) -> float | None: ...


class Tested(Interval, Protocol):
    """An :class:`Interval` with the P value of its test."""

    @property
    def p_value(self) -> float | None: ...


def fmt(x: float | None, digits: int = 1) -> str:
    """A number with ``digits`` decimals; a dash for missing or non-finite values."""
    if x is None or not math.isfinite(x):
        return MISSING
    text = f"{x:.{digits}f}"
    return "0." + "0" * digits if text == "-0." + "0" * digits else text


def fmt_p(p: float | None) -> str:
    """A p-value as journals print it: three decimals, ``<0.001`` below that."""
    if p is None or not math.isfinite(p):
        return MISSING
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}"


def fmt_ci(estimate: float | None, low: float | None, high: float | None, digits: int = 1) -> str:
    """``estimate (low to high)``."""
    if estimate is None or not math.isfinite(estimate):
        return MISSING
    return f"{fmt(estimate, digits)} ({fmt(low, digits)} to {fmt(high, digits)})"


def fmt_estimate(value: Interval, digits: int = 1) -> str:
    """``estimate (low to high)`` of one estimate."""
    return fmt_ci(value.estimate, value.ci_lower, value.ci_upper, digits)


def estimate_cells(value: Tested | None, digits: int) -> tuple[str, str]:
    """``("estimate (low to high)", "P")`` of one estimate; dashes when there is none."""
    if value is None:
        return MISSING, MISSING
    return fmt_estimate(value, digits), fmt_p(value.p_value)


ANALYSES_COLUMNS: tuple[str, ...] = ("analysis", "n", "estimate (95% CI)", "P", "status")
"""Columns of :func:`analyses_table`."""


def analyses_table(
    report: AnalysisReport, *, main_only: bool = False, digits: int = 2
) -> pd.DataFrame:
    """One row per analysis: its id, participants analysed, the main between-arm contrast
    with its interval and P value, and the status. ``main_only`` leaves out the sensitivity
    analyses."""
    rows = []
    for result in report.analyses:
        if main_only and result.kind != "analysis":
            continue
        contrast = None if result.summary is None else result.summary.contrast
        text, p = estimate_cells(contrast, digits)
        rows.append([result.id, str(result.n_participants), text, p, result.status])
    return pd.DataFrame(rows, columns=list(ANALYSES_COLUMNS))
