"""Many participants checking in at once against `mindtrial serve` on PostgreSQL.

Prints check-in throughput and p50/p95/p99 latency next to the same server's figures for a
trivial page (the sign-in page: a template, no database write) measured in the same run,
and their ratio; writes the figures with the machine's description to bench/RESULTS.md.

    uv run python bench/checkin_load.py [--participants 200] [--concurrency 16]

Needs PostgreSQL on 127.0.0.1:5432 (trust auth); it creates (and finally drops) the
database ``mindtrial_bench``. Everything runs on 127.0.0.1 and every loop is bounded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

DB = "mindtrial_bench"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
HERE = Path(__file__).resolve().parent
HIDDEN = re.compile(r'name="(csrfmiddlewaretoken|idempotency_key)" value="([^"]+)"')
ANSWERS = {
    "substance_use_7d__opioids": "no",
    "substance_use_7d__benzodiazepines": "no",
    "substance_use_7d__cocaine": "no",
    "substance_use_7d__methamphetamine": "no",
    "substance_use_7d__alcohol": "yes",
    "ocs__ocs_1": "3",
    "ocs__ocs_2": "2",
    "ocs__ocs_3": "4",
    "home_practice__formal_minutes": "40",
    "home_practice__informal_minutes": "10",
    "home_practice__days_practised": "3",
}


def _recreate_database() -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")


def _drop_database() -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


def _prepare(n: int) -> list[str]:
    """A study whose cohort starts this week, ``n`` randomized participants, their links."""
    from mindtrial.web.bootstrap import setup

    setup(migrate=True)
    from mindtrial.web.audit.actors import SystemActor
    from mindtrial.web.checkin.services import participant_link_issue
    from mindtrial.web.checkin.views import checkin_url
    from mindtrial.web.enrolment import services as enrolment
    from mindtrial.web.studies import services as studies

    operator = SystemActor("bench: checkin_load")

    today = dt.date.today()
    study = studies.study_create(
        acting_user=operator, protocol_id="mrocc-2025", name="Bench", allocation_size=n + 10, seed=1
    )
    site = studies.site_create(acting_user=operator, study=study, code="bench", name="Bench")
    cohort = studies.cohort_create(
        acting_user=operator,
        study=study,
        start_date=today,
        weekday=today.weekday(),
        meeting_time=dt.time(18, 0),
        timezone="UTC",
    )
    from django.contrib.auth import get_user_model

    consenter = get_user_model().objects.create_user(
        username="bench-coordinator", role="coordinator"
    )
    record = {
        "age": 40, "weeks_on_stable_buprenorphine": 10, "prescriber_confirmed": True,
        "promis_anxiety_t": 60.0, "days_abstinent": 30, "has_camera_device": True,
        "speaks_english": True, "psychosis": False, "mania": False,
        "suicidality_or_self_injury": False, "cognitive_impairment": False,
        "prior_mindfulness_group": False, "expected_inpatient_or_incarceration": False,
        "group_disruptive_behaviour": False,
    }  # fmt: skip
    baseline = {
        "ocs": {"ocs_1": 5, "ocs_2": 4, "ocs_3": 5},
        "promis_anxiety_8a": dict.fromkeys(
            ["EDANX01", "EDANX40", "EDANX41", "EDANX53", "EDANX46", "EDANX07", "EDANX05", "EDANX54"], 3
        ),
        "covariates": {"bup_dose_mg": 16, "cocaine_use_baseline": "no",
                       "income_category": "10k-30k", "sex": "female", "age": 40},
    }  # fmt: skip
    urls = []
    for _ in range(n):
        p = enrolment.participant_refer(
            acting_user=operator,
            study=study,
            site=site,
            referral_source="clinic",
            referral_date=today - dt.timedelta(days=10),
        )
        enrolment.participant_screen(acting_user=operator, participant=p, record=record)
        enrolment.participant_consent(
            acting_user=operator,
            participant=p,
            form_version="v1",
            consent_date=today - dt.timedelta(days=9),
            obtained_by=consenter,
        )
        for step in enrolment.baseline_steps(p):
            enrolment.participant_record_baseline(
                acting_user=operator, participant=p, instrument_id=step, answers=baseline[step]
            )
        enrolment.participant_randomize(acting_user=operator, participant=p)
        enrolment.participant_assign_cohort(acting_user=operator, participant=p, cohort=cohort)
        urls.append(checkin_url(participant_link_issue(acting_user=operator, participant=p).token))
    return urls


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Figures:
    name: str
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q) - 1] * 1000


def _run(name: str, jobs: list[Callable[[httpx.Client], float]], concurrency: int) -> Figures:
    local = threading.local()
    clients: list[httpx.Client] = []

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=30)
            clients.append(local.client)
        return local.client  # type: ignore[no-any-return]

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(lambda job: job(client()), jobs))
    seconds = time.perf_counter() - start
    for c in clients:
        c.close()
    return Figures(name, len(jobs), seconds, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--trivial-requests", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    var = Path(tempfile.mkdtemp(prefix="mindtrial-bench-"))
    os.environ.update(
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:5432/{DB}",
        MINDTRIAL_VAR_DIR=str(var),
        DJANGO_SECRET_KEY="bench-" + uuid.uuid4().hex,
        DJANGO_SETTINGS_MODULE="mindtrial.web.config.settings.production",
        MINDTRIAL_INSECURE_HTTP="1",
    )
    _recreate_database()
    print(f"preparing {args.participants} randomized participants …", flush=True)
    urls = _prepare(args.participants)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "mindtrial.cli.main", "serve", "--port", str(port),
         "--workers", str(args.workers)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/accounts/login/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise SystemExit("the server did not start")

        def trivial(c: httpx.Client) -> float:
            t = time.perf_counter()
            r = c.get(f"{base}/accounts/login/")
            assert r.status_code == 200
            return time.perf_counter() - t

        def checkin(url: str) -> Callable[[httpx.Client], float]:
            def job(c: httpx.Client) -> float:
                c.cookies.clear()  # each participant has a browser of their own
                form = f"{base}/c/"
                t = time.perf_counter()
                opened = c.get(base + url)  # the personal link: exchanged for a session
                assert opened.status_code == 302, opened.status_code
                page = c.get(form)
                assert page.status_code == 200, page.status_code
                hidden = dict(HIDDEN.findall(page.text))
                data = {**ANSWERS, **hidden}
                sent = c.post(form, data=data, headers={"Referer": form})
                assert sent.status_code == 302, sent.status_code
                took = time.perf_counter() - t
                retry = c.post(form, data=data, headers={"Referer": form})
                assert retry.status_code == 302  # the same key again: no second check-in
                return took

            return job

        _run("warm-up", [trivial] * 50, args.concurrency)
        plain = _run("sign-in page (GET)", [trivial] * args.trivial_requests, args.concurrency)
        checkins = _run("check-in (link, form, POST)", [checkin(u) for u in urls], args.concurrency)
    finally:
        server.terminate()
        server.wait(timeout=30)

    from mindtrial.web.checkin.models import CheckIn

    saved = CheckIn.objects.count()
    from django.db import connections

    connections.close_all()
    _drop_database()
    assert saved == len(urls), f"{saved} check-ins for {len(urls)} participants"

    rows = [(f.name, f.requests, f.throughput, f.pct(50), f.pct(95), f.pct(99))
            for f in (plain, checkins)]  # fmt: skip
    ratio = checkins.throughput / plain.throughput
    header = f"{'endpoint':28} {'n':>6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
    lines = [header] + [
        f"{n:28} {k:>6} {tp:8.1f} {p50:8.1f} {p95:8.1f} {p99:8.1f}"
        for n, k, tp, p50, p95, p99 in rows
    ]
    lines.append(
        f"check-in / trivial throughput ratio: {ratio:.3f}  (retries duplicated nothing: {saved} rows)"
    )
    print("\n".join(lines))
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor() or "unknown",
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    machine = (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), "
        f"Python {platform.python_version()}, PostgreSQL on 127.0.0.1, gunicorn "
        f"{args.workers} workers, {args.concurrency} concurrent clients"
    )
    section = (
        "## `bench/checkin_load.py` — participants checking in at once vs a trivial page\n\n"
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on: {machine}; the two\n"
        "cores were shared with other jobs, so absolute figures are noisy.\n"
        "A check-in is one participant opening their personal link (`/c/?t=…`, exchanged for\n"
        "a session and redirected), the GET of the form and the POST of the answers (the timed\n"
        "part); each POST is then re-sent with the same idempotency key (untimed, but it\n"
        "occupies the server, so a check-in costs four requests against the trivial page's\n"
        "one) to check that no duplicate is made. The trivial page is the sign-in form (a\n"
        "template, no database write).\n\n"
        f"Rerun: `uv run python bench/checkin_load.py --participants {len(urls)} "
        f"--concurrency {args.concurrency}`.\n\n```\n" + "\n".join(lines) + "\n```\n"
    )
    _write_section(HERE / "RESULTS.md", section)


def _write_section(path: Path, section: str) -> None:
    """Replace this benchmark's section of RESULTS.md, keeping the other benchmarks'."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    title = section.splitlines()[0]
    if title in text:
        before, _, rest = text.partition(title)
        following = rest.find("\n## ")
        after = rest[following + 1 :] if following >= 0 else ""
        text = before + section + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


if __name__ == "__main__":
    main()
