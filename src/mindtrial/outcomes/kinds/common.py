"""What every outcome kind returns, its error type and the helpers kinds share."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from pydantic import BaseModel, ConfigDict

from mindtrial.dataset import follow_up_week
from mindtrial.protocols.schema import AnalysisSpec, Protocol

ID = "participant_id"


class OutcomeError(ValueError):
    """An outcome cannot be derived (bad parameters, data the kind needs are absent)."""


class Params(BaseModel):
    """Base of each kind's parameter model: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True, eq=False)
class OutcomeFrame:
    """A derived outcome, ready for a model frame.

    ``frame`` holds ``participant_id``, the outcome column ``value`` and (for repeated
    outcomes) the ``time`` column, joined with the participant-level columns (arm, site,
    cohort, baseline covariates, sessions attended). ``time_values`` are the time levels;
    ``exposure`` names an exposure column (counts), ``duration`` a follow-up time column
    (time to event, ``value`` is then the event indicator). ``event`` says in words what a
    1 of a binary or count outcome is ("a period with cocaine use"), so that problems can be
    reported as "no period with cocaine use in the M-ROCC arm"; ``rate`` names what a count
    per 100 units of exposure is ("adverse events per 100 participant-weeks"). ``notes``
    explain the
    derivation's choices for the report.
    """

    frame: pd.DataFrame
    value: str
    time: str | None = None
    time_values: tuple[int, ...] = ()
    exposure: str | None = None
    duration: str | None = None
    event: str | None = None
    rate: str | None = None
    notes: tuple[str, ...] = ()


def assessment_weeks(protocol: Protocol, instrument: str) -> list[int]:
    """Study weeks at which ``instrument`` is scheduled (follow-up months as weeks)."""
    weeks: set[int] = set()
    for assessment in protocol.assessments:
        if assessment.instrument == instrument:
            weeks.update(assessment.weeks)
            weeks.update(follow_up_week(m) for m in assessment.months)
    return sorted(weeks)


def time_weeks(protocol: Protocol, spec: AnalysisSpec, instrument: str) -> dict[int, int]:
    """Each time level of ``spec`` → the study week its data are recorded at.

    Weeks map to themselves. A month maps to the scheduled assessment week of ``instrument``
    nearest to month × 52/12 (the earlier one on a tie), so "month 2" of an 8-week programme
    is its post-treatment assessment at week 8 and month 9 is follow-up week 39.
    """
    levels = list(spec.time_levels)
    if spec.time == "month":
        scheduled = assessment_weeks(protocol, instrument)
        mapping: dict[int, int] = {}
        for month in levels:
            target = month * 52 / 12
            if not scheduled:
                mapping[month] = follow_up_week(month)
            else:
                mapping[month] = min(scheduled, key=lambda w: (abs(w - target), w))
        weeks = list(mapping.values())
        if len(set(weeks)) != len(weeks):
            raise OutcomeError(
                f"time levels {levels} (months) map onto repeated study weeks {weeks} of the "
                f"{instrument} schedule"
            )
        return mapping
    if spec.time not in (None, "week"):
        raise OutcomeError(f"time {spec.time!r}: expected 'week' or 'month'")
    return {level: level for level in levels}
