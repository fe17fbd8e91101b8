"""Check-in links (signed, expiring, revocable; short code fallback) and weekly check-ins."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from mindtrial.dataset import follow_up_week
from mindtrial.dataset.validate import answer_text, check_answer
from mindtrial.instruments.registry import get_instrument
from mindtrial.instruments.scoring import ScoringError, score, score_available
from mindtrial.protocols import Protocol
from mindtrial.web.accounts.actors import Actor, require_actor, staff_user
from mindtrial.web.audit.actors import PARTICIPANT, ParticipantActor
from mindtrial.web.audit.models import AuditAction
from mindtrial.web.audit.services import (
    audit_correction,
    audit_record,
    require_change,
    require_reason,
)
from mindtrial.web.checkin.models import CheckIn, ParticipantLink, Source
from mindtrial.web.common import NotFound, ServiceError, only_or_none
from mindtrial.web.enrolment.access import STAFF_WRITERS, require_writer
from mindtrial.web.enrolment.calendar import participant_today, study_protocol, week_of
from mindtrial.web.enrolment.models import Participant, Status
from mindtrial.web.safety.selectors import require_collecting

if TYPE_CHECKING:
    pass

LINK_SALT = "mindtrial.checkin.link"
DEFAULT_LINK_DAYS = 200
"""A link lasts the programme (24 weeks) plus a margin unless revoked earlier."""
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: easy to read out
CODE_LENGTH = 8
CHECKIN_MODES = frozenset({"survey", "ema"})
SKIPPED_INSTRUMENTS = frozenset({"adverse_event"})
"""Reported by staff on the AE form, not in the weekly check-in."""
_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


# --------------------------------------------------------------------------- what is due


def due_instruments(protocol: Protocol, week: int) -> list[str]:
    """Instruments a participant answers in the check-in of ``week``, in protocol order."""
    due: dict[str, None] = {}
    for assessment in protocol.assessments:
        if assessment.mode not in CHECKIN_MODES or assessment.instrument in SKIPPED_INSTRUMENTS:
            continue
        weeks = set(assessment.weeks) | {follow_up_week(m) for m in assessment.months}
        if week in weeks:
            due.setdefault(assessment.instrument)
    return list(due)


def current_week(participant: Participant, today: dt.date | None = None) -> int | None:
    """The study week the participant is in today (in their cohort's time zone)."""
    return week_of(participant, today or participant_today(participant))


# --------------------------------------------------------------------------- links


@dataclass(frozen=True)
class IssuedLink:
    link: ParticipantLink
    token: str
    code: str
    """Shown once, when issued; only its SHA-256 is stored."""


def _code_hash(code: str) -> str:
    normalised = code.strip().upper().replace("-", "").replace(" ", "")
    return hashlib.sha256(normalised.encode("ascii", "ignore")).hexdigest()


def link_token(link: ParticipantLink) -> str:
    return signing.dumps({"n": link.nonce}, salt=LINK_SALT)


def participant_link_issue(
    *, acting_user: Actor, participant: Participant, days: int = DEFAULT_LINK_DAYS
) -> IssuedLink:
    """A new personal link (earlier active links are revoked) and its short code."""
    require_writer(acting_user, participant, STAFF_WRITERS, what="check-in links")
    if participant.status != Status.RANDOMIZED:
        raise ServiceError("Check-in links are for randomized participants.")
    if not 1 <= days <= 400:
        raise ServiceError({"days": "A link lasts 1 to 400 days."})
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    now = timezone.now()
    with transaction.atomic():
        ParticipantLink.objects.filter(participant=participant, revoked_at__isnull=True).update(
            revoked_at=now
        )
        link = ParticipantLink.objects.create(
            participant=participant,
            nonce=secrets.token_urlsafe(18),
            code_hash=_code_hash(code),
            expires_at=now + dt.timedelta(days=days),
            created_by=staff_user(acting_user),
        )
        audit_record(
            acting_user=acting_user,
            action=AuditAction.CREATE,
            target=link,
            study=participant.study,
            new={"participant": participant.code, "expires_at": link.expires_at},
        )
    return IssuedLink(link=link, token=link_token(link), code=f"{code[:4]}-{code[4:]}")


def participant_link_revoke(*, acting_user: Actor, link: ParticipantLink) -> ParticipantLink:
    require_writer(acting_user, link.participant, STAFF_WRITERS, what="check-in links")
    if link.revoked_at is not None:
        return link
    with transaction.atomic():
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
        audit_record(
            acting_user=acting_user,
            action=AuditAction.UPDATE,
            target=link,
            study=link.participant.study,
            old={"revoked_at": None},
            new={"revoked_at": link.revoked_at},
        )
    return link


def _usable(link: ParticipantLink | None) -> ParticipantLink:
    if link is None or link.revoked_at is not None or link.expires_at <= timezone.now():
        raise NotFound("link")
    return link


def link_from_token(token: str) -> ParticipantLink:
    """The active link a signed token names; NotFound for bad, expired or revoked tokens."""
    try:
        data = signing.loads(token, salt=LINK_SALT, max_age=dt.timedelta(days=400))
    except signing.BadSignature:
        raise NotFound("link") from None
    nonce = data.get("n") if isinstance(data, dict) else None
    link = only_or_none(
        # The withdrawal (one-to-one, usually none) comes along: every check-in page asks.
        ParticipantLink.objects.select_related(
            "participant__study", "participant__cohort", "participant__withdrawal"
        ).filter(nonce=str(nonce))
    )
    return _usable(link)


def link_from_code(code: str) -> ParticipantLink:
    link = only_or_none(
        ParticipantLink.objects.select_related("participant__study").filter(
            code_hash=_code_hash(code)
        )
    )
    return _usable(link)


# --------------------------------------------------------------------------- check-ins


def _score_all(
    protocol: Protocol,
    week: int,
    answers: Mapping[str, Mapping[str, Any]],
    skipped: Mapping[str, Collection[str]] | None = None,
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, float]]]:
    """Validate and score each instrument due in ``week``.

    ``skipped`` names the items the participant chose not to answer ("prefer not to
    answer"), allowed only where the instrument's definition says so (``missing``); such
    a form is scored by the instrument's own missing-item rule
    (:func:`~mindtrial.instruments.scoring.score_available`): the answers are kept even when
    no score results. Every other required item needs an answer."""
    due = due_instruments(protocol, week)
    declined = {k: set(v) for k, v in (skipped or {}).items() if v}
    errors: dict[str, str] = {}
    for name in sorted((set(answers) | set(declined)) - set(due)):
        errors[name] = f"'{name}' is not asked in week {week}."
    cleaned: dict[str, dict[str, str]] = {}
    scores: dict[str, dict[str, float]] = {}
    for instrument_id in due:
        instrument = get_instrument(instrument_id)
        may_decline = instrument.missing is not None and instrument.missing.prefer_not_to_answer
        given = {
            k: v for k, v in (answers.get(instrument_id) or {}).items() if v is not None and v != ""
        }
        passed = declined.get(instrument_id, set())
        for item_id in sorted(passed):
            key = f"{instrument_id}.{item_id}"
            if item_id not in instrument.item_ids:
                errors[key] = f"'{item_id}' is not a question of {instrument_id}."
            elif not may_decline:
                errors[key] = "Please answer this question."
            elif item_id in given:
                errors[key] = "Either answer this question or choose not to, not both."
        if may_decline:
            for item in instrument.items:
                if item.required and item.id not in given and item.id not in passed:
                    key = f"{instrument_id}.{item.id}"
                    errors[key] = "Please answer this question, or choose “Prefer not to answer”."
        try:
            result = (
                score_available(instrument_id, given)
                if may_decline
                else score(instrument_id, given)
            )
        except ScoringError as exc:
            for problem in exc.problems:
                key = f"{instrument_id}.{problem.item_id}" if problem.item_id else instrument_id
                errors.setdefault(key, _plain(problem))
            continue
        cleaned[instrument_id] = {k: answer_text(v) for k, v in result.answers.items()}
        if result.scores:
            scores[instrument_id] = dict(result.scores)
    if errors:
        raise ServiceError(errors)
    return cleaned, scores


