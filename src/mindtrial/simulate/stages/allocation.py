"""Participant ids, the arm of each, cohorts and therapy groups."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mindtrial.design.randomization import generate_allocation_list
from mindtrial.simulate.numerics import BoolArray, FloatArray, IntArray
from mindtrial.simulate.stages.design import TrialDesign
from mindtrial.simulate.stages.draws import ObjectArray, largest_remainder


@dataclass(frozen=True)
class Allocation:
    """Participant k (ordered by randomization day) is ``ids[k]`` in ``arms[arm_index[k]]``."""

    ids: ObjectArray
    arm_index: IntArray
    cohort: ObjectArray
    """Consecutive blocks of ``cohort_size`` participants (C001, C002, …)."""
    grouped_arms: tuple[str, ...]
    """Arms whose protocol has group sessions."""
    in_groups: BoolArray
    """Whether the participant's arm has group sessions."""
    group_index: IntArray
    """Therapy group (one cohort in one grouped arm) of each participant; -1 = none."""
    n_groups: int


def allocate(
    design: TrialDesign, rng: np.random.Generator, demographics: np.random.Generator
) -> Allocation:
    """Arms from the protocol's permuted-block list (seeded from ``rng``), or the scenario's
    fixed arm sizes shuffled with the ``demographics`` stream."""
    n = design.n
    sc = design.scenario
    protocol = design.protocol
    width = max(4, len(str(n)))
    ids = np.array([f"P{k + 1:0{width}d}" for k in range(n)], dtype=object)
    alloc = generate_allocation_list(
        arms=dict(protocol.randomization.ratio),
        n=n,
        block_sizes=list(protocol.randomization.block_sizes),
        seed=int(rng.integers(0, 2**31 - 1)),
    )
    arm_pos = {a: i for i, a in enumerate(design.arms)}
    arm_index = np.array([arm_pos[e.arm] for e in alloc.entries], dtype=np.int64)
    if sc.arm_sizes is not None:  # fixed arm sizes (e.g. the published 129/121), shuffled
        counts = largest_remainder(n, dict(sc.arm_sizes))
        fixed = np.repeat(np.arange(len(design.arms)), [counts[a] for a in design.arms])
        arm_index = demographics.permutation(fixed).astype(np.int64)
    cohort = np.array([f"C{k // sc.cohort_size + 1:03d}" for k in range(n)], dtype=object)
    # A therapy group is the participants of one cohort in one arm with group sessions.
    grouped = np.array([protocol.arm(a).group_sessions for a in design.arms])
    key = (np.arange(n) // sc.cohort_size) * len(design.arms) + arm_index
    has = grouped[arm_index]
    _, index = np.unique(np.where(has, key, -1), return_inverse=True)
    first = 1 if (~has).any() else 0  # -1 sorts first: participants without a group
    group_index = np.where(has, index - first, -1).astype(np.int64)
    return Allocation(
        ids=ids,
        arm_index=arm_index,
        cohort=cohort,
        grouped_arms=tuple(a for a, g in zip(design.arms, grouped, strict=True) if g),
        in_groups=has,
        group_index=group_index,
        n_groups=int(group_index.max()) + 1 if has.any() else 0,
    )


def group_draws(allocation: Allocation, rng: np.random.Generator) -> FloatArray:
    """One standard normal per therapy group (a fresh set for each outcome that asks)."""
    return rng.standard_normal(allocation.n_groups)
