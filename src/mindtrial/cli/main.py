"""The `mindtrial` command.

Each subcommand lives in its own module of this package and exposes
``register(app: typer.Typer) -> None``; this module discovers and registers them,
so adding a subcommand never means editing this file.

Exit codes: 0 success, 1 a problem with the user's input (reported, no traceback),
2 usage error (Typer's own).
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

import mindtrial.cli as cli_package

app = typer.Typer(
    name="mindtrial",
    help="Run and evaluate live-online group mindfulness trials for opioid use disorder.",
    no_args_is_help=True,
    # Click's plain help: Typer's Rich help loads Markdown and Pygments (~0.5 s at start-up)
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Run and evaluate live-online group mindfulness trials for opioid use disorder."""


_SKIP = {"main", "common"}

for _info in sorted(pkgutil.iter_modules(cli_package.__path__), key=lambda m: m.name):
    if _info.name in _SKIP or _info.name.startswith("_"):
        continue
    _module = importlib.import_module(f"mindtrial.cli.{_info.name}")
    _register = getattr(_module, "register", None)
    if callable(_register):
        _register(app)


if __name__ == "__main__":  # pragma: no cover
    app()