def skipped_items(
    protocol: Protocol, week: int, answers: Mapping[str, Mapping[str, str]]
) -> dict[str, list[str]]:
    """The items of ``week``'s check-in left unanswered, per instrument (for a check-in
    whose required items were each answered or declined, exactly the declined ones)."""
    found: dict[str, list[str]] = {}
    for instrument_id in due_instruments(protocol, week):
        given = answers.get(instrument_id) or {}
        missing = [i for i in get_instrument(instrument_id).item_ids if i not in given]
        if missing:
            found[instrument_id] = missing
    return found


def _plain(problem: ScoringError) -> str:
    if problem.value is None or problem.value == "":
        return "Please answer this question."
    return f"Please choose {problem.expected}." if problem.expected else str(problem)


def checkin_submit(
    *,
    participant: Participant,
    week: int,
    answers: Mapping[str, Mapping[str, Any]],
    idempotency_key: str,
    acting_user: Actor | ParticipantActor = PARTICIPANT,
    source: str = Source.PARTICIPANT,
    today: dt.date | None = None,
    skipped: Mapping[str, Collection[str]] | None = None,
) -> tuple[CheckIn, bool]:
    """Save one week's check-in; returns (check-in, created).

    A repeat with the same ``idempotency_key`` returns the saved check-in unchanged (a retry
    after a dropped connection). A second check-in for the same week is refused: changes go
    through staff (:func:`correct_checkin`). A participant answers only for the current week.
    ``skipped`` names the items the participant preferred not to answer (see
    :func:`_score_all`).

    Who may write is checked first. The saved check-in of a key is looked up only when this
    one cannot be saved (a retry breaks the key's unique constraint, or a check refuses a
    retry sent after its week): a first POST, nearly every one, costs no query for it.
    """
    if not _KEY.match(idempotency_key or ""):
        raise ServiceError({"idempotency_key": "Expected 8-64 letters, digits, '-' or '_'."})
    if source == Source.PARTICIPANT:
        if not isinstance(acting_user, ParticipantActor):
            require_actor(acting_user)
            raise ServiceError("Staff enter check-ins with source 'staff'.")
    else:
        if isinstance(acting_user, ParticipantActor):
            raise ServiceError("Only staff enter check-ins with source 'staff'.")
        require_writer(acting_user, participant, STAFF_WRITERS, what="check-ins")
    try:
        return _checkin_create(
            participant=participant,
            week=week,
            answers=answers,
            idempotency_key=idempotency_key,
            acting_user=acting_user,
            source=source,
            today=today,
            skipped=skipped,
        ), True
    except (ServiceError, IntegrityError) as refused:
        previous = only_or_none(CheckIn.objects.filter(idempotency_key=idempotency_key))
        if previous is not None:
            if previous.participant_id != participant.pk:
                raise ServiceError(
                    {"idempotency_key": "This key was used for another check-in."}
                ) from None
            return previous, False
        if isinstance(refused, IntegrityError):  # the week's check-in, under another key
            raise ServiceError(
                "This week's check-in was already sent. "
                "To change an answer, please ask the study team."
            ) from None
        raise


