"""The enrolment path as services: each checks role and state, writes once, and is audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from django.db import transaction
from django.utils import timezone

from mindtrial.design.eligibility import EligibilityInputError, evaluate_eligibility
from mindtrial.design.randomization import stratum_key
from mindtrial.instruments.registry import get_instrument
from mindtrial.instruments.scoring import ScoringError, score
from mindtrial.web.accounts.actors import Actor, staff_user
from mindtrial.web.accounts.models import Role
from mindtrial.web.audit.models import AuditAction
from mindtrial.web.audit.services import (
    audit_correction,
    audit_record,
    require_change,
    require_reason,
)
from mindtrial.web.common import Forbidden, ServiceError, latest_today
from mindtrial.web.enrolment.models import (
    BaselineAssessment,
    Consent,
    Participant,
    Randomization,
    ReferralSource,
    Screening,
    Status,
)
from mindtrial.web.enrolment.weekly import last_recorded_weeks
from mindtrial.web.studies.models import AllocationEntry, Cohort, Group, Site, Study
from mindtrial.web.studies.protocol_access import (
    Protocol,
    baseline_instrument_ids,
    load_protocol,
    screening_conditions,
)
from mindtrial.web.studies.selectors import site_ids_for
from mindtrial.web.studies.services import allocation_entry_given
from mindtrial.web.studies.sessions import cohort_ended, cohort_started_weeks

if TYPE_CHECKING:
    from mindtrial.web.accounts.models import User

ENROLMENT_WRITERS = frozenset({Role.ADMINISTRATOR, Role.COORDINATOR, Role.DATA_MANAGER})
COVARIATES = "covariates"
"""The pseudo-instrument id under which the baseline covariates are recorded."""


def require_enrolment_writer(
    acting_user: Actor, participant_or_study: Participant | Study, site: Site | None = None
) -> None:
    """Administrators, coordinators and data managers with access to the site (or the
    operator at the command line) write enrolment records."""
    user = staff_user(acting_user)
    if user is None:
        return
    if not (user.is_superuser or user.role in ENROLMENT_WRITERS):
        raise Forbidden("Your role cannot change enrolment records.")
    study = (
        participant_or_study.study
        if isinstance(participant_or_study, Participant)
        else participant_or_study
    )
    if isinstance(participant_or_study, Participant):
        site = participant_or_study.site
    scope = site_ids_for(user, study)
    if scope is not None and (site is None or site.pk not in scope):
        raise Forbidden("You do not have access to this site.")


def _protocol(participant: Participant) -> Protocol:
    return load_protocol(participant.study.protocol_id)


def _set_status(participant: Participant, status: Status, reason: str = "") -> dict[str, str]:
    old = {"status": participant.status, "status_reason": participant.status_reason}
    participant.status = status
    participant.status_reason = reason
    participant.save(update_fields=["status", "status_reason"])
    return old


def participant_refer(
    *,
    acting_user: Actor,
    study: Study,
    site: Site,
    referral_source: str,
    referral_date: dt.date,
) -> Participant:
    """A new participant in the funnel with a study code (``P-0001``); no name is stored."""
    require_enrolment_writer(acting_user, study, site)
    errors = {}
    if site.study_id != study.pk:
        errors["site"] = "That site belongs to another study."
    if referral_source not in ReferralSource.values:
        errors["referral_source"] = f"Choose one of {', '.join(ReferralSource.values)}."
    if referral_date > latest_today():
        errors["referral_date"] = "The referral date is in the future."
    if errors:
        raise ServiceError(errors)
    with transaction.atomic():
        Study.objects.select_for_update().get(pk=study.pk)
        number = Participant.objects.filter(study=study).count() + 1
        participant = Participant.objects.create(
            study=study,
            site=site,
            code=f"P-{number:04d}",
            referral_source=referral_source,
            referral_date=referral_date,
        )
        audit_record(
            acting_user=acting_user,
            action=AuditAction.REFER,
            target=participant,
            study=study,
            new={
                "code": participant.code,
                "site": site.code,
                "referral_source": referral_source,
                "referral_date": referral_date,
            },
        )
    return participant


def participant_import(
    *,
    acting_user: Actor,
    study: Study,
    site: Site,
    code: str,
    referral_date: dt.date,
    status: Status,
    reason: str = "",
    covariates: Mapping[str, Any] | None = None,
) -> Participant:
    """A participant as a loaded study dataset records them: its own code, funnel status
    and baseline covariates (the dataset holds no screening or consent forms); audited as
    created from an import."""
    require_enrolment_writer(acting_user, study, site)
    if status not in Status.values:
        raise ServiceError({"status": f"Unknown status '{status}'."})
    if site.study_id != study.pk:
        raise ServiceError({"site": "That site belongs to another study."})
    values = dict(covariates or {})
    with transaction.atomic():
        participant = Participant.objects.create(
            study=study,
            site=site,
            code=code,
            referral_source=ReferralSource.OTHER,
            referral_date=referral_date,
            status=status,
            status_reason=reason,
            covariates=values,
        )
        audit_record(
            acting_user=acting_user,
            action=AuditAction.CREATE,
            target=participant,
            study=study,
            new={
                "code": code,
                "site": site.code,
                "referral_date": referral_date,
                "status": status,
                "covariates": values,
                "source": "import",
            },
        )
    return participant


def randomization_import(
    *, acting_user: Actor, participant: Participant, arm: str, on: dt.date
) -> Randomization:
    """The arm a loaded study dataset gives ``participant``, randomized on ``on``: an entry
    of the separate import stratum (:func:`~mindtrial.web.studies.services.allocation_entry_given`)
    and its randomization, audited with ``reveals_allocation``."""
    require_enrolment_writer(acting_user, participant)
    with transaction.atomic():
        entry = allocation_entry_given(acting_user=acting_user, study=participant.study, arm=arm)
        randomization = Randomization.objects.create(
            participant=participant, entry=entry, randomized_by=staff_user(acting_user)
        )
        stamp = dt.datetime.combine(on, dt.time(12, 0), tzinfo=dt.UTC)
        Randomization.objects.filter(pk=randomization.pk).update(randomized_at=stamp)
        randomization.randomized_at = stamp
        audit_record(
            acting_user=acting_user,
            action=AuditAction.RANDOMIZE,
            target=participant,
            study=participant.study,
            new={
                "arm": arm,
                "stratum": entry.stratum,
                "sequence": entry.sequence,
                "randomized_on": on,
            },
            reason="loaded from a study dataset",
            reveals_allocation=True,
        )
    return randomization


@dataclass(frozen=True)
class JudgedScreening:
    """A screening record checked against the protocol's criteria (design/eligibility.py)."""

    record: dict[str, Any]
    eligible: bool
    failed: list[dict[str, str]]
    """Every failed criterion: id, kind, description, reason."""


