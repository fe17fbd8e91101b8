"""The study's tests list: columns, filters and search (see :mod:`mindtrial.web.listing`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet
from django.urls import reverse

from mindtrial.web.listing import Cell, Column, Filter, ListSpec
from mindtrial.web.studies.selectors import sites_for
from mindtrial.web.toxicology.models import TestStatus, ToxTest

if TYPE_CHECKING:
    from mindtrial.web.accounts.models import User
    from mindtrial.web.studies.models import Study


STATUS_LABELS = {str(v): str(label).split(" (")[0] for v, label in TestStatus.choices}
"""Short labels ("Completed", not the form's "Completed (result per analyte)")."""


def positives(t: ToxTest) -> str:
    return ", ".join(sorted(a for a, r in t.results.items() if r == "positive"))


def tox_test_list_spec(user: User, study: Study) -> ListSpec[ToxTest]:
    sites = [(s.code, f"{s.code} · {s.name}") for s in sites_for(user, study)]
    return ListSpec(
        name="tests",
        columns=[
            Column(
                "participant",
                "Participant",
                lambda t: Cell(t.participant.code, reverse("tox_tests", args=[t.participant_id])),
                ("participant__code",),
            ),
            Column(
                "site",
                "Site",
                lambda t: Cell(t.participant.site.code),
                ("participant__site__code",),
            ),
            Column("week", "Week", lambda t: Cell(str(t.week)), ("week",)),
            Column(
                "date",
                "Test date",
                lambda t: Cell(t.test_date.isoformat() if t.test_date else ""),
                ("test_date",),
            ),
            Column(
                "status",
                "Status",
                lambda t: Cell(STATUS_LABELS.get(t.status, t.status)),
                ("status",),
            ),
            Column("positive", "Positive for", lambda t: Cell(positives(t))),
            Column("reason", "Reason", lambda t: Cell(t.reason), wrap=True),
        ],
        default_sort="participant",
        filters=[
            Filter(
                "status",
                "Status",
                lambda qs, v: qs.filter(status=v),
                choices=list(STATUS_LABELS.items()),
            ),
            Filter(
                "site", "Site", lambda qs, v: qs.filter(participant__site__code=v), choices=sites
            ),
        ],
        search=lambda qs, text: qs.filter(participant__code__icontains=text),
        search_label="Participant code",
    )


def tox_test_list_rows(found: QuerySet[ToxTest]) -> QuerySet[ToxTest]:
    return found.select_related("participant__site")
