"""The participant list of a study with 2,000 participants, against the sign-in page.

Builds (in a fresh database) a study with two sites, four cohorts and ``--participants``
participants in every stage of the funnel (bulk-created rows: the list reads them exactly as
it reads rows the services write; about 40% are randomized into a group, some withdrawn),
then times with Django's test client, in the same run and the same process:

* the list's first page (50 rows, sorted by code),
* a filtered and sorted page (one site, randomized, by cohort descending),
* a search by code, and page 20,
* the CSV of the page shown and the CSV of all matching rows,
* what the list did before, for comparison: every participant projected by
  ``participant_view`` (one query each for the arm), without the template,
* the peer: the sign-in page (a template and a form, no database read), and a bare Django
  view returning a fixed text (the framework's own floor).

Each figure is the median of ``--repeat`` requests after one warm-up; the number of SQL
queries per request is printed beside it (it must not grow with the rows shown). The
figures and the machine go to bench/RESULTS.md under their own heading (other sections are
kept). Usage::

    uv run python bench/participant_list.py [--participants 2000] [--repeat 15] [--no-write]

SQLite in a temporary folder by default; ``DATABASE_URL=postgresql://…`` uses that
database instead (its tables are created by ``migrate``; use an empty database).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
HEADING = "## `bench/participant_list.py` — the participant list of 2,000 participants vs the sign-in page"


def _setup(tmp: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "mindtrial.web.config.settings.test"
    os.environ.setdefault("MINDTRIAL_SQLITE_PATH", str(tmp / "bench.sqlite3"))
    os.environ["MINDTRIAL_VAR_DIR"] = str(tmp)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def _build(n: int) -> tuple[int, Any]:
    """The study and a coordinator with access to it."""
    from mindtrial.web.accounts.models import Role
    from mindtrial.web.accounts.services import user_create
    from mindtrial.web.audit.actors import SystemActor
    from mindtrial.web.enrolment.models import Participant, Status
    from mindtrial.web.safety.models import Withdrawal
    from mindtrial.web.studies import services as studies
    from mindtrial.web.studies.models import Group

    operator = SystemActor("bench: participant_list")

    study = studies.study_create(
        acting_user=operator, protocol_id="mrocc-2025", name="Bench", allocation_size=40, seed=1
    )
    sites = [
        studies.site_create(acting_user=operator, study=study, code=c, name=f"{c.title()} clinic")
        for c in ("north", "south")
    ]
    cohorts = [
        studies.cohort_create(
            acting_user=operator,
            study=study,
            start_date=dt.date(2025, 1, 6) + dt.timedelta(weeks=8 * i),
            weekday=0,
            meeting_time=dt.time(18, 0),
            timezone="America/New_York",
        )
        for i in range(4)
    ]
    groups = {c.pk: list(Group.objects.filter(cohort=c).order_by("code")) for c in cohorts}
    stages = [s for s in Status.values if s != Status.RANDOMIZED]
    rows = []
    for i in range(n):
        randomized = i % 5 < 2
        cohort = cohorts[i % len(cohorts)] if randomized else None
        rows.append(
            Participant(
                study=study,
                site=sites[i % 2],
                code=f"P-{i + 1:04d}",
                referral_source="clinic",
                referral_date=dt.date(2025, 1, 1) + dt.timedelta(days=i % 300),
                status=Status.RANDOMIZED if randomized else stages[i % len(stages)],
                cohort=cohort,
                group=groups[cohort.pk][i % 2] if cohort else None,
            )
        )
    Participant.objects.bulk_create(rows, batch_size=500)
    gone = Participant.objects.filter(study=study, status=Status.RANDOMIZED)[::10]
    Withdrawal.objects.bulk_create(
        [Withdrawal(participant=p, kind="withdrawn", week=4, reason="bench") for p in gone]
    )
    coordinator = user_create(
        acting_user=operator,
        username="bench-coord",
        password="bench password 12345",
        role=Role.COORDINATOR,
    )
    studies.study_access_grant(acting_user=operator, user=coordinator, study=study, site=None)
    return study.pk, coordinator


class _Done:
    status_code = 200


def _old_rows(study_id: int, user: Any) -> _Done:
    """What the list did before (reading only, no template): every participant through
    ``participant_view``, which reads each one's randomization on its own."""
    from mindtrial.web.enrolment.selectors import participant_view, participants_for
    from mindtrial.web.studies.models import Study

    study = Study.objects.get(pk=study_id)
    rows = [participant_view(user, p) for p in participants_for(user, study).order_by("code")]
    assert rows
    return _Done()


