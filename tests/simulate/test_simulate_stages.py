"""The simulator's stages on their own: streams, and stages that revise an earlier output
without changing it (checked against numpy, brute force and the MME calculator)."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pandas as pd
import pytest

from mindtrial.instruments import mme
from mindtrial.protocols import load_protocol
from mindtrial.simulate import default_scenario
from mindtrial.simulate.stages.allocation import allocate
from mindtrial.simulate.stages.collection import draw_collection
from mindtrial.simulate.stages.design import trial_design
from mindtrial.simulate.stages.diaries import draw_medications, record_people
from mindtrial.simulate.stages.events import draw_events
from mindtrial.simulate.stages.follow_up import FollowUp, draw_follow_up
from mindtrial.simulate.stages.funnel import draw_funnel
from mindtrial.simulate.stages.sample import draw_sample
from mindtrial.simulate.stages.streams import Streams, spawn_streams

MROCC = load_protocol("mrocc-2025")
LTOT = load_protocol("more-ltot-2022")
MMT = load_protocol("more-mmt-2024")

# The streams in the order they have always been spawned (a seed's draws depend on it);
# new streams may only be added at the end.
SPAWN_ORDER = [
    "sample",
    "allocation",
    "funnel",
    "retention",
    "attendance",
    "collection",
    "trajectories",
    "substances",
    "toxicology",
    "misuse_model",
    "events",
    "adverse_events",
    "generic",
    "demographics",
    "days",
    "ema",
    "medications",
    "groups",
]


def test_each_stream_is_its_seed_sequence_child_in_spawn_order() -> None:
    assert [f.name for f in fields(Streams)][: len(SPAWN_ORDER)] == SPAWN_ORDER
    streams = spawn_streams(7)
    children = np.random.SeedSequence(7).spawn(len(fields(Streams)))
    for name, child in zip(SPAWN_ORDER, children, strict=False):
        expected = np.random.default_rng(child).random(5)
        assert np.array_equal(getattr(streams, name).random(5), expected), name


def test_collection_has_baseline_for_all_and_nothing_after_the_last_week() -> None:
    scenario = default_scenario(MROCC).with_overrides({"collection": {"survey_completion": 1.0}})
    design = trial_design(MROCC, scenario, 3)
    last = np.array([0, 3, design.final_week], dtype=np.int64)
    follow_up = FollowUp(
        last_week=last, reason=np.full(3, None, dtype=object), dropout_z=np.zeros(3)
    )
    done = draw_collection(design, follow_up, np.random.default_rng(1)).done
    # Brute force: with every survey completed, week w is done exactly when w <= last week.
    expected = np.array(
        [[w <= last[i] for w in range(design.final_week + 1)] for i in range(3)], dtype=bool
    )
    assert np.array_equal(done, expected)


def test_leaving_treatment_shortens_follow_up_and_leaves_retention_alone() -> None:
    scenario = default_scenario(MMT)
    design = trial_design(MMT, scenario, 400)
    streams = spawn_streams(3)
    allocation = allocate(design, streams.allocation, streams.demographics)
    retained = draw_follow_up(design, allocation, streams.retention)
    kept_weeks = retained.last_week.copy()
    kept_reasons = retained.reason.copy()
    follow_up, events = draw_events(design, allocation, retained, streams.events, streams.days)
    assert events is not None and follow_up.treatment_exit is not None
    assert np.array_equal(retained.last_week, kept_weeks)
    assert np.array_equal(retained.reason, kept_reasons)
    assert retained.treatment_exit is None
    left = follow_up.treatment_exit >= 0
    assert 0 < left.sum() < design.n
    assert np.array_equal(follow_up.last_week[left], follow_up.treatment_exit[left] - 1)
    assert (follow_up.last_week[left] < kept_weeks[left]).all()
    assert (follow_up.reason[left] == "left methadone treatment").all()
    assert np.array_equal(follow_up.last_week[~left], kept_weeks[~left])
    assert np.array_equal(follow_up.reason[~left], kept_reasons[~left])


def test_medication_list_gives_the_baseline_mme_of_its_week_0_list() -> None:
    scenario = default_scenario(LTOT)
    assert scenario.medications is not None
    covariate = scenario.medications.baseline_covariate
    design = trial_design(LTOT, scenario, 120)
    streams = spawn_streams(5)
    sample = draw_sample(design, streams.sample)
    funnel = draw_funnel(design, streams.funnel)
    allocation = allocate(design, streams.allocation, streams.demographics)
    follow_up = draw_follow_up(design, allocation, streams.retention)
    drawn = np.array(sample.covariates[covariate], dtype=np.float64)
    people = record_people(design, funnel, allocation, follow_up)
    meds = draw_medications(design, people, sample.covariates, None, streams.medications)
    assert np.array_equal(sample.covariates[covariate], drawn)  # the input is untouched
    # Reference: the MME calculator's total of each participant's week-0 list.
    week0 = meds.frame[meds.frame["week"] == 0]
    pairs = zip(week0["drug"], week0["daily_dose"], strict=True)
    factor = [mme.conversion_factor(d, x) for d, x in pairs]
    total = (week0["daily_dose"] * np.asarray(factor)).groupby(week0["participant_id"]).sum()
    revised = pd.Series(meds.covariates[covariate], index=list(allocation.ids))
    assert revised[total.index].to_numpy() == pytest.approx(np.round(total.to_numpy(), 2))
    assert not np.allclose(revised.to_numpy(), drawn)