def _checkin_create(
    *,
    participant: Participant,
    week: int,
    answers: Mapping[str, Mapping[str, Any]],
    idempotency_key: str,
    acting_user: Actor | ParticipantActor,
    source: str,
    today: dt.date | None,
    skipped: Mapping[str, Collection[str]] | None,
) -> CheckIn:
    """The checks of the week and the answers, then the insert and its audit row (an
    ``IntegrityError`` when the key or the week is taken: see :func:`checkin_submit`)."""
    now_week = current_week(participant, today)
    if source == Source.PARTICIPANT:
        if now_week != week:
            raise ServiceError({"week": "This check-in is not open now."})
    elif now_week is None or week > now_week:
        raise ServiceError({"week": "That week has not started yet."})
    if participant.status != Status.RANDOMIZED:
        raise ServiceError("Only randomized participants check in.")
    require_collecting(participant, week)
    protocol = study_protocol(participant.study)
    if not 1 <= week <= protocol.weeks and not due_instruments(protocol, week):
        raise ServiceError({"week": f"Week {week} has no check-in."})
    cleaned, scores = _score_all(protocol, week, answers, skipped)
    declined = skipped_items(protocol, week, cleaned)
    # A second check-in for the week, a retry or a concurrent retry break a unique
    # constraint: the database answers that question instead of a query before the insert.
    with transaction.atomic():
        checkin = CheckIn.objects.create(
            participant=participant,
            week=week,
            answers=cleaned,
            scores=scores,
            idempotency_key=idempotency_key,
            source=source,
        )
        audit_record(
            acting_user=acting_user,
            action=AuditAction.CREATE,
            target=checkin,
            study=participant.study,
            new={
                "participant": participant.code,
                "week": week,
                "source": source,
                "answers": cleaned,
                "not_answered": declined,
                "scores": scores,
            },
        )
    return checkin


