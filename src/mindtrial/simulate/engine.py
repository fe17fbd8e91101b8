"""The generative model: one simulated trial as a :class:`~mindtrial.dataset.StudyDataset`.

See ``docs/simulation.md`` for the model and how each knob is calibrated. The trial is a
pipeline of pure stages (:mod:`mindtrial.simulate.stages`), each taking frozen inputs and
its own random stream of one ``SeedSequence(seed)`` and returning a frozen output, so
changing an outcome knob leaves the sample, the allocation and the attrition of a seed
unchanged. Everything is vectorised over participants; loops run over weeks, instruments
and substances only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mindtrial.dataset import StudyDataset
from mindtrial.protocols import Protocol, load_protocol
from mindtrial.simulate.scenario import Scenario, check_scenario, default_scenario
from mindtrial.simulate.stages.adverse_events import draw_adverse_events
from mindtrial.simulate.stages.allocation import allocate
from mindtrial.simulate.stages.assembly import (
    Records,
    participants_table,
    screening_table,
    study_dataset,
)
from mindtrial.simulate.stages.collection import draw_collection
from mindtrial.simulate.stages.design import trial_design
from mindtrial.simulate.stages.diaries import draw_ema, draw_medications, record_people
from mindtrial.simulate.stages.events import draw_events
from mindtrial.simulate.stages.follow_up import draw_follow_up
from mindtrial.simulate.stages.funnel import draw_funnel
from mindtrial.simulate.stages.misuse import draw_misuse
from mindtrial.simulate.stages.other_answers import draw_other_answers
from mindtrial.simulate.stages.responses import merge_covered, responses_frame
from mindtrial.simulate.stages.sample import draw_sample
from mindtrial.simulate.stages.scores import draw_scores
from mindtrial.simulate.stages.self_report import draw_self_report
from mindtrial.simulate.stages.sessions import draw_attendance
from mindtrial.simulate.stages.streams import spawn_streams
from mindtrial.simulate.stages.substances import draw_substance_use
from mindtrial.simulate.stages.toxicology import draw_toxicology


def simulate_trial(
    protocol: Protocol | str | Path,
    *,
    n: int | None = None,
    seed: int,
    scenario: Scenario | None = None,
) -> StudyDataset:
    """Simulate one trial of ``protocol`` as a study dataset.

    ``n`` randomized participants (default: the published trial's randomized n), every
    random draw from ``seed``, knobs from ``scenario`` (default: calibrated to the
    protocol's published results, :func:`~mindtrial.simulate.scenario.default_scenario`).
    The frames have the documented dtypes of :class:`~mindtrial.dataset.StudyDataset`;
    the result passes :func:`mindtrial.dataset.validate_dataset`. Raises
    :class:`~mindtrial.simulate.scenario.ScenarioError` for a scenario that does not fit.
    """
    chosen = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a whole number ≥ 0, got {seed!r}")
    size = chosen.published.flow.randomized if n is None else n
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 2:
        raise ValueError(f"n must be a whole number ≥ 2 (participants to randomize), got {n!r}")
    used = default_scenario(chosen) if scenario is None else scenario
    check_scenario(used, chosen)

    design = trial_design(chosen, used, int(size))
    # Three streams serve two stages each, always in this order: demographics (allocate,
    # then participants_table), groups (draw_scores, then draw_substance_use) and
    # substances (draw_substance_use, then draw_self_report).
    rng = spawn_streams(int(seed))
    sample = draw_sample(design, rng.sample)
    funnel = draw_funnel(design, rng.funnel)
    allocation = allocate(design, rng.allocation, rng.demographics)
    retained = draw_follow_up(design, allocation, rng.retention)
    follow_up, events = draw_events(design, allocation, retained, rng.events, rng.days)
    attendance = draw_attendance(design, sample, allocation, follow_up, rng.attendance)
    collection = draw_collection(design, follow_up, rng.collection)
    scores = draw_scores(design, allocation, follow_up, collection, rng.trajectories, rng.groups)
    use = draw_substance_use(
        design, sample, allocation, scores.intercepts, rng.substances, rng.groups
    )
    misuse = draw_misuse(design, allocation, collection, rng.misuse_model)
    self_report = draw_self_report(design, collection, use, events, rng.substances)
    covered = merge_covered(scores.covered, misuse.covered if misuse is not None else {})
    others = draw_other_answers(design, allocation, collection, events, covered, rng.generic)
    toxicology = draw_toxicology(
        design,
        allocation,
        follow_up,
        use,
        misuse,
        events,
        self_report.background_users,
        rng.toxicology,
    )
    adverse_events = draw_adverse_events(design, allocation, follow_up, rng.adverse_events)
    people = record_people(design, funnel, allocation, follow_up)
    ema = draw_ema(design, people, rng.ema)
    medications = draw_medications(design, people, sample.covariates, events, rng.medications)
    answers = (
        *scores.answers,
        *(misuse.answers if misuse is not None else ()),
        *self_report.answers,
        *others,
    )
    records = Records(
        participants=participants_table(
            design, funnel, allocation, follow_up, medications.covariates, rng.demographics
        ),
        screening=screening_table(funnel, allocation),
        responses=responses_frame(answers, allocation.ids),
        toxicology=toxicology,
        attendance=attendance,
        adverse_events=adverse_events,
        ema=ema,
        medications=medications.frame,
    )
    return study_dataset(design, funnel, records)


__all__ = ["simulate_trial"]
