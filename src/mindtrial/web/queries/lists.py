"""The query lists (study and participant): columns, filters and search."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet
from django.urls import reverse

from mindtrial.web.listing import Cell, Column, Filter, ListSpec
from mindtrial.web.queries.models import DataQuery, QueryOrigin, QueryStatus
from mindtrial.web.studies.selectors import sites_for

if TYPE_CHECKING:
    from mindtrial.web.accounts.models import User
    from mindtrial.web.studies.models import Study

UNRESOLVED = "unresolved"
ALL = "all"


def _by_status(found: QuerySet[DataQuery], value: str) -> QuerySet[DataQuery]:
    if value == ALL:
        return found
    if value == UNRESOLVED:
        return found.exclude(status=QueryStatus.CLOSED)
    return found.filter(status=value)


def query_list_spec(user: User, study: Study, *, with_site: bool = True) -> ListSpec[DataQuery]:
    statuses = [
        (UNRESOLVED, "Open or answered"),
        *((str(v), str(label)) for v, label in QueryStatus.choices),
        (ALL, "All"),
    ]
    filters = [
        Filter("status", "Status", _by_status, choices=statuses, default=UNRESOLVED),
        Filter(
            "origin",
            "Opened by",
            lambda qs, v: qs.filter(origin=v),
            choices=[(str(v), str(label)) for v, label in QueryOrigin.choices],
        ),
    ]
    if with_site:
        sites = [(s.code, f"{s.code} · {s.name}") for s in sites_for(user, study)]
        filters.append(
            Filter(
                "site", "Site", lambda qs, v: qs.filter(participant__site__code=v), choices=sites
            )
        )
    return ListSpec(
        name="queries",
        columns=[
            Column(
                "id",
                "Query",
                lambda q: Cell(f"Q{q.pk}", reverse("query_detail", args=[q.pk])),
                ("id",),
            ),
            Column(
                "participant",
                "Participant",
                lambda q: Cell(
                    q.participant.code, reverse("participant_queries", args=[q.participant_id])
                ),
                ("participant__code",),
            ),
            Column("form", "Form", lambda q: Cell(q.form), ("form",)),
            Column("field", "Field", lambda q: Cell(q.field), ("field",)),
            Column("value", "Value", lambda q: Cell(q.value)),
            Column("message", "Question", lambda q: Cell(q.message), wrap=True),
            Column("status", "Status", lambda q: Cell(q.get_status_display()), ("status",)),
            Column(
                "opened",
                "Opened",
                lambda q: Cell(q.opened_at.date().isoformat()),
                ("opened_at",),
            ),
            Column(
                "updated",
                "Last step",
                lambda q: Cell(q.updated_at.date().isoformat()),
                ("updated_at",),
            ),
        ],
        default_sort="-opened",
        filters=filters,
        search=lambda qs, text: qs.filter(participant__code__icontains=text),
        search_label="Participant code",
    )


def query_list_rows(found: QuerySet[DataQuery]) -> QuerySet[DataQuery]:
    return found.select_related("participant")
