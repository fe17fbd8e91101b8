"""Return to use, leaving medication treatment and adherence (the events model).

Only when the scenario has ``events`` (MORE + methadone in the shipped scenarios); leaving
treatment ends follow-up, so this stage hands back a revised :class:`FollowUp`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from mindtrial.simulate.format2_records import days_per_use_week
from mindtrial.simulate.numerics import BoolArray, FloatArray, IntArray, expit, solve_intercept
from mindtrial.simulate.stages.allocation import Allocation
from mindtrial.simulate.stages.design import TrialDesign
from mindtrial.simulate.stages.follow_up import FollowUp


@dataclass(frozen=True)
class Events:
    """Participants × weeks 0 … final week."""

    use: BoolArray
    """A use week (after the return to use)."""
    use_days: IntArray
    """Days of use in the week (0 outside use weeks)."""
    reported: BoolArray
    """Whether the week's use would be self-reported."""
    methadone_p: FloatArray
    """Each participant's adherence: P(a scheduled dose is taken)."""


def draw_events(
    design: TrialDesign,
    allocation: Allocation,
    follow_up: FollowUp,
    rng: np.random.Generator,
    days_rng: np.random.Generator,
) -> tuple[FollowUp, Events | None]:
    """The follow-up cut short by leaving treatment, and the events (None when not modelled)."""
    spec = design.scenario.events
    if spec is None:
        return follow_up, None
    n = design.n
    arms = design.arms
    arm_index = allocation.arm_index
    weeks = np.arange(design.final_week + 1)
    hr = np.array([spec.return_hr[a] for a in arms])[arm_index]
    h = 1 - (1 - spec.return_hazard) ** hr
    start = np.ceil(np.log(rng.random(n)) / np.log1p(-h)).astype(np.int64)
    use = (weeks[None, :] == start[:, None]) | (
        (weeks[None, :] > start[:, None]) & (rng.random((n, weeks.size)) < spec.use_after_return)
    )
    use[:, 0] = False
    dhr = np.array([spec.dropout_hr[a] for a in arms])[arm_index]
    d = 1 - (1 - spec.dropout_hazard) ** dhr
    leave = np.ceil(np.log(rng.random(n)) / np.log1p(-d)).astype(np.int64)
    leaves = leave <= design.final_week
    earlier = leaves & (leave - 1 < follow_up.last_week)
    shortened = replace(
        follow_up,
        last_week=np.where(earlier, leave - 1, follow_up.last_week),
        reason=np.where(earlier, "left methadone treatment", follow_up.reason),
        treatment_exit=np.where(earlier, leave, -1),
    )
    a = np.array(
        [
            solve_intercept(spec.adherence_percent[arm] / 100.0, sd=spec.adherence_person_sd)
            for arm in arms
        ]
    )
    methadone_p = expit(a[arm_index] + spec.adherence_person_sd * rng.standard_normal(n))
    # Days of use in each use week, and whether the week's use is self-reported.
    mean_days = days_per_use_week(spec, arms, design.final_week)
    m = np.array([mean_days[a] for a in arms])[arm_index]
    days = 1 + days_rng.binomial(6, np.clip((m - 1) / 6, 0, 1)[:, None], size=use.shape)
    return shortened, Events(
        use=use,
        use_days=np.where(use, days, 0).astype(np.int64),
        reported=days_rng.random(use.shape) < spec.report_sensitivity,
        methadone_p=methadone_p,
    )
