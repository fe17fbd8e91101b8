"""Every page carries the Content-Security-Policy and holds nothing that policy would block."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.test import Client, override_settings

from mindtrial.web.accounts.models import User
from mindtrial.web.checkin.views import checkin_url
from mindtrial.web.queries.services import query_open

from ..crawl import all_routes, expand
from ..factories import SETUP
from ..programme.factories import World, cohort_monday
from ..programme.records import add_programme_records

pytestmark = pytest.mark.django_db

# Inline script, inline style and inline event handlers: all blocked by script-src/style-src 'self'.
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>(?!\s*</script>)|<style\b|\sstyle=|\son[a-z]+=", re.I
)
JSON_DATA = re.compile(r'<script type="application/json"[^>]*>.*?</script>', re.S)


def _csp(response: object) -> dict[str, str]:
    header = response["Content-Security-Policy"]  # type: ignore[index]
    return dict(([*part.strip().split(" ", 1), ""])[:2] for part in header.split(";"))  # type: ignore[misc]


def test_every_page_sends_the_policy_and_has_no_inline_script_or_style(tmp_path: Path) -> None:
    world = World(n=3, start=cohort_monday() - dt.timedelta(weeks=3))
    made = add_programme_records(world.participants, media_root=str(tmp_path))
    admin = User.objects.create_superuser("root", "root@example.org", "x-long-password-1")
    client = Client()
    client.force_login(admin)
    values = {
        "study_id": [str(world.study.pk)],
        "participant_id": [str(world.participants[0].pk)],
        "group_id": [world.cohort.groups.order_by("pk").first().public_id],  # type: ignore[union-attr]
        "user_id": [str(admin.pk)],
        "instrument": ["ocs"],
        "query_id": [
            str(
                query_open(
                    acting_user=SETUP,
                    participant=world.participants[0],
                    form="Consent",
                    message="Date?",
                ).pk
            )
        ],
    }
    paths = ["/accounts/login/"]
    for route, _ in all_routes():
        paths += expand(route, values)
    pages = 0
    with override_settings(MEDIA_ROOT=str(tmp_path)):
        for path in [*paths, checkin_url(made["links"][0].token)]:
            response = client.get(path)
            assert response.status_code < 500, path
            csp = _csp(response)
            assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'", path
            assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
            assert "camera=()" in response["Permissions-Policy"]
            assert "microphone=()" in response["Permissions-Policy"]
            assert response["X-Content-Type-Options"] == "nosniff"
            if response.status_code == 200 and "text/html" in response["Content-Type"]:
                body = JSON_DATA.sub("", response.content.decode())
                found = INLINE.search(body)
                assert found is None, f"{path}: {found.group(0) if found else ''}"
                pages += 1
    assert pages >= 20
