"""The CONSORT flow: referral → consent → randomization → follow-up → analysis.

Counts come from ``screening.csv`` (the furthest stage each referral reached and the reason
it stopped), ``participants.csv`` (allocation and withdrawals) and the follow-up data
(:func:`mindtrial.outcomes.retention`). A dataset without screening records starts the
diagram at randomization.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd
from matplotlib.figure import Figure

from mindtrial.analysis.results import AnalysisReport
from mindtrial.dataset import STAGES, StudyDataset
from mindtrial.outcomes import final_week, retention
from mindtrial.protocols.schema import Protocol
from mindtrial.report.figures import FlowBox, flow_figure

_RANK = {stage: i for i, stage in enumerate(STAGES)}


@dataclass(frozen=True)
class ArmFlow:
    code: str
    label: str
    allocated: int
    withdrew: int
    withdrawal_reasons: tuple[tuple[str, int], ...]
    completed_final: int
    analysed_primary: int | None
    has_sessions: bool = False
    received: int = 0
    not_received: int = 0
    below_minimum: int = 0


@dataclass(frozen=True)
class ConsortFlow:
    """Counts for each box of the diagram (``None`` when the dataset has no screening)."""

    referred: int | None
    not_consented: int | None
    not_consented_reasons: tuple[tuple[str, int], ...]
    consented: int | None
    not_randomized: int | None
    not_randomized_reasons: tuple[tuple[str, int], ...]
    randomized: int
    final_week: int
    primary_analysis: str | None
    arms: tuple[ArmFlow, ...]
    minimum_sessions: int = 0
    total_sessions: int = 0


def _reasons(frame: pd.DataFrame, default: Mapping[str, str]) -> tuple[tuple[str, int], ...]:
    counts: Counter[str] = Counter()
    for stage, reason in zip(frame["stage"], frame["exclusion_reason"], strict=True):
        if pd.isna(reason) or str(reason).strip() == "":
            counts[default.get(str(stage), f"no reason recorded (stopped at {stage})")] += 1
        else:
            counts[str(reason)] += 1
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def consort_flow(dataset: StudyDataset, protocol: Protocol, report: AnalysisReport) -> ConsortFlow:
    """Count every box of the CONSORT diagram."""
    screening = dataset.screening
    participants = dataset.participants
    referred = consented = not_consented = not_randomized = None
    before: tuple[tuple[str, int], ...] = ()
    after: tuple[tuple[str, int], ...] = ()
    if len(screening):
        rank = screening["stage"].map(_RANK)
        referred = len(screening)
        is_consented = rank >= _RANK["consented"]
        consented = int(is_consented.sum())
        not_consented = referred - consented
        before = _reasons(
            screening[~is_consented],
            {
                "referred": "not screened",
                "screened": "not eligible",
                "eligible": "did not consent",
            },
        )
        stopped = screening[is_consented & (screening["stage"] != "randomized")]
        not_randomized = len(stopped)
        after = _reasons(
            stopped,
            {
                "consented": "did not complete baseline",
                "baseline": "not randomized after baseline",
            },
        )
    kept = retention(dataset, protocol)
    merged = participants[["participant_id", "arm", "withdrawal_reason"]].merge(
        kept, on="participant_id", how="left"
    )
    primary = next((a for a in report.analyses if a.kind == "analysis"), None)
    analysed: dict[str, int] = {}
    if primary is not None and primary.summary is not None:
        analysed = {a.arm: a.n_participants for a in primary.summary.arms}
    from mindtrial.report.engagement import arm_doses

    doses = arm_doses(dataset, protocol, report)
    arms = []
    for info in report.arms:
        rows = merged[merged["arm"] == info.code]
        gone = rows[rows["withdrawn"]]
        reasons = Counter(
            "no reason recorded" if pd.isna(r) or str(r).strip() == "" else str(r)
            for r in gone["withdrawal_reason"]
        )
        arms.append(
            ArmFlow(
                code=info.code,
                label=info.label,
                allocated=len(rows),
                withdrew=len(gone),
                withdrawal_reasons=tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
                completed_final=int(rows["completed_final_week"].sum()),
                analysed_primary=analysed.get(info.code) if primary is not None else None,
                has_sessions=doses[info.code].has_sessions,
                received=doses[info.code].received,
                not_received=doses[info.code].not_received,
                below_minimum=doses[info.code].below_minimum,
            )
        )
    return ConsortFlow(
        referred=referred,
        not_consented=not_consented,
        not_consented_reasons=before,
        consented=consented,
        not_randomized=not_randomized,
        not_randomized_reasons=after,
        randomized=len(participants),
        final_week=final_week(protocol),
        primary_analysis=None if primary is None else primary.title,
        arms=tuple(arms),
        minimum_sessions=protocol.outcomes.adherence_sessions,
        total_sessions=protocol.outcomes.total_sessions,
    )


def _short(text: str, width: int = 42) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _reason_lines(reasons: Sequence[tuple[str, int]], limit: int = 4) -> list[str]:
    """Up to ``limit`` reasons (shortened to fit a box; the CSV table has them in full)."""
    lines = [f"  {_short(reason)}: {n}" for reason, n in reasons[:limit]]
    rest = sum(n for _, n in reasons[limit:])
    if rest:
        lines.append(f"  other reasons: {rest}")
    return lines


def consort_table(flow: ConsortFlow) -> pd.DataFrame:
    """The counts as a tidy table: ``stage, arm, reason, n`` (CSV output)."""
    rows: list[tuple[str, str, str, int]] = []
    if flow.referred is not None:
        rows.append(("referred", "", "", flow.referred))
        rows += [("not consented", "", r, n) for r, n in flow.not_consented_reasons]
        rows.append(("consented", "", "", flow.consented or 0))
        rows += [("not randomized", "", r, n) for r, n in flow.not_randomized_reasons]
    rows.append(("randomized", "", "", flow.randomized))
    for arm in flow.arms:
        rows.append(("allocated", arm.label, "", arm.allocated))
        if arm.has_sessions:
            rows.append(
                ("received the intervention (at least 1 session)", arm.label, "", arm.received)
            )
            rows.append(("did not receive the intervention", arm.label, "", arm.not_received))
            rows.append(
                (
                    f"discontinued before the minimum dose ({flow.minimum_sessions} of "
                    f"{flow.total_sessions} sessions)",
                    arm.label,
                    "",
                    arm.below_minimum,
                )
            )
        rows += [("withdrew", arm.label, r, n) for r, n in arm.withdrawal_reasons]
        rows.append((f"completed week {flow.final_week}", arm.label, "", arm.completed_final))
        if arm.analysed_primary is not None:
            rows.append(
                (f"analysed ({flow.primary_analysis})", arm.label, "", arm.analysed_primary)
            )
    return pd.DataFrame(rows, columns=["stage", "arm", "reason", "n"])


def consort_figure(flow: ConsortFlow) -> Figure:
    """The CONSORT diagram as a figure (boxes and arrows)."""
    boxes: list[FlowBox] = []
    arrows: list[tuple[str, str, Literal["down", "side"]]] = []
    y = 0.95
    previous: str | None = None
    if flow.referred is not None:
        boxes.append(FlowBox("referred", 0.35, y, (f"Referred (n = {flow.referred})",), 0.36))
        boxes.append(
            FlowBox(
                "not_consented",
                0.78,
                y - 0.08,
                (
                    f"Not consented (n = {flow.not_consented})",
                    *_reason_lines(flow.not_consented_reasons),
                ),
                0.4,
            )
        )
        y -= 0.19
        boxes.append(FlowBox("consented", 0.35, y, (f"Consented (n = {flow.consented})",), 0.36))
        arrows += [("referred", "consented", "down"), ("referred", "not_consented", "side")]
        boxes.append(
            FlowBox(
                "not_randomized",
                0.78,
                y - 0.08,
                (
                    f"Not randomized (n = {flow.not_randomized})",
                    *_reason_lines(flow.not_randomized_reasons),
                ),
                0.4,
            )
        )
        arrows.append(("consented", "not_randomized", "side"))
        previous = "consented"
        y -= 0.19
    boxes.append(FlowBox("randomized", 0.35, y, (f"Randomized (n = {flow.randomized})",), 0.36))
    if previous is not None:
        arrows.append((previous, "randomized", "down"))
    y -= 0.13
    n = max(len(flow.arms), 1)
    width = min(0.9 / n, 0.42)
    for i, arm in enumerate(flow.arms):
        x = (i + 0.5) / n
        key = f"arm{i}"
        allocation = [f"Allocated to {arm.label} (n = {arm.allocated})"]
        if arm.has_sessions:
            allocation += [
                f"Received the intervention (n = {arm.received})",
                f"Did not receive it (n = {arm.not_received})",
                f"Discontinued before {flow.minimum_sessions} sessions (n = {arm.below_minimum})",
            ]
        else:
            allocation.append("No group sessions in this arm")
        boxes.append(FlowBox(key, x, y, tuple(allocation), width))
        arrows.append(("randomized", key, "down"))
        boxes.append(
            FlowBox(
                f"{key}_follow",
                x,
                y - 0.19,
                (
                    f"Withdrew (n = {arm.withdrew})",
                    *_reason_lines(arm.withdrawal_reasons, limit=3),
                    f"Data at week {flow.final_week} (n = {arm.completed_final})",
                ),
                width,
            )
        )
        arrows.append((key, f"{key}_follow", "down"))
        if arm.analysed_primary is not None:
            boxes.append(
                FlowBox(
                    f"{key}_analysed",
                    x,
                    y - 0.36,
                    (
                        "Analysed for the primary outcome",
                        f"(n = {arm.analysed_primary})",
                    ),
                    width,
                )
            )
            arrows.append((f"{key}_follow", f"{key}_analysed", "down"))
    return flow_figure(boxes, arrows)
