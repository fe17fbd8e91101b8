"""The audit CSV a data manager downloads never holds a cell a spreadsheet would run."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import transaction
from django.test import Client

from mindtrial.web.accounts.models import Role
from mindtrial.web.audit.models import AuditAction
from mindtrial.web.audit.services import audit_record

from ..factories import SETUP, grant, make_participant, make_site, make_study, make_user

pytestmark = pytest.mark.django_db


def test_audit_csv_escapes_reasons_that_look_like_formulas() -> None:
    study = make_study()
    p = make_participant(study, make_site(study))
    with transaction.atomic():
        audit_record(
            acting_user=SETUP,
            action=AuditAction.CORRECT,
            target=p,
            study=study,
            reason="=cmd|' /C calc'!A0",
        )
    manager = make_user("dm", Role.DATA_MANAGER)
    grant(manager, study)
    client = Client()
    client.force_login(manager)
    export = client.get(f"/studies/{study.pk}/audit.csv")
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    corrected = next(r for r in rows if r["action"] == "correct")
    assert corrected["reason"] == "'=cmd|' /C calc'!A0"
    for row in rows:
        assert all(not cell or cell[0] not in "=+-@\t\r" for cell in row.values()), row
