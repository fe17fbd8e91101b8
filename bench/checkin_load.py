"""Many participants checking in at once against `mindtrial serve` on PostgreSQL.

Prints check-in throughput and p50/p95/p99 latency next to the same server's figures for a
trivial page (the sign-in page: a template, no database access) measured in the same run
against the same server, their ratio, the CPU time each costs per request (the server's
gunicorn workers, PostgreSQL backends and, with ``--redis``, the Redis server; and this
client), the load average before and
after, and a table row for bench/RESULTS.md (whose section is kept by hand: earlier runs
stay in it).

    uv run python bench/checkin_load.py [--participants 150] [--concurrency 16] [--workers N]
        [--redis redis://127.0.0.1:6379/0]

What is timed for a check-in: one participant opening their personal link (``/c/?t=…``,
exchanged for a session and redirected), the GET of the form and the POST of the answers
(three requests). After the timed phase every POST is sent once more with the same
idempotency key and the same session (a participant's retry after a lost answer), and the
run fails unless each answered with the redirect and the table still holds one check-in per
participant: the check runs every time, outside the timed window.

``--workers`` defaults to ``mindtrial serve``'s default (2: gunicorn's suggested 2 × CPUs +
1 did worse here, see bench/RESULTS.md); ``--redis`` runs the server with
``MINDTRIAL_REDIS_URL`` (cache and sessions in Redis), otherwise the default file cache and
database sessions. Both pages always share the server.

Needs PostgreSQL on 127.0.0.1:5432 (trust auth); it creates (and finally drops) the
database ``mindtrial_bench_<pid>``. Everything runs on 127.0.0.1 and every loop is bounded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
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

DB = f"mindtrial_bench_{os.getpid()}"  # one per run: two runs at once do not meet
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
    server_cpu: float
    """CPU seconds of the gunicorn workers, the PostgreSQL backends and (``--redis``) the
    Redis server during the phase."""
    database_cpu: float
    """The PostgreSQL backends' part of ``server_cpu``."""
    client_cpu: float

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q) - 1] * 1000


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children(master: int) -> list[int]:
    """The gunicorn workers: the processes whose parent is the master."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return pids


def _backends() -> list[int]:
    """The PostgreSQL backends of the bench database (this script holds no connection to it
    while the server runs)."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (DB,),
        ).fetchall()
    return [int(r[0]) for r in rows]


_REDIS_PIDS: list[int] = []
"""The Redis server's process when the server uses Redis: its CPU counts as the server's
(an overestimate on a shared machine: other clients of the same Redis count too)."""


def _run(
    name: str, jobs: list[Callable[[httpx.Client], float]], concurrency: int, master: int
) -> Figures:
    local = threading.local()
    clients: list[httpx.Client] = []

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=30)
            clients.append(local.client)
        return local.client  # type: ignore[no-any-return]

    before = {pid: _cpu_of(pid) for pid in [master, *_children(master), *_backends(), *_REDIS_PIDS]}
    client_before = time.process_time()
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(lambda job: job(client()), jobs))
    seconds = time.perf_counter() - start
    client_cpu = time.process_time() - client_before
    # backends opened during the phase count from zero
    gunicorn = sum(
        _cpu_of(p) - before.get(p, 0.0) for p in [master, *_children(master), *_REDIS_PIDS]
    )
    database = sum(_cpu_of(p) - before.get(p, 0.0) for p in _backends())
    for c in clients:
        c.close()
    return Figures(name, len(jobs), seconds, latencies, gunicorn + database, database, client_cpu)


