"""Latent opioid misuse at each COMM assessment and the COMM answers it implies
(only when the scenario has ``misuse``; MORE primary care in the shipped scenarios)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mindtrial.simulate.numerics import BoolArray, expit, solve_intercept
from mindtrial.simulate.score_trajectories import score_target
from mindtrial.simulate.stages.allocation import Allocation
from mindtrial.simulate.stages.collection import Collection
from mindtrial.simulate.stages.design import TrialDesign, assessment_weeks
from mindtrial.simulate.stages.responses import Answers, answers


@dataclass(frozen=True)
class Misuse:
    misusing: BoolArray
    """Participants × COMM assessment weeks (everyone at baseline)."""
    answers: tuple[Answers, ...]
    covered: Mapping[str, frozenset[str]]


def draw_misuse(
    design: TrialDesign,
    allocation: Allocation,
    collection: Collection,
    rng: np.random.Generator,
) -> Misuse | None:
    """Misuse ~ Bernoulli(expit(a_arm,week + b_i)); a misusing person's COMM total is high."""
    spec = design.scenario.misuse
    if spec is None:
        return None
    n = design.n
    weeks = assessment_weeks(design.protocol, "comm")
    b = rng.standard_normal(n) * spec.person_sd
    misusing = np.ones((n, len(weeks)), dtype=np.bool_)
    for j, week in enumerate(weeks):
        if week == 0:
            continue
        a = np.zeros(len(design.arms))
        for i, arm in enumerate(design.arms):
            table = spec.not_misusing_percent[arm]
            pct = float(np.interp(week, sorted(table), [table[w] for w in sorted(table)]))
            a[i] = solve_intercept(1 - pct / 100.0, sd=spec.person_sd)
        misusing[:, j] = rng.random(n) < expit(a[allocation.arm_index] + b)
    if "comm" not in design.instruments:
        return Misuse(misusing=misusing, answers=(), covered={})
    target = score_target("comm.total")
    blocks = []
    for j, week in enumerate(weeks):
        pidx = np.flatnonzero(collection.done[:, week])
        mis = misusing[pidx, j]
        high = spec.comm_threshold + rng.poisson(spec.comm_excess_mean, pidx.size)
        low = rng.binomial(spec.comm_threshold - 1, spec.comm_below_fraction, pidx.size)
        totals = np.clip(np.where(mis, high, low), 0, len(target.items) * target.item_max)
        blocks.append(answers(pidx, week, "comm", target.items, target.items_for(totals, rng)))
    return Misuse(
        misusing=misusing, answers=tuple(blocks), covered={"comm": frozenset(target.items)}
    )
