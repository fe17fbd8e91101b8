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
    """(arm id, arm label) for unblinded roles once randomized; ``None`` otherwise.

    Reads ``participant.randomization``: joined in by :func:`participant_views`, queried
    here otherwise."""
    if user.is_blinded:
        return None
    try:
        randomization = participant.randomization
    except Randomization.DoesNotExist:
        return None
    arm_id = randomization.entry.arm_id
    return arm_id, participant.study.arm_label(arm_id)


def left_study_label(participant: Participant) -> str | None:
    """How the participant left the study ("Withdrew (from week 3)"), or ``None`` if they have
    not. The safety app records the withdrawal or loss to follow-up; the participant's
    enrolment status stays "Randomized", so every label of a participant goes through here."""
    withdrawal = getattr(participant, "withdrawal", None)  # the reverse one-to-one, if any
    if withdrawal is None:
        return None
    return f"{withdrawal.get_kind_display()} (from week {withdrawal.week})"


def status_label(participant: Participant) -> str:
    """The participant's current status in words, as the record home and the API show it:
    a withdrawal overrides "Randomized"; otherwise the status, with its reason if any."""
    left = left_study_label(participant)
    if left is not None:
        return left
    label = participant.get_status_display()
    return f"{label} — {participant.status_reason}" if participant.status_reason else label


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
    """The status in words (:func:`status_label`): a withdrawn participant is not "Randomized"."""
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
        status_label=status_label(p),
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


def participant_views(user: User, found: QuerySet[Participant]) -> list[ParticipantView]:
    """:func:`participant_view` of each of ``found`` (in its order), with everything the views
    read joined into one query: a list of any length costs the same number of queries. The
    randomization is joined for unblinded roles only (a blinded role's rows never hold it)."""
    related = ["study", "site", "cohort", "group__cohort__study", "withdrawal"]
    if not user.is_blinded:
        related.append("randomization__entry")
    return [participant_view(user, p) for p in found.select_related(*related)]


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
