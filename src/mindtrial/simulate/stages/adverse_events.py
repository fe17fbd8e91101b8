"""Adverse events (Poisson counts per followed time, onset, grading)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mindtrial.simulate.stages.allocation import Allocation
from mindtrial.simulate.stages.design import TrialDesign
from mindtrial.simulate.stages.draws import choice
from mindtrial.simulate.stages.follow_up import FollowUp


def draw_adverse_events(
    design: TrialDesign, allocation: Allocation, follow_up: FollowUp, rng: np.random.Generator
) -> pd.DataFrame:
    """Each participant has Poisson(rate_arm × weeks followed / final week) events."""
    spec = design.scenario.adverse_events
    arms = design.arms
    arm_index = allocation.arm_index
    followed = np.maximum(follow_up.last_week, 1)
    rate = np.array([spec.rate[a] for a in arms])[arm_index] * followed / design.final_week
    counts = rng.poisson(rate)
    pidx = np.repeat(np.arange(design.n), counts)
    m = pidx.size
    onset = 1 + np.floor(rng.random(m) * followed[pidx]).astype(np.int64)
    related_p = np.array([spec.related.get(a, 0.0) for a in arms])[arm_index[pidx]]
    order = np.lexsort((onset, pidx))
    sev = choice(rng, spec.severity, m)
    related = rng.random(m) < related_p
    relatedness = np.where(
        related,
        np.where(rng.random(m) < 0.7, "possibly", "probably"),
        np.where(rng.random(m) < 0.8, "not_related", "unlikely"),
    )
    frame = pd.DataFrame(
        {
            "participant_id": pd.array(allocation.ids[pidx], dtype="string"),
            "onset_week": onset,
            "severity": pd.array(sev, dtype="string"),
            "serious": rng.random(m) < spec.serious,
            "related": related,
            "expected": rng.random(m) < spec.expected,
            "relatedness": pd.array(relatedness.astype(object), dtype="string"),
        }
    ).iloc[order]
    frame = frame.reset_index(drop=True)
    frame["ae_id"] = pd.array([f"AE{k + 1:05d}" for k in range(len(frame))], dtype="string")
    frame["outcome"] = pd.array(["recovered"] * len(frame), dtype="string")
    return frame
