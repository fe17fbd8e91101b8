"""Starting Django from the command line (``mindtrial manage|study|user|serve``)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_SETTINGS = "mindtrial.web.config.settings.local"


def setup(*, migrate: bool = False) -> None:
    """Configure Django (``DJANGO_SETTINGS_MODULE`` or the local settings) and, if asked,
    apply any unapplied migrations quietly."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", DEFAULT_SETTINGS)
    import django
    from django.conf import settings

    django.setup()
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        Path(str(database["NAME"])).parent.mkdir(parents=True, exist_ok=True)
    if migrate:
        migrate_if_needed()


def migrate_if_needed() -> bool:
    """Run ``migrate`` when the database lacks a migration; True if anything was applied."""
    from django.core.management import call_command
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    targets = executor.loader.graph.leaf_nodes()
    if not executor.migration_plan(targets):
        return False
    call_command("migrate", interactive=False, verbosity=0)
    return True
