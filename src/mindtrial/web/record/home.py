"""A participant's record home: status badges, the weeks with what is due, done and missing,
and every action the user may take for them, on one page (REDCap's "record home page").

Everything here is a read: :func:`record_home` gathers it for one user, who has already
reached the participant through ``access_participant_by_id``. What a role sees follows the
same rules as the pages the actions lead to: blinded roles get the enrolment steps and the
status (withdrawal included) but no weekly timeline, no test schedule and no action that
reveals an arm; test days are shown up to today only (the schedule is concealed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from django.urls import reverse
from django.utils import timezone

from mindtrial.web.accounts.models import Role
from mindtrial.web.checkin.models import CheckIn
from mindtrial.web.checkin.services import due_instruments, skipped_items
from mindtrial.web.enrolment.access import STAFF_WRITERS, facilitates
from mindtrial.web.enrolment.calendar import (
    cohort_sessions,
    participant_start,
    participant_today,
    study_protocol,
    week_of,
)
from mindtrial.web.enrolment.models import (
    BaselineAssessment,
    Consent,
    Participant,
    Randomization,
    Screening,
    Status,
)
from mindtrial.web.enrolment.selectors import ParticipantView, participant_view, status_label
from mindtrial.web.enrolment.services import (
    ENROLMENT_WRITERS,
    baseline_step_title,
    baseline_steps,
    scores_in_words,
)
from mindtrial.web.programme.models import Attendance, ContinuationDecision
from mindtrial.web.queries.models import QueryStatus
from mindtrial.web.queries.selectors import can_read_queries, queries_of_participant
from mindtrial.web.safety.models import AdverseEvent, Withdrawal
from mindtrial.web.safety.selectors import can_read_adverse_events, last_study_week
from mindtrial.web.toxicology.models import ToxTest
from mindtrial.web.toxicology.schedule import past_test_days

if TYPE_CHECKING:
    from mindtrial.protocols import Protocol
    from mindtrial.web.accounts.models import User

Tone = Literal["ok", "info", "warn", "alert", "muted"]
CellState = Literal["done", "partial", "due", "missing", "upcoming", "not_collected", "excused"]
ActionKind = Literal["primary", "secondary", "danger"]


@dataclass(frozen=True)
class BaselineLine:
    """One baseline step on the record home: its title, and its scores in words once recorded."""

    step: str
    title: str
    record: BaselineAssessment | None
    scores: str


@dataclass(frozen=True)
class Badge:
    """One status badge at the top of the record (``key`` is stable, for tests and CSS)."""

    key: str
    label: str
    tone: Tone


@dataclass(frozen=True)
class Action:
    """Something the user may do for the participant: a link to the page that does it."""

    key: str
    label: str
    url: str
    kind: ActionKind = "secondary"
    group: str = "Weekly data"


@dataclass(frozen=True)
class Cell:
    """What one kind of weekly data looks like in one week."""

    state: CellState
    label: str


@dataclass(frozen=True)
class TimelineWeek:
    week: int
    starts_on: dt.date | None
    current: bool
    checkin: Cell | None
    """None when no check-in is scheduled that week."""
    test: Cell | None
    """None when no test is known for that week (future test days are never shown)."""
    attendance: Cell | None
    """None when the group does not meet that week."""


@dataclass(frozen=True)
class RecordHome:
    participant: Participant
    view: ParticipantView
    status_label: str
    """The current status in words: a withdrawn participant is never just "Randomized"."""
    badges: list[Badge]
    actions: list[Action]
    enrolment_record: bool
    """Screening, consent and baseline details may be shown (not to facilitators)."""
    screening: Screening | None
    screening_note: str
    consent: Consent | None
    consent_note: str
    baseline: list[BaselineLine]
    can_record_baseline: bool
    withdrawal: Withdrawal | None
    current_week: int | None
    last_week: int
    """The protocol's last study week (its programme or latest follow-up visit)."""
    timeline: list[TimelineWeek] = field(default_factory=list)
    shows_timeline: bool = False
    adverse_events: list[AdverseEvent] = field(default_factory=list)
    shows_adverse_events: bool = False

    @property
    def timeline_now(self) -> list[TimelineWeek]:
        """The weeks up to two after the current one (what is done, missing and next)."""
        return [
            w for w in self.timeline if self.current_week is None or w.week <= self.current_week + 2
        ]

    @property
    def timeline_later(self) -> list[TimelineWeek]:
        return [w for w in self.timeline if w not in self.timeline_now]

    @property
    def actions_by_group(self) -> list[tuple[str, list[Action]]]:
        groups: dict[str, list[Action]] = {}
        for action in self.actions:
            groups.setdefault(action.group, []).append(action)
        return list(groups.items())


def _may(user: User, roles: frozenset[str]) -> bool:
    return user.is_superuser or user.role in roles


