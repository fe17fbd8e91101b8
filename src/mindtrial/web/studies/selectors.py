"""Reaching studies, sites, cohorts and groups: ``access_*`` functions and blinding-aware labels.

Every ``access_*`` function raises the same :class:`~mindtrial.web.common.NotFound` whether the
object is missing or the user may not see it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet

from mindtrial.web.common import NotFound
from mindtrial.web.studies.models import Cohort, Group, Site, Study, StudyAccess

if TYPE_CHECKING:
    from mindtrial.web.accounts.models import User


def studies_for_user(user: User) -> QuerySet[Study]:
    if not user.is_authenticated or not user.is_active:
        return Study.objects.none()
    if user.is_administrator:
        return Study.objects.all().order_by("id")
    return Study.objects.filter(access__user=user).distinct().order_by("id")


def access_study_by_id(user: User, study_id: int) -> Study:
    try:
        return studies_for_user(user).get(pk=study_id)
    except Study.DoesNotExist:
        raise NotFound("study") from None


def site_ids_for(user: User, study: Study) -> set[int] | None:
    """The sites of ``study`` the user may see; ``None`` means every site."""
    if user.is_administrator:
        return None
    grants = list(
        StudyAccess.objects.filter(user=user, study=study).values_list("site_id", flat=True)
    )
    if not grants:
        return set()
    if any(site_id is None for site_id in grants):
        return None
    return {int(site_id) for site_id in grants if site_id is not None}


def sites_for(user: User, study: Study) -> QuerySet[Site]:
    scope = site_ids_for(user, study)
    sites = Site.objects.filter(study=study)
    return sites if scope is None else sites.filter(pk__in=scope)


def access_site_by_id(user: User, study: Study, site_id: int) -> Site:
    try:
        return sites_for(user, study).get(pk=site_id)
    except Site.DoesNotExist:
        raise NotFound("site") from None


def access_cohort_by_id(user: User, cohort_id: int) -> Cohort:
    try:
        return Cohort.objects.select_related("study").get(
            pk=cohort_id, study__in=studies_for_user(user)
        )
    except Cohort.DoesNotExist:
        raise NotFound("cohort") from None


def access_group_by_id(user: User, group_id: int) -> Group:
    try:
        return Group.objects.select_related("cohort__study").get(
            Q(pk=group_id), Q(cohort__study__in=studies_for_user(user))
        )
    except Group.DoesNotExist:
        raise NotFound("group") from None


def group_label(user: User, group: Group) -> str:
    """The neutral code for blinded roles; code and arm label for everyone else."""
    if user.is_blinded:
        return group.code
    study = group.cohort.study
    return f"{group.code} · {study.arm_label(group.arm_id)}"


def arm_choices_for(user: User, study: Study) -> list[tuple[str, str]]:
    """Arm ids and labels, or nothing at all for blinded roles."""
    if user.is_blinded:
        return []
    return [(str(a["id"]), str(a["label"])) for a in study.arms]
