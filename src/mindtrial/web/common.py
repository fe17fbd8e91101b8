"""Small pieces every app uses: the one "not found" error and the JSON-safe value helper."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping
from typing import Any


class NotFound(Exception):
    """The object does not exist *or* the user may not see it (the two are never told apart)."""

    def __init__(self, what: str = "object") -> None:
        super().__init__(f"{what} not found")
        self.what = what


class ServiceError(ValueError):
    """A write was refused; ``errors`` maps field names to messages ('' = the whole form)."""

    def __init__(self, errors: Mapping[str, str] | str) -> None:
        self.errors: dict[str, str] = {"": errors} if isinstance(errors, str) else dict(errors)
        super().__init__("; ".join(f"{k}: {v}" if k else v for k, v in self.errors.items()))


class Forbidden(ServiceError):
    """The acting user's role or site access does not allow this write."""


def jsonable(value: Any) -> Any:
    """Dates, times, decimals and nested containers as JSON-ready values (for audit rows)."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value
