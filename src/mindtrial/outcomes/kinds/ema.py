"""``ema_mean``: the person-week mean of ecological momentary assessment prompts."""

from __future__ import annotations

import pandas as pd

from mindtrial.dataset import StudyDataset
from mindtrial.outcomes.frames import participant_frame
from mindtrial.outcomes.kinds.common import ID, OutcomeError, OutcomeFrame, Params, time_weeks
from mindtrial.protocols.schema import AnalysisSpec, Protocol


class EmaParams(Params):
    """``instrument``: the EMA instrument (for its schedule); ``item``: the ema.csv column."""

    instrument: str
    item: str


def derive_ema(
    dataset: StudyDataset, protocol: Protocol, spec: AnalysisSpec, params: EmaParams
) -> OutcomeFrame:
    """One row per participant and time level with at least one answered prompt in that
    week's EMA burst: the mean of the answered prompts' ``item`` (missed prompts and blank
    answers ignored), with ``baseline_value`` (the first level's mean) and
    ``prompts_answered``."""
    ema = dataset.ema
    if params.item not in ema.columns:
        raise OutcomeError(
            f"ema.csv has no column {params.item!r} (a study dataset of format version 2 with "
            f"{params.instrument} prompts is needed)"
        )
    if not spec.time or not spec.time_levels:
        raise OutcomeError("an EMA mean over time needs time and time_levels")
    to_week = time_weeks(protocol, spec, params.instrument)
    answered = ema[ema["answered"].astype(bool) & ema[params.item].notna()]
    answered = answered[answered["week"].isin(list(to_week.values()))]
    grouped = answered.groupby([ID, "week"])[params.item]
    value = f"ema_{params.item}"
    means = grouped.mean().rename(value).reset_index()
    means["prompts_answered"] = grouped.size().to_numpy()
    to_level = {w: level for level, w in to_week.items()}
    means[spec.time] = means["week"].map(to_level).astype("int64")
    means[ID] = means[ID].astype(str)
    first = means.loc[means[spec.time] == spec.time_levels[0]].set_index(ID)[value]
    means["baseline_value"] = means[ID].map(first)
    people = participant_frame(dataset, protocol)
    people[ID] = people[ID].astype(str)
    frame = means.merge(people, on=ID, how="inner")
    for name in spec.covariates:
        if name.startswith("baseline_") and name not in frame.columns:
            frame[name] = frame["baseline_value"]
    sent = ema[ema["week"].isin(list(to_week.values()))]
    n_sent, n_answered = len(sent), len(answered)
    rate = f"{100 * n_answered / n_sent:.1f}%" if n_sent else "no prompts"
    notes = (
        f"EMA {params.item}: mean of the answered prompts of each participant-week "
        f"({n_answered} of {n_sent} prompts answered, {rate}); weeks without an answered "
        "prompt are missing",
    )
    return OutcomeFrame(
        frame=pd.DataFrame(frame).sort_values([ID, spec.time], kind="stable"),
        value=value,
        time=spec.time,
        time_values=tuple(spec.time_levels),
        notes=notes,
    )
