"""Reaching studies, sites, cohorts and groups: ``access_*`` functions and the one
blinding-aware projection of each (:func:`study_view`, :func:`cohort_views`,
:func:`group_view`) that pages and the API both render.

Every ``access_*`` function raises the same :class:`~mindtrial.web.common.NotFound` whether the
object is missing or the user may not see it. Cohorts and groups are reached by their random
``public_id``; their primary keys never leave the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet

from mindtrial.web.accounts.models import Role
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


def access_cohort_by_public_id(user: User, public_id: str) -> Cohort:
    try:
        return Cohort.objects.select_related("study").get(
            public_id=public_id, study__in=studies_for_user(user)
        )
    except Cohort.DoesNotExist:
        raise NotFound("cohort") from None


def groups_for(user: User) -> QuerySet[Group]:
    """The groups a user may reach: every group of their studies; a facilitator's own only."""
    found = Group.objects.filter(cohort__study__in=studies_for_user(user))
    if user.role == Role.FACILITATOR and not user.is_administrator:
        found = found.filter(facilitators=user)
    return found.select_related("cohort__study")


def access_group_by_public_id(user: User, public_id: str) -> Group:
    try:
        return groups_for(user).get(Q(public_id=public_id))
    except Group.DoesNotExist:
        raise NotFound("group") from None


def group_label(user: User, group: Group) -> str:
    """The neutral code for blinded roles; code and arm label for everyone else."""
    if user.is_blinded:
        return group.code
    study = group.cohort.study
    return f"{group.code} · {study.arm_label(group.arm_id)}"


@dataclass(frozen=True)
class GroupView:
    """A group as one user may see it: blinded roles get no arm, link or facilitators."""

    id: str
    code: str
    label: str
    arm: str | None
    meeting_link: str | None
    facilitators: list[str] | None


@dataclass(frozen=True)
class CohortView:
    id: str
    number: int
    start_date: dt.date
    weekday: int
    weekday_label: str
    meeting_time: dt.time
    timezone: str
    groups: list[GroupView]


@dataclass(frozen=True)
class StudyView:
    id: int
    name: str
    protocol_id: str | None
    protocol_title: str | None
    protocol_version: str | None
    arms: list[dict[str, str]] | None


def group_view(user: User, group: Group) -> GroupView:
    if user.is_blinded:
        return GroupView(
            id=group.public_id,
            code=group.code,
            label=group.code,
            arm=None,
            meeting_link=None,
            facilitators=None,
        )
    return GroupView(
        id=group.public_id,
        code=group.code,
        label=group_label(user, group),
        arm=group.arm_id,
        meeting_link=group.meeting_link,
        facilitators=sorted(u.username for u in group.facilitators.all()),
    )


def cohort_views(user: User, study: Study) -> list[CohortView]:
    """The study's cohorts by number, each with the groups the user may reach, by code
    (a random letter: never the arm's order)."""
    reachable = set(groups_for(user).values_list("pk", flat=True))
    cohorts = (
        Cohort.objects.filter(study=study)
        .select_related("study")  # each group's label reads its cohort's study for the arm
        .order_by("number")
        .prefetch_related("groups__facilitators")
    )
    return [
        CohortView(
            id=c.public_id,
            number=c.number,
            start_date=c.start_date,
            weekday=c.weekday,
            weekday_label=c.get_weekday_display(),
            meeting_time=c.meeting_time,
            timezone=c.timezone,
            groups=[
                group_view(user, g)
                for g in sorted(c.groups.all(), key=lambda g: g.code)
                if g.pk in reachable
            ],
        )
        for c in cohorts
    ]


def study_view(user: User, study: Study) -> StudyView:
    blinded = user.is_blinded
    return StudyView(
        id=study.pk,
        name=study.name,
        protocol_id=None if blinded else study.protocol_id,
        protocol_title=None if blinded else study.protocol_title,
        protocol_version=None if blinded else study.protocol_version,
        arms=None
        if blinded
        else [{"id": str(a["id"]), "label": str(a["label"])} for a in study.arms],
    )


def arm_choices_for(user: User, study: Study) -> list[tuple[str, str]]:
    """Arm ids and labels, or nothing at all for blinded roles."""
    if user.is_blinded:
        return []
    return [(str(a["id"]), str(a["label"])) for a in study.arms]
