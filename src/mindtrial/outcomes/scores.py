"""Scored instruments: every score of every completed form, per participant and week."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import Final

import pandas as pd

from mindtrial.dataset import StudyDataset
from mindtrial.instruments.registry import get_instrument
from mindtrial.instruments.scoring import ScoreResult, ScoringError, score

SCORE_COLUMNS: Final = ("participant_id", "week", "instrument", "score", "value")
INCOMPLETE_COLUMNS: Final = (
    "participant_id",
    "week",
    "instrument",
    "n_answered",
    "n_items",
    "reason",
)


def _score_forms(
    ds: StudyDataset, *, prorate: bool, instruments: Sequence[str] | None = None
) -> tuple[list[tuple[str, int, str, str, float]], list[tuple[str, int, str, int, int, str]]]:
    scored: list[tuple[str, int, str, str, float]] = []
    incomplete: list[tuple[str, int, str, int, int, str]] = []
    responses = ds.responses
    if instruments is not None:
        responses = responses[responses["instrument"].isin(list(instruments))]
    if responses.empty:
        return scored, incomplete
    # Many forms repeat the same answers (e.g. weekly yes/no surveys): score each set once.
    memo: dict[tuple[str, tuple[tuple[str, str], ...]], ScoreResult | ScoringError] = {}
    keys = ["participant_id", "week", "instrument"]
    ordered = responses.sort_values(keys, kind="stable")
    rows = zip(
        ordered["participant_id"].tolist(),
        ordered["week"].tolist(),
        ordered["instrument"].tolist(),
        ordered["item"].tolist(),
        ordered["value"].tolist(),
        strict=True,
    )
    for (pid, week, instrument_id), group in groupby(rows, key=lambda r: (r[0], r[1], r[2])):
        instrument = get_instrument(instrument_id)
        if not instrument.score_ids:
            continue  # e.g. adverse_event: nothing to score
        answers: dict[str, str] = {r[3]: r[4] for r in group}
        memo_key = (instrument_id, tuple(sorted(answers.items())))
        if memo_key not in memo:
            try:
                memo[memo_key] = score(instrument_id, answers, prorate=prorate)
            except ScoringError as exc:
                memo[memo_key] = exc
        result = memo[memo_key]
        if isinstance(result, ScoringError):
            n_items = len(instrument.items)
            incomplete.append((pid, week, instrument_id, len(answers), n_items, str(result)))
            continue
        for score_id in instrument.score_ids:
            if score_id in result.scores:
                scored.append((pid, week, instrument_id, score_id, result.scores[score_id]))
    return scored, incomplete


def scored_instruments(
    ds: StudyDataset, *, prorate: bool = False, instruments: Sequence[str] | None = None
) -> pd.DataFrame:
    """All scores of each instrument per participant-week, one score a row.

    Columns: ``participant_id`` (string), ``week`` (int64), ``instrument`` (string),
    ``score`` (string, a score id of the instrument such as ``t_score`` or ``mean``),
    ``value`` (float64). Sorted by participant, week, instrument, then the instrument's own
    score order. Forms that cannot be scored (missing or unusable answers) give no rows here;
    :func:`incomplete_forms` lists them. ``prorate`` turns on the instruments' documented
    proration rule (PROMIS); it is off by default, as the analysis plan requires.
    ``instruments`` restricts the result to those instrument ids.
    """
    scored, _ = _score_forms(ds, prorate=prorate, instruments=instruments)
    frame = pd.DataFrame(scored, columns=list(SCORE_COLUMNS))
    return frame.astype(
        {
            "participant_id": "string",
            "week": "int64",
            "instrument": "string",
            "score": "string",
            "value": "float64",
        }
    )


def incomplete_forms(ds: StudyDataset, *, prorate: bool = False) -> pd.DataFrame:
    """Forms that were started but could not be scored, with the reason.

    Columns: ``participant_id`` (string), ``week`` (int64), ``instrument`` (string),
    ``n_answered`` (int64, items answered), ``n_items`` (int64, items on the form),
    ``reason`` (string, the scoring module's message naming the missing items).
    """
    _, incomplete = _score_forms(ds, prorate=prorate)
    frame = pd.DataFrame(incomplete, columns=list(INCOMPLETE_COLUMNS))
    return frame.astype(
        {
            "participant_id": "string",
            "week": "int64",
            "instrument": "string",
            "n_answered": "int64",
            "n_items": "int64",
            "reason": "string",
        }
    )
