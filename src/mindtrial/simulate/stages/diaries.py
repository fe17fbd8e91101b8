"""The timestamped records — EMA prompts, medication lists and observed dosing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mindtrial.dataset import Column
from mindtrial.dataset.schema import EMA_COLUMNS, MEDICATION_COLUMNS, empty_table
from mindtrial.instruments.registry import get_instrument
from mindtrial.simulate.format2_records import People, ema_prompts, observed_dosing, opioid_lists
from mindtrial.simulate.stages.allocation import Allocation
from mindtrial.simulate.stages.design import TrialDesign, assessment_weeks
from mindtrial.simulate.stages.draws import Values
from mindtrial.simulate.stages.events import Events
from mindtrial.simulate.stages.follow_up import FollowUp
from mindtrial.simulate.stages.funnel import Funnel


@dataclass(frozen=True)
class Medications:
    frame: pd.DataFrame
    """The medication list (MME over time) and the observed dosing record."""
    covariates: Mapping[str, Values]
    """The baseline covariates, with the baseline MME the list adds up to."""


def record_people(
    design: TrialDesign, funnel: Funnel, allocation: Allocation, follow_up: FollowUp
) -> People:
    """What the record builders need to know about the participants."""
    return People(
        ids=allocation.ids,
        arm_index=allocation.arm_index,
        arms=design.arms,
        randomized_day=funnel.randomized_day,
        last_week=follow_up.last_week,
        start=design.scenario.recruitment_start,
    )


def draw_ema(design: TrialDesign, people: People, rng: np.random.Generator) -> pd.DataFrame:
    """Timestamped EMA prompts (ema.csv) for the protocol's ``mode: ema`` assessments."""
    assessments = [a for a in design.protocol.assessments if a.mode == "ema"]
    items = tuple(item.id for a in assessments for item in get_instrument(a.instrument).items)
    columns = list(EMA_COLUMNS) + [
        Column(item, "number", nullable=True) for item in dict.fromkeys(items)
    ]
    spec = design.scenario.ema
    if spec is None or not assessments:
        return empty_table(columns)
    instruments = [(get_instrument(a.instrument), a.prompts_per_day or 1) for a in assessments]
    weeks = sorted(
        {w for a in assessments for w in assessment_weeks(design.protocol, a.instrument)}
    )
    frame = ema_prompts(people, spec, instruments, weeks, rng)
    if frame.empty:
        return empty_table(columns)
    return frame[[c.name for c in columns]]


def draw_medications(
    design: TrialDesign,
    people: People,
    covariates: Mapping[str, Values],
    events: Events | None,
    rng: np.random.Generator,
) -> Medications:
    """Opioid lists when the scenario has ``medications``; observed dosing when it has
    ``observed_dosing`` and the events model gives each participant an adherence."""
    frames = []
    revised = dict(covariates)
    spec = design.scenario.medications
    if spec is not None:
        baseline = np.asarray(covariates[spec.baseline_covariate], dtype=np.float64)
        frame, total = opioid_lists(people, spec, baseline, design.protocol.weeks, rng)
        revised[spec.baseline_covariate] = np.round(total, 2)
        frames.append(frame)
    dosing = design.scenario.observed_dosing
    if dosing is not None and events is not None:
        dose = np.asarray(revised[dosing.dose_covariate], dtype=np.float64)
        frames.append(
            observed_dosing(people, dosing, dose, events.methadone_p, people.last_week, rng)
        )
    frames = [f for f in frames if not f.empty]
    if not frames:
        return Medications(frame=empty_table(MEDICATION_COLUMNS), covariates=revised)
    out = pd.concat(frames, ignore_index=True)
    return Medications(
        frame=out.sort_values(["participant_id", "week", "drug"], kind="mergesort"),
        covariates=revised,
    )
