"""Scored instruments: every score of every completed form, per participant and week."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import pandas as pd

from mindtrial.dataset import StudyDataset
from mindtrial.dataset.schema import RESPONSES
from mindtrial.instruments.registry import get_instrument
from mindtrial.instruments.scoring import ScoringError, score

SCORE_COLUMNS: Final = ("participant_id", "week", "instrument", "score", "value")
INCOMPLETE_COLUMNS: Final = (
    "participant_id",
    "week",
    "instrument",
    "n_answered",
    "n_items",
    "reason",
)


def _forms_of(
    rows: pd.DataFrame,
    people: np.ndarray,  # type: ignore[type-arg]
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[str]]:  # type: ignore[type-arg]
    """One instrument's answers by form: the forms (participant, week, answers given), each
    form's answer pattern (equal codes: equal answers) and the answers by pattern.
    ``people`` numbers the rows' participants (equal ids, equal numbers)."""
    weeks, week_levels = pd.factorize(rows["week"])
    form_codes, _ = pd.factorize(people * len(week_levels) + weeks)
    n_forms = int(form_codes.max()) + 1
    first = np.flatnonzero(form_codes > np.maximum.accumulate(np.r_[-1, form_codes[:-1]]))
    item_codes, items = pd.factorize(rows["item"])
    wide = np.full((n_forms, len(items)), np.nan)
    wide[form_codes, item_codes] = rows["value"].to_numpy(dtype=float, na_value=np.nan)
    table = pd.DataFrame(
        {
            "participant_id": rows["participant_id"].to_numpy()[first],
            "week": rows["week"].to_numpy()[first],
            "n_answered": np.bincount(form_codes, minlength=n_forms),
        }
    )
    patterns = (
        pd.DataFrame(wide).groupby(list(range(len(items))), dropna=False, sort=False).ngroup()
    ).to_numpy()
    return table, patterns, wide, [str(i) for i in items]


def _score_forms(
    ds: StudyDataset, *, prorate: bool, instruments: Sequence[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores and unscorable forms, sorted by participant, week and instrument.

    Forms are grouped by their answers and each distinct set of answers is scored once
    through :func:`~mindtrial.instruments.scoring.score` (weekly yes/no surveys and short
    questionnaires repeat the same answers many times).
    """
    scored: list[pd.DataFrame] = []
    incomplete: list[pd.DataFrame] = []
    responses = ds.responses
    # rows picked and participants numbered by the dataset's integer codes (no string
    # compared or hashed per row)
    by_instrument, instrument_of = ds.codes(RESPONSES, "instrument")
    person_codes, person_of = ds.codes(RESPONSES, "participant_id")
    person = pd.factorize(person_of)[0].take(person_codes)
    used = np.bincount(by_instrument, minlength=len(instrument_of)) > 0
    present = sorted({v for v in instrument_of[used].tolist() if v is not None})
    if instruments is not None:
        asked = set(instruments)
        present = [i for i in present if i in asked]
    for instrument_id in present:
        instrument = get_instrument(str(instrument_id))
        if not instrument.score_ids:
            continue  # e.g. adverse_event: nothing to score
        chosen = np.isin(by_instrument, np.flatnonzero(instrument_of == instrument_id))
        forms, patterns, wide, items = _forms_of(responses[chosen], person[chosen])
        firsts = pd.Series(np.arange(len(patterns))).groupby(patterns, sort=True).first()
        results: list[tuple[int, str, float]] = []
        errors: dict[int, str] = {}
        for pattern, row in zip(firsts.index.tolist(), firsts.tolist(), strict=True):
            answers = {item: float(x) for item, x in zip(items, wide[row], strict=True) if x == x}
            try:
                result = score(str(instrument_id), answers, prorate=prorate)
            except ScoringError as exc:
                errors[int(pattern)] = str(exc)
                continue
            results += [
                (int(pattern), score_id, result.scores[score_id])
                for score_id in instrument.score_ids
                if score_id in result.scores
            ]
        forms["instrument"] = str(instrument_id)
        forms["pattern"] = patterns
        values = pd.DataFrame(results, columns=["pattern", "score", "value"])
        scored.append(forms.merge(values, on="pattern", how="inner"))
        failed = forms[forms["pattern"].isin(list(errors))].copy()
        failed["n_items"] = len(instrument.items)
        failed["reason"] = failed["pattern"].map(errors)
        incomplete.append(failed)
    keys = ["participant_id", "week", "instrument"]

    def ordered(parts: list[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
        parts = [part for part in parts if len(part)]
        if not parts:
            return pd.DataFrame({c: [] for c in columns})
        frame = pd.concat(parts, ignore_index=True)[list(columns)]
        return frame.sort_values(keys, kind="stable").reset_index(drop=True)

    return ordered(scored, SCORE_COLUMNS), ordered(incomplete, INCOMPLETE_COLUMNS)


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
    frame, _ = _score_forms(ds, prorate=prorate, instruments=instruments)
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
    _, frame = _score_forms(ds, prorate=prorate)
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
