"""The staff lists (participants, adverse events, tests, queries, audit trail): search,
filters, sorting, pages, the CSV of exactly the rows shown, and bad parameters answered with
a message (never a 500). Expected rows are counted by hand from what each test creates."""

from __future__ import annotations

import csv
import datetime as dt
import io
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from mindtrial.web.accounts.models import Role
from mindtrial.web.enrolment import services as enrolment
from mindtrial.web.queries.services import query_open
from mindtrial.web.safety.models import AdverseEvent, Withdrawal
from mindtrial.web.studies.models import Study
from mindtrial.web.toxicology import models as tox

from .factories import (
    SETUP,
    grant,
    make_cohort,
    make_participant,
    make_ready_participant,
    make_site,
    make_study,
    make_user,
)

pytestmark = pytest.mark.django_db


class _Table(HTMLParser):
    """The text of each body cell of ``table.list`` (nested change tables flattened)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.headers: list[str] = []
        self._depth = 0
        self._in_list = False
        self._section = ""
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._depth += 1
            if ("class", "list") in attrs:
                self._in_list = True
        if not self._in_list or self._depth != 1:
            return
        if tag in ("thead", "tbody"):
            self._section = tag
        elif tag == "tr" and self._section == "tbody":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._depth -= 1
            if self._depth == 0:
                self._in_list = False
        if not self._in_list or self._depth != 1 or tag not in ("td", "th") or self._cell is None:
            return
        text = "".join(self._cell).strip()
        if self._section == "thead":
            self.headers.append(text.rstrip(" ▲▼"))
        else:
            self.rows[-1].append(text)
        self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None and self._depth == 1:
            self._cell.append(data)


def table(html: str) -> tuple[list[str], list[list[str]]]:
    parser = _Table()
    parser.feed(html)
    return parser.headers, parser.rows


def csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode())))


@pytest.fixture
def world() -> dict[str, Any]:
    study = make_study(allocation_size=80, seed=5)
    north, south = make_site(study, "north"), make_site(study, "south")
    cohort = make_cohort(study)
    randomized = []
    for _ in range(4):
        p = make_ready_participant(study, north)
        enrolment.participant_randomize(acting_user=SETUP, participant=p)
        enrolment.participant_assign_cohort(acting_user=SETUP, participant=p, cohort=cohort)
        randomized.append(p)
    for i in range(56):
        make_participant(study, south if i % 2 else north)
    users = {
        "coord": make_user("coord", Role.COORDINATOR),
        "dm": make_user("dm", Role.DATA_MANAGER),
        "pi": make_user("pi", Role.INVESTIGATOR),
        "sm": make_user("sm", Role.SAFETY_MONITOR),
    }
    for user in users.values():
        grant(user, study)
    return {"study": study, "cohort": cohort, "randomized": randomized, **users}


def _get(user: Any, path: str, **params: Any) -> Any:
    client = Client()
    client.force_login(user)
    return client.get(path, params)


def test_participant_list_pages_of_fifty_search_filter_and_sort(world: dict[str, Any]) -> None:
    path = f"/studies/{world['study'].pk}/participants/"
    first = _get(world["coord"], path)
    headers, rows = table(first.content.decode())
    assert headers == ["Code", "Site", "Stage", "Referred", "Cohort", "Group"]
    assert [r[0] for r in rows] == [f"P-{n:04d}" for n in range(1, 51)]  # 60 people, by code
    assert "Rows 1–50 of 60" in first.content.decode()
    assert '<label for="list-q">Participant code</label>' in first.content.decode()
    second = table(_get(world["coord"], path, page=2).content.decode())[1]
    assert [r[0] for r in second] == [f"P-{n:04d}" for n in range(51, 61)]

    found = table(_get(world["coord"], path, q="p-0003").content.decode())[1]
    assert [r[0] for r in found] == ["P-0003"]
    # Codes 5..60 alternate south (even index i → north); 28 of them are south.
    south = table(_get(world["coord"], path, site="south", per_page=100).content.decode())[1]
    assert len(south) == 28 and {r[1] for r in south} == {"south"}
    cohort = table(_get(world["coord"], path, cohort=world["cohort"].public_id).content.decode())[1]
    assert [r[0] for r in cohort] == ["P-0001", "P-0002", "P-0003", "P-0004"]
    assert {r[2] for r in cohort} == {"Randomized"}
    newest_first = table(_get(world["coord"], path, sort="-code").content.decode())[1]
    assert newest_first[0][0] == "P-0060" and newest_first[-1][0] == "P-0011"
    # By stage in funnel order: 56 referred before the 4 randomized.
    by_stage = table(_get(world["coord"], path, sort="stage", per_page=100).content.decode())[1]
    assert [r[2] for r in by_stage] == ["Referred"] * 56 + ["Randomized"] * 4


def test_withdrawn_participants_show_and_filter_as_withdrawn(world: dict[str, Any]) -> None:
    gone = world["randomized"][0]
    Withdrawal.objects.create(participant=gone, kind="withdrawn", week=3, reason="moved")
    path = f"/studies/{world['study'].pk}/participants/"
    rows = table(_get(world["coord"], path, status="withdrawn").content.decode())[1]
    assert [(r[0], r[2]) for r in rows] == [(gone.code, "Withdrew (from week 3)")]
    # Still counted as randomized (the funnel's count), shown as withdrawn.
    randomized = table(_get(world["coord"], path, status="randomized").content.decode())[1]
    assert [r[2] for r in randomized] == ["Withdrew (from week 3)"] + ["Randomized"] * 3


def test_csv_holds_exactly_the_rows_shown(world: dict[str, Any]) -> None:
    path = f"/studies/{world['study'].pk}/participants/"
    params = {"site": "north", "sort": "-code", "page": "2", "per_page": "25"}
    headers, shown = table(_get(world["coord"], path, **params).content.decode())
    download = _get(world["coord"], path, format="csv", **params)
    assert download["Content-Type"].startswith("text/csv")
    assert csv_rows(download.content) == [headers, *shown]
    # North: P-0001..0004 and the 28 even-indexed referrals = 32; page 2 of 25 holds 7.
    assert len(shown) == 7
    everything = csv_rows(
        _get(world["coord"], path, format="csv", page="all", site="north").content
    )
    assert len(everything) == 1 + 32


def test_bad_parameters_give_a_message_not_an_error(world: dict[str, Any]) -> None:
    path = f"/studies/{world['study'].pk}/participants/"
    bad = {"sort": "arm", "page": "x", "status": "nope", "per_page": "7", "cohort": "1"}
    response = _get(world["coord"], path, **bad)
    assert response.status_code == 400
    html = response.content.decode()
    assert "cannot be sorted by “arm”" in html
    assert "The page must be a whole number" in html
    assert "Stage: “nope” is not one of the choices." in html
    assert "Rows per page must be one of 25, 50, 100, 200." in html
    assert "Cohort: “1” is not one of the choices." in html
    assert len(table(html)[1]) == 50  # the list is still shown, without the bad settings
    beyond = _get(world["coord"], path, page=9)
    assert beyond.status_code == 400
    assert "Page 9 does not exist: this list has 2 page(s)." in beyond.content.decode()
    broken_csv = _get(world["coord"], path, format="csv", sort="nothing")
    assert broken_csv.status_code == 400 and b"cannot be sorted" in broken_csv.content
    assert _get(world["coord"], path, format="xlsx").status_code == 400
    assert _get(world["coord"], path, q="x" * 65).status_code == 400


def test_blinded_roles_see_group_codes_only_in_list_and_csv(world: dict[str, Any]) -> None:
    study: Study = world["study"]
    path = f"/studies/{study.pk}/participants/"
    arm_labels = [str(a["label"]) for a in study.arms]
    blinded = _get(world["pi"], path, cohort=world["cohort"].public_id)
    download = _get(world["pi"], path, cohort=world["cohort"].public_id, format="csv")
    groups = {r[5] for r in table(blinded.content.decode())[1]}
    assert groups and all(g.startswith("G-") and "·" not in g for g in groups)
    for body in (blinded.content.decode(), download.content.decode()):
        assert not any(label in body for label in arm_labels)
    unblinded = table(_get(world["coord"], path, cohort=world["cohort"].public_id).content.decode())
    assert any(label in r[5] for r in unblinded[1] for label in arm_labels)


def test_adverse_event_list_filters_and_csv(world: dict[str, Any]) -> None:
    first, second = world["randomized"][:2]
    for i, (who, serious) in enumerate(((first, True), (second, False), (second, False))):
        AdverseEvent.objects.create(
            participant=who,
            code=f"AE{i + 1:05d}",
            onset_week=2,
            onset_date=dt.date(2026, 1, 12),
            severity="severe" if serious else "mild",
            serious=serious,
            related=False,
            expected=False,
        )
    path = f"/studies/{world['study'].pk}/adverse-events/"
    rows = table(_get(world["coord"], path, serious="no", sort="code").content.decode())[1]
    assert [(r[0], r[1], r[6]) for r in rows] == [
        ("AE00002", second.code, "no"),
        ("AE00003", second.code, "no"),
    ]
    found = table(_get(world["coord"], path, q=first.code).content.decode())[1]
    assert [r[0] for r in found] == ["AE00001"]
    download = csv_rows(_get(world["sm"], path, severity="severe", format="csv").content)
    assert [r[0] for r in download[1:]] == ["AE00001"]
    assert _get(world["pi"], path).status_code == 404


def test_study_tests_list(world: dict[str, Any]) -> None:
    a, b = world["randomized"][:2]
    tox.ToxTest.objects.create(
        participant=a,
        week=2,
        test_date=dt.date(2026, 1, 12),
        status=tox.TestStatus.COMPLETED,
        results={"fentanyl": "positive", "cocaine": "negative", "opiates": "positive"},
    )
    tox.ToxTest.objects.create(
        participant=b, week=2, status=tox.TestStatus.REFUSED, reason="=HYPERLINK()"
    )
    path = f"/studies/{world['study'].pk}/tests/"
    rows = table(_get(world["coord"], path).content.decode())[1]
    assert [(r[0], r[4], r[5]) for r in rows] == [
        (a.code, "Completed", "fentanyl, opiates"),
        (b.code, "Refused", ""),
    ]
    refused = csv_rows(_get(world["dm"], path, status="refused", format="csv").content)
    assert refused[1][0] == b.code and refused[1][6] == "'=HYPERLINK()"  # formula-safe
    assert _get(world["pi"], path).status_code == 403  # as the test-day list


def test_query_list_filters_by_status_and_searches_codes(world: dict[str, Any]) -> None:
    a, b = world["randomized"][:2]
    for who in (a, b):
        query_open(acting_user=world["dm"], participant=who, form="Consent", message="Date?")
    path = f"/studies/{world['study'].pk}/queries/"
    rows = table(_get(world["coord"], path, q=b.code).content.decode())[1]
    assert [(r[1], r[2], r[6]) for r in rows] == [(b.code, "Consent", "Open")]
    assert table(_get(world["coord"], path, status="closed").content.decode())[1] == [
        ["Nothing to show."]
    ]


def test_audit_list_labels_changes_participant_filter_and_pages(world: dict[str, Any]) -> None:
    study = world["study"]
    path = f"/studies/{study.pk}/audit/"
    one = world["randomized"][0]
    response = _get(world["dm"], path, participant=one.code.lower(), sort="when", per_page=100)
    html = response.content.decode()
    headers, rows = table(html)
    assert headers == ["When (UTC)", "Who", "Action", "Object", "Old → new", "Reason"]
    # Referral, screening, consent, three baseline forms, randomization, cohort: 8 events.
    assert [r[2] for r in rows] == [
        "Referred",
        "Screened",
        "Consented",
        "Baseline recorded",
        "Baseline recorded",
        "Baseline recorded",
        "Randomized",
        "Cohort assigned",
    ]
    assert rows[0][3] == f"Participant #{one.pk}"
    assert not any("enrolment." in cell or "safety." in cell for r in rows for cell in r)
    assert '<option value="enrolment.participant">Participant</option>' in html
    assert "<td>referral source</td><td>—</td><td>clinic</td>" in html  # old → new table
    assert "{&#x27;" not in html and "{'" not in html  # no raw Python dicts
    typed = _get(world["dm"], path, object_type="enrolment.participant", per_page=25)
    assert (
        "Rows 1–25 of" in typed.content.decode() and 'aria-label="Pages"' in typed.content.decode()
    )
    unknown = _get(world["dm"], path, participant="P-9999")
    assert unknown.status_code == 400
    assert "no participant with the code “P-9999”" in unknown.content.decode()
    swapped = _get(world["dm"], path, since="2030-01-02", until="2030-01-01")
    assert (
        swapped.status_code == 400 and "From (2030-01-02) is after To" in swapped.content.decode()
    )
    assert _get(world["dm"], path, since="yesterday").status_code == 400
    today = timezone.localdate().isoformat()
    same_day = csv_rows(_get(world["dm"], path, since=today, format="csv", page="all").content)
    assert len(same_day) > 60  # every referral of this test was audited today (UTC)
