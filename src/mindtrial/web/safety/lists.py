"""The adverse-event list's columns, filters and search (see :mod:`mindtrial.web.listing`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet
from django.urls import reverse

from mindtrial.web.listing import Cell, Column, Filter, ListSpec
from mindtrial.web.safety.models import AdverseEvent
from mindtrial.web.studies.selectors import sites_for

if TYPE_CHECKING:
    from mindtrial.web.accounts.models import User
    from mindtrial.web.studies.models import Study

YES_NO = [("yes", "Yes"), ("no", "No")]


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _search(found: QuerySet[AdverseEvent], text: str) -> QuerySet[AdverseEvent]:
    return found.filter(Q(participant__code__icontains=text) | Q(code__icontains=text))


def adverse_event_list_spec(user: User, study: Study) -> ListSpec[AdverseEvent]:
    sites = [(s.code, f"{s.code} · {s.name}") for s in sites_for(user, study)]
    severities = sorted(
        set(
            AdverseEvent.objects.filter(participant__study=study).values_list("severity", flat=True)
        )
    )

    def detail(e: AdverseEvent) -> str:
        return f"{reverse('ae_detail', args=[study.pk])}?ae={e.pk}"

    return ListSpec(
        name="adverse-events",
        columns=[
            Column("code", "Code", lambda e: Cell(e.code, detail(e)), ("code",)),
            Column(
                "participant",
                "Participant",
                lambda e: Cell(e.participant.code),
                ("participant__code",),
            ),
            Column(
                "site",
                "Site",
                lambda e: Cell(e.participant.site.code),
                ("participant__site__code",),
            ),
            Column("week", "Onset week", lambda e: Cell(str(e.onset_week)), ("onset_week",)),
            Column(
                "onset",
                "Onset date",
                lambda e: Cell(e.onset_date.isoformat() if e.onset_date else ""),
                ("onset_date",),
            ),
            Column("severity", "Severity", lambda e: Cell(e.severity), ("severity",)),
            Column("serious", "Serious", lambda e: Cell(_yes(e.serious)), ("serious",)),
            Column(
                "reported",
                "Reported",
                lambda e: Cell(e.reported_at.date().isoformat()),
                ("reported_at",),
            ),
            Column(
                "reviewed",
                "Reviewed",
                lambda e: Cell(e.reviewed_at.date().isoformat() if e.reviewed_at else "—"),
                ("reviewed_at",),
            ),
        ],
        default_sort="-reported",
        filters=[
            Filter(
                "serious", "Serious", lambda qs, v: qs.filter(serious=v == "yes"), choices=YES_NO
            ),
            Filter(
                "reviewed",
                "Reviewed",
                lambda qs, v: qs.filter(reviewed_at__isnull=v == "no"),
                choices=YES_NO,
            ),
            Filter(
                "severity",
                "Severity",
                lambda qs, v: qs.filter(severity=v),
                choices=[(s, s) for s in severities],
            ),
            Filter(
                "site", "Site", lambda qs, v: qs.filter(participant__site__code=v), choices=sites
            ),
        ],
        search=_search,
        search_label="Participant or AE code",
    )


def adverse_event_list_rows(found: QuerySet[AdverseEvent]) -> QuerySet[AdverseEvent]:
    return found.select_related("participant__site")