def _loadavg() -> str:
    path = Path("/proc/loadavg")
    return " ".join(path.read_text().split()[:3]) if path.exists() else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=150)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--trivial-requests", type=int, default=1000)
    parser.add_argument(
        "--workers", type=int, default=None, help="gunicorn workers (default: mindtrial serve's)"
    )
    parser.add_argument("--redis", default="", help="MINDTRIAL_REDIS_URL for the server")
    parser.add_argument("--label", default="", help="the code column of the printed table row")
    args = parser.parse_args()

    load_start = _loadavg()
    started = dt.datetime.now(dt.UTC)
    var = Path(tempfile.mkdtemp(prefix="mindtrial-bench-"))
    os.environ.update(
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:5432/{DB}",
        MINDTRIAL_VAR_DIR=str(var),
        DJANGO_SECRET_KEY="bench-" + uuid.uuid4().hex,
        DJANGO_SETTINGS_MODULE="mindtrial.web.config.settings.production",
        MINDTRIAL_INSECURE_HTTP="1",
    )
    os.environ.pop("MINDTRIAL_REDIS_URL", None)
    if args.redis:
        import redis

        os.environ["MINDTRIAL_REDIS_URL"] = args.redis
        if Path(f"/proc/{os.getpid()}").exists():
            _REDIS_PIDS.append(int(redis.Redis.from_url(args.redis).info("server")["process_id"]))
    _recreate_database()
    print(f"load average at start: {load_start}", flush=True)
    print(f"preparing {args.participants} randomized participants …", flush=True)
    urls = _prepare(args.participants)
    from django.db import connections

    connections.close_all()  # reopened for the final count, after the server has stopped
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    workers = ["--workers", str(args.workers)] if args.workers else []
    server = subprocess.Popen(
        [sys.executable, "-m", "mindtrial.cli.main", "serve", "--port", str(port), *workers],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    sent_posts: list[tuple[httpx.Cookies, dict[str, str]]] = []
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/accounts/login/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise SystemExit("the server did not start")
        n_workers = len(_children(server.pid))

        def trivial(c: httpx.Client) -> float:
            t = time.perf_counter()
            r = c.get(f"{base}/accounts/login/")
            assert r.status_code == 200
            return time.perf_counter() - t

        form = f"{base}/c/"

        def checkin(url: str) -> Callable[[httpx.Client], float]:
            def job(c: httpx.Client) -> float:
                c.cookies.clear()  # each participant has a browser of their own
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
                sent_posts.append((httpx.Cookies(c.cookies), data))  # for the re-send, below
                return took

            return job

        def resend(cookies: httpx.Cookies, data: dict[str, str]) -> Callable[[httpx.Client], float]:
            def job(c: httpx.Client) -> float:
                c.cookies.clear()
                c.cookies.update(cookies)
                t = time.perf_counter()
                again = c.post(form, data=data, headers={"Referer": form})
                assert again.status_code == 302, again.status_code  # no error, no second form
                assert again.headers["location"] == "/c/", again.headers["location"]
                return time.perf_counter() - t

            return job

        c = args.concurrency
        _run("warm-up", [trivial] * 50, c, server.pid)
        plain = _run("sign-in page (GET)", [trivial] * args.trivial_requests, c, server.pid)
        checkins = _run("check-in (link, form, POST)", [checkin(u) for u in urls], c, server.pid)
        # Untimed: every POST again with its idempotency key (checked below: no duplicate).
        resent = _run("re-send", [resend(k, d) for k, d in sent_posts], c, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    load_end = _loadavg()

    from mindtrial.web.checkin.models import CheckIn

    saved = CheckIn.objects.count()
    connections.close_all()
    _drop_database()
    shutil.rmtree(var, ignore_errors=True)  # the server's var/ (collected static files, cache)
    assert resent.requests == len(urls), f"{resent.requests} re-sent for {len(urls)} check-ins"
    assert saved == len(urls), f"{saved} check-ins for {len(urls)} participants"

    per_request = {plain.name: 1, checkins.name: 3}
    header = (
        f"{'endpoint':28} {'n':>6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
        f" {'CPU ms/req: server':>18} {'(PostgreSQL)':>12} {'client':>7}"
    )
    lines = [header]
    for f in (plain, checkins):
        k = f.requests * per_request[f.name]
        lines.append(
            f"{f.name:28} {f.requests:>6} {f.throughput:8.1f} {f.pct(50):8.1f} {f.pct(95):8.1f}"
            f" {f.pct(99):8.1f} {f.server_cpu / k * 1000:18.2f}"
            f" {f.database_cpu / k * 1000:12.2f} {f.client_cpu / k * 1000:7.2f}"
        )
    ratio = checkins.throughput / plain.throughput
    lines.append(f"check-in / trivial throughput ratio: {ratio:.3f}")
    lines.append(
        f"re-sent every POST with its idempotency key after the timed phase: {resent.requests}"
        f" answered 302, {saved} check-ins for {len(urls)} participants"
    )
    cache = f"Redis ({args.redis})" if args.redis else "file cache, database sessions"
    lines.append(
        f"server: gunicorn {n_workers} sync workers, {cache}; {args.concurrency} clients; "
        f"load average {load_start} -> {load_end}"
    )
    print("\n".join(lines))
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    ) if Path("/proc/cpuinfo").exists() else platform.processor()  # fmt: skip
    print(
        f"machine: {platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), "
        f"Python {platform.python_version()}, PostgreSQL on 127.0.0.1"
    )
    per_checkin_cpu = (checkins.server_cpu + checkins.client_cpu) / checkins.requests * 1000
    per_signin_cpu = (plain.server_cpu + plain.client_cpu) / plain.requests * 1000
    print(
        "RESULTS.md row:\n"
        f"| {started:%H:%M} | {load_start.split()[0]} → {load_end.split()[0]} | "
        f"{args.label or '?'} | {n_workers} | {'Redis' if args.redis else 'file/db'} | "
        f"{plain.throughput:.1f} | {checkins.throughput:.1f} | {checkins.pct(50):.0f} | "
        f"{checkins.pct(95):.0f} | {checkins.pct(99):.0f} | "
        f"{checkins.pct(99) / checkins.pct(50):.2f} | {per_signin_cpu:.1f} | "
        f"{per_checkin_cpu:.1f} | **{ratio:.3f}** |"
    )


if __name__ == "__main__":
    main()
