"""Issue 10, item 3: weeks are checked where they are written, and a bad row already stored
never breaks an export (it is named and left out); ``mindtrial check`` lists such rows."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from typer.testing import CliRunner

from mindtrial.cli.main import app
from mindtrial.web.accounts.models import Role
from mindtrial.web.common import ServiceError
from mindtrial.web.exports.selectors import study_export
from mindtrial.web.programme.services import attendance_record
from mindtrial.web.safety.models import Withdrawal
from mindtrial.web.safety.services import adverse_event_report, participant_withdraw

from ..factories import SETUP, grant, make_user
from .factories import START, World

pytestmark = pytest.mark.django_db
runner = CliRunner()

# The M-ROCC protocol runs 24 study weeks (its programme length; no later follow-up visit).
LAST_WEEK = 24


def test_withdrawal_week_after_the_protocol_is_refused_and_nothing_is_stored() -> None:
    world = World(n=1)
    p = world.participants[0]
    with pytest.raises(ServiceError) as info:
        participant_withdraw(
            acting_user=world.coordinator, participant=p, kind="withdrawn", week=99999, reason="x"
        )
    assert "0..24" in info.value.errors["week"]
    assert not Withdrawal.objects.exists()
    with pytest.raises(ServiceError):
        participant_withdraw(
            acting_user=world.coordinator,
            participant=p,
            kind="withdrawn",
            week=LAST_WEEK + 1,
            reason="x",
        )
    withdrawal = participant_withdraw(
        acting_user=world.coordinator, participant=p, kind="withdrawn", week=LAST_WEEK, reason="x"
    )
    assert withdrawal.week == LAST_WEEK


def test_withdrawal_form_with_week_99999_answers_the_form_again() -> None:
    world = World(n=1)
    p = world.participants[0]
    client = Client()
    client.force_login(world.coordinator)
    url = f"/participants/{p.pk}/withdraw/"
    response = client.post(url, {"kind": "withdrawn", "week": "99999", "reason": "moved"})
    assert response.status_code == 200
    assert b"0..24" in response.content
    assert not Withdrawal.objects.exists()


def test_adverse_event_after_the_last_study_week_is_refused() -> None:
    world = World(n=1)
    p = world.participants[0]
    onset = START + dt.timedelta(weeks=LAST_WEEK + 3)
    answers = {
        "description": "Fall", "onset_date": onset.isoformat(), "severity": "mild",
        "serious": "no", "relatedness": "not_related", "expected": "no",
        "outcome": "recovered", "action_taken": "none",
    }  # fmt: skip
    with pytest.raises(ServiceError) as info:
        adverse_event_report(
            acting_user=world.coordinator,
            participant=p,
            answers=answers,
            today=onset + dt.timedelta(days=1),
        )
    assert "onset_date" in info.value.errors


def test_attendance_beyond_the_sessions_is_refused() -> None:
    world = World(n=1)
    with pytest.raises(ServiceError):
        attendance_record(
            acting_user=world.coordinator,
            participant=world.participants[0],
            week=99999,
            status="present",
        )


def _stored_bad_withdrawal(world: World) -> Any:
    """A withdrawal written before the week was checked (straight into the table)."""
    bad = world.participants[0]
    Withdrawal.objects.create(participant=bad, kind="withdrawn", week=99999, reason="legacy")
    return bad


def _zip_tables(response: Any) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return {n.rsplit("/", 1)[-1]: archive.read(n).decode() for n in archive.namelist()}


@pytest.mark.parametrize(
    ("role", "masked", "fmt"),
    [
        (Role.DATA_MANAGER, "0", "dataset"),
        (Role.SAFETY_MONITOR, "0", "stata"),
        (Role.INVESTIGATOR, "1", "dataset"),
        (Role.STATISTICIAN, "1", "odm"),
    ],
)
def test_export_with_a_bad_stored_row_still_answers_and_names_it(
    role: str, masked: str, fmt: str
) -> None:
    world = World(n=3)
    bad = world.participants[0]
    attendance_record(acting_user=world.coordinator, participant=bad, week=1, status="present")
    clean = study_export(acting_user=SETUP, study=world.study)
    # Expected: the participant's row and every other record that names the participant.
    theirs = sum(
        int((clean.table(f)["participant_id"] == bad.code).sum())
        for f in ("responses.csv", "toxicology.csv", "attendance.csv", "screening.csv")
    )
    assert theirs >= 2  # at least the attendance and the screening record
    _stored_bad_withdrawal(world)
    user = make_user("exporter", role)
    grant(user, world.study)
    client = Client()
    client.force_login(user)
    page = client.get(f"/studies/{world.study.pk}/export/")
    assert page.status_code == 200
    text = page.content.decode()
    assert bad.code in text and "withdrawn_week" in text and "99999" in text
    response = client.post(f"/studies/{world.study.pk}/export/", {"format": fmt, "masked": masked})
    assert response.status_code == 200, response.content[:500]
    assert response["X-MindTrial-Left-Out"] == str(1 + theirs)
    if fmt == "dataset":
        tables = _zip_tables(response)
        kept = {p.code for p in world.participants} - {bad.code}
        assert all(code in tables["participants.csv"] for code in kept)
        assert bad.code not in tables["participants.csv"]
        assert bad.code not in tables["attendance.csv"]


def test_check_command_lists_bad_rows_and_exits_non_zero(tmp_path: Path) -> None:
    world = World(n=2)
    clean = runner.invoke(app, ["check", "--study", str(world.study.pk)])
    assert clean.exit_code == 0, clean.output
    assert "no problems" in clean.output
    bad = _stored_bad_withdrawal(world)
    result = runner.invoke(app, ["check", "--study", str(world.study.pk)])
    assert result.exit_code == 3, result.output
    assert bad.code in result.output and "withdrawn_week" in result.output
    assert "99999" in result.output and "Traceback" not in result.output
    missing = runner.invoke(app, ["check", "--study", "999999"])
    assert missing.exit_code == 1
    out = tmp_path / "export"
    exported = runner.invoke(app, ["export", "--study", str(world.study.pk), "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    assert "left out" in exported.output and bad.code in exported.output
    assert bad.code not in (out / "participants.csv").read_text()