def _imported(participant: Participant) -> bool:
    return hasattr(participant, "imported")


# --------------------------------------------------------------------------- actions


def record_actions(participant: Participant, user: User) -> list[Action]:
    """Every action ``user`` may take for ``participant`` now, each a link to its page.

    Each entry is shown only to the roles the target page and its service allow (the same
    role sets: ``ENROLMENT_WRITERS``, ``STAFF_WRITERS``, facilitators of the participant's
    own group, every staff role for the AE report) and only in a state where the service
    would accept it. Nothing here names an arm, and blinded roles get no action whose
    presence depends on one (the continuation choice exists in one arm only).
    """
    pk = participant.pk
    status = participant.status
    withdrawn = Withdrawal.objects.filter(participant=participant).exists()
    randomized = status == Status.RANDOMIZED
    enrolment_writer = _may(user, ENROLMENT_WRITERS)
    staff_writer = _may(user, STAFF_WRITERS)
    own_facilitator = user.role == Role.FACILITATOR and facilitates(user, participant.group)
    actions: list[Action] = []

    def add(key: str, label: str, name: str, kind: ActionKind = "secondary", **more: str) -> None:
        group = more.pop("group", "Weekly data")
        url = reverse(name, args=[more.pop("arg", pk)])
        actions.append(Action(key=key, label=label, url=url, kind=kind, group=group))

    if enrolment_writer:
        if status == Status.REFERRED:
            add("screen", "Screen", "participant_screen", "primary", group="Enrolment")
        if status == Status.ELIGIBLE:
            add("consent", "Record consent", "participant_consent", "primary", group="Enrolment")
        if status == Status.BASELINE_COMPLETE:
            add("randomize", "Randomize", "participant_randomize", "primary", group="Enrolment")
        if status in (Status.ELIGIBLE, Status.CONSENTED, Status.BASELINE_COMPLETE):
            add("exit", "Left before randomization", "participant_exit", group="Enrolment")
        if randomized and not withdrawn:
            label = "Change cohort" if participant.cohort_id else "Assign cohort"
            add("cohort", label, "participant_cohort", group="Enrolment")
    # Corrections once something is recorded: staff writers correct every form, a
    # facilitator only their own group's attendance (the page lists what each may correct).
    corrects = status != Status.REFERRED and (staff_writer or (randomized and own_facilitator))
    if not randomized:
        _add_data_actions(actions, participant, user, corrects=corrects)
        return actions

    if staff_writer and not withdrawn and _test_due_today(participant):
        url = reverse("tox_record", args=[pk]) + "?from=record"
        actions.append(Action("record_test", "Record today's test", url, "primary"))
    if staff_writer:
        if not withdrawn:
            add("link", "Check-in link and code", "participant_link")
        add("checkins", "Check-ins", "participant_checkins")
        add("tests", "Toxicology tests", "tox_tests")
    add("programme", "Weekly programme", "participant_programme")
    group_reader = staff_writer or user.role == Role.SAFETY_MONITOR or own_facilitator
    if participant.group is not None and not user.is_blinded and group_reader:
        url = reverse("group_programme", args=[participant.group.public_id])
        actions.append(Action("attendance", "Group attendance", url))
    if (
        (staff_writer or own_facilitator)
        and not user.is_blinded
        and not withdrawn
        and _continuation_open(participant)
    ):
        add("continuation", "Continuation choice", "participant_continuation")
    if not withdrawn:
        add("ae_report", "Report an adverse event", "ae_report", group="Safety")
        if staff_writer:
            add(
                "withdraw",
                "Withdrawal or loss to follow-up",
                "participant_withdraw",
                "danger",
                group="Safety",
            )
    _add_data_actions(actions, participant, user, corrects=corrects)
    return actions


def _add_data_actions(
    actions: list[Action], participant: Participant, user: User, *, corrects: bool
) -> None:
    """ "Correct a record" and the participant's data queries (with the open count)."""
    if corrects:
        url = reverse("participant_corrections", args=[participant.pk])
        actions.append(Action("corrections", "Correct a record", url, group="Data"))
    if can_read_queries(user) and participant.status != Status.REFERRED:
        open_count = (
            queries_of_participant(user, participant).exclude(status=QueryStatus.CLOSED).count()
        )
        label = f"Data queries ({open_count} open)" if open_count else "Data queries"
        url = reverse("participant_queries", args=[participant.pk])
        actions.append(Action("queries", label, url, group="Data"))


def _test_due_today(participant: Participant) -> bool:
    today = participant_today(participant)
    return today in past_test_days(participant, today=today) and not (
        ToxTest.objects.filter(participant=participant, test_date=today).exists()
    )


