"""Analysis-ready frames: outcomes joined with arm, site, cohort and baseline covariates.

Each frame is long (one row per participant and time point with an observed outcome) so
that mixed models and GEE can use every observation (maximum likelihood / ITT); the
participant-level columns repeat on every row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import pandas as pd

from mindtrial.dataset import StudyDataset
from mindtrial.outcomes.abstinence import abstinence_periods
from mindtrial.outcomes.engagement import attendance_summary
from mindtrial.outcomes.scores import scored_instruments
from mindtrial.protocols.schema import Protocol

PARTICIPANT_LEVEL: Final = ("participant_id", "arm", "site", "cohort")


def participant_frame(ds: StudyDataset, protocol: Protocol) -> pd.DataFrame:
    """``participant_id, arm, site, cohort``, the baseline covariates, ``sessions_attended``
    and ``adherent``: one row per participant."""
    base = ds.participants[[*PARTICIPANT_LEVEL, *ds.covariates]]
    return base.merge(attendance_summary(ds, protocol), on="participant_id", how="left")


def analysis_frame_scores(
    ds: StudyDataset,
    protocol: Protocol,
    *,
    instrument: str,
    score: str,
    weeks: Sequence[int] | None = None,
    baseline_week: int = 0,
    baseline_name: str = "baseline",
    prorate: bool = False,
) -> pd.DataFrame:
    """One score of one instrument by week, with its baseline value and the covariates.

    Columns: ``participant_id, arm, site, cohort`` (string), ``week`` (int64), ``value``
    (float64, the score), ``<baseline_name>`` (float64, the score at ``baseline_week``; NaN
    when missing), then the protocol's baseline covariates, ``sessions_attended`` and
    ``adherent``. Only observed participant-weeks appear (the baseline week included);
    ``weeks`` keeps only those weeks. Sorted by participant and week.
    """
    scores = scored_instruments(ds, prorate=prorate, instruments=[instrument])
    picked = scores[(scores["instrument"] == instrument) & (scores["score"] == score)]
    long = picked[["participant_id", "week", "value"]]
    baseline = long.loc[long["week"] == baseline_week, ["participant_id", "value"]].rename(
        columns={"value": baseline_name}
    )
    if weeks is not None:
        long = long[long["week"].isin(list(weeks))]
    people = participant_frame(ds, protocol)
    out = long.merge(baseline, on="participant_id", how="left").merge(
        people, on="participant_id", how="left"
    )
    ordered = [
        *PARTICIPANT_LEVEL,
        "week",
        "value",
        baseline_name,
        *ds.covariates,
        "sessions_attended",
        "adherent",
    ]
    out = out[ordered].astype({"week": "int64", "value": "float64", baseline_name: "float64"})
    return out.sort_values(["participant_id", "week"], kind="stable").reset_index(drop=True)


def analysis_frame_periods(
    ds: StudyDataset,
    protocol: Protocol,
    substance: str,
    *,
    periods: Sequence[int] | None = None,
    observed_only: bool = False,
) -> pd.DataFrame:
    """Period abstinence for ``substance`` joined with arm, site, cohort and covariates.

    Columns: those of :func:`~mindtrial.outcomes.abstinence.abstinence_periods`, then
    ``arm, site, cohort``, the baseline covariates, ``sessions_attended`` and ``adherent``.
    ``periods`` defaults to ``outcomes.primary_periods`` (M-ROCC 7-12; all periods when
    the protocol lists none). ``observed_only`` drops periods whose ``non_abstinent`` is NA.
    """
    table = abstinence_periods(ds, protocol, substance)
    chosen = list(periods) if periods is not None else list(protocol.outcomes.primary_periods)
    if chosen:
        table = table[table["period"].isin(chosen)]
    if observed_only:
        table = table[table["non_abstinent"].notna()]
    people = participant_frame(ds, protocol)
    out = table.merge(people, on="participant_id", how="left")
    return out.sort_values(["participant_id", "period"], kind="stable").reset_index(drop=True)
