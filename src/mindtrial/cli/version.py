"""`mindtrial version`: the package version and the versions of the key libraries."""

from __future__ import annotations

import platform

import typer

from mindtrial.cli.common import console

_LIBRARIES = ("numpy", "pandas", "scipy", "statsmodels", "pydantic", "django")


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries whose numbers end up in reports."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version(), "mindtrial": version("mindtrial")}
    for name in _LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover - every one is a dependency
            found[name] = "not installed"
    return found


def register(app: typer.Typer) -> None:
    @app.command("version")
    def version_command() -> None:
        """Print MindTrial's version and the versions of the libraries it uses."""
        for name, ver in library_versions().items():
            console.print(f"{name:12} {ver}")
