"""The last stage: the participants and screening tables, and the study dataset of them all."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import numpy as np
import pandas as pd

from mindtrial.dataset import StudyDataset, StudyMeta
from mindtrial.dataset.schema import (
    ADVERSE_EVENTS,
    ATTENDANCE,
    EMA_COLUMNS,
    FIXED_COLUMNS,
    MEDICATIONS,
    RESPONSES,
    SCREENING,
    TOXICOLOGY,
)
from mindtrial.simulate.stages.allocation import Allocation
from mindtrial.simulate.stages.design import TrialDesign
from mindtrial.simulate.stages.draws import Values, choice
from mindtrial.simulate.stages.follow_up import FollowUp
from mindtrial.simulate.stages.funnel import Funnel


@dataclass(frozen=True)
class Records:
    """Every table of the simulated trial, before the columns are put in schema order."""

    participants: pd.DataFrame
    screening: pd.DataFrame
    responses: pd.DataFrame
    toxicology: pd.DataFrame
    attendance: pd.DataFrame
    adverse_events: pd.DataFrame
    ema: pd.DataFrame
    medications: pd.DataFrame


def participants_table(
    design: TrialDesign,
    funnel: Funnel,
    allocation: Allocation,
    follow_up: FollowUp,
    covariates: Mapping[str, Values],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One row per participant; site, race, ethnicity and language drawn from ``rng``."""
    n = design.n
    sc = design.scenario
    start = sc.recruitment_start
    randomized_on = pd.to_datetime(
        [start + timedelta(days=int(d)) for d in funnel.randomized_day]
    ).astype("datetime64[ns]")
    last_week = follow_up.last_week
    withdrawn = last_week < design.final_week
    withdrawn_week = pd.array(np.where(withdrawn, last_week + 1, 0), dtype="Int64")
    withdrawn_week[~withdrawn] = pd.NA
    reason_text = np.array(follow_up.reason, dtype=object)
    reason_text[~withdrawn] = None
    reason = pd.array(reason_text, dtype="string")
    site = choice(rng, sc.sites, n) if sc.sites else np.full(n, None, dtype=object)
    cohort = allocation.cohort.copy()
    cohort[~allocation.in_groups] = None
    exit_week = pd.array([pd.NA] * n, dtype="Int64")
    if follow_up.treatment_exit is not None:
        exit_week = pd.array(
            [int(w) if w >= 0 else pd.NA for w in follow_up.treatment_exit], dtype="Int64"
        )
    frame = pd.DataFrame(
        {
            "participant_id": pd.array(allocation.ids, dtype="string"),
            "arm": pd.array(
                np.array(design.arms, dtype=object)[allocation.arm_index], dtype="string"
            ),
            "site": pd.array(site, dtype="string"),
            "cohort": pd.array(cohort, dtype="string"),
            "randomized_on": randomized_on,
            "withdrawn_week": withdrawn_week,
            "withdrawal_reason": reason,
        }
    )
    demo = sc.demographics
    for column in ("race", "ethnicity", "language"):
        table = getattr(demo, column) if demo is not None else {}
        drawn = choice(rng, table, n) if table else np.full(n, None, dtype=object)
        frame[column] = pd.array(drawn, dtype="string")
    frame["treatment_exit_week"] = exit_week
    for cov in design.protocol.baseline_covariates:
        values = covariates.get(cov.name)
        series: pd.api.extensions.ExtensionArray | Values
        if values is None:
            series = pd.array([pd.NA] * n, dtype="string")
            if cov.type == "number":
                series = np.full(n, np.nan)
            elif cov.type == "integer":
                series = pd.array([pd.NA] * n, dtype="Int64")
            elif cov.type == "boolean":
                series = pd.array([pd.NA] * n, dtype="boolean")
        elif cov.type == "number":
            series = np.asarray(values, dtype=np.float64)
        elif cov.type == "integer":
            series = pd.array(np.asarray(values).astype(np.int64), dtype="Int64")
        elif cov.type == "boolean":
            series = pd.array(np.asarray(values, dtype=bool), dtype="boolean")
        else:
            series = pd.array(values, dtype="string")
        frame[cov.name] = series
    return frame


def screening_table(funnel: Funnel, allocation: Allocation) -> pd.DataFrame:
    """One row per referral, the randomized ones linked to their participant id."""
    total = funnel.stage.size
    width = max(5, len(str(total)))
    pid = np.full(total, None, dtype=object)
    pid[funnel.randomized_slot] = allocation.ids
    return pd.DataFrame(
        {
            "referral_id": pd.array([f"R{k + 1:0{width}d}" for k in range(total)], dtype="string"),
            "participant_id": pd.array(pid, dtype="string"),
            "referred_on": pd.to_datetime(list(funnel.referred_on)).astype("datetime64[ns]"),
            "stage": pd.array(funnel.stage, dtype="string"),
            "exclusion_reason": pd.array(funnel.reason, dtype="string"),
        }
    )


def study_dataset(design: TrialDesign, funnel: Funnel, records: Records) -> StudyDataset:
    """The dataset, each table's columns in the schema's order; exported the day after the
    last participant's last week."""
    last_day = int(funnel.randomized_day.max()) + 7 * design.final_week + 1
    exported = datetime.combine(
        design.scenario.recruitment_start + timedelta(days=last_day), time(0), tzinfo=UTC
    )
    protocol = design.protocol
    meta = StudyMeta(
        protocol_id=protocol.id,
        protocol_version=protocol.version,
        exported_at=exported,
        arms_masked=False,
        source="simulate",
    )
    ema = records.ema
    return StudyDataset(
        meta=meta,
        participants=records.participants,
        responses=_conform(records.responses, RESPONSES),
        toxicology=_conform(records.toxicology, TOXICOLOGY),
        attendance=_conform(records.attendance, ATTENDANCE),
        adverse_events=_conform(records.adverse_events, ADVERSE_EVENTS),
        screening=_conform(records.screening, SCREENING),
        ema=ema.reset_index(drop=True),
        medications=_conform(records.medications, MEDICATIONS),
        covariates=tuple(c.name for c in protocol.baseline_covariates),
        ema_items=tuple(str(c) for c in ema.columns[len(EMA_COLUMNS) :]),
    )


def _conform(frame: pd.DataFrame, file: str) -> pd.DataFrame:
    """Order ``frame``'s columns as the dataset schema does, adding absent optional ones."""
    out = {}
    for column in FIXED_COLUMNS[file]:
        if column.name in frame.columns:
            out[column.name] = frame[column.name].reset_index(drop=True)
        elif column.required:
            raise AssertionError(f"simulator bug: {file} lacks column {column.name}")
        else:
            out[column.name] = pd.Series([pd.NA] * len(frame), dtype=column.dtype)
    return pd.DataFrame(out)