def _continuation_open(participant: Participant) -> bool:
    """The participant's arm has a continuation choice not yet recorded (unblinded only)."""
    if ContinuationDecision.objects.filter(participant=participant).exists():
        return False
    randomization = Randomization.objects.select_related("entry").filter(participant=participant)
    found = randomization.first()
    if found is None:
        return False
    protocol = study_protocol(participant.study)
    arm = next((a for a in protocol.arms if a.id == found.entry.arm_id), None)
    return arm is not None and arm.continuation_choice is not None


# --------------------------------------------------------------------------- timeline


def _checkin_cell(
    protocol: Protocol,
    week: int,
    current: int,
    checkin: CheckIn | None,
    gone_from: int | None,
) -> Cell | None:
    due = due_instruments(protocol, week)
    if not due:
        return None
    if checkin is not None:
        declined = skipped_items(protocol, week, checkin.answers)
        if declined:
            n = sum(len(v) for v in declined.values())
            return Cell("partial", f"sent, {n} question(s) not answered")
        return Cell("done", "sent")
    if gone_from is not None and week >= gone_from:
        return Cell("not_collected", "not collected (left the study)")
    if week < current:
        return Cell("missing", "missing")
    if week == current:
        return Cell("due", "due this week")
    return Cell("upcoming", "")


def _attendance_cell(
    week: int, mark: Attendance | None, started: bool, gone_from: int | None
) -> Cell:
    if mark is not None:
        state: CellState = "done" if mark.status == "present" else "excused"
        if mark.status == "absent":
            state = "missing"
        return Cell(state, mark.get_status_display().lower())
    if gone_from is not None and week >= gone_from:
        return Cell("not_collected", "not expected (left the study)")
    if started:
        return Cell("missing", "not marked")
    return Cell("upcoming", "")


def _timeline(participant: Participant, protocol: Protocol, *, tests: bool) -> list[TimelineWeek]:
    start = participant_start(participant)
    if start is None:
        return []
    today = participant_today(participant)
    current = week_of(participant, today) or 0
    now = timezone.now()
    withdrawal = Withdrawal.objects.filter(participant=participant).first()
    gone_from = withdrawal.week if withdrawal is not None else None
    sessions = (
        {s.week: s for s in cohort_sessions(participant.cohort)} if participant.cohort else {}
    )
    checkins = {c.week: c for c in CheckIn.objects.filter(participant=participant)}
    marks = {a.week: a for a in Attendance.objects.filter(participant=participant)}
    recorded_tests = {t.week: t for t in ToxTest.objects.filter(participant=participant)}
    test_weeks: dict[int, dt.date] = {}
    if tests:
        for day in past_test_days(participant, today=today):
            test_weeks[week_of(participant, day) or 0] = day
    last = max(last_study_week(participant), *checkins, *marks, *recorded_tests, 1)
    weeks: list[TimelineWeek] = []
    for week in range(1, last + 1):
        session = sessions.get(week)
        checkin = _checkin_cell(protocol, week, current, checkins.get(week), gone_from)
        attendance = (
            _attendance_cell(week, marks.get(week), session.starts_at <= now, gone_from)
            if session is not None
            else None
        )
        test: Cell | None = None
        if tests:
            found = recorded_tests.get(week)
            if found is not None:
                state: CellState = "done" if found.status == "completed" else "excused"
                test = Cell(state, found.get_status_display().split(" (")[0].lower())
            elif week in test_weeks:
                day = test_weeks[week]
                test = (
                    Cell("due", "due today")
                    if day == today
                    else Cell("missing", f"not recorded ({day:%d %b})")
                )
        if checkin is None and attendance is None and test is None:
            continue
        weeks.append(
            TimelineWeek(
                week=week,
                starts_on=session.starts_at.date()
                if session
                else start + dt.timedelta(weeks=week - 1),
                current=week == current,
                checkin=checkin,
                test=test,
                attendance=attendance,
            )
        )
    return weeks


# --------------------------------------------------------------------------- badges


def _badges(
    participant: Participant,
    user: User,
    *,
    screening: Screening | None,
    consent: Consent | None,
    withdrawal: Withdrawal | None,
    timeline: list[TimelineWeek],
) -> list[Badge]:
    from mindtrial.web.enrolment.selectors import sees_enrolment_record

    badges: list[Badge] = []
    status = participant.status
    imported = _imported(participant)
    if not sees_enrolment_record(user):
        pass  # facilitators: no screening or consent details
    elif screening is not None:
        badges.append(
            Badge(
                "screened",
                "Screened: eligible" if screening.eligible else "Not eligible",
                "ok" if screening.eligible else "muted",
            )
        )
    elif status == Status.REFERRED:
        badges.append(Badge("not_screened", "Not screened yet", "info"))
    elif imported or status != Status.REFERRED:
        badges.append(Badge("screened", "Screened (loaded from a study dataset)", "ok"))
    if sees_enrolment_record(user) and (
        consent is not None or (imported and status == Status.RANDOMIZED)
    ):
        badges.append(Badge("consented", "Consented", "ok"))
    if Randomization.objects.filter(participant=participant).exists():
        badges.append(Badge("randomized", "Randomized", "ok"))
    if withdrawal is not None:
        badges.append(
            Badge(
                "withdrawn", f"{withdrawal.get_kind_display()} from week {withdrawal.week}", "alert"
            )
        )
    if status == Status.NOT_RANDOMIZED:
        badges.append(Badge("left", "Left before randomization", "muted"))
    missing = [w.week for w in timeline if w.checkin is not None and w.checkin.state == "missing"]
    if missing:
        badges.append(Badge("checkin_overdue", _overdue_label(missing), "warn"))
    if any(w.checkin is not None and w.checkin.state == "due" for w in timeline):
        badges.append(Badge("checkin_due", "Check-in due this week", "info"))
    if any(w.test is not None and w.test.state == "due" for w in timeline):
        badges.append(Badge("test_due", "Test due today", "alert"))
    return badges