def checkin_import(
    *,
    acting_user: Actor,
    participant: Participant,
    week: int,
    answers: Mapping[str, Mapping[str, str]],
) -> CheckIn:
    """Answers from a study dataset: each answer checked, items may be missing."""
    require_writer(acting_user, participant, STAFF_WRITERS, what="check-ins")
    require_collecting(participant, week)
    protocol = study_protocol(participant.study)
    known = {a.instrument for a in protocol.assessments}
    errors: dict[str, str] = {}
    cleaned: dict[str, dict[str, str]] = {}
    for instrument_id, items in answers.items():
        if instrument_id not in known:
            errors[instrument_id] = f"not an instrument of {protocol.id}"
            continue
        for item_id, text in items.items():
            canonical, error = check_answer(instrument_id, item_id, str(text))
            if error is not None:
                errors[f"{instrument_id}.{item_id}"] = error
            cleaned.setdefault(instrument_id, {})[item_id] = canonical
    if errors:
        raise ServiceError(errors)
    with transaction.atomic():
        checkin = CheckIn.objects.create(
            participant=participant,
            week=week,
            answers=cleaned,
            scores={},
            idempotency_key=f"import-{participant.pk}-{week}",
            source=Source.IMPORT,
        )
        audit_record(
            acting_user=acting_user,
            action=AuditAction.CREATE,
            target=checkin,
            study=participant.study,
            new={
                "participant": participant.code,
                "week": week,
                "source": "import",
                "answers": cleaned,
            },
        )
    return checkin


def correct_checkin(
    *,
    acting_user: Actor,
    checkin: CheckIn,
    answers: Mapping[str, Mapping[str, Any]],
    reason: str,
    skipped: Mapping[str, Collection[str]] | None = None,
) -> CheckIn:
    """Staff correct a submitted check-in: scored again, the reason required, and only the
    answers and scores that changed audited old → new."""
    participant = checkin.participant
    require_writer(acting_user, participant, STAFF_WRITERS, what="check-in corrections")
    reason = require_reason(reason)
    if checkin.source == Source.IMPORT:
        raise ServiceError("Loaded answers are corrected in the source dataset.")
    protocol = study_protocol(participant.study)
    cleaned, scores = _score_all(protocol, checkin.week, answers, skipped)
    old = {"answers": checkin.answers, "scores": checkin.scores}
    new = {"answers": cleaned, "scores": scores}
    require_change(old, new)
    with transaction.atomic():
        checkin.answers, checkin.scores = cleaned, scores
        checkin.corrected_at = timezone.now()
        checkin.save(update_fields=["answers", "scores", "corrected_at"])
        audit_correction(
            acting_user=acting_user,
            target=checkin,
            study=participant.study,
            old=old,
            new=new,
            reason=reason,
        )
    return checkin
