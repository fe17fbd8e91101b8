"""Medication-list kinds: ``opioid_dose`` (MME over time) and ``medication_adherence``."""

from __future__ import annotations

import pandas as pd

from mindtrial.dataset import StudyDataset
from mindtrial.instruments.mme import regimen_mme
from mindtrial.outcomes.frames import participant_frame
from mindtrial.outcomes.kinds.common import ID, OutcomeError, OutcomeFrame, Params, time_weeks
from mindtrial.protocols.schema import AnalysisSpec, Protocol


class DoseParams(Params):
    """``schedule_of``: the instrument whose assessment schedule the medication review
    follows (months are mapped to its weeks)."""

    schedule_of: str


def derive_dose(
    dataset: StudyDataset, protocol: Protocol, spec: AnalysisSpec, params: DoseParams
) -> OutcomeFrame:
    """Total opioid dose in morphine milligram equivalents per day (CDC 2022 factors,
    :func:`mindtrial.instruments.mme.regimen_mme`; buprenorphine is not converted and left
    out) of each participant's medication list at each time level's week. A participant-week
    with a medication list but no opioid counts as 0 MME; no list = missing."""
    meds = dataset.medications
    if not spec.time or not spec.time_levels:
        raise OutcomeError("an opioid dose over time needs time and time_levels")
    to_week = time_weeks(protocol, spec, params.schedule_of)
    picked = meds[meds["week"].isin(list(to_week.values()))]
    rows = []
    for _, group in picked.groupby([ID, "week"]):
        pid, week = str(group[ID].iloc[0]), int(group["week"].iloc[0])
        regimen = list(
            zip(group["drug"].astype(str), group["daily_dose"].astype(float), strict=True)
        )
        try:
            total = regimen_mme(regimen, skip_not_converted=True).total
        except ValueError as exc:
            raise OutcomeError(f"medications.csv, participant {pid} week {week}: {exc}") from None
        rows.append((pid, week, float(total)))
    long = pd.DataFrame(rows, columns=[ID, "week", "mme"])
    to_level = {w: level for level, w in to_week.items()}
    long[spec.time] = long["week"].map(to_level).astype("int64")
    first = long.loc[long[spec.time] == spec.time_levels[0]].set_index(ID)["mme"]
    long["baseline_value"] = long[ID].map(first)
    people = participant_frame(dataset, protocol)
    people[ID] = people[ID].astype(str)
    frame = long.merge(people, on=ID, how="inner")
    return OutcomeFrame(
        frame=frame.sort_values([ID, spec.time], kind="stable"),
        value="mme",
        time=spec.time,
        time_values=tuple(spec.time_levels),
        notes=(
            "opioid dose: total MME/day of the medication list (CDC 2022 conversion factors; "
            "buprenorphine not converted) at each assessment; no list = missing",
        ),
    )


class AdherenceParams(Params):
    """``drug``: the medication whose scheduled doses are counted (e.g. methadone)."""

    drug: str


def derive_adherence(
    dataset: StudyDataset, protocol: Protocol, spec: AnalysisSpec, params: AdherenceParams
) -> OutcomeFrame:
    """One row per scheduled dose of ``drug`` (``days_scheduled`` of each participant-week of
    medications.csv): 1 when taken, 0 when missed (``days_taken`` of them are 1). A GEE
    logistic model clustered on participant then gives each arm's % of scheduled doses
    taken."""
    meds = dataset.medications
    rows = meds[(meds["drug"] == params.drug) & meds["days_scheduled"].notna()]
    if rows.empty:
        raise OutcomeError(
            f"medications.csv has no scheduled {params.drug} doses (a study dataset of format "
            "version 2 with observed dosing is needed)"
        )
    parts = []
    for pid, week, scheduled, taken in zip(
        rows[ID].astype(str), rows["week"], rows["days_scheduled"], rows["days_taken"], strict=True
    ):
        n, k = int(scheduled), int(taken)
        parts += [(pid, int(week), 1.0 if i < k else 0.0) for i in range(n)]
    long = pd.DataFrame(parts, columns=[ID, "week", "dose_taken"])
    people = participant_frame(dataset, protocol)
    people[ID] = people[ID].astype(str)
    frame = long.merge(people, on=ID, how="inner")
    return OutcomeFrame(
        frame=frame.sort_values([ID, "week"], kind="stable"),
        value="dose_taken",
        event=f"scheduled {params.drug} dose taken",
        notes=(
            f"{params.drug} adherence: each scheduled dose is a row (1 taken, 0 missed); "
            "GEE clustered on participant, so the % is of scheduled doses",
        ),
    )