def _time(call: Callable[[], Any], repeat: int) -> tuple[float, int, int]:
    """(median ms, SQL queries, status) of ``call``, after one warm-up."""
    from django.db import connection

    queries: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        response = call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), len(queries), int(response.status_code)


def _machine() -> str:
    load = os.getloadavg()
    import django

    from mindtrial.web.config.settings import base

    engine = base.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Django {django.get_version()}, database {engine}; "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument(
        "--append",
        action="store_true",
        help="add this run to the section in RESULTS.md instead of replacing it",
    )
    args = parser.parse_args()
    if not 1 <= args.participants <= 20_000 or not 1 <= args.repeat <= 200:
        parser.error("--participants must be 1..20000 and --repeat 1..200")
    with tempfile.TemporaryDirectory(prefix="mindtrial-bench-") as folder:
        _setup(Path(folder))
        from django.http import HttpResponse
        from django.test import Client
        from django.urls import clear_url_caches, path

        from mindtrial.web.config import urls

        # The floor: a view that renders nothing and reads nothing, under the same middleware.
        urls.urlpatterns.append(path("bench-bare/", lambda request: HttpResponse("ok")))
        clear_url_caches()

        study_id, coordinator = _build(args.participants)
        staff = Client()
        staff.force_login(coordinator)
        anonymous = Client()
        base = f"/studies/{study_id}/participants/"
        cases: list[tuple[str, Callable[[], Any]]] = [
            ("list, first page (50 rows)", lambda: staff.get(base)),
            (
                "list, one site + randomized, by cohort desc.",
                lambda: staff.get(
                    base, {"site": "north", "status": "randomized", "sort": "-cohort"}
                ),
            ),
            ("list, search by code", lambda: staff.get(base, {"q": "P-12"})),
            ("list, page 20", lambda: staff.get(base, {"page": "20"})),
            ("CSV of the page shown", lambda: staff.get(base, {"format": "csv"})),
            (
                f"CSV of all {args.participants} rows",
                lambda: staff.get(base, {"format": "csv", "page": "all"}),
            ),
            (
                "before: every row projected, one query per row",
                lambda: _old_rows(study_id, coordinator),
            ),
            ("peer: sign-in page", lambda: anonymous.get("/accounts/login/")),
            ("peer: bare Django view", lambda: anonymous.get("/bench-bare/")),
        ]
        results = []
        for label, call in cases:
            slow = label.startswith("before")  # seconds per call: three are enough
            ms, queries, status = _time(call, min(args.repeat, 3) if slow else args.repeat)
            results.append((label, ms, queries, status))
        rows_shown = len(
            re.findall(r"<tr><td><a href=\"/participants/", staff.get(base).content.decode())
        )
        machine = _machine()
    peer = next(ms for label, ms, _q, _s in results if label == "peer: sign-in page")
    lines = [
        "| request | median (ms) | SQL queries | × sign-in page | status |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {label} | {ms:.1f} | {queries} | {ms / peer:.2f} | {status} |"
            for label, ms, queries, status in results
        ),
    ]
    print(f"{args.participants} participants, {rows_shown} rows on the first page; {machine}")
    print("\n".join(lines))
    if not args.no_write:
        _write(args, lines, machine)
    return 0


def _write(args: argparse.Namespace, table: list[str], machine: str) -> None:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    run = "\n".join(
        [
            f"**Run of {stamp}**, {args.participants} participants, median of {args.repeat} "
            'requests each (the "before" row: 3) after one warm-up (Django test client, '
            f"in process). {machine}.",
            "The goal: the list renders in under 300 ms; the SQL count stays the same "
            "whatever the number of rows shown (no query per row).",
            "",
            *table,
            "",
        ]
    )
    results = HERE / "RESULTS.md"
    text = results.read_text(encoding="utf-8")
    if HEADING in text:
        before, after = text.split(HEADING, 1)
        rest = after.split("\n## ", 1)
        kept = rest[0].rstrip("\n") + "\n\n" if args.append else "\n\n"
        section = HEADING + kept + run
        text = before + section + ("\n## " + rest[1] if len(rest) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + HEADING + "\n\n" + run
    results.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
