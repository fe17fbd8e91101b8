"""Small pieces every app uses: the one "not found" error, the JSON-safe value helper, the
strict integer reader for query parameters and local dates."""

from __future__ import annotations

import datetime as dt
import decimal
import re
import zoneinfo
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from django.db.models import Model, QuerySet

M = TypeVar("M", bound="Model")

_ASCII_DIGITS = re.compile(r"[0-9]{1,18}")


def only_or_none(queryset: QuerySet[M]) -> M | None:
    """The row a lookup on a unique key finds, or None: ``.first()`` without the ORDER BY
    it adds (which costs more than the query itself on a hot path such as the check-in)."""
    return next(iter(queryset[:1]), None)


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


def parse_int(text: str | None, *, low: int, high: int) -> int | None:
    """``text`` as an integer in ``low..high``, or None: only ASCII digits are read.

    ``str.isdigit`` accepts "²" and "١" (``int`` refuses the first and reads the second), and
    ``int`` also takes signs, spaces and underscores; none of these is a week or an id in a URL.
    """
    if text is None or not _ASCII_DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


LATEST_UTC_OFFSET = dt.timedelta(hours=14)
"""The easternmost civil time zone (Pacific/Kiritimati, UTC+14)."""


def local_date(tz_name: str, now: dt.datetime | None = None) -> dt.date:
    """The date in time zone ``tz_name`` at ``now`` (aware; the current time by default)."""
    moment = now if now is not None else dt.datetime.now(dt.UTC)
    return moment.astimezone(zoneinfo.ZoneInfo(tz_name)).date()


def latest_today(now: dt.datetime | None = None) -> dt.date:
    """The latest calendar date anywhere at ``now``: a date after it is in the future for
    every site, whatever its time zone."""
    moment = now if now is not None else dt.datetime.now(dt.UTC)
    return (moment.astimezone(dt.UTC) + LATEST_UTC_OFFSET).date()
