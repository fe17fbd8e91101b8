"""`mindtrial serve` really serves: gunicorn + whitenoise on 127.0.0.1, production settings."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


@pytest.mark.slow
def test_serve_runs_gunicorn_with_static_files(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env["MINDTRIAL_VAR_DIR"] = str(tmp_path / "var")
    env.pop("DJANGO_SECRET_KEY", None)
    command = [
        sys.executable,
        "-m",
        "mindtrial.cli.main",
        "serve",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            command,
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                status, headers, body = _get(f"{base}/accounts/login/")
                break
            except OSError:  # not listening yet (refused, reset or timed out)
                assert server.poll() is None, log_path.read_text()
                time.sleep(0.2)
        else:
            pytest.fail("mindtrial serve did not answer within 30 s")
        assert status == 200 and b"Staff sign-in" in body
        assert headers["X-Frame-Options"] == "DENY"
        css_status, _, css = _get(f"{base}/static/mindtrial/mindtrial.css")
        assert css_status == 200 and b"classless" in css
        assert _get(f"{base}/api/openapi.json")[0] == 200
        assert _get(f"{base}/api/studies")[0] == 401
        # A key was generated for this installation and kept private.
        key = tmp_path / "var" / "secret_key"
        assert key.exists() and (key.stat().st_mode & 0o777) == 0o600
        # A personal link's token (the query string) never reaches the access log.
        assert _get(f"{base}/c/?t=not-a-real-token-5ecret")[0] == 404
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    logged = log_path.read_text()
    assert '"GET /c/ HTTP/1.1" 404' in logged and "5ecret" not in logged
