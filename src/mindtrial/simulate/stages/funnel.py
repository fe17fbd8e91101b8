"""The screening funnel (referrals up to randomization) and randomization days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from mindtrial.simulate.numerics import IntArray
from mindtrial.simulate.stages.design import TrialDesign
from mindtrial.simulate.stages.draws import ObjectArray, choice, largest_remainder


@dataclass(frozen=True)
class Funnel:
    """One entry per referral, in referral order, and where the randomized ones sit."""

    stage: ObjectArray
    """The last funnel stage reached (``randomized`` for the participants)."""
    reason: ObjectArray
    """Why a referral went no further (None for the randomized)."""
    referred_on: ObjectArray
    """Referral dates."""
    randomized_slot: IntArray
    """The referral index of participant k (participants ordered by randomization day)."""
    randomized_day: IntArray
    """Days from the recruitment start to participant k's randomization (ascending)."""


def draw_funnel(design: TrialDesign, rng: np.random.Generator) -> Funnel:
    """The scenario's funnel scaled to ``n`` randomized, spread over the recruitment span."""
    sc = design.scenario
    n = design.n
    funnel = sc.funnel
    stages: list[str] = []
    reasons: list[str | None] = []
    if funnel is not None:
        scale = n / funnel.per_randomized
        excluded = round(funnel.excluded_after_consent * scale)
        incomplete = round(funnel.baseline_incomplete * scale)
        consented = n + excluded + incomplete
        referred = max(round(funnel.referred * scale), consented)
        early = largest_remainder(
            referred - consented, {str(k): v for k, v in funnel.not_consented_stages.items()}
        )
        for stage, count in early.items():
            stages += [stage] * count
            if stage == "screened":
                reasons += list(choice(rng, dict.fromkeys(funnel.screen_fail_reasons, 1.0), count))
            elif stage == "eligible":
                reasons += ["declined consent"] * count
            else:
                reasons += ["not reached or declined screening"] * count
        stages += ["consented"] * (excluded + incomplete)
        reasons += list(choice(rng, dict.fromkeys(funnel.exclusion_reasons, 1.0), excluded))
        reasons += ["did not complete the baseline assessment"] * incomplete
    stages += ["randomized"] * n
    reasons += [None] * n
    total = len(stages)
    order = rng.permutation(total)
    span = (sc.recruitment_end - sc.recruitment_start).days
    offsets = np.sort(rng.integers(0, span + 1, total))
    stage_of = np.array(stages, dtype=object)[order]
    randomized_slots = np.flatnonzero(stage_of == "randomized")
    wait = rng.integers(14, 36, n)
    randomized_on = offsets[randomized_slots] + wait
    by_date = np.argsort(randomized_on, kind="stable")
    return Funnel(
        stage=stage_of,
        reason=np.array(reasons, dtype=object)[order],
        referred_on=np.array(
            [sc.recruitment_start + timedelta(days=int(d)) for d in offsets], dtype=object
        ),
        randomized_slot=randomized_slots[by_date],
        randomized_day=randomized_on[by_date],
    )
