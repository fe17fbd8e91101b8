"""`mindtrial serve`: the production server (gunicorn + whitenoise) on 127.0.0.1:8000."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import typer

from mindtrial.cli.common import console, fail

PRODUCTION_SETTINGS = "mindtrial.web.config.settings.production"


def _secret_key(var_dir: Path) -> str:
    """DJANGO_SECRET_KEY, or a key generated once and kept in var/secret_key (mode 600)."""
    given = os.environ.get("DJANGO_SECRET_KEY")
    if given:
        return given
    path = var_dir / "secret_key"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
        port: int = typer.Option(8000, "--port", min=1, max=65535),
        workers: int = typer.Option(2, "--workers", min=1, help="gunicorn worker processes."),
        https_proxy: bool = typer.Option(
            False,
            "--behind-https-proxy",
            help="Secure cookies, HSTS and HTTPS redirects (a TLS proxy in front).",
        ),
    ) -> None:
        """Migrate, collect static files and run gunicorn with the production settings."""
        var_dir = Path(os.environ.get("MINDTRIAL_VAR_DIR", Path.cwd() / "var")).resolve()
        os.environ["DJANGO_SECRET_KEY"] = _secret_key(var_dir)
        os.environ["DJANGO_SETTINGS_MODULE"] = PRODUCTION_SETTINGS
        if not https_proxy:
            os.environ["MINDTRIAL_INSECURE_HTTP"] = "1"
        from mindtrial.web.bootstrap import setup

        try:
            setup(migrate=True)
        except Exception as exc:  # a clear message, never a traceback
            fail(f"cannot start: {exc}")
        from django.core.management import call_command

        call_command("collectstatic", interactive=False, verbosity=0)
        console.print(f"serving on http://{host}:{port}/ (staff sign in at /accounts/login/)")
        args = [
            sys.executable,
            "-m",
            "gunicorn",
            "mindtrial.web.config.wsgi:application",
            "--bind",
            f"{host}:{port}",
            "--workers",
            str(workers),
            "--access-logfile",
            "-",
            # The path without its query string: a query can hold a personal link's token.
            "--access-logformat",
            '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s',
        ]
        os.execv(sys.executable, args)
