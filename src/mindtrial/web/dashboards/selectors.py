"""Numbers for the measurement-based-care dashboards (each role sees only what it may)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mindtrial.instruments.scoring import ScoringError, score
from mindtrial.protocols import Protocol
from mindtrial.web.checkin.models import CheckIn
from mindtrial.web.checkin.services import due_instruments
from mindtrial.web.enrolment.calendar import participant_today, study_protocol, week_of
from mindtrial.web.enrolment.models import BaselineAssessment, Participant, Status
from mindtrial.web.enrolment.selectors import participants_for, study_arms
from mindtrial.web.programme.models import Attendance, AttendanceStatus
from mindtrial.web.safety.models import AdverseEvent, Withdrawal
from mindtrial.web.toxicology.models import ToxTest

if TYPE_CHECKING:
    from mindtrial.web.accounts.models import User
    from mindtrial.web.studies.models import Study

CRAVING_RISE = 2.0
"""A rise of this many OCS points over the participant's own baseline is flagged."""
ANXIETY_HIGH_T = 70.0
"""PROMIS anxiety T at or above this (the 'severe' band) is flagged."""


@dataclass(frozen=True)
class Flag:
    kind: str
    message: str


@dataclass
class ParticipantSummary:
    participant: Participant
    craving: list[float | None] = field(default_factory=list)
    anxiety_t: float | None = None
    attended: int = 0
    latest_test: ToxTest | None = None
    flags: list[Flag] = field(default_factory=list)

    @property
    def craving_latest(self) -> float | None:
        known = [v for v in self.craving if v is not None]
        return known[-1] if known else None

    @property
    def craving_so_far(self) -> list[float | None]:
        """Weeks 0 to the last week with an answer (at least 4 weeks wide, for the chart)."""
        last = max((i for i, v in enumerate(self.craving) if v is not None), default=0)
        return self.craving[: max(last + 1, 5)]


def _scores(instrument: str, answers: dict[str, str]) -> dict[str, float]:
    try:
        return dict(score(instrument, answers).scores)
    except ScoringError:
        return {}


def weekly_scores(participant: Participant, instrument: str, score_id: str) -> dict[int, float]:
    """Week -> score of ``instrument`` from baseline (week 0) and the check-ins."""
    found: dict[int, float] = {}
    baseline = BaselineAssessment.objects.filter(
        participant=participant, instrument=instrument
    ).first()
    if baseline is not None:
        value = (baseline.scores.get("scores") or {}).get(score_id)
        if value is not None:
            found[0] = float(value)
    for checkin in CheckIn.objects.filter(participant=participant):
        items = checkin.answers.get(instrument)
        if not items:
            continue
        scores = checkin.scores.get(instrument) or _scores(instrument, items)
        if score_id in scores:
            found[checkin.week] = float(scores[score_id])
    return found


def opioid_analytes(protocol: Protocol) -> set[str]:
    plan = protocol.toxicology
    if plan is None:
        return set()
    return {a for name, analytes in plan.substances.items() if "opioid" in name for a in analytes}


def summarise(participant: Participant, protocol: Protocol) -> ParticipantSummary:
    """Trend, latest results and gentle flags for one participant (for their facilitator)."""
    summary = ParticipantSummary(participant=participant)
    craving = weekly_scores(participant, "ocs", "mean")
    summary.craving = [craving.get(w) for w in range(protocol.weeks + 1)]
    anxiety = weekly_scores(participant, "promis_anxiety_8a", "t_score")
    if anxiety:
        summary.anxiety_t = anxiety[max(anxiety)]
    marks = list(Attendance.objects.filter(participant=participant).order_by("week"))
    summary.attended = sum(m.status == AttendanceStatus.PRESENT for m in marks)
    summary.latest_test = ToxTest.objects.filter(participant=participant).order_by("-week").first()
    if 0 in craving and len(craving) > 1:
        latest = craving[max(craving)]
        if latest - craving[0] >= CRAVING_RISE:
            summary.flags.append(
                Flag(
                    "craving",
                    "Craving is higher than when they started — a good moment to check in.",
                )
            )
    opioids = opioid_analytes(protocol)
    test = summary.latest_test
    if test is not None and any(test.results.get(a) == "positive" for a in opioids):
        summary.flags.append(
            Flag("test", "A recent test showed opioids — offer support and a warm welcome back.")
        )
    if len(marks) >= 2 and all(m.status == AttendanceStatus.ABSENT for m in marks[-2:]):
        summary.flags.append(
            Flag("attendance", "Missed the last two sessions — a friendly message may help.")
        )
    if summary.anxiety_t is not None and summary.anxiety_t >= ANXIETY_HIGH_T:
        summary.flags.append(
            Flag("anxiety", "Anxiety has been high lately — consider a gentle check-in.")
        )
    return summary


