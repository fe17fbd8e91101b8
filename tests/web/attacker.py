"""A blinded user trying to learn the arms from what their role can read.

:func:`collect` gathers everything one user reaches: every page found by following links
from the home page and the weekly hub, every GET endpoint of the API's OpenAPI schema (with
the ids the answers gave), and the masked study dataset each study's export page offers.
:func:`views_of` turns that into what the attacker knows of each participant, and
:data:`STRATEGIES` guess the arm from it. :func:`permutation_p` says how surprising a
guess's accuracy is if the arms were hidden.

The attacker knows how the app works and that the protocol's arms are 1:1; the only thing
it must not learn is which group (or masked code) is which arm.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from django.test import Client

MAX_PAGES = 5000
SKIP_PATHS = ("/accounts/logout", "/static/", "/api/docs")


class _Page(HTMLParser):
    """Links (in document order) and table rows / list items as (text, links) pairs."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.rows: list[tuple[str, list[tuple[str, str]]]] = []
        self._row_depth = 0
        self._row_text: list[str] = []
        self._row_links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._anchor_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("tr", "li"):
            if self._row_depth == 0:
                self._row_text, self._row_links = [], []
            self._row_depth += 1
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._anchor_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            link = (self._href, " ".join("".join(self._anchor_text).split()))
            self.links.append(link)
            if self._row_depth:
                self._row_links.append(link)
            self._href = None
        if tag in ("tr", "li") and self._row_depth:
            self._row_depth -= 1
            if self._row_depth == 0:
                text = " ".join(" ".join(self._row_text).split())
                self.rows.append((text, list(self._row_links)))

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._anchor_text.append(data)
        if self._row_depth:
            self._row_text.append(data)


