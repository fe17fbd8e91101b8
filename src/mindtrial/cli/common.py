"""Helpers shared by the subcommands: one console, one way to fail cleanly."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

EXIT_OK = 0
EXIT_INPUT_ERROR = 1


def command_group(help: str) -> typer.Typer:
    """A group of subcommands (``mindtrial protocol …``) formatted like the root command."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None)


def fail(message: str, *, code: int = EXIT_INPUT_ERROR) -> NoReturn:
    """Print a clear error (no traceback) and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
