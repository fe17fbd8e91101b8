"""Every URL the app has, from the URL conf, with real objects put in for the parameters."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence

from django.urls import URLPattern, URLResolver, get_resolver

_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def _walk(patterns: Sequence[URLPattern | URLResolver], prefix: str) -> Iterator[tuple[str, str]]:
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, route)
        else:
            yield route, str(entry.name or "")


def all_routes() -> list[tuple[str, str]]:
    """(route, name) of every URL pattern, e.g. ``("participants/<int:participant_id>/", …)``."""
    routes = list(_walk(get_resolver().url_patterns, ""))
    assert routes, "the URL conf is empty"
    return routes


def expand(route: str, values: Mapping[str, Sequence[str]]) -> list[str]:
    """Every path for ``route`` with each parameter replaced by each of its values."""
    names = [m.group("name") for m in _PARAM.finditer(route)]
    unknown = [n for n in names if n not in values]
    assert not unknown, f"no test objects for URL parameter(s) {unknown} in {route!r}"
    paths = ["/" + route]
    for name in names:
        paths = [
            _PARAM.sub(lambda m, n=name, v=v: v if m.group("name") == n else m.group(0), p, count=0)
            for p in paths
            for v in values[name]
        ]
    return [p.replace("^", "").replace("$", "") for p in paths]
