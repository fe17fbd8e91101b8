"""The JSON API: token auth, the OpenAPI schema, field-level errors that change nothing, blinding."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from mindtrial.web.accounts.models import Role
from mindtrial.web.accounts.services import api_token_issue
from mindtrial.web.audit.models import AuditEvent
from mindtrial.web.enrolment.models import Participant, Status

from .factories import (
    COVARIATES,
    ELIGIBLE_RECORD,
    OCS_ANSWERS,
    PROMIS_ANSWERS,
    grant,
    make_cohort,
    make_site,
    make_study,
    make_user,
)

pytestmark = pytest.mark.django_db


def _api(token: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {token}"})


def _post(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, body, content_type="application/json")


def test_openapi_schema_is_served() -> None:
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/participants/{participant_id}/randomize" in schema["paths"]


def test_requests_without_a_valid_token_are_refused() -> None:
    assert Client().get("/api/studies").status_code == 401
    assert _api("mt_not-a-token").get("/api/studies").status_code == 401


def test_whole_enrolment_path_over_the_api() -> None:
    study = make_study(allocation_size=10, seed=3)
    site = make_site(study)
    cohort = make_cohort(study)
    coordinator = make_user("coord")
    grant(coordinator, study, site)
    api = _api(api_token_issue(acting_user=coordinator, user=coordinator))

    created = _post(api, f"/api/studies/{study.pk}/participants", {
        "site_id": site.pk, "referral_source": "clinic", "referral_date": "2025-12-01",
    })  # fmt: skip
    assert created.status_code == 201
    pid = created.json()["id"]
    screened = _post(api, f"/api/participants/{pid}/screening", {"record": ELIGIBLE_RECORD}).json()
    assert screened["status"] == Status.ELIGIBLE and screened["failed_criteria"] == []
    consented = _post(
        api,
        f"/api/participants/{pid}/consent",
        {"form_version": "v2.1", "consent_date": "2025-12-02"},
    )
    assert consented.json()["consent_form_version"] == "v2.1"
    for instrument, answers in (
        ("ocs", OCS_ANSWERS),
        ("promis_anxiety_8a", PROMIS_ANSWERS),
        ("covariates", COVARIATES),
    ):
        response = _post(
            api, f"/api/participants/{pid}/baseline/{instrument}", {"answers": answers}
        )
        assert response.status_code == 200, response.content
    assert response.json()["status"] == Status.BASELINE_COMPLETE
    randomized = _post(api, f"/api/participants/{pid}/randomize", {}).json()
    assert randomized["status"] == Status.RANDOMIZED and randomized["arm"] in study.arm_ids
    again = _post(api, f"/api/participants/{pid}/randomize", {})
    assert (
        again.status_code == 422 and "already been randomized" in again.json()["detail"][0]["msg"]
    )
    assigned = _post(api, f"/api/participants/{pid}/cohort", {"cohort_id": cohort.public_id}).json()
    assert assigned["cohort"] == cohort.number and assigned["group"].startswith(
        f"G-{cohort.number}"
    )

    # The blinded investigator reads the same participant without the arm or its label.
    investigator = make_user("pi", Role.INVESTIGATOR)
    grant(investigator, study)
    blind = _api(api_token_issue(acting_user=investigator, user=investigator))
    seen = blind.get(f"/api/participants/{pid}")
    assert seen.json()["arm"] is None and seen.json()["group"] == assigned["group"].split(" ")[0]
    text = (
        seen.content.decode().lower()
        + blind.get(f"/api/studies/{study.pk}").content.decode().lower()
    )
    for arm in study.arms:
        assert arm["id"] not in text and arm["label"].lower() not in text
    refused = _post(blind, f"/api/participants/{pid}/randomize", {})
    assert refused.status_code == 403


def test_bad_payloads_get_field_errors_and_change_nothing() -> None:
    study = make_study()
    site = make_site(study)
    coordinator = make_user("coord")
    grant(coordinator, study, site)
    api = _api(api_token_issue(acting_user=coordinator, user=coordinator))
    events = AuditEvent.objects.count()

    wrong_type = _post(
        api,
        f"/api/studies/{study.pk}/participants",
        {"site_id": "north", "referral_source": "clinic"},
    )
    assert wrong_type.status_code == 422
    locs = {tuple(d["loc"]) for d in wrong_type.json()["detail"]}
    assert ("body", "payload", "site_id") in locs and ("body", "payload", "referral_date") in locs

    bad_value = _post(api, f"/api/studies/{study.pk}/participants", {
        "site_id": site.pk, "referral_source": "radio", "referral_date": "2999-01-01",
    })  # fmt: skip
    assert bad_value.status_code == 422
    fields = {d["loc"][-1] for d in bad_value.json()["detail"]}
    assert fields == {"referral_source", "referral_date"}
    assert Participant.objects.count() == 0 and AuditEvent.objects.count() == events

    p = _post(api, f"/api/studies/{study.pk}/participants", {
        "site_id": site.pk, "referral_source": "clinic", "referral_date": "2025-12-01",
    }).json()  # fmt: skip
    events = AuditEvent.objects.count()
    bad_screen = _post(
        api,
        f"/api/participants/{p['id']}/screening",
        {"record": dict(ELIGIBLE_RECORD, age="old", shoe_size=9)},
    )
    assert bad_screen.status_code == 422
    assert {d["loc"][-1] for d in bad_screen.json()["detail"]} == {"shoe_size"}
    bad_age = _post(
        api, f"/api/participants/{p['id']}/screening", {"record": dict(ELIGIBLE_RECORD, age="old")}
    )
    assert [d["loc"][-1] for d in bad_age.json()["detail"]] == ["age"]
    assert Participant.objects.get(pk=p["id"]).status == Status.REFERRED
    assert AuditEvent.objects.count() == events


def test_other_sites_participants_are_not_found() -> None:
    study = make_study()
    north, south = make_site(study, "north"), make_site(study, "south")
    coordinator = make_user("coord")
    grant(coordinator, study, north)
    admin = make_user("admin", Role.ADMINISTRATOR)
    api_admin = _api(api_token_issue(acting_user=admin, user=admin))
    theirs = _post(api_admin, f"/api/studies/{study.pk}/participants", {
        "site_id": south.pk, "referral_source": "self", "referral_date": "2025-12-01",
    }).json()  # fmt: skip
    api = _api(api_token_issue(acting_user=coordinator, user=coordinator))
    assert api.get(f"/api/participants/{theirs['id']}").status_code == 404
    assert api.get("/api/participants/987654").json() == {"detail": "Not found"}
    assert api.get(f"/api/studies/{study.pk}/participants").json() == []


def test_administrator_sets_up_a_study_over_the_api() -> None:
    admin = make_user("admin", Role.ADMINISTRATOR)
    api = _api(api_token_issue(acting_user=admin, user=admin))
    created = _post(api, "/api/studies", {"protocol_id": "more-mmt-2024", "name": "NJ clinics"})
    assert created.status_code == 201 and created.json()["arms"][1]["id"] == "usual_care"
    sid = created.json()["id"]
    assert (
        _post(api, f"/api/studies/{sid}/sites", {"code": "newark", "name": "Newark"}).status_code
        == 201
    )
    duplicate = _post(api, f"/api/studies/{sid}/sites", {"code": "newark", "name": "Again"})
    assert duplicate.status_code == 422 and duplicate.json()["detail"][0]["loc"] == ["body", "code"]
    cohort = _post(api, f"/api/studies/{sid}/cohorts", {
        "start_date": "2026-01-07", "weekday": 2, "meeting_time": "17:30", "timezone": "America/New_York",
    })  # fmt: skip
    assert cohort.status_code == 201
    groups = cohort.json()["cohorts"][0]["groups"]
    assert sorted(g["code"] for g in groups) == ["G-1A", "G-1B"]
    coordinator = make_user("coord")
    refused = _post(
        _api(api_token_issue(acting_user=coordinator, user=coordinator)),
        "/api/studies",
        {"protocol_id": "mrocc-2025", "name": "X"},
    )
    assert refused.status_code == 403
