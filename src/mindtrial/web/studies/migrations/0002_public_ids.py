"""Opaque random public ids for cohorts and groups, backfilled for existing rows."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import migrations, models

import mindtrial.web.studies.models


def _backfill(apps: Any, schema_editor: Any) -> None:
    for name in ("Cohort", "Group"):
        model = apps.get_model("studies", name)
        # Random order and random ids: nothing about existing rows' order carries over.
        rows = list(model.objects.filter(public_id__isnull=True))
        secrets.SystemRandom().shuffle(rows)
        for row in rows:
            row.public_id = secrets.token_hex(mindtrial.web.studies.models.PUBLIC_ID_BYTES)
            row.save(update_fields=["public_id"])


class Migration(migrations.Migration):
    dependencies = [("studies", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="cohort",
            name="public_id",
            field=models.CharField(editable=False, max_length=32, null=True),
        ),
        migrations.AddField(
            model_name="group",
            name="public_id",
            field=models.CharField(editable=False, max_length=32, null=True),
        ),
        migrations.RunPython(_backfill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="cohort",
            name="public_id",
            field=models.CharField(
                default=mindtrial.web.studies.models.new_public_id,
                editable=False,
                max_length=32,
                unique=True,
            ),
        ),
        migrations.AlterField(
            model_name="group",
            name="public_id",
            field=models.CharField(
                default=mindtrial.web.studies.models.new_public_id,
                editable=False,
                max_length=32,
                unique=True,
            ),
        ),
    ]
