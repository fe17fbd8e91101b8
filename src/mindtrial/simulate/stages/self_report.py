"""The weekly past-7-day substance-use answers (``substance_use_7d``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mindtrial.instruments.registry import get_instrument
from mindtrial.simulate.numerics import BoolArray
from mindtrial.simulate.stages.collection import Collection
from mindtrial.simulate.stages.design import TrialDesign, assessment_weeks
from mindtrial.simulate.stages.events import Events
from mindtrial.simulate.stages.responses import Answers, answers
from mindtrial.simulate.stages.substances import SubstanceUse

_INSTRUMENT = "substance_use_7d"


@dataclass(frozen=True)
class SelfReport:
    answers: tuple[Answers, ...]
    background_users: Mapping[str, BoolArray]
    """Who uses each ``background`` substance (empty when the instrument is not asked)."""


def draw_self_report(
    design: TrialDesign,
    collection: Collection,
    substance_use: SubstanceUse,
    events: Events | None,
    rng: np.random.Generator,
) -> SelfReport:
    """Background users answer yes with ``report_if_user``; modelled use is reported with
    its substance's sensitivity; with the events model, a week's use as it is reported."""
    if _INSTRUMENT not in design.instruments:
        return SelfReport(answers=(), background_users={})
    n = design.n
    tox = design.protocol.toxicology
    items = [i.id for i in get_instrument(_INSTRUMENT).items]
    window = tox.window_weeks if tox else 1
    bg = design.scenario.background
    users = {k: rng.random(n) < p for k, p in bg.users.items()}
    item_of = dict(tox.self_report_items) if tox else {}
    blocks = []
    for week in assessment_weeks(design.protocol, _INSTRUMENT):
        pidx = np.flatnonzero(collection.done[:, week])
        values = np.zeros((pidx.size, len(items)))
        for j, item in enumerate(items):
            if item in users:
                values[:, j] = users[item][pidx] & (rng.random(pidx.size) < bg.report_if_user)
        for name, used in substance_use.use.items():
            mapped = item_of.get(name)
            if mapped is None or mapped not in items or week < 1:
                continue
            period = min((week - 1) // window, used.shape[1] - 1)
            spec = design.scenario.substances[name]
            values[:, items.index(mapped)] = used[pidx, period] & (
                rng.random(pidx.size) < spec.report_sensitivity
            )
        if events is not None:
            for item in item_of.values():
                if item in items and week >= 1:
                    values[:, items.index(item)] = (
                        events.use[pidx, week] & events.reported[pidx, week]
                    )
        blocks.append(answers(pidx, week, _INSTRUMENT, items, values))
    return SelfReport(answers=tuple(blocks), background_users=users)
