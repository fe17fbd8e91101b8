"""Kaplan–Meier curves, numbers at risk, events and person-time for time-to-event analyses.

The estimates are lifelines' :class:`~lifelines.KaplanMeierFitter` (product-limit, ties as
R's ``survival::survfit``); ``tests/reference/km_reference.R`` checks them against R.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter


@dataclass(frozen=True)
class KaplanMeier:
    """One group's curve: step ``times`` (starting at 0) with survival and its 95% CI."""

    group: str
    label: str
    times: tuple[float, ...]
    survival: tuple[float, ...]
    ci_lower: tuple[float, ...]
    ci_upper: tuple[float, ...]
    n: int
    events: int
    person_time: float
    median: float | None

    def at(self, time: float) -> float:
        """Survival at ``time`` (right-continuous step function)."""
        index = int(np.searchsorted(np.asarray(self.times), time, side="right")) - 1
        return self.survival[max(index, 0)]


def kaplan_meier(
    durations: Iterable[float], events: Iterable[float], *, group: str, label: str
) -> KaplanMeier:
    """The product-limit estimate of one group with its 95% CI on the log(−log) scale
    (lifelines' exponential Greenwood interval, R's ``survfit(conf.type = "log-log")``)."""
    t = np.asarray(list(durations), dtype="float64")
    e = np.asarray(list(events), dtype="float64") > 0
    fitter = KaplanMeierFitter()
    fitter.fit(t, event_observed=e)
    table = fitter.survival_function_
    ci = fitter.confidence_interval_survival_function_
    median = float(fitter.median_survival_time_)
    return KaplanMeier(
        group=group,
        label=label,
        times=tuple(float(x) for x in table.index),
        survival=tuple(float(x) for x in table.iloc[:, 0]),
        ci_lower=tuple(float(x) for x in ci.iloc[:, 0]),
        ci_upper=tuple(float(x) for x in ci.iloc[:, 1]),
        n=len(t),
        events=int(e.sum()),
        person_time=float(t.sum()),
        median=median if np.isfinite(median) else None,
    )


def number_at_risk(durations: Iterable[float], times: Iterable[float]) -> list[int]:
    """Participants still at risk (duration ≥ t) at each of ``times``, as ``survfit`` counts."""
    t = np.asarray(list(durations), dtype="float64")
    return [int((t >= x).sum()) for x in times]


def curves_by_group(
    frame: pd.DataFrame,
    *,
    duration: str,
    event: str,
    group: str,
    labels: dict[str, str],
) -> list[KaplanMeier]:
    """One curve per group, in the order of ``labels``; groups without rows are left out."""
    out = []
    for code, label in labels.items():
        rows = frame[frame[group].astype(str) == code]
        if len(rows) == 0:
            continue
        out.append(
            kaplan_meier(
                rows[duration].astype("float64").tolist(),
                rows[event].astype("float64").tolist(),
                group=code,
                label=label,
            )
        )
    return out
