"""The protocol every result shares: ``to_frame()`` gives its numbers as a tidy table.

A tidy table has one row per estimate and fixed column names that never change with the
arguments of the analysis (``term, estimate, std_error, ci_lower, ci_upper, p_value`` for
coefficients). Results hold numbers; :mod:`mindtrial.report.printer` renders them as text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

import pandas as pd


@runtime_checkable
class Tidy(Protocol):
    """A result that can hand back its numbers as a tidy :class:`pandas.DataFrame`."""

    def to_frame(self) -> pd.DataFrame: ...


def frame(rows: Iterable[object], columns: Sequence[str]) -> pd.DataFrame:
    """A data frame with exactly ``columns``, one row per dataclass in ``rows`` (its
    attributes of those names; tuples of strings are joined with ``", "``)."""

    def cell(row: object, name: str) -> object:
        value = getattr(row, name)
        return ", ".join(value) if isinstance(value, tuple) else value

    records = [[cell(r, c) for c in columns] for r in rows if dataclasses.is_dataclass(r)]
    return pd.DataFrame(records, columns=list(columns))
