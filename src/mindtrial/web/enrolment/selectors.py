"""Reading participants: site-scoped, arm-free for blinded roles, and one projection
(:func:`participant_view`) that pages and the API both render."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Count, QuerySet

from mindtrial.web.accounts.models import Role
from mindtrial.web.common import NotFound
from mindtrial.web.enrolment.models import FUNNEL_ORDER, Participant, Randomization, Status
from mindtrial.web.studies.selectors import group_label, site_ids_for, studies_for_user

if TYPE_CHECKING:
    from mindtrial.web.accounts.models import User
    from mindtrial.web.studies.models import Study


def participants_for(user: User, study: Study) -> QuerySet[Participant]:
    """The study's participants at the sites the user may see; for a facilitator, only the
    members of the groups they run (no referrals, no screening, no other group's roster)."""
    if not studies_for_user(user).filter(pk=study.pk).exists():
        return Participant.objects.none()
    scope = site_ids_for(user, study)
    found = Participant.objects.filter(study=study).select_related("site", "cohort", "group")
    if user.role == Role.FACILITATOR and not user.is_administrator:
        found = found.filter(group__facilitators=user, status=Status.RANDOMIZED)
    return found if scope is None else found.filter(site_id__in=scope)


def access_participant_by_id(user: User, participant_id: int) -> Participant:
    try:
        participant = Participant.objects.select_related("study", "site", "cohort", "group").get(
            pk=participant_id
        )
    except Participant.DoesNotExist:
        raise NotFound("participant") from None
    if not participants_for(user, participant.study).filter(pk=participant.pk).exists():
        raise NotFound("participant")
    return participant


def sees_enrolment_record(user: User) -> bool:
    """Screening, consent and baseline details: not for facilitators (running the group
    needs none of them)."""
    return user.is_administrator or user.role != Role.FACILITATOR


def participant_arm(user: User, participant: Participant) -> tuple[str, str] | None:
    """(arm id, arm label) for unblinded roles once randomized; ``None`` otherwise."""
    if user.is_blinded:
        return None
    try:
        randomization = Randomization.objects.select_related("entry").get(participant=participant)
    except Randomization.DoesNotExist:
        return None
    arm_id = randomization.entry.arm_id
    return arm_id, participant.study.arm_label(arm_id)


def study_arms(study: Study) -> dict[int, str]:
    """The arm id of every randomized participant of ``study`` (by participant pk).

    Unmasked: only for a caller that has already decided its user may see arms (the safety
    monitor's counts by arm, an export whose arms are masked afterwards)."""
    return dict(
        Randomization.objects.filter(participant__study=study).values_list(
            "participant_id", "entry__arm_id"
        )
    )


@dataclass(frozen=True)
class ParticipantView:
    """A participant as one user may see them (no arm for blinded roles)."""

    id: int
    code: str
    site: str
    site_name: str
    status: str
    status_label: str
    status_reason: str
    referral_source: str
    referral_source_label: str
    referral_date: dt.date
    cohort: int | None
    """The cohort's number."""
    cohort_id: str | None
    """The cohort's public id."""
    group: str | None
    """The group's label (its neutral code for blinded roles)."""
    group_id: str | None
    """The group's public id."""
    arm: str | None
    arm_label: str | None


def participant_view(user: User, p: Participant) -> ParticipantView:
    arm = participant_arm(user, p)
    return ParticipantView(
        id=p.pk,
        code=p.code,
        site=p.site.code,
        site_name=p.site.name,
        status=p.status,
        status_label=p.get_status_display(),
        status_reason=p.status_reason,
        referral_source=p.referral_source,
        referral_source_label=p.get_referral_source_display(),
        referral_date=p.referral_date,
        cohort=p.cohort.number if p.cohort else None,
        cohort_id=p.cohort.public_id if p.cohort else None,
        group=group_label(user, p.group) if p.group else None,
        group_id=p.group.public_id if p.group else None,
        arm=arm[0] if arm else None,
        arm_label=arm[1] if arm else None,
    )


def funnel_counts(user: User, study: Study) -> list[tuple[str, str, int]]:
    """(status, label, count) in funnel order, pooled over arms, for the user's sites."""
    counts = dict(
        participants_for(user, study)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return [(str(s.value), str(s.label), int(counts.get(s.value, 0))) for s in FUNNEL_ORDER]
