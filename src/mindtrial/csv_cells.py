"""Text cells that a spreadsheet never runs as a formula (CSV injection).

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by
Excel, LibreOffice and Google Sheets as a formula; typed by a participant or staff member
(a withdrawal reason, an audit reason, a REDCap value) it could run when a colleague opens
the file. :func:`escape_formula` puts a ``'`` in front of such a cell (the spreadsheets'
own "this is text" mark, which they do not display). So that the escape can be undone
exactly, a cell that already begins with ``'`` followed by one of those characters (or by
more apostrophes and then one) gets one more ``'``; :func:`unescape_formula` removes one
``'`` from exactly those cells and leaves every other cell alone.

Only text is escaped: numbers are written by their own code and ``-3`` stays a number.
Every CSV file the web app and the command line hand to people goes through this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = frozenset("=+-@\t\r")
"""First characters that make a spreadsheet treat a cell as a formula."""

_ESCAPED = re.compile(r"'+[=+\-@\t\r]")


def needs_escape(text: str) -> bool:
    """Whether ``text``, after any leading apostrophes, begins with a formula character."""
    rest = text.lstrip("'")
    return bool(rest) and rest[0] in FORMULA_STARTS


def escape_formula(text: str) -> str:
    """``text`` as a cell no spreadsheet runs: ``'`` in front when :func:`needs_escape`."""
    return "'" + text if needs_escape(text) else text


def unescape_formula(text: str) -> str:
    """The inverse of :func:`escape_formula` (other text is returned unchanged)."""
    return text[1:] if _ESCAPED.match(text) else text


def escape_row(row: Iterable[Any]) -> list[Any]:
    """A CSV row with its text cells escaped (numbers, dates and None unchanged)."""
    return [escape_formula(cell) if isinstance(cell, str) else cell for cell in row]