def _judge_screening(protocol: Protocol, record: Mapping[str, Any]) -> JudgedScreening:
    known = {c.field for c in screening_conditions(protocol)}
    unknown = sorted(set(record) - known)
    if unknown:
        raise ServiceError(dict.fromkeys(unknown, "Not a screening field of this protocol."))
    cleaned = {k: v for k, v in record.items() if v is not None and v != ""}
    try:
        result = evaluate_eligibility(protocol.eligibility, cleaned)
    except EligibilityInputError as exc:
        field = next((f for f in known if f"field {f!r}" in str(exc)), "")
        raise ServiceError({field: str(exc)}) from None
    if result.missing:
        raise ServiceError(dict.fromkeys(result.missing, "Needed to judge eligibility."))
    failed = [
        {"id": f.id, "kind": f.kind, "description": f.description, "reason": f.reason}
        for f in result.failed
    ]
    return JudgedScreening(record=cleaned, eligible=result.eligible, failed=failed)


def participant_screen(
    *, acting_user: Actor, participant: Participant, record: Mapping[str, Any]
) -> Screening:
    """Judge the screening record against the protocol; every failed criterion is kept."""
    require_enrolment_writer(acting_user, participant)
    if participant.status != Status.REFERRED:
        raise ServiceError("This participant has already been screened.")
    protocol = _protocol(participant)
    judged = _judge_screening(protocol, record)
    cleaned, failed = judged.record, judged.failed
    with transaction.atomic():
        screening = Screening.objects.create(
            participant=participant,
            record=cleaned,
            eligible=judged.eligible,
            failed=failed,
            missing=[],
            protocol_version=protocol.version,
            screened_by=staff_user(acting_user),
        )
        reason = "; ".join(f["description"] for f in failed)
        old = _set_status(
            participant, Status.ELIGIBLE if judged.eligible else Status.SCREEN_FAILED, reason
        )
        audit_record(
            acting_user=acting_user,
            action=AuditAction.SCREEN,
            target=participant,
            study=participant.study,
            old=old,
            new={
                "status": participant.status,
                "record": cleaned,
                "failed": [f["id"] for f in failed],
            },
        )
    return screening