def _overdue_label(weeks: list[int]) -> str:
    """ "Check-in overdue: week 2", "Check-ins overdue: weeks 2, 3, 4" (the latest four)."""
    if len(weeks) == 1:
        return f"Check-in overdue: week {weeks[0]}"
    shown = ", ".join(str(w) for w in weeks[-4:])
    earlier = f" and {len(weeks) - 4} earlier" if len(weeks) > 4 else ""
    return f"Check-ins overdue: weeks {shown}{earlier}"


# --------------------------------------------------------------------------- the page


def record_home(participant: Participant, user: User) -> RecordHome:
    """Everything the record home shows ``user`` about ``participant`` (already accessed)."""
    from mindtrial.web.enrolment.selectors import sees_enrolment_record

    protocol = study_protocol(participant.study)
    screening = Screening.objects.filter(participant=participant).first()
    consent = Consent.objects.select_related("obtained_by").filter(participant=participant).first()
    # The reverse accessor (not a query of its own): status_label reads the same cached row.
    withdrawal: Withdrawal | None = getattr(participant, "withdrawal", None)
    randomized = participant.status == Status.RANDOMIZED
    staff_writer = _may(user, STAFF_WRITERS)
    shows_timeline = randomized and not user.is_blinded and staff_writer
    timeline = _timeline(participant, protocol, tests=True) if shows_timeline else []
    if randomized and not user.is_blinded and not staff_writer:
        own = user.role == Role.FACILITATOR and facilitates(user, participant.group)
        if own or user.role == Role.SAFETY_MONITOR:
            timeline = _attendance_only(_timeline(participant, protocol, tests=False))
            shows_timeline = bool(timeline)
    imported = _imported(participant)
    screening_note = ""
    if screening is None:
        screening_note = (
            "Not screened yet."
            if participant.status == Status.REFERRED
            else "Screened before this record was loaded from a study dataset; the screening "
            "answers are not held here."
            if imported
            else "No screening record."
        )
    consent_note = ""
    if consent is None:
        consent_note = (
            "Consented before this record was loaded from a study dataset."
            if imported and randomized
            else "—"
        )
    recorded = {b.instrument: b for b in BaselineAssessment.objects.filter(participant=participant)}
    baseline = [
        BaselineLine(
            step, baseline_step_title(step), record, scores_in_words(record) if record else ""
        )
        for step in baseline_steps(participant)
        for record in [recorded.get(step)]
    ]
    current = week_of(participant, participant_today(participant)) if randomized else None
    ae_reader = can_read_adverse_events(user)
    return RecordHome(
        participant=participant,
        view=participant_view(user, participant),
        status_label=status_label(participant),
        badges=_badges(
            participant,
            user,
            screening=screening,
            consent=consent,
            withdrawal=withdrawal,
            timeline=timeline,
        ),
        actions=record_actions(participant, user),
        enrolment_record=sees_enrolment_record(user),
        screening=screening,
        screening_note=screening_note,
        consent=consent,
        consent_note=consent_note,
        baseline=baseline,
        can_record_baseline=_may(user, ENROLMENT_WRITERS)
        and participant.status in (Status.CONSENTED, Status.BASELINE_COMPLETE),
        withdrawal=withdrawal,
        current_week=current,
        last_week=last_study_week(participant),
        timeline=timeline,
        shows_timeline=shows_timeline,
        adverse_events=list(AdverseEvent.objects.filter(participant=participant))
        if ae_reader
        else [],
        shows_adverse_events=ae_reader and randomized,
    )


def _attendance_only(weeks: list[TimelineWeek]) -> list[TimelineWeek]:
    return [
        TimelineWeek(
            week=w.week,
            starts_on=w.starts_on,
            current=w.current,
            checkin=None,
            test=None,
            attendance=w.attendance,
        )
        for w in weeks
        if w.attendance is not None
    ]
