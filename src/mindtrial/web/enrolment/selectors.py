"""Reading participants: site-scoped, and arm-free for blinded roles."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Count, QuerySet

from mindtrial.web.common import NotFound
from mindtrial.web.enrolment.models import FUNNEL_ORDER, Participant, Randomization
from mindtrial.web.studies.selectors import site_ids_for, studies_for_user

if TYPE_CHECKING:
    from mindtrial.web.accounts.models import User
    from mindtrial.web.studies.models import Study


def participants_for(user: User, study: Study) -> QuerySet[Participant]:
    """The study's participants at the sites the user may see."""
    if not studies_for_user(user).filter(pk=study.pk).exists():
        return Participant.objects.none()
    scope = site_ids_for(user, study)
    found = Participant.objects.filter(study=study).select_related("site", "cohort", "group")
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
