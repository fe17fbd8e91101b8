"""The operator commands, run in-process: study create, user add, user token, manage."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mindtrial.cli.main import app
from mindtrial.web.accounts.models import Role, User
from mindtrial.web.accounts.services import api_token_user
from mindtrial.web.audit.models import AuditAction, AuditEvent
from mindtrial.web.studies.models import AllocationEntry, Study, StudyAccess

from .factories import PASSWORD, make_site

pytestmark = pytest.mark.django_db
runner = CliRunner()


def test_study_create_prints_the_new_id_and_is_audited() -> None:
    result = runner.invoke(
        app,
        [
            "study",
            "create",
            "--protocol",
            "more-ltot-2022",
            "--name",
            "Utah",
            "--allocation-size",
            "12",
        ],
    )
    assert result.exit_code == 0, result.output
    study = Study.objects.get(pk=int(result.stdout.strip()))
    assert study.name == "Utah" and study.arm_ids == ["more", "supportive"]
    assert AllocationEntry.objects.filter(study=study).count() == 12
    event = AuditEvent.objects.get(study=study, action=AuditAction.CREATE)
    assert event.acting_user is None  # the operator at the command line, named:
    assert event.acting_as == "system: cli: mindtrial study create"


def test_study_create_unknown_protocol_is_a_clean_error() -> None:
    result = runner.invoke(app, ["study", "create", "--protocol", "nope", "--name", "X"])
    assert result.exit_code == 1
    assert "Unknown protocol 'nope'" in result.output and "Traceback" not in result.output
    assert Study.objects.count() == 0


def test_user_add_with_site_access_and_token() -> None:
    created = runner.invoke(
        app,
        ["study", "create", "--protocol", "mrocc-2025", "--name", "S", "--allocation-size", "4"],
    )
    study = Study.objects.get(pk=int(created.stdout.strip()))
    make_site(study, "north")
    result = runner.invoke(
        app,
        [
            "user",
            "add",
            "alice",
            "--role",
            "coordinator",
            "--study",
            str(study.pk),
            "--site",
            "north",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    alice = User.objects.get(username="alice")
    assert alice.role == Role.COORDINATOR and alice.check_password(PASSWORD)
    access = StudyAccess.objects.get(user=alice)
    assert access.study == study and access.site is not None and access.site.code == "north"
    token = runner.invoke(app, ["user", "token", "alice"])
    assert token.exit_code == 0
    assert api_token_user(token.stdout.strip()) == alice


def test_user_add_is_all_or_nothing() -> None:
    created = runner.invoke(
        app,
        ["study", "create", "--protocol", "mrocc-2025", "--name", "S", "--allocation-size", "4"],
    )
    study_id = created.stdout.strip()
    result = runner.invoke(
        app,
        [
            "user",
            "add",
            "carol",
            "--role",
            "coordinator",
            "--study",
            study_id,
            "--site",
            "nowhere",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 1 and "has no site 'nowhere'" in result.output
    assert not User.objects.filter(username="carol").exists()
    weak = runner.invoke(
        app, ["user", "add", "dave", "--role", "coordinator", "--password-stdin"], input="123\n"
    )
    assert weak.exit_code == 1 and "too short" in weak.output
    bad_role = runner.invoke(
        app, ["user", "add", "erin", "--role", "boss", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert bad_role.exit_code == 1 and "Unknown role 'boss'" in bad_role.output
    assert runner.invoke(app, ["user", "token", "nobody"]).exit_code == 1


def test_manage_passes_through_to_django() -> None:
    result = runner.invoke(app, ["manage", "check"])
    assert result.exit_code == 0
    assert "no issues" in result.output
