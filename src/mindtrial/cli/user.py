"""`mindtrial user add|token`: staff accounts (with role, access and e-mail address) and API
tokens, through the audited services; the administrators' Users page changes them later."""

from __future__ import annotations

import sys

import typer

from mindtrial.cli.common import command_group, console, fail


def register(app: typer.Typer) -> None:
    user_app = command_group("Staff accounts and API tokens.")
    app.add_typer(user_app, name="user")

    @user_app.command("add")
    def add(
        username: str = typer.Argument(..., help="The new user's username."),
        role: str = typer.Option(
            ...,
            "--role",
            help="administrator, coordinator, facilitator, data_manager, investigator, "
            "statistician or safety_monitor.",
        ),
        study: int | None = typer.Option(None, "--study", help="Give access to this study id."),
        site: str | None = typer.Option(
            None, "--site", help="Limit the access to this site code (needs --study)."
        ),
        email: str = typer.Option(
            "", "--email", help="E-mail address (safety monitors receive SAE alerts there)."
        ),
        password_stdin: bool = typer.Option(
            False, "--password-stdin", help="Read the password from standard input."
        ),
    ) -> None:
        """Add a staff user (all or nothing: the user, the role and the access)."""
        if not password_stdin:
            fail("pass --password-stdin and give the password on standard input")
        if site is not None and study is None:
            fail("--site needs --study")
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail("no password on standard input")
        from mindtrial.web.audit.actors import SystemActor
        from mindtrial.web.bootstrap import setup

        setup(migrate=True)
        from django.db import transaction

        from mindtrial.web.accounts.services import user_create
        from mindtrial.web.common import ServiceError
        from mindtrial.web.studies.models import Site, Study
        from mindtrial.web.studies.services import study_access_grant

        try:
            with transaction.atomic():
                user = user_create(
                    acting_user=SystemActor("cli: mindtrial user add"),
                    username=username,
                    password=password,
                    role=role,
                    email=email,
                )
                if study is not None:
                    found = Study.objects.filter(pk=study).first()
                    if found is None:
                        raise ServiceError({"study": f"no study with id {study}"})
                    site_obj = None
                    if site is not None:
                        site_obj = Site.objects.filter(study=found, code=site).first()
                        if site_obj is None:
                            raise ServiceError({"site": f"study {study} has no site '{site}'"})
                    study_access_grant(
                        acting_user=SystemActor("cli: mindtrial user add"),
                        user=user,
                        study=found,
                        site=site_obj,
                    )
        except ServiceError as exc:
            fail(str(exc))
        console.print(f"added {user.username} ({user.role})", highlight=False)

    @user_app.command("token")
    def token(username: str = typer.Argument(..., help="Whose token.")) -> None:
        """Issue and print a new API token (shown only this once)."""
        from mindtrial.web.audit.actors import SystemActor
        from mindtrial.web.bootstrap import setup

        setup(migrate=True)
        from mindtrial.web.accounts.models import User
        from mindtrial.web.accounts.services import api_token_issue

        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            fail(f"no active user '{username}'")
        typer.echo(api_token_issue(acting_user=SystemActor("cli: mindtrial user token"), user=user))
