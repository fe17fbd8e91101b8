"""`mindtrial demo` end to end, as `make demo` runs it (without the final `serve`)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mindtrial.protocols import load_protocol


@pytest.mark.slow
def test_demo_simulates_analyses_reports_and_loads_the_web_app(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env["OPENBLAS_NUM_THREADS"] = "1"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mindtrial.cli.main",
            "demo",
            "--no-serve",
            "--imputations",
            "2",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=900,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    protocol = load_protocol("mrocc-2025")
    # The simulated trial has the published number randomized.
    participants = pd.read_csv(out / "dataset" / "participants.csv", dtype={"participant_id": str})
    assert len(participants) == protocol.published.flow.randomized
    # The report: every analysis of the plan is in results.json.
    results = json.loads((out / "report" / "results.json").read_text())
    ids = {a["id"] for a in results["analyses"]}
    assert {spec.id for spec in protocol.analysis.analyses} <= ids
    assert (out / "report" / "report.html").stat().st_size > 10_000
    # One simulated trial is one draw: the report shows the Monte-Carlo spread of each
    # estimate from the shipped simulate-check figures, naming their seed and trials.
    shipped = json.loads(
        (Path(__file__).parents[2] / "src/mindtrial/simulate/spread/mrocc-2025.json").read_text()
    )
    html = (out / "report" / "report.html").read_text()
    assert 'id="variation"' in html
    assert f"Over {shipped['reps']} simulated trials" in html and f"seed {shipped['seed']}" in html
    # The web app's database holds every referral and the randomized participants, loaded through the services,
    # with an audit row for the writes and one login per role.
    with sqlite3.connect(out / "var" / "mindtrial.sqlite3") as db:
        (n_referrals,) = db.execute("select count(*) from enrolment_participant").fetchone()
        (n_randomized,) = db.execute("select count(*) from enrolment_randomization").fetchone()
        (n_audit,) = db.execute("select count(*) from audit_auditevent").fetchone()
        roles = {r for (r,) in db.execute("select role from accounts_user")}
    screening = pd.read_csv(out / "dataset" / "screening.csv")
    assert n_referrals == len(screening) == protocol.published.flow.referred
    assert n_randomized == len(participants)
    assert n_audit >= n_randomized
    assert roles == {
        "administrator",
        "coordinator",
        "facilitator",
        "data_manager",
        "investigator",
        "statistician",
        "safety_monitor",
    }
    assert "demo-investigator" in run.stdout
    assert "report.html" in run.stdout