def active_participants(user: User, study: Study) -> list[Participant]:
    gone = set(
        Withdrawal.objects.filter(participant__study=study).values_list("participant_id", flat=True)
    )
    return [
        p
        for p in participants_for(user, study).filter(status=Status.RANDOMIZED)
        if p.pk not in gone
    ]


@dataclass(frozen=True)
class Completeness:
    weeks: list[int]
    percent: list[float]
    received: int
    expected: int
    overdue: list[Participant]


def completeness(
    user: User, study: Study, *, now: dt.datetime | None = None, today: dt.date | None = None
) -> Completeness:
    """Check-ins received / expected per week so far (pooled), and who is overdue.

    Each participant's current week is taken on their own today (their cohort's time zone at
    ``now``, the current time by default); ``today`` instead names one date for everyone."""
    protocol = study_protocol(study)
    randomized = list(participants_for(user, study).filter(status=Status.RANDOMIZED))
    withdrawn = dict(
        Withdrawal.objects.filter(participant__study=study).values_list("participant_id", "week")
    )
    done = set(
        CheckIn.objects.filter(participant__in=randomized).values_list("participant_id", "week")
    )
    expected: Counter[int] = Counter()
    received: Counter[int] = Counter()
    overdue: list[Participant] = []
    for p in randomized:
        current = week_of(p, today if today is not None else participant_today(p, now))
        if not current:
            continue
        for week in range(1, min(current - 1, protocol.weeks) + 1):
            if p.pk in withdrawn and week >= withdrawn[p.pk]:
                break
            if not due_instruments(protocol, week):
                continue
            expected[week] += 1
            received[week] += (p.pk, week) in done
        last = current - 1
        if (
            1 <= last <= protocol.weeks
            and (p.pk not in withdrawn or last < withdrawn[p.pk])
            and (p.pk, last) not in done
            and due_instruments(protocol, last)
        ):
            overdue.append(p)
    weeks = sorted(expected)
    return Completeness(
        weeks=weeks,
        percent=[100.0 * received[w] / expected[w] for w in weeks],
        received=sum(received.values()),
        expected=sum(expected.values()),
        overdue=overdue,
    )


def retention(user: User, study: Study) -> tuple[int, int]:
    """(randomized, still in the study), pooled over arms."""
    randomized = participants_for(user, study).filter(status=Status.RANDOMIZED)
    gone = Withdrawal.objects.filter(participant__in=randomized).count()
    total = randomized.count()
    return total, total - gone


@dataclass(frozen=True)
class ArmSafety:
    label: str
    randomized: int
    events: int
    serious: int
    withdrawn: int


def safety_by_arm(study: Study) -> list[ArmSafety]:
    """For the (unblinded) safety monitor only."""
    arms = study_arms(study)
    events = list(
        AdverseEvent.objects.filter(participant__study=study).values_list(
            "participant_id", "serious"
        )
    )
    withdrawn = set(
        Withdrawal.objects.filter(participant__study=study).values_list("participant_id", flat=True)
    )
    rows = []
    for arm in study.arm_ids:
        members = {pid for pid, a in arms.items() if a == arm}
        rows.append(
            ArmSafety(
                label=study.arm_label(arm),
                randomized=len(members),
                events=sum(pid in members for pid, _ in events),
                serious=sum(pid in members and s for pid, s in events),
                withdrawn=len(members & withdrawn),
            )
        )
    return rows