def participant_consent(
    *,
    acting_user: Actor,
    participant: Participant,
    form_version: str,
    consent_date: dt.date,
    obtained_by: User,
) -> Consent:
    require_enrolment_writer(acting_user, participant)
    if participant.status != Status.ELIGIBLE:
        raise ServiceError(
            "Consent can be recorded only for an eligible participant not yet consented."
        )
    errors = {}
    if not form_version.strip():
        errors["form_version"] = "Give the version of the consent form signed."
    if consent_date > latest_today():
        errors["consent_date"] = "The consent date is in the future."
    elif consent_date < participant.referral_date:
        errors["consent_date"] = "The consent date is before the referral."
    if obtained_by.role == Role.INVESTIGATOR or obtained_by.role == Role.STATISTICIAN:
        errors["obtained_by"] = "Consent must be obtained by unblinded study staff."
    if errors:
        raise ServiceError(errors)
    with transaction.atomic():
        consent = Consent.objects.create(
            participant=participant,
            form_version=form_version.strip(),
            consent_date=consent_date,
            obtained_by=obtained_by,
        )
        old = _set_status(participant, Status.CONSENTED)
        audit_record(
            acting_user=acting_user,
            action=AuditAction.CONSENT,
            target=participant,
            study=participant.study,
            old=old,
            new={
                "status": participant.status,
                "form_version": consent.form_version,
                "consent_date": consent_date,
                "obtained_by": obtained_by.username,
            },
        )
    return consent


def baseline_steps(participant: Participant) -> list[str]:
    """What baseline needs: the protocol's week-0 instruments, then the covariates."""
    return [*baseline_instrument_ids(_protocol(participant)), COVARIATES]


def baseline_step_title(step: str) -> str:
    """A baseline step in words: its instrument's name, or "Baseline characteristics"."""
    return "Baseline characteristics" if step == COVARIATES else get_instrument(step).name


_SCORE_WORDS: Final = {"raw": "raw score", "t_score": "T-score"}


def scores_in_words(record: BaselineAssessment) -> str:
    """A baseline assessment's scores for a page ("raw score 20, T-score 58.4"), "" for
    none (the covariates)."""
    saved = record.scores.get("scores") if isinstance(record.scores, dict) else None
    scores: Mapping[str, object] = saved if isinstance(saved, dict) else {}
    return ", ".join(
        f"{_SCORE_WORDS.get(name, name.replace('_', ' '))} "
        f"{f'{value:g}' if isinstance(value, int | float) else value}"
        for name, value in scores.items()
    )


