"""Group-session attendance (the ``attendance`` records)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mindtrial.simulate.numerics import expit
from mindtrial.simulate.stages.allocation import Allocation
from mindtrial.simulate.stages.design import TrialDesign
from mindtrial.simulate.stages.follow_up import FollowUp
from mindtrial.simulate.stages.sample import Sample


def draw_attendance(
    design: TrialDesign,
    sample: Sample,
    allocation: Allocation,
    follow_up: FollowUp,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One row per session week while followed, in arms with group sessions.

    A person attends each session with their own probability (logit-normal around the
    arm's mean); with a continuation choice, those who stop miss every later session.
    """
    spec = design.scenario.attendance
    protocol = design.protocol
    n = design.n
    arm_index = allocation.arm_index
    n_sessions = protocol.session.n_sessions
    means = np.array(
        [spec.mean[a] if protocol.arm(a).group_sessions else 0.0 for a in design.arms]
    )[arm_index]
    z = rng.standard_normal(n) * spec.person_sd
    clipped = np.clip(means, 1e-9, 1 - 1e-9)
    p = np.where(
        means <= 0,
        0.0,
        np.where(means >= 1, 1.0, expit(np.log(clipped / (1 - clipped)) + z)),
    )
    weeks = np.arange(1, n_sessions + 1)
    attended = rng.random((n, n_sessions)) < p[:, None]
    if spec.continuation is not None:
        cont = spec.continuation
        for i, arm in enumerate(design.arms):
            choice = protocol.arm(arm).continuation_choice
            if choice is None:
                continue
            prob = np.array([cont.probability.get(str(s), cont.default) for s in sample.sex])
            stops = (arm_index == i) & (rng.random(n) >= prob)
            attended[np.ix_(stops, weeks > choice.after_week)] = False
    has_rows = (means > 0)[:, None] & (weeks[None, :] <= follow_up.last_week[:, None])
    pi, wi = np.nonzero(has_rows)
    return pd.DataFrame(
        {
            "participant_id": pd.array(allocation.ids[pi], dtype="string"),
            "week": weeks[wi].astype(np.int64),
            "attended": attended[pi, wi].astype(bool),
        }
    )
