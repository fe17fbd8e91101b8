"""`mindtrial manage …`: Django's management commands (migrate, check, createsuperuser …)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command(
        "manage",
        context_settings={
            "allow_extra_args": True,
            "ignore_unknown_options": True,
            "help_option_names": [],
        },
        add_help_option=False,
    )
    def manage_command(ctx: typer.Context) -> None:
        """Run a Django management command, e.g. `mindtrial manage migrate`.

        Settings come from DJANGO_SETTINGS_MODULE (default: the local development settings);
        DATABASE_URL selects PostgreSQL.
        """
        from mindtrial.web.bootstrap import setup

        setup()
        from django.core.management import execute_from_command_line

        execute_from_command_line(["mindtrial manage", *ctx.args])
