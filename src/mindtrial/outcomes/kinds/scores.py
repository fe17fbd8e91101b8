"""``instrument_score``: one score of one instrument over the analysis' time levels."""

from __future__ import annotations

import re

from mindtrial.dataset import StudyDataset
from mindtrial.instruments import get_instrument
from mindtrial.outcomes.frames import analysis_frame_scores
from mindtrial.outcomes.kinds.common import (
    ID,
    OutcomeError,
    OutcomeFrame,
    Params,
    time_weeks,
)
from mindtrial.protocols.schema import AnalysisSpec, Protocol

_SUBSET = re.compile(r"^baseline_[a-z0-9]+_above_(?P<value>[0-9]+(?:_[0-9]+)?)$")


class ScoreParams(Params):
    """``instrument`` and ``score`` (a score id of the instrument, e.g. ``t_score``)."""

    instrument: str
    score: str


def derive_score(
    dataset: StudyDataset, protocol: Protocol, spec: AnalysisSpec, params: ScoreParams
) -> OutcomeFrame:
    """The score at each time level of ``spec`` (observed participant-times only), with
    ``baseline_value`` (the score at the first level) and any ``baseline_*`` covariate the
    analysis names filled with it. ``spec.subset`` ``baseline_<name>_above_<x>`` keeps the
    participants whose baseline score is above x (a missing baseline is excluded)."""
    try:
        instrument = get_instrument(params.instrument)
    except KeyError:
        raise OutcomeError(
            f"instrument {params.instrument!r} is not a shipped instrument"
        ) from None
    if params.score not in instrument.score_ids:
        raise OutcomeError(
            f"instrument {params.instrument!r} has no score {params.score!r} "
            f"(scores: {', '.join(instrument.score_ids)})"
        )
    if not spec.time or not spec.time_levels:
        raise OutcomeError("a score over time needs time and time_levels")
    to_week = time_weeks(protocol, spec, params.instrument)
    weeks = list(to_week.values())
    frame = analysis_frame_scores(
        dataset,
        protocol,
        instrument=params.instrument,
        score=params.score,
        weeks=weeks,
        baseline_week=weeks[0],
        baseline_name="baseline_value",
    )
    value = f"{params.instrument}_{params.score}"
    frame = frame.rename(columns={"value": value})
    to_level = {w: level for level, w in to_week.items()}
    frame[spec.time] = frame["week"].map(to_level).astype("int64")
    for name in spec.covariates:
        if name.startswith("baseline_") and name not in frame.columns:
            frame[name] = frame["baseline_value"]
    notes: list[str] = []
    if spec.subset is not None:
        match = _SUBSET.match(spec.subset)
        if match is None:
            raise OutcomeError(
                f"unknown subset {spec.subset!r}; expected 'baseline_<name>_above_<number>'"
            )
        threshold = float(match.group("value").replace("_", "."))
        keep = frame["baseline_value"].gt(threshold).fillna(False).astype(bool)
        excluded = frame.loc[~keep, ID].nunique()
        frame = frame[keep]
        notes.append(
            f"subset {spec.subset}: participants with a baseline {params.score} above "
            f"{threshold:g} ({excluded} participant(s) with data excluded, missing baseline "
            "included in that count)"
        )
    return OutcomeFrame(
        frame=frame,
        value=value,
        time=spec.time,
        time_values=tuple(spec.time_levels),
        notes=tuple(notes),
    )
