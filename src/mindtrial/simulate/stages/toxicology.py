"""Urine toxicology, one row per test and analyte of the protocol's panel."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mindtrial.simulate.numerics import BoolArray, IntArray
from mindtrial.simulate.stages.allocation import Allocation
from mindtrial.simulate.stages.design import TrialDesign, assessment_weeks
from mindtrial.simulate.stages.draws import ObjectArray
from mindtrial.simulate.stages.events import Events
from mindtrial.simulate.stages.follow_up import FollowUp
from mindtrial.simulate.stages.misuse import Misuse
from mindtrial.simulate.stages.substances import SubstanceUse


def draw_toxicology(
    design: TrialDesign,
    allocation: Allocation,
    follow_up: FollowUp,
    substance_use: SubstanceUse,
    misuse: Misuse | None,
    events: Events | None,
    background_users: Mapping[str, BoolArray],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Tests while followed (completed with ``test_completion``); an analyte is positive from
    background use, prescribed medication, or modelled use seen with the test's sensitivity.

    ``background_users`` are the self-report's users; without them the users are drawn here.
    """
    tox = design.protocol.toxicology
    if tox is None:
        return _table(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), [], [], allocation)
    n = design.n
    scenario = design.scenario
    panel = list(tox.panel)
    col = scenario.collection
    test_weeks = _test_weeks(design, tox.window_weeks, misuse is not None, rng)
    in_group = {a for analytes in tox.substances.values() for a in analytes}
    bg = scenario.background
    users = background_users or {k: rng.random(n) < p for k, p in bg.users.items()}
    background_analyte = {a: u for k, u in users.items() for a in bg.analyte_of.get(k, [])}
    rows_p: list[IntArray] = []
    rows_w: list[IntArray] = []
    rows_r: list[ObjectArray] = []
    for period, test_week in enumerate(test_weeks):
        taken = (test_week <= follow_up.last_week) & (rng.random(n) < col.test_completion)
        pidx = np.flatnonzero(taken)
        m = pidx.size
        week = test_week[pidx]
        positive = np.zeros((m, len(panel)), dtype=np.bool_)
        for j, analyte in enumerate(panel):
            if analyte in in_group:
                continue  # positive only from the use modelled below
            if analyte in background_analyte:
                p = np.where(
                    background_analyte[analyte][pidx], bg.positive_if_user, bg.positive_otherwise
                )
            elif analyte == "buprenorphine" and design.protocol.medication == "buprenorphine":
                p = np.full(m, 0.95)
            elif analyte == "methadone" and design.protocol.medication == "methadone":
                p = events.methadone_p[pidx] if events is not None else np.full(m, 0.9)
            else:
                p = np.full(m, bg.positive_otherwise)
            positive[:, j] = rng.random(m) < p
        for name, used in substance_use.use.items():
            spec = scenario.substances[name]
            seen = used[pidx, min(period, used.shape[1] - 1)] & (
                rng.random(m) < spec.test_sensitivity
            )
            weights = spec.analytes or dict.fromkeys(tox.substances[name], 1.0)
            group = tox.substances[name]
            _mark(positive, panel, seen, weights, group, spec.co_positive, rng)
        if misuse is not None:
            assert scenario.misuse is not None
            seen = misuse.misusing[pidx, period] & (rng.random(m) < scenario.misuse.urine_positive)
            listed = sorted(in_group)
            _mark(positive, panel, seen, dict.fromkeys(listed, 1.0), listed, 0.0, rng)
        if events is not None:
            assert scenario.events is not None
            seen = events.use[pidx, week] & (rng.random(m) < scenario.events.test_sensitivity)
            chosen = {a: w for a, w in scenario.events.drug_analytes.items() if a in panel}
            _mark(positive, panel, seen, chosen, list(chosen), 0.2, rng)
        invalid = rng.random(m) < col.invalid_test
        result = np.where(positive, "positive", "negative").astype(object)
        result[invalid, :] = "invalid"
        rows_p.append(np.repeat(pidx, len(panel)))
        rows_w.append(np.repeat(week, len(panel)))
        rows_r.append(result.ravel())
    return _table(
        np.concatenate(rows_p) if rows_p else np.zeros(0, dtype=np.int64),
        np.concatenate(rows_w) if rows_w else np.zeros(0, dtype=np.int64),
        rows_r,
        panel,
        allocation,
    )


def _test_weeks(
    design: TrialDesign, window: int, at_assessments: bool, rng: np.random.Generator
) -> list[IntArray]:
    """Each participant's test week of each period: one random week per window (M-ROCC,
    MMT), or the COMM assessment weeks (MORE primary care, where misuse is judged at
    assessments)."""
    n = design.n
    if at_assessments:
        return [np.full(n, w, dtype=np.int64) for w in assessment_weeks(design.protocol, "comm")]
    weeks = []
    first = 1
    while first + window - 1 <= design.protocol.weeks:
        weeks.append(first + rng.integers(0, window, n))
        first += window
    return weeks


def _table(
    pidx: IntArray,
    week: IntArray,
    results: list[ObjectArray],
    panel: list[str],
    allocation: Allocation,
) -> pd.DataFrame:
    """The long table (participant, week, analyte, result) sorted by participant and week;
    each test's rows are the panel in order."""
    result = np.concatenate(results) if results else np.zeros(0, dtype=object)
    analyte = np.tile(np.array(panel, dtype=object), pidx.size // max(len(panel), 1))
    order = np.lexsort((week, pidx))
    return pd.DataFrame(
        {
            "participant_id": pd.array(allocation.ids[pidx[order]], dtype="string"),
            "week": week[order].astype(np.int64),
            "analyte": pd.array(analyte[order], dtype="string"),
            "result": pd.array(result[order], dtype="string"),
        }
    )


def _mark(
    positive: BoolArray,
    panel: list[str],
    seen: BoolArray,
    weights: dict[str, float],
    group: list[str],
    co_positive: float,
    rng: np.random.Generator,
) -> None:
    """For rows where use is seen: one analyte drawn by weight, others of the group co-positive.

    Writes into ``positive`` (the caller's own working table)."""
    rows = np.flatnonzero(seen)
    if rows.size == 0:
        return
    names = [a for a in weights if a in panel]
    w = np.array([weights[a] for a in names], dtype=np.float64)
    primary = rng.choice(len(names), size=rows.size, p=w / w.sum())
    for k, name in enumerate(names):
        positive[rows[primary == k], panel.index(name)] = True
    for name in group:
        if name in panel:
            extra = rows[rng.random(rows.size) < co_positive]
            positive[extra, panel.index(name)] = True
