"""Pages: sign-in and lock-out, forms with field-level errors that change nothing, the audit page."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from mindtrial.web.accounts.models import Role
from mindtrial.web.audit.models import AuditAction, AuditEvent
from mindtrial.web.enrolment.models import Participant, Screening, Status

from .factories import (
    ELIGIBLE_RECORD,
    PASSWORD,
    grant,
    make_participant,
    make_site,
    make_study,
    make_user,
)

pytestmark = pytest.mark.django_db


def test_login_page_and_lockout_after_repeated_failures() -> None:
    make_user("coord")
    client = Client()
    assert client.get("/accounts/login/").status_code == 200
    assert client.get("/").status_code == 302  # sign-in required
    for _ in range(3):  # AXES_FAILURE_LIMIT is 3 in the test settings
        response = client.post("/accounts/login/", {"username": "coord", "password": "wrong"})
        assert response.status_code in (200, 429)
    locked = client.post("/accounts/login/", {"username": "coord", "password": PASSWORD})
    assert locked.status_code == 429  # even the right password is refused while locked
    assert "_auth_user_id" not in client.session
    other = Client()
    make_user("other")
    ok = other.post("/accounts/login/", {"username": "other", "password": PASSWORD})
    assert ok.status_code == 302 and "_auth_user_id" in other.session


def test_password_is_stored_with_argon2() -> None:
    user = make_user("coord")
    assert user.password.startswith("argon2$")


def test_screening_form_bad_input_shows_field_errors_and_changes_nothing() -> None:
    study = make_study()
    site = make_site(study)
    coordinator = make_user("coord")
    grant(coordinator, study, site)
    p = make_participant(study, site, by=coordinator)
    client = Client()
    client.force_login(coordinator)
    data = {
        k: ("yes" if v is True else "no" if v is False else v) for k, v in ELIGIBLE_RECORD.items()
    }
    data["age"] = "forty"
    data["psychosis"] = ""
    events = AuditEvent.objects.count()
    response = client.post(f"/participants/{p.pk}/screen/", data)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="error-age"' in html and "Enter a number" in html
    assert not Screening.objects.filter(participant=p).exists()
    # A well-formed number but a blank judged field: the service names the field.
    data["age"] = "41"
    response = client.post(f"/participants/{p.pk}/screen/", data)
    assert 'id="error-psychosis"' in response.content.decode()
    assert AuditEvent.objects.count() == events
    p.refresh_from_db()
    assert p.status == Status.REFERRED
    data["psychosis"] = "yes"
    response = client.post(f"/participants/{p.pk}/screen/", data)
    assert response.status_code == 302
    p.refresh_from_db()
    assert p.status == Status.SCREEN_FAILED and p.status_reason == "Active psychosis"
    page = client.get(f"/participants/{p.pk}/").content.decode()
    assert "Active psychosis" in page and "exclusion applies" in page


def test_coordinator_sees_only_their_site() -> None:
    study = make_study()
    north, south = make_site(study, "north"), make_site(study, "south")
    coordinator = make_user("coord")
    grant(coordinator, study, north)
    mine, theirs = make_participant(study, north), make_participant(study, south)
    client = Client()
    client.force_login(coordinator)
    listing = client.get(f"/studies/{study.pk}/participants/").content.decode()
    assert mine.code in listing and theirs.code not in listing
    assert client.get(f"/participants/{theirs.pk}/").status_code == 404
    assert client.get("/participants/999999/").status_code == 404  # same answer as forbidden
    outsider = make_user("outsider")
    client.force_login(outsider)
    assert client.get(f"/studies/{study.pk}/").status_code == 404


def test_audit_page_filters_and_exports_for_data_manager_only() -> None:
    study = make_study()
    site = make_site(study)
    make_participant(study, site)
    manager = make_user("dm", Role.DATA_MANAGER)
    grant(manager, study)
    client = Client()
    client.force_login(manager)
    page = client.get(f"/studies/{study.pk}/audit/", {"action": AuditAction.REFER})
    assert page.status_code == 200
    html = page.content.decode()
    assert "<td>Referred</td>" in html and "<td>Allocation list generated</td>" not in html
    export = client.get(f"/studies/{study.pk}/audit.csv")
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert {r["action"] for r in rows} == {"create", "generate_allocation", "refer", "grant_access"}
    refer = next(r for r in rows if r["action"] == "refer")
    assert refer["user"] == "system: tests: set-up" and '"site": "north"' in refer["new"]
    coordinator = make_user("coord")
    grant(coordinator, study)
    client.force_login(coordinator)
    assert client.get(f"/studies/{study.pk}/audit/").status_code == 404


def test_admin_sets_up_study_through_pages() -> None:
    admin = make_user("admin", Role.ADMINISTRATOR)
    client = Client()
    client.force_login(admin)
    response = client.post("/studies/new/", {"protocol_id": "mrocc-2025", "name": "Boston pilot"})
    assert response.status_code == 302
    study_id = int(response["Location"].strip("/").split("/")[-1])
    bad = client.post(f"/studies/{study_id}/cohorts/new/", {
        "start_date": "2026-01-06", "weekday": "0", "meeting_time": "18:00", "timezone": "Nowhere/City",
    })  # fmt: skip
    html = bad.content.decode()
    assert "not a time zone name" in html and "does not fall on" in html
    ok = client.post(f"/studies/{study_id}/cohorts/new/", {
        "start_date": "2026-01-05", "weekday": "0", "meeting_time": "18:00", "timezone": "America/New_York",
    })  # fmt: skip
    assert ok.status_code == 302
    assert (
        client.post(
            f"/studies/{study_id}/sites/new/", {"code": "bos", "name": "Boston"}
        ).status_code
        == 302
    )
    assert Participant.objects.count() == 0
    coordinator = make_user("coord")
    client.force_login(coordinator)
    assert client.get("/studies/new/").status_code == 403


def test_admin_grants_site_access_on_the_access_page() -> None:
    study = make_study()
    site = make_site(study)
    admin = make_user("admin", Role.ADMINISTRATOR)
    coordinator = make_user("coord")
    client = Client()
    client.force_login(admin)
    response = client.post(
        f"/studies/{study.pk}/access/", {"user": coordinator.pk, "site": site.pk}
    )
    assert response.status_code == 302
    from mindtrial.web.studies.models import StudyAccess

    assert StudyAccess.objects.get(user=coordinator).site == site
    event = AuditEvent.objects.get(action=AuditAction.GRANT_ACCESS)
    assert event.acting_user == admin and event.new_values == {"user": "coord", "site": "north"}


def test_createsuperuser_makes_an_audited_administrator() -> None:
    from django.core.management import call_command

    call_command(
        "createsuperuser", username="root", email="root@example.org", interactive=False, verbosity=0
    )
    from mindtrial.web.accounts.models import User

    root = User.objects.get(username="root")
    assert root.is_superuser and root.role == Role.ADMINISTRATOR
    event = AuditEvent.objects.get(object_type="accounts.user", object_id=str(root.pk))
    assert event.action == AuditAction.CREATE and event.new_values["superuser"] is True


def test_redcap_allocation_table_upload_is_stored_and_audited(tmp_path: object) -> None:
    from pathlib import Path

    from mindtrial.design.randomization import generate_allocation_list, write_redcap_allocation_csv
    from mindtrial.web.studies.models import AllocationEntry, Study

    admin = make_user("admin", Role.ADMINISTRATOR)
    client = Client()
    client.force_login(admin)
    response = client.post(
        "/studies/new/", {"protocol_id": "mrocc-2025", "name": "Uploaded", "upload_list": "on"}
    )
    study = Study.objects.get(name="Uploaded")
    assert response.status_code == 302 and not AllocationEntry.objects.filter(study=study).exists()
    # A REDCap table written by the pure layer: codes 1, 2 = the protocol's arms in order.
    source = generate_allocation_list(
        arms={"mrocc": 1, "recovery_support": 1}, n=16, block_sizes=[4], seed=9
    )
    path = Path(str(tmp_path)) / "alloc.csv"
    write_redcap_allocation_csv(source, path)
    page = client.get(f"/studies/{study.pk}/allocation/").content.decode()
    assert "1 = M-ROCC (mindfulness)" in page
    bad = client.post(f"/studies/{study.pk}/allocation/", {"file": io.BytesIO(b"group\n1\n")})
    assert "redcap_randomization_group" in bad.content.decode()
    with path.open("rb") as handle:
        ok = client.post(f"/studies/{study.pk}/allocation/", {"file": handle})
    assert ok.status_code == 302
    stored = list(
        AllocationEntry.objects.filter(study=study)
        .order_by("sequence")
        .values_list("arm_id", flat=True)
    )
    assert stored == [e.arm for e in source.entries]
    event = AuditEvent.objects.get(study=study, action=AuditAction.IMPORT_ALLOCATION)
    assert event.acting_user == admin and event.new_values["entries"] == 16
    summary = client.get(f"/studies/{study.pk}/allocation/").content.decode()
    assert "<td>16</td>" in summary and "M-ROCC" not in summary.split("<table>")[1]
