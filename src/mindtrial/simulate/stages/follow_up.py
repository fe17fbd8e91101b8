"""How long each participant is followed (retention by arm)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from mindtrial.simulate.numerics import FloatArray, IntArray, survival_week
from mindtrial.simulate.stages.allocation import Allocation
from mindtrial.simulate.stages.design import TrialDesign
from mindtrial.simulate.stages.draws import ObjectArray, choice


@dataclass(frozen=True)
class FollowUp:
    last_week: IntArray
    """The last week with data; ``final_week`` for completers."""
    reason: ObjectArray
    """The withdrawal reason (read only where ``last_week < final_week``)."""
    dropout_z: FloatArray
    """Normal score of the uniform that set the retention week (high = leaves early)."""
    treatment_exit: IntArray | None = None
    """Week the participant left their medication treatment (-1 = did not), when modelled."""


def draw_follow_up(
    design: TrialDesign, allocation: Allocation, rng: np.random.Generator
) -> FollowUp:
    """Each arm's retention curve (``retention.survival``) and a reason per participant."""
    u = rng.random(design.n)
    last_week = np.zeros(design.n, dtype=np.int64)
    for i, arm in enumerate(design.arms):
        mask = allocation.arm_index == i
        last_week[mask] = survival_week(
            u[mask], design.scenario.retention.survival[arm], design.final_week
        )
    return FollowUp(
        last_week=last_week,
        reason=choice(rng, design.scenario.retention.reasons, design.n),
        # The normal score of u: high = early dropout (what informative dropout links to).
        dropout_z=special.ndtri(np.clip(u, 1e-12, 1 - 1e-12)),
    )
