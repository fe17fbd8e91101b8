"""Engagement and fidelity: sessions attended by arm and curriculum phase, the adherence
threshold, the continuation choice (by sex, ethnicity and language when recorded) and home
practice, from :func:`mindtrial.outcomes.attendance_summary` and the attendance records.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mindtrial.analysis.results import AnalysisReport
from mindtrial.dataset import StudyDataset
from mindtrial.outcomes import attendance_summary, scored_instruments
from mindtrial.protocols.schema import Arm, Protocol
from mindtrial.report.labels import level_label, sentence
from mindtrial.report.printer import MISSING, fmt

_PRACTICE_INSTRUMENT = "home_practice"


@dataclass(frozen=True)
class ArmDose:
    """How much of its intervention one arm received (for CONSORT and the text)."""

    code: str
    has_sessions: bool
    received: int
    not_received: int
    below_minimum: int
    minimum: int
    total: int


def _percent(k: int, n: int) -> str:
    return f"{k} ({fmt(100 * k / n if n else None)}%)"


def _mean_sd(values: pd.Series) -> str:
    x = values.astype("float64").dropna()
    if len(x) == 0:
        return MISSING
    sd = float(x.std(ddof=1)) if len(x) > 1 else float("nan")
    return f"{fmt(float(x.mean()))} ({fmt(sd)})"


def _median_iqr(values: pd.Series) -> str:
    x = values.astype("float64").dropna()
    if len(x) == 0:
        return MISSING
    q1, q2, q3 = (float(x.quantile(q)) for q in (0.25, 0.5, 0.75))
    return f"{fmt(q2, 0)} ({fmt(q1, 0)}–{fmt(q3, 0)})"


def _protocol_arm(protocol: Protocol, code: str, masked: bool) -> Arm | None:
    if masked:
        return None
    return next((a for a in protocol.arms if a.id == code), None)


def _has_sessions(arm: Arm | None, attended: int) -> bool:
    if arm is not None:
        return bool(getattr(arm, "group_sessions", True))
    return attended > 0


def arm_doses(
    dataset: StudyDataset, protocol: Protocol, report: AnalysisReport
) -> dict[str, ArmDose]:
    """Per arm: participants who attended ≥ 1 session, none, and fewer than the minimum."""
    summary = attendance_summary(dataset, protocol).merge(
        dataset.participants[["participant_id", "arm"]].astype({"participant_id": "string"}),
        on="participant_id",
    )
    minimum = protocol.outcomes.adherence_sessions
    out = {}
    for info in report.arms:
        rows = summary[summary["arm"].astype(str) == info.code]
        arm = _protocol_arm(protocol, info.code, report.arms_masked)
        sessions = rows["sessions_attended"]
        received = int((sessions > 0).sum())
        out[info.code] = ArmDose(
            code=info.code,
            has_sessions=_has_sessions(arm, received),
            received=received,
            not_received=int((sessions == 0).sum()),
            below_minimum=int(((sessions > 0) & (sessions < minimum)).sum()),
            minimum=minimum,
            total=protocol.outcomes.total_sessions,
        )
    return out


def attendance_table(
    dataset: StudyDataset, protocol: Protocol, report: AnalysisReport
) -> pd.DataFrame:
    """Sessions attended by arm (overall and per curriculum phase) and adherence."""
    att = dataset.attendance
    attended = att[att["attended"]]
    per = attendance_summary(dataset, protocol).merge(
        dataset.participants[["participant_id", "arm"]].astype({"participant_id": "string"}),
        on="participant_id",
    )
    total = protocol.outcomes.total_sessions
    minimum = protocol.outcomes.adherence_sessions
    rows: list[list[str]] = []
    doses = arm_doses(dataset, protocol, report)
    for info in report.arms:
        people = per[per["arm"].astype(str) == info.code]
        n = len(people)
        if not doses[info.code].has_sessions:
            rows.append([info.label, "Group sessions", "none (no group sessions in this arm)", ""])
            continue
        rows.append(
            [
                info.label,
                f"Sessions attended of {total}",
                _mean_sd(people["sessions_attended"]),
                _median_iqr(people["sessions_attended"]),
            ]
        )
        arm = _protocol_arm(protocol, info.code, report.arms_masked)
        phases = [] if arm is None else arm.curriculum
        if len(phases) > 1:
            ids = people["participant_id"].astype(str)
            for phase in phases:
                in_phase = attended[
                    (attended["week"] >= phase.first_week) & (attended["week"] <= phase.last_week)
                ]
                counts = ids.map(in_phase.groupby("participant_id").size()).fillna(0)
                weeks = phase.last_week - phase.first_week + 1
                rows.append(
                    [
                        info.label,
                        f"{phase.name}, weeks {phase.first_week}–{phase.last_week} "
                        f"(sessions attended of {weeks})",
                        _mean_sd(counts),
                        _median_iqr(counts),
                    ]
                )
        rows.append(
            [
                info.label,
                "Attended at least one session, n (%)",
                _percent(int((people["sessions_attended"] > 0).sum()), n),
                "",
            ]
        )
        rows.append(
            [
                info.label,
                f"Adherent (at least {minimum} of {total} sessions), n (%)",
                _percent(int(people["adherent"].sum()), n),
                "",
            ]
        )
    return pd.DataFrame(rows, columns=["Arm", "Measure", "Mean (SD) or n (%)", "Median (IQR)"])


def continuation_table(
    dataset: StudyDataset, protocol: Protocol, report: AnalysisReport
) -> pd.DataFrame:
    """For arms with a continuation choice: participants still in the study at the choice
    who attended any session of the phase offered, overall and by sex, ethnicity and
    language (when the dataset records them)."""
    rows: list[list[str]] = []
    people = dataset.participants
    att = dataset.attendance
    for info in report.arms:
        arm = _protocol_arm(protocol, info.code, report.arms_masked)
        if arm is None or arm.continuation_choice is None:
            continue
        choice = arm.continuation_choice
        phase = next((p for p in arm.curriculum if p.id == choice.continue_phase), None)
        if phase is None:
            continue
        in_arm = people[people["arm"].astype(str) == info.code]
        withdrawn = in_arm["withdrawn_week"].astype("Float64")
        at_choice = in_arm[withdrawn.isna() | (withdrawn > choice.after_week)]
        went_on = set(
            att.loc[
                att["attended"]
                & (att["week"] >= phase.first_week)
                & (att["week"] <= phase.last_week),
                "participant_id",
            ].astype(str)
        )
        continued = at_choice["participant_id"].astype(str).isin(went_on)
        what = f"Continued into {phase.name.lower()} after week {choice.after_week}"
        rows.append(
            [
                info.label,
                what,
                "All in the study at the choice",
                _percent(int(continued.sum()), len(at_choice)),
            ]
        )
        for column in ("sex", "ethnicity", "race", "language"):
            if column not in at_choice.columns or bool(at_choice[column].isna().all()):
                continue
            values = at_choice[column].astype("string")
            for level in sorted(str(v) for v in values.dropna().unique()):
                mask = (values == level).fillna(False).to_numpy()
                rows.append(
                    [
                        info.label,
                        what,
                        f"{sentence(column)}: {level_label(level)}",
                        _percent(int(continued[mask].sum()), int(mask.sum())),
                    ]
                )
    return pd.DataFrame(rows, columns=["Arm", "Measure", "Group", "n (%)"])


def home_practice_table(dataset: StudyDataset, report: AnalysisReport) -> pd.DataFrame:
    """Home practice logs by arm: participants who logged, and each logged scale per
    participant-week as mean (SD) and median (IQR)."""
    scores = scored_instruments(dataset)
    logs = scores[scores["instrument"] == _PRACTICE_INSTRUMENT]
    if len(logs) == 0:
        return pd.DataFrame(columns=["Arm", "Measure", "Mean (SD) or n (%)", "Median (IQR)"])
    logs = logs.merge(
        dataset.participants[["participant_id", "arm"]].astype({"participant_id": "string"}),
        on="participant_id",
    )
    labels: dict[str, str] = {}
    try:
        from mindtrial.instruments import get_instrument

        for scale in getattr(get_instrument(_PRACTICE_INSTRUMENT).scoring, "scales", None) or ():
            labels[str(scale.id)] = str(scale.label)
    except KeyError:
        pass
    rows = []
    for info in report.arms:
        mine = logs[logs["arm"].astype(str) == info.code]
        n = int((dataset.participants["arm"].astype(str) == info.code).sum())
        rows.append(
            [
                info.label,
                "Participants with a practice log, n (%)",
                _percent(int(mine["participant_id"].nunique()), n),
                "",
            ]
        )
        for score in sorted(mine["score"].unique()):
            values = mine.loc[mine["score"] == score, "value"]
            label = labels.get(str(score), sentence(str(score)))
            rows.append([info.label, f"{label} per week", _mean_sd(values), _median_iqr(values)])
    return pd.DataFrame(rows, columns=["Arm", "Measure", "Mean (SD) or n (%)", "Median (IQR)"])
