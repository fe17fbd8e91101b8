"""The participant list's columns, filters and search (see :mod:`mindtrial.web.listing`).

Blinded roles see each group by its neutral code only: no column, filter or CSV cell names
an arm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Case, IntegerField, QuerySet, Value, When

from mindtrial.web.enrolment.models import FUNNEL_ORDER, Participant, Status
from mindtrial.web.enrolment.selectors import left_study_label
from mindtrial.web.listing import Cell, Column, Filter, ListSpec, url_maker
from mindtrial.web.studies.models import Cohort
from mindtrial.web.studies.selectors import group_label, sites_for

if TYPE_CHECKING:
    from mindtrial.web.accounts.models import User
    from mindtrial.web.studies.models import Study

WITHDRAWN = "withdrawn"
"""The stage filter's extra choice: randomized participants who have left the study."""


def stage_label(p: Participant) -> str:
    """The stage column: the status, or how the participant left (the record home's words;
    no status reason, which the rows do not load)."""
    return left_study_label(p) or p.get_status_display()


def _by_stage(found: QuerySet[Participant], value: str) -> QuerySet[Participant]:
    if value == WITHDRAWN:
        return found.filter(withdrawal__isnull=False)
    return found.filter(status=value)


def participant_list_spec(user: User, study: Study) -> ListSpec[Participant]:
    sites = [(s.code, f"{s.code} · {s.name}") for s in sites_for(user, study)]
    cohorts = [(c.public_id, f"Cohort {c.number}") for c in Cohort.objects.filter(study=study)]
    stages = [*Status.choices, (WITHDRAWN, "Withdrawn or lost to follow-up")]

    detail_url = url_maker("participant_detail")

    def group_cell(p: Participant) -> Cell:
        return Cell(group_label(user, p.group) if p.group else "")

    return ListSpec(
        name="participants",
        columns=[
            Column(
                "code",
                "Code",
                lambda p: Cell(p.code, detail_url(p.pk)),
                ("code",),
            ),
            Column("site", "Site", lambda p: Cell(p.site.code), ("site__code",)),
            Column("stage", "Stage", lambda p: Cell(stage_label(p)), ("stage_order",)),
            Column(
                "referred",
                "Referred",
                lambda p: Cell(p.referral_date.isoformat()),
                ("referral_date",),
            ),
            Column(
                "cohort",
                "Cohort",
                lambda p: Cell(str(p.cohort.number) if p.cohort else ""),
                ("cohort__number",),
            ),
            # Sorted by the neutral code for everyone: the order never follows the arm.
            Column("group", "Group", group_cell, ("group__code",)),
        ],
        default_sort="code",
        filters=[
            Filter("status", "Stage", _by_stage, choices=stages),
            Filter("site", "Site", lambda qs, v: qs.filter(site__code=v), choices=sites),
            Filter(
                "cohort", "Cohort", lambda qs, v: qs.filter(cohort__public_id=v), choices=cohorts
            ),
        ],
        search=lambda qs, text: qs.filter(code__icontains=text),
        search_label="Participant code",
    )


def participant_list_rows(found: QuerySet[Participant]) -> QuerySet[Participant]:
    """Everything a row shows in one query (no query per row)."""
    order = Case(
        *(When(status=s, then=Value(i)) for i, s in enumerate(FUNNEL_ORDER)),
        default=Value(len(FUNNEL_ORDER)),
        output_field=IntegerField(),
    )
    return (
        found.select_related("site", "cohort", "group__cohort__study", "withdrawal")
        .defer("covariates", "status_reason", "withdrawal__reason")
        .annotate(stage_order=order)
    )