def _clean_covariates(protocol: Protocol, values: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    covariates = {c.name: c for c in protocol.baseline_covariates}
    for name in sorted(set(values) - set(covariates)):
        errors[name] = "Not a baseline covariate of this protocol."
    for name, covariate in covariates.items():
        value = values.get(name)
        if value is None or value == "":
            errors[name] = "Required."
            continue
        if covariate.type == "boolean":
            text = str(value).strip().lower()
            if text in {"true", "yes", "1"}:
                cleaned[name] = True
            elif text in {"false", "no", "0"}:
                cleaned[name] = False
            else:
                errors[name] = "Answer yes or no."
        elif covariate.type == "category":
            if str(value) not in covariate.levels:
                errors[name] = f"Choose one of {', '.join(covariate.levels)}."
            else:
                cleaned[name] = str(value)
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                errors[name] = "Enter a number."
                continue
            if covariate.type == "integer" and not number.is_integer():
                errors[name] = "Enter a whole number."
            elif covariate.minimum is not None and number < covariate.minimum:
                errors[name] = f"Must be at least {covariate.minimum:g}."
            elif covariate.maximum is not None and number > covariate.maximum:
                errors[name] = f"Must be at most {covariate.maximum:g}."
            else:
                cleaned[name] = int(number) if covariate.type == "integer" else number
    if errors:
        raise ServiceError(errors)
    return cleaned


def _clean_baseline(
    participant: Participant, instrument_id: str, answers: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(answers, scores) of one baseline instrument, scored by the instruments layer; the
    covariates (``"covariates"``) are checked against the protocol and have no scores."""
    if instrument_id == COVARIATES:
        return _clean_covariates(_protocol(participant), answers), {}
    given = {k: v for k, v in answers.items() if v is not None and v != ""}
    try:
        result = score(instrument_id, given)
    except ScoringError as exc:
        raise ServiceError({(p.item_id or ""): str(p) for p in exc.problems}) from None
    scored = result.to_dict()
    return dict(scored["answers"]), dict(scored)  # type: ignore[call-overload]


def participant_record_baseline(
    *,
    acting_user: Actor,
    participant: Participant,
    instrument_id: str,
    answers: Mapping[str, Any],
    reason: str = "",
) -> BaselineAssessment:
    """Record (scored on save) one baseline instrument, or the covariates (``"covariates"``).

    Changing an instrument already recorded is a correction and needs a ``reason``.
    """
    require_enrolment_writer(acting_user, participant)
    if participant.status not in (Status.CONSENTED, Status.BASELINE_COMPLETE):
        raise ServiceError("Baseline is recorded after consent and before randomization.")
    steps = baseline_steps(participant)
    if instrument_id not in steps:
        raise ServiceError(
            {"instrument": f"'{instrument_id}' is not part of this protocol's baseline."}
        )
    existing = BaselineAssessment.objects.filter(
        participant=participant, instrument=instrument_id
    ).first()
    if existing is not None:
        if not reason.strip():
            raise ServiceError(
                {"reason": "This was recorded already: give a reason for the correction."}
            )
        return correct_baseline(
            acting_user=acting_user,
            participant=participant,
            instrument_id=instrument_id,
            answers=answers,
            reason=reason,
        )
    cleaned, scores = _clean_baseline(participant, instrument_id, answers)
    with transaction.atomic():
        assessment = BaselineAssessment.objects.create(
            participant=participant,
            instrument=instrument_id,
            answers=cleaned,
            scores=scores,
            recorded_by=staff_user(acting_user),
        )
        if instrument_id == COVARIATES:
            participant.covariates = cleaned
            participant.save(update_fields=["covariates"])
        done = set(
            BaselineAssessment.objects.filter(participant=participant).values_list(
                "instrument", flat=True
            )
        )
        if set(steps) <= done and participant.status == Status.CONSENTED:
            _set_status(participant, Status.BASELINE_COMPLETE)
        audit_record(
            acting_user=acting_user,
            action=AuditAction.BASELINE,
            target=assessment,
            study=participant.study,
            new={
                "instrument": instrument_id,
                "answers": cleaned,
                "scores": scores.get("scores", {}),
            },
            reason=reason,
        )
    return assessment


def participant_stratum(participant: Participant) -> str:
    levels: dict[str, str] = {}
    for field in participant.study.strata:
        if field == "site":
            levels[field] = participant.site.code
        else:
            value = participant.covariates.get(field)
            levels[field] = str(value).lower() if isinstance(value, bool) else str(value)
    return stratum_key(levels)


def participant_randomize(*, acting_user: Actor, participant: Participant) -> Randomization:
    """Assign the next unused entry of the participant's stratum, at most once.

    The study row is locked first (``SELECT … FOR UPDATE``), so concurrent randomizations in
    one study queue up and each takes the lowest unassigned sequence number; nobody can
    choose or skip an entry. On SQLite the IMMEDIATE transactions serialize writers.
    """
    require_enrolment_writer(acting_user, participant)
    with transaction.atomic():
        Study.objects.select_for_update().get(pk=participant.study_id)
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        if Randomization.objects.filter(participant=locked).exists():
            raise ServiceError("This participant has already been randomized.")
        if locked.status != Status.BASELINE_COMPLETE:
            raise ServiceError("Only a participant with a complete baseline can be randomized.")
        stratum = participant_stratum(locked)
        entry = (
            AllocationEntry.objects.select_for_update()
            .filter(study_id=locked.study_id, stratum=stratum, assigned=False)
            .order_by("sequence")
            .first()
        )
        if entry is None:
            raise ServiceError(
                "The allocation list has no unused entry for this stratum; ask the data manager."
            )
        entry.assigned = True
        entry.save(update_fields=["assigned"])
        randomization = Randomization.objects.create(
            participant=locked, entry=entry, randomized_by=staff_user(acting_user)
        )
        old = _set_status(locked, Status.RANDOMIZED)
        audit_record(
            acting_user=acting_user,
            action=AuditAction.RANDOMIZE,
            target=locked,
            study=locked.study,
            old=old,
            new={
                "status": locked.status,
                "stratum": stratum,
                "sequence": entry.sequence,
                "arm": entry.arm_id,
            },
            reveals_allocation=True,
        )
    participant.refresh_from_db()
    return randomization


def cohort_move_check(participant: Participant, cohort: Cohort, *, reason: str = "") -> None:
    """Refuse a cohort move that would orphan recorded data; ask for a reason for a risky one.

    The participant's weekly data (attendance, tests, check-ins) is counted in study weeks
    from their cohort's first session. A move to a cohort that has held fewer sessions than
    the last week with data would put that data in sessions that have not happened: refused.
    A move with recorded data, or into a cohort whose calendar is over, needs a reason (it
    is audited). A first assignment, or one without data into a running cohort, needs none.
    """
    if participant.cohort_id is None or participant.cohort_id == cohort.pk:
        return
    now = timezone.now()
    recorded = last_recorded_weeks(participant)
    if recorded:
        last = max(recorded.values())
        held = cohort_started_weeks(cohort, now)
        if last > held:
            kinds = ", ".join(f"{k} to week {w}" for k, w in recorded.items())
            raise ServiceError(
                {
                    "cohort": f"{participant.code} has data recorded ({kinds}); cohort "
                    f"{cohort.number} has held {held} session(s), so that data would fall in "
                    "weeks that have not happened. Choose a cohort that has reached week "
                    f"{last}, or correct the data first."
                }
            )
    if reason.strip():
        return
    if recorded:
        raise ServiceError(
            {
                "reason": f"{participant.code} has attendance, tests or check-ins recorded in "
                f"cohort {participant.cohort.number if participant.cohort else ''}: "
                "give the reason for the move (it is audited)."
            }
        )
    if cohort_ended(cohort, now):
        raise ServiceError(
            {
                "reason": f"Cohort {cohort.number} started on {cohort.start_date:%Y-%m-%d} and its "
                "sessions are over: give the reason for moving into it (it is audited)."
            }
        )


def participant_assign_cohort(
    *, acting_user: Actor, participant: Participant, cohort: Cohort, reason: str = ""
) -> Participant:
    """Put a randomized participant into the group of their arm in ``cohort``.

    A move out of a cohort passes :func:`cohort_move_check` (refused when it would orphan
    recorded data; a reason when data exists or the new cohort has ended)."""
    require_enrolment_writer(acting_user, participant)
    if cohort.study_id != participant.study_id:
        raise ServiceError({"cohort": "That cohort belongs to another study."})
    cohort_move_check(participant, cohort, reason=reason)
    with transaction.atomic():
        try:
            randomization = Randomization.objects.select_related("entry").get(
                participant=participant
            )
        except Randomization.DoesNotExist:
            raise ServiceError("Randomize the participant before assigning a cohort.") from None
        group = Group.objects.get(cohort=cohort, arm_id=randomization.entry.arm_id)
        old = {
            "cohort": participant.cohort.number if participant.cohort else None,
            "group": participant.group.code if participant.group else None,
        }
        participant.cohort, participant.group = cohort, group
        participant.save(update_fields=["cohort", "group"])
        given = reason.strip()
        audit_record(
            acting_user=acting_user,
            action=AuditAction.ASSIGN_COHORT,
            target=participant,
            study=participant.study,
            old=old,
            new={"cohort": cohort.number, "group": group.code},
            reason=given or ("" if old["cohort"] is None else "cohort changed"),
        )
    return participant


def participant_exit(*, acting_user: Actor, participant: Participant, reason: str) -> Participant:
    """Record that a consented participant left before randomization, with the reason."""
    require_enrolment_writer(acting_user, participant)
    if participant.status not in (Status.ELIGIBLE, Status.CONSENTED, Status.BASELINE_COMPLETE):
        raise ServiceError("Only an eligible, not yet randomized participant can leave here.")
    if not reason.strip():
        raise ServiceError({"reason": "Give the reason (e.g. did not complete baseline)."})
    with transaction.atomic():
        old = _set_status(participant, Status.NOT_RANDOMIZED, reason.strip())
        audit_record(
            acting_user=acting_user,
            action=AuditAction.EXIT,
            target=participant,
            study=participant.study,
            old=old,
            new={"status": participant.status, "status_reason": participant.status_reason},
            reason=reason.strip(),
        )
    return participant


# --------------------------------------------------------------------------- corrections
# Each correction needs a reason, writes once and audits only what changed (old → new);
# whatever is derived from the corrected values (eligibility, scores, status) follows.


def _status_after_screening(participant: Participant, eligible: bool) -> Status:
    """The funnel status the records now support, before randomization: a correction that
    makes someone eligible again returns them to the step their records reached."""
    if not eligible:
        return Status.SCREEN_FAILED
    if not Consent.objects.filter(participant=participant).exists():
        return Status.ELIGIBLE
    done = set(
        BaselineAssessment.objects.filter(participant=participant).values_list(
            "instrument", flat=True
        )
    )
    return (
        Status.BASELINE_COMPLETE if set(baseline_steps(participant)) <= done else Status.CONSENTED
    )


@dataclass(frozen=True)
class ScreeningCorrection:
    screening: Screening
    was_eligible: bool
    eligible: bool
    status_changed: bool
    randomized_ineligible: bool
    """A randomized participant no longer meets the criteria: recorded, and they stay
    randomized (intention to treat); the data manager and the investigator decide the rest."""


def correct_screening(
    *, acting_user: Actor, participant: Participant, record: Mapping[str, Any], reason: str
) -> ScreeningCorrection:
    """Correct screening answers and judge eligibility again from the protocol's criteria.

    Before randomization the status follows the new decision; a randomized participant stays
    randomized (ITT) and the result says when they no longer meet the criteria."""
    require_enrolment_writer(acting_user, participant)
    reason = require_reason(reason)
    screening = Screening.objects.filter(participant=participant).first()
    if screening is None:
        raise ServiceError("This participant has not been screened yet: screen them instead.")
    protocol = _protocol(participant)
    judged = _judge_screening(protocol, record)
    old = {
        "record": screening.record,
        "eligible": screening.eligible,
        "failed": [f["id"] for f in screening.failed],
    }
    new = {
        "record": judged.record,
        "eligible": judged.eligible,
        "failed": [f["id"] for f in judged.failed],
    }
    require_change(old, new)
    with transaction.atomic():
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        failed_text = "; ".join(f["description"] for f in judged.failed)
        old["status"], new["status"] = locked.status, locked.status
        if locked.status in (Status.RANDOMIZED, Status.NOT_RANDOMIZED):
            status_changed = False
        else:
            status = _status_after_screening(locked, judged.eligible)
            status_changed = status != locked.status
            _set_status(locked, status, failed_text if status == Status.SCREEN_FAILED else "")
            new["status"] = status
        randomized_ineligible = locked.status == Status.RANDOMIZED and not judged.eligible
        if randomized_ineligible:
            new["randomized_ineligible"] = True
        screening.record, screening.eligible = judged.record, judged.eligible
        screening.failed, screening.missing = judged.failed, []
        screening.protocol_version = protocol.version
        screening.save(
            update_fields=["record", "eligible", "failed", "missing", "protocol_version"]
        )
        audit_correction(
            acting_user=acting_user,
            target=screening,
            study=participant.study,
            old=old,
            new=new,
            reason=reason,
        )
    participant.refresh_from_db()
    return ScreeningCorrection(
        screening=screening,
        was_eligible=bool(old["eligible"]),
        eligible=judged.eligible,
        status_changed=status_changed,
        randomized_ineligible=randomized_ineligible,
    )


def correct_consent(
    *,
    acting_user: Actor,
    participant: Participant,
    form_version: str,
    consent_date: dt.date,
    obtained_by: User,
    reason: str,
) -> Consent:
    """Correct the recorded consent (form version, date, who obtained it)."""
    require_enrolment_writer(acting_user, participant)
    reason = require_reason(reason)
    consent = Consent.objects.filter(participant=participant).select_related("obtained_by").first()
    if consent is None:
        raise ServiceError("No consent is recorded for this participant.")
    errors = {}
    if not form_version.strip():
        errors["form_version"] = "Give the version of the consent form signed."
    if consent_date > latest_today():
        errors["consent_date"] = "The consent date is in the future."
    elif consent_date < participant.referral_date:
        errors["consent_date"] = "The consent date is before the referral."
    if obtained_by.is_blinded:
        errors["obtained_by"] = "Consent must be obtained by unblinded study staff."
    if errors:
        raise ServiceError(errors)
    old = {
        "form_version": consent.form_version,
        "consent_date": consent.consent_date,
        "obtained_by": consent.obtained_by.username,
    }
    new = {
        "form_version": form_version.strip(),
        "consent_date": consent_date,
        "obtained_by": obtained_by.username,
    }
    require_change(old, new)
    with transaction.atomic():
        consent.form_version, consent.consent_date = form_version.strip(), consent_date
        consent.obtained_by = obtained_by
        consent.save(update_fields=["form_version", "consent_date", "obtained_by"])
        audit_correction(
            acting_user=acting_user,
            target=consent,
            study=participant.study,
            old=old,
            new=new,
            reason=reason,
        )
    return consent


def correct_baseline(
    *,
    acting_user: Actor,
    participant: Participant,
    instrument_id: str,
    answers: Mapping[str, Any],
    reason: str,
) -> BaselineAssessment:
    """Correct a recorded baseline instrument (scored again) or the covariates, also after
    randomization; the allocation already made is not changed."""
    require_enrolment_writer(acting_user, participant)
    reason = require_reason(reason)
    assessment = BaselineAssessment.objects.filter(
        participant=participant, instrument=instrument_id
    ).first()
    if assessment is None:
        raise ServiceError({"instrument": "This baseline form has not been recorded yet."})
    cleaned, scores = _clean_baseline(participant, instrument_id, answers)
    old = {"answers": assessment.answers, "scores": assessment.scores.get("scores", {})}
    new = {"answers": cleaned, "scores": scores.get("scores", {})}
    require_change(old, new)
    with transaction.atomic():
        assessment.answers, assessment.scores = cleaned, scores
        assessment.recorded_by = staff_user(acting_user)
        assessment.save()
        if instrument_id == COVARIATES:
            participant.covariates = cleaned
            participant.save(update_fields=["covariates"])
        audit_correction(
            acting_user=acting_user,
            target=assessment,
            study=participant.study,
            old=old,
            new=new,
            reason=reason,
        )
    return assessment
