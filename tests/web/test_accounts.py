"""Issue 10, item 4: a supported way to set a user's e-mail (``user add --email``, the
administrators' Users page) and a page where staff change their own password; audited."""

from __future__ import annotations

import pytest
from django.test import Client
from typer.testing import CliRunner

from mindtrial.cli.main import app
from mindtrial.web.accounts.models import Role, User
from mindtrial.web.accounts.services import api_token_issue, api_token_user
from mindtrial.web.audit.models import AuditAction, AuditEvent

from .factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db
runner = CliRunner()
NEW_PASSWORD = "a different long passphrase 9"


def _audits(user: User) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(object_type="accounts.user", object_id=str(user.pk)).order_by(
            "id"
        )
    )


def test_user_add_sets_the_email_and_refuses_a_bad_one() -> None:
    result = runner.invoke(
        app,
        ["user", "add", "dsmb", "--role", "safety_monitor", "--email", "dsmb@example.org",
         "--password-stdin"],
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    user = User.objects.get(username="dsmb")
    assert user.email == "dsmb@example.org"
    assert _audits(user)[-1].new_values["email"] == "dsmb@example.org"
    bad = runner.invoke(
        app,
        ["user", "add", "x", "--role", "safety_monitor", "--email", "not an address",
         "--password-stdin"],
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert bad.exit_code == 1 and "is not an e-mail address" in bad.output
    assert not User.objects.filter(username="x").exists()


def test_staff_change_their_own_password_and_stay_signed_in() -> None:
    user = make_user("coord", Role.COORDINATOR)
    client = Client()
    client.force_login(user)
    wrong = client.post(
        "/accounts/password/",
        {"current_password": "nope", "new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD},
    )
    assert wrong.status_code == 200 and b"not your current password" in wrong.content
    weak = client.post(
        "/accounts/password/",
        {"current_password": PASSWORD, "new_password": "12345", "repeat_password": "12345"},
    )
    assert weak.status_code == 200 and b"too short" in weak.content
    done = client.post(
        "/accounts/password/",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
         "repeat_password": NEW_PASSWORD},
    )  # fmt: skip
    assert done.status_code == 302 and done["Location"] == "/accounts/password/"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD) and not user.check_password(PASSWORD)
    assert client.get("/accounts/password/").status_code == 200  # still signed in
    row = _audits(user)[-1]
    assert row.acting_user == user and row.new_values == {
        "username": "coord",
        "password": "changed",
    }
    assert PASSWORD not in str(row.old_values) + str(row.new_values)


def test_administrator_manages_users_and_others_cannot() -> None:
    admin = make_user("admin", Role.ADMINISTRATOR)
    monitor = make_user("dsmb", Role.SAFETY_MONITOR)
    token = api_token_issue(acting_user=monitor, user=monitor)
    client = Client()
    client.force_login(admin)
    assert b"dsmb" in client.get("/accounts/users/").content
    response = client.post(
        f"/accounts/users/{monitor.pk}/",
        {"role": "safety_monitor", "email": "dsmb@example.org", "is_active": "on"},
    )
    assert response.status_code == 302
    monitor.refresh_from_db()
    assert monitor.email == "dsmb@example.org"
    row = _audits(monitor)[-1]
    assert (row.action, row.acting_user) == (AuditAction.UPDATE, admin)
    assert (row.old_values["email"], row.new_values["email"]) == ("", "dsmb@example.org")
    assert "role" not in row.new_values  # only what changed
    # Deactivate: no sign-in and no API token any more.
    client.post(f"/accounts/users/{monitor.pk}/", {"role": "investigator", "email": ""})
    monitor.refresh_from_db()
    assert (monitor.is_active, monitor.role, monitor.email) == (False, "investigator", "")
    assert api_token_user(token) is None
    # Create through the page.
    created = client.post(
        "/accounts/users/new/",
        {"username": "stat", "role": "statistician", "email": "s@example.org",
         "password": PASSWORD},
    )  # fmt: skip
    assert created.status_code == 302
    assert User.objects.get(username="stat").role == Role.STATISTICIAN
    # An administrator cannot lock themselves out.
    own = client.post(f"/accounts/users/{admin.pk}/", {"role": "coordinator", "email": ""})
    assert own.status_code == 200
    admin.refresh_from_db()
    assert admin.is_active and admin.role == Role.ADMINISTRATOR
    # Nobody else reaches the pages.
    other = Client()
    other.force_login(make_user("coord", Role.COORDINATOR))
    assert other.get("/accounts/users/").status_code == 404
    assert other.post(f"/accounts/users/{admin.pk}/", {"role": "coordinator"}).status_code == 404
    assert other.get("/accounts/users/new/").status_code == 404
