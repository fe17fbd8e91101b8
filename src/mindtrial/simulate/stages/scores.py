"""Item answers of every instrument whose score follows a trajectory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mindtrial.simulate.numerics import FloatArray
from mindtrial.simulate.score_trajectories import Clustering, draw_latent, score_target
from mindtrial.simulate.stages.allocation import Allocation, group_draws
from mindtrial.simulate.stages.collection import Collection
from mindtrial.simulate.stages.design import TrialDesign, assessment_weeks
from mindtrial.simulate.stages.follow_up import FollowUp
from mindtrial.simulate.stages.responses import Answers, answers


@dataclass(frozen=True)
class Scores:
    answers: tuple[Answers, ...]
    intercepts: Mapping[str, FloatArray]
    """The standard-normal random intercept of each simulated trajectory (substance use
    may correlate with one)."""
    covered: Mapping[str, frozenset[str]]
    """Items answered here, by instrument (the generic answers leave them alone)."""


def draw_scores(
    design: TrialDesign,
    allocation: Allocation,
    follow_up: FollowUp,
    collection: Collection,
    rng: np.random.Generator,
    groups: np.random.Generator,
) -> Scores:
    """Latent scores per ``trajectories`` entry, turned into items at each completed week.

    ``groups`` gives each therapy group its effect (only for trajectories with ``group_sd``).
    """
    blocks: list[Answers] = []
    intercepts: dict[str, FloatArray] = {}
    covered: dict[str, frozenset[str]] = {}
    linked = design.scenario.retention.informative
    for key, spec in design.scenario.trajectories.items():
        target = score_target(key)
        if target.instrument not in design.instruments:
            continue
        weeks = assessment_weeks(design.protocol, target.instrument)
        if not weeks:
            continue
        z = rng.standard_normal(design.n)
        intercepts[key] = z
        follows = linked is not None and linked.trajectory == key
        clustering = Clustering(
            group_index=allocation.group_index,
            group_z=(
                group_draws(allocation, groups)
                if spec.group_sd > 0
                else np.zeros(allocation.n_groups)
            ),
            grouped_arms=allocation.grouped_arms,
            dropout_z=follow_up.dropout_z if follows else None,
            dropout_correlation=linked.correlation if linked is not None and follows else 0.0,
        )
        latent = draw_latent(
            spec,
            key,
            arm_index=allocation.arm_index,
            arms=list(design.arms),
            weeks=weeks,
            last=float(max(weeks)),
            intercept_z=z,
            rng=rng,
            clustering=clustering,
        )
        for j, week in enumerate(weeks):
            pidx = np.flatnonzero(collection.done[:, week])
            totals = target.totals(latent[pidx, j], rng.random(pidx.size))
            values = target.items_for(totals, rng)
            blocks.append(answers(pidx, week, target.instrument, target.items, values))
        covered[target.instrument] = covered.get(target.instrument, frozenset()) | frozenset(
            target.items
        )
    return Scores(answers=tuple(blocks), intercepts=intercepts, covered=covered)
