"""Answers to every other instrument: home practice, days of drug use, and
plausible answers (no arm difference) for items no outcome model covers."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mindtrial.instruments.registry import get_instrument
from mindtrial.instruments.schema import Instrument, ItemType
from mindtrial.simulate.numerics import expit, logit
from mindtrial.simulate.stages.allocation import Allocation
from mindtrial.simulate.stages.collection import Collection
from mindtrial.simulate.stages.design import TrialDesign, assessment_weeks
from mindtrial.simulate.stages.events import Events
from mindtrial.simulate.stages.responses import Answers, answers


def draw_other_answers(
    design: TrialDesign,
    allocation: Allocation,
    collection: Collection,
    events: Events | None,
    covered: Mapping[str, frozenset[str]],
    rng: np.random.Generator,
) -> tuple[Answers, ...]:
    """Instruments in alphabetical order, skipping the self-report (its own stage), EMA
    instruments when the scenario simulates EMA prompts, and ``covered`` items."""
    ema_instruments = {a.instrument for a in design.protocol.assessments if a.mode == "ema"}
    blocks: list[Answers] = []
    for instrument_id in sorted(design.instruments):
        if instrument_id == "substance_use_7d":
            continue
        if instrument_id in ema_instruments and design.scenario.ema is not None:
            continue  # prompts go to ema.csv
        try:
            instrument = get_instrument(instrument_id)
        except KeyError:
            continue  # an instrument not shipped yet: nothing to simulate
        if instrument_id == "home_practice":
            blocks += _home_practice(design, allocation, collection, instrument, rng)
        elif instrument_id == "drug_use_days":
            blocks += _drug_use_days(design, collection, events, instrument)
        else:
            skip = covered.get(instrument_id, frozenset())
            blocks += _generic(design, collection, instrument, skip, rng)
    return tuple(blocks)


def _generic(
    design: TrialDesign,
    collection: Collection,
    instrument: Instrument,
    skip: frozenset[str],
    rng: np.random.Generator,
) -> list[Answers]:
    """A person tendency plus noise, within each numeric item's range."""
    weeks = assessment_weeks(design.protocol, instrument.id)
    items = [i for i in instrument.items if i.id not in skip]
    numeric = [i for i in items if i.type in (ItemType.INTEGER, ItemType.NUMBER, ItemType.BOOLEAN)]
    if not numeric or not weeks:
        return []
    z = rng.standard_normal(design.n)
    blocks = []
    for week in weeks:
        pidx = np.flatnonzero(collection.done[:, week])
        cols = []
        for item in numeric:
            noise = 0.8 * z[pidx] + 0.6 * rng.standard_normal(pidx.size)
            if item.type is ItemType.BOOLEAN:
                cols.append((rng.random(pidx.size) < expit(noise - 1.0)).astype(np.float64))
                continue
            lo, hi = float(item.min or 0), float(item.max or 0)
            span = min(hi - lo, 20.0)
            x = np.clip(lo + span * (0.4 + 0.2 * noise), lo, hi)
            cols.append(np.round(x) if item.type is ItemType.INTEGER else np.round(x, 2))
        blocks.append(
            answers(pidx, week, instrument.id, [i.id for i in numeric], np.column_stack(cols))
        )
    return blocks


def _home_practice(
    design: TrialDesign,
    allocation: Allocation,
    collection: Collection,
    instrument: Instrument,
    rng: np.random.Generator,
) -> list[Answers]:
    """Days Binomial(7, p_i) and minutes per day log-normal, in arms with home practice."""
    weeks = assessment_weeks(design.protocol, instrument.id)
    practising = np.array([design.protocol.arm(a).home_practice for a in design.arms])[
        allocation.arm_index
    ]
    p = expit(logit(design.scenario.home_practice_days) + rng.standard_normal(design.n))
    blocks = []
    for week in weeks:
        pidx = np.flatnonzero(collection.done[:, week] & practising)
        days = rng.binomial(7, p[pidx])
        formal = days * np.round(rng.lognormal(np.log(15), 0.5, pidx.size))
        informal = days * np.round(rng.lognormal(np.log(10), 0.6, pidx.size))
        values = np.column_stack([np.minimum(formal, 10080), np.minimum(informal, 10080), days])
        items = ["formal_minutes", "informal_minutes", "days_practised"]
        blocks.append(answers(pidx, week, instrument.id, items, values))
    return blocks


def _drug_use_days(
    design: TrialDesign,
    collection: Collection,
    events: Events | None,
    instrument: Instrument,
) -> list[Answers]:
    """Self-reported days of any drug use in each week (0 when the use is not reported)."""
    item = instrument.item_ids[0]
    blocks = []
    for week in assessment_weeks(design.protocol, instrument.id):
        pidx = np.flatnonzero(collection.done[:, week])
        if events is None:
            days = np.zeros(pidx.size)
        else:
            days = np.where(events.reported[pidx, week], events.use_days[pidx, week], 0)
        values = np.asarray(days, dtype=np.float64)[:, None]
        blocks.append(answers(pidx, week, instrument.id, [item], values))
    return blocks