def parse_page(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


@dataclass
class Loot:
    """Everything one user could read."""

    pages: dict[str, str] = field(default_factory=dict)
    """path (with query) -> HTML of every page answered 200."""
    api: dict[str, Any] = field(default_factory=dict)
    """API path -> JSON of every GET answered 200."""
    exports: dict[int, dict[str, list[dict[str, str]]]] = field(default_factory=dict)
    """study id -> CSV file name -> rows, from the masked study dataset."""


def crawl(client: Client, starts: Iterable[str]) -> dict[str, str]:
    """GET every same-site link reachable from ``starts`` (forms are not submitted)."""
    seen: set[str] = set()
    queue = list(starts)
    pages: dict[str, str] = {}
    while queue and len(seen) < MAX_PAGES:
        path = queue.pop(0)
        if path in seen or any(path.startswith(s) for s in SKIP_PATHS):
            continue
        seen.add(path)
        response = client.get(path)
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        html = response.content.decode()
        pages[path] = html
        for href, _ in parse_page(html).links:
            target = urlsplit(urljoin(path, href))
            if target.netloc or target.scheme not in ("", "http"):
                continue
            found = target.path + (f"?{target.query}" if target.query else "")
            if found not in seen:
                queue.append(found)
    return pages


def _ids_in(value: Any, key: str) -> set[str]:
    """Every value under ``key`` anywhere in a JSON answer."""
    found: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            if k == key and isinstance(v, int | str):
                found.add(str(v))
            found |= _ids_in(v, key)
    elif isinstance(value, list):
        for v in value:
            found |= _ids_in(v, key)
    return found


def api_sweep(client: Client, headers: dict[str, str]) -> dict[str, Any]:
    """Every GET endpoint of the OpenAPI schema, each parameter filled with every id seen.

    A parameter ``<kind>_id`` takes the ``id`` values of the answers of the endpoints whose
    path ends in the kind's plural (``/studies`` gives study ids, and so on), plus any
    ``<kind>_id`` value met anywhere. An endpoint whose parameters get no value fails loudly.
    """
    schema = client.get("/api/openapi.json", **headers).json()
    gets = [p for p, ops in schema["paths"].items() if "get" in ops]
    answers: dict[str, Any] = {}
    pools: dict[str, set[str]] = defaultdict(set)
    for _ in range(4):  # ids found in one round open paths in the next
        for template in gets:
            names = re.findall(r"{(\w+)}", template)
            paths = [template]
            for name in names:
                paths = [p.replace("{" + name + "}", v) for p in paths for v in sorted(pools[name])]
            for path in paths:
                if path in answers:
                    continue
                response = client.get(path, **headers)
                if response.status_code != 200:
                    continue
                body = response.json()
                answers[path] = body
                plural = template.rstrip("/").rsplit("/", 1)[-1]
                kind = {"studies": "study"}.get(plural, plural.rstrip("s"))
                if isinstance(body, list):
                    pools[f"{kind}_id"] |= _ids_in(body, "id")
                for name in list(pools):
                    pools[name] |= _ids_in(body, name)
                for sub in ("cohorts", "groups", "participants", "sites"):
                    if isinstance(body, dict) and isinstance(body.get(sub), list):
                        pools[f"{sub.rstrip('s')}_id"] |= _ids_in(body[sub], "id")
    unfilled = [
        t for t in gets if re.findall(r"{(\w+)}", t) and not any(_matches(t, p) for p in answers)
    ]
    # Endpoints the role may not use answer 404/403; those never fill. Only complain about
    # parameters for which no value at all was found (the sweep would be blind there).
    missing = sorted({n for t in unfilled for n in re.findall(r"{(\w+)}", t) if not pools[n]})
    assert not missing or set(missing) <= ALLOWED_EMPTY, f"no values for {missing}"
    return answers


ALLOWED_EMPTY = {"instrument"}
"""Path parameters that are not ids (baseline instruments are only written, never read)."""


def _matches(template: str, path: str) -> bool:
    return re.fullmatch(re.sub(r"{\w+}", r"[^/]+", template), path) is not None


def masked_export(client: Client, study_id: int) -> dict[str, list[dict[str, str]]]:
    """The study dataset the export page gives this role (blinded roles: masked only)."""
    response = client.post(f"/studies/{study_id}/export/", {"format": "dataset", "masked": "1"})
    if response.status_code != 200 or response["Content-Type"] != "application/zip":
        return {}
    files: dict[str, list[dict[str, str]]] = {}
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        for name in archive.namelist():
            if name.endswith(".csv"):
                text = archive.read(name).decode()
                files[name.rsplit("/", 1)[-1]] = list(csv.DictReader(io.StringIO(text)))
    return files


def collect(client: Client, token: str) -> Loot:
    loot = Loot()
    loot.pages = crawl(client, ["/", "/weekly/"])
    loot.api = api_sweep(client, {"HTTP_AUTHORIZATION": f"Bearer {token}"})
    for study in loot.api.get("/api/studies", []):
        loot.exports[int(study["id"])] = masked_export(client, int(study["id"]))
    return loot


# ----------------------------------------------------------------------- what is known


@dataclass
class Known:
    """What the attacker knows about one randomized participant."""

    study: int
    code: str
    api_id: Any = None
    group: str = ""
    """The group's code (``G-3A``) as pages and API show it."""
    masked_arm: str = ""
    list_position: int | None = None
    export_rows: dict[str, int] = field(default_factory=dict)
    tox_weeks: list[int] = field(default_factory=list)


@dataclass
class Seen:
    """What the attacker knows about one group (members or not)."""

    study: int
    cohort: int
    """Position of the cohort in the API's study answer."""
    code: str
    api_id: Any = None
    api_position: int | None = None
    href: str = ""
    page_position: int | None = None


@dataclass
class Knowledge:
    participants: dict[tuple[int, str], Known]
    """(study id, participant code) -> what is known, for participants placed in a group."""
    groups: dict[tuple[int, str], Seen]
    """(study id, group code) -> what is known."""


def views_of(loot: Loot) -> Knowledge:
    known: dict[tuple[int, str], Known] = {}
    groups: dict[tuple[int, str], Seen] = {}
    for path, body in loot.api.items():
        match = re.fullmatch(r"/api/studies/([\w-]+)/participants", path)
        if match and isinstance(body, list):
            study = int(match.group(1))
            for item in body:
                if item.get("group"):
                    known[(study, item["code"])] = Known(
                        study=study,
                        code=item["code"],
                        api_id=item.get("id"),
                        group=str(item["group"]).split(" ")[0],
                    )
        match = re.fullmatch(r"/api/studies/([\w-]+)", path)
        if match and isinstance(body, dict):
            study = int(match.group(1))
            for c, cohort in enumerate(body.get("cohorts", [])):
                for position, group in enumerate(cohort.get("groups", [])):
                    groups[(study, group["code"])] = Seen(
                        study=study,
                        cohort=c,
                        code=group["code"],
                        api_id=group.get("id"),
                        api_position=position,
                    )
    for path, html in loot.pages.items():
        match = re.fullmatch(r"/studies/(\w+)/", path)
        if match:
            study = int(match.group(1))
            for _, links in parse_page(html).rows:
                in_row = [(h, t) for h, t in links if "/groups/" in h]
                for position, (href, text) in enumerate(in_row):
                    seen = groups.get((study, text.split(" ")[0]))
                    if seen is not None:
                        seen.href, seen.page_position = href, position
        match = re.fullmatch(r"/studies/(\w+)/participants/", path)
        if match:
            study = int(match.group(1))
            for position, (text, _) in enumerate(parse_page(html).rows):
                k = known.get((study, text.split(" ")[0]))
                if k is not None:
                    k.list_position = position
    for study, files in loot.exports.items():
        for name, rows in files.items():
            for row in rows:
                k = known.get((study, row.get("participant_id", "")))
                if k is None:
                    continue
                k.export_rows[name] = k.export_rows.get(name, 0) + 1
                if name == "participants.csv":
                    k.masked_arm = row.get("arm", "")
                if name == "toxicology.csv" and row.get("week", "").isdigit():
                    k.tox_weeks.append(int(row["week"]))
    return Knowledge(participants=known, groups=groups)


# ----------------------------------------------------------------------- strategies

Guess = dict[tuple[int, str], int]
"""(study, participant code) -> guessed arm (0 = the protocol's first arm)."""


def _number_or_text(value: Any) -> tuple[int, float, str]:
    """Numbers in numeric order before anything else in text order."""
    text = str(value)
    return (0, float(text), "") if text.isdigit() else (1, 0.0, text)


def _rank_groups(kn: Knowledge, key: Callable[[Seen, list[Known]], Any]) -> Guess:
    """Within each cohort, the group with the lowest key is guessed to be the first arm."""
    members: dict[tuple[int, str], list[Known]] = defaultdict(list)
    for k in kn.participants.values():
        members[(k.study, k.group)].append(k)
    cohorts: dict[tuple[int, int], list[Seen]] = defaultdict(list)
    for seen in kn.groups.values():
        cohorts[(seen.study, seen.cohort)].append(seen)
    guess: Guess = {}
    for seen_groups in cohorts.values():
        ordered = sorted(seen_groups, key=lambda g: (key(g, members[(g.study, g.code)]), g.code))
        for rank, group in enumerate(ordered):
            for k in members[(group.study, group.code)]:
                guess[(k.study, k.code)] = min(rank, 1)
    return guess


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0


STRATEGIES: dict[str, Callable[[Knowledge], Guess]] = {
    "group id in the API, lower first": lambda kn: _rank_groups(
        kn, lambda g, m: _number_or_text(g.api_id)
    ),
    "group id in page links, lower first": lambda kn: _rank_groups(
        kn, lambda g, m: _number_or_text(g.href.rstrip("/").split("/")[-1])
    ),
    "group listed first on the study page": lambda kn: _rank_groups(
        kn, lambda g, m: 9 if g.page_position is None else g.page_position
    ),
    "group listed first in the API": lambda kn: _rank_groups(
        kn, lambda g, m: 9 if g.api_position is None else g.api_position
    ),
    "group code, A first": lambda kn: _rank_groups(kn, lambda g, m: g.code),
    "group met first in the participant list": lambda kn: _rank_groups(
        kn, lambda g, m: min((k.list_position or 0 for k in m), default=9999)
    ),
    "larger group is the first arm": lambda kn: _rank_groups(kn, lambda g, m: -len(m)),
    "members' participant ids (creation order)": lambda kn: _rank_groups(
        kn, lambda g, m: _mean(float(k.api_id or 0) for k in m)
    ),
    "more toxicology tests per member": lambda kn: _rank_groups(
        kn, lambda g, m: -_mean(len(k.tox_weeks) for k in m)
    ),
    "later toxicology tests": lambda kn: _rank_groups(
        kn, lambda g, m: -_mean(w for k in m for w in k.tox_weeks)
    ),
    "more exported rows per member": lambda kn: _rank_groups(
        kn, lambda g, m: -_mean(sum(k.export_rows.values()) for k in m)
    ),
    "masked arm A is the first arm": lambda kn: {
        key: 0 if k.masked_arm == "A" else 1 for key, k in kn.participants.items()
    },
}


def permutation_p(correct: dict[int, tuple[int, int]]) -> float:
    """Two-sided exact p of the total correct if each study's arm labels could be swapped.

    ``correct``: study -> (guessed right, participants). With two arms allocated 1:1,
    swapping a study's two arm labels gives an equally likely world in which everything a
    blinded user reads is the same; so, if nothing read depends on the labels, the total
    right is distributed as the sum over studies of ``c`` or ``n - c`` with equal chance.
    """
    sums = {0: 1.0}
    total = 0
    for right, n in correct.values():
        total += n
        nxt: dict[int, float] = defaultdict(float)
        for s, prob in sums.items():
            nxt[s + right] += prob / 2
            nxt[s + n - right] += prob / 2
        sums = nxt
    observed = sum(right for right, _ in correct.values())
    distance = abs(2 * observed - total)
    return sum(prob for s, prob in sums.items() if abs(2 * s - total) >= distance)
