"""The data-collection schedule actually kept (which weekly surveys are done)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mindtrial.simulate.numerics import BoolArray
from mindtrial.simulate.stages.design import TrialDesign
from mindtrial.simulate.stages.follow_up import FollowUp


@dataclass(frozen=True)
class Collection:
    done: BoolArray
    """Participants × weeks 0 … final week: the week's surveys were completed."""


def draw_collection(
    design: TrialDesign, follow_up: FollowUp, rng: np.random.Generator
) -> Collection:
    """Each followed week's surveys done with ``collection.survey_completion``; baseline always."""
    p = design.scenario.collection.survey_completion
    done = rng.random((design.n, design.final_week + 1)) < p
    done[:, 0] = True  # baseline is complete for everyone randomized
    weeks = np.arange(design.final_week + 1)
    return Collection(done=done & (weeks[None, :] <= follow_up.last_week[:, None]))
