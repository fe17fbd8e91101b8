"""The one list machinery every staff list uses: search, filters, sorting, pages and CSV.

A list is declared once (:class:`ListSpec`: its columns, filters, search and default order);
:func:`list_page` reads the query string, refuses bad parameters with a clear message (the
list is then shown without them), applies filters and order to a query set, cuts the page
with Django's :class:`~django.core.paginator.Paginator` and renders each row's cells from the
columns. The HTML table (``_list.html``) and the CSV (:func:`csv_response`) are both made from
those cells, so the download holds exactly what the page shows. ``format=csv`` downloads the
page shown; ``format=csv&page=all`` every row that matches the filters.

Views stay thin: access the objects through a selector, declare the spec, call
:func:`list_response`.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from django.core.paginator import Page, Paginator
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse

from mindtrial.csv_cells import escape_row
from mindtrial.web.common import parse_int

M = TypeVar("M", bound=Model)

PER_PAGE_CHOICES = (25, 50, 100, 200)
DEFAULT_PER_PAGE = 50
MAX_SEARCH = 64
"""Longer search text is refused (a code is 16 characters)."""


@dataclass(frozen=True)
class Cell:
    text: str
    url: str = ""
    changes: tuple[tuple[str, str, str], ...] = ()
    """(field, old, new) rows shown as a small table (the audit trail); the CSV gets
    ``field: old → new`` lines."""
    wrap: bool = False
    """Long text that may wrap (other cells keep to one line; the table scrolls instead)."""

    def csv_text(self) -> str:
        if self.changes:
            return "\n".join(f"{f}: {old} → {new}" for f, old, new in self.changes)
        return self.text


@dataclass(frozen=True)
class Column(Generic[M]):
    key: str
    """Its name in ``sort=`` and the CSV header's source."""
    label: str
    cell: Callable[[M], Cell]
    sort: tuple[str, ...] = ()
    """ORM fields to order by (empty: the column cannot be sorted)."""
    wrap: bool = False
    """Long text: its cells may wrap."""

    def render(self, obj: M) -> Cell:
        cell = self.cell(obj)
        return replace(cell, wrap=True) if self.wrap and not cell.wrap else cell


@dataclass(frozen=True)
class Filter(Generic[M]):
    """One query-string filter. ``kind`` says how the value is read: ``choice`` (one of
    ``choices``), ``date`` (YYYY-MM-DD) or ``text``."""

    name: str
    label: str
    apply: Callable[[QuerySet[M], Any], QuerySet[M]]
    kind: str = "choice"
    choices: Sequence[tuple[str, str]] = ()
    default: str = ""
    """The value when the parameter is absent ("" = no filter)."""
    any_label: str = "any"
    """The label of the "" choice (no filter); omitted when ``default`` is set."""
    parse: Callable[[str], Any] | None = None
    """For ``text`` filters: the value from the text (``ValueError`` with a message)."""


@dataclass(frozen=True)
class ListSpec(Generic[M]):
    name: str
    """The CSV file name's stem."""
    columns: Sequence[Column[M]]
    default_sort: str
    """A column key, ``-key`` for descending."""
    filters: Sequence[Filter[M]] = ()
    search: Callable[[QuerySet[M], str], QuerySet[M]] | None = None
    search_label: str = "Search"


@dataclass
class ListParams:
    search: str = ""
    filters: dict[str, Any] = field(default_factory=dict)
    raw_filters: dict[str, str] = field(default_factory=dict)
    sort: str = ""
    page: int | None = 1
    """None: every page (CSV only)."""
    per_page: int = DEFAULT_PER_PAGE
    csv: bool = False


@dataclass(frozen=True)
class SortLink:
    label: str
    url: str
    active: str
    """"ascending", "descending" or "" (the column's ``aria-sort``)."""


@dataclass
class ListPage:
    spec: ListSpec[Any]
    params: ListParams
    errors: list[str]
    rows: list[list[Cell]]
    total: int
    page: Page[Any] | None
    base: QueryDict

    @property
    def has_search(self) -> bool:
        return self.spec.search is not None

    @property
    def search_label(self) -> str:
        return self.spec.search_label

    @property
    def column_count(self) -> int:
        return len(self.spec.columns)

    @property
    def headers(self) -> list[SortLink]:
        return [self._sort_link(c) for c in self.spec.columns]

    def _sort_link(self, column: Column[Any]) -> SortLink:
        if not column.sort:
            return SortLink(column.label, "", "")
        current = self.params.sort
        active = ""
        target = column.key
        if current == column.key:
            active, target = "ascending", f"-{column.key}"
        elif current == f"-{column.key}":
            active = "descending"
        return SortLink(column.label, self.url(sort=target, page=None), active)

    def url(self, **changes: Any) -> str:
        """This list's query string with ``changes`` (None removes a parameter)."""
        query = self.base.copy()
        for key, value in changes.items():
            if value is None:
                query.pop(key, None)
            else:
                query[key] = str(value)
        return "?" + query.urlencode() if query else "?"

    @property
    def csv_url(self) -> str:
        return self.url(format="csv")

    @property
    def csv_all_url(self) -> str:
        return self.url(format="csv", page="all")

    @property
    def page_links(self) -> list[tuple[str, str, bool]]:
        """(label, url, current) for the first, last and nearby pages ('…' between)."""
        if self.page is None or self.page.paginator.num_pages <= 1:
            return []
        last = self.page.paginator.num_pages
        here = self.page.number
        wanted = sorted({1, last, *range(max(1, here - 2), min(last, here + 2) + 1)})
        links: list[tuple[str, str, bool]] = []
        previous = 0
        for n in wanted:
            if n > previous + 1:
                links.append(("…", "", False))
            links.append((str(n), self.url(page=n), n == here))
            previous = n
        return links

    @property
    def filter_fields(self) -> list[dict[str, Any]]:
        fields = []
        for f in self.spec.filters:
            choices = list(f.choices)
            if f.kind == "choice" and not f.default:
                choices = [("", f.any_label), *choices]
            fields.append(
                {
                    "name": f.name,
                    "label": f.label,
                    "kind": f.kind,
                    "choices": choices,
                    "value": self.params.raw_filters.get(f.name, f.default),
                }
            )
        return fields

    @property
    def per_page_choices(self) -> tuple[int, ...]:
        return PER_PAGE_CHOICES


def _first(query: Mapping[str, Any], name: str) -> str | None:
    value = query.get(name)
    return None if value is None else str(value)


def parse_params(spec: ListSpec[Any], query: QueryDict) -> tuple[ListParams, list[str]]:
    """The list parameters in ``query``; a bad one is dropped and explained in the errors."""
    params = ListParams()
    errors: list[str] = []
    search = (_first(query, "q") or "").strip()
    if len(search) > MAX_SEARCH:
        errors.append(f"Search text is longer than {MAX_SEARCH} characters.")
    elif spec.search is not None:
        params.search = search
    for f in spec.filters:
        raw = _first(query, f.name)
        value_text = (raw if raw is not None else f.default).strip()
        if not value_text:
            continue
        try:
            params.filters[f.name] = _parse_filter(f, value_text)
        except ValueError as exc:
            errors.append(f"{f.label}: {exc}")
        else:
            params.raw_filters[f.name] = value_text
    for a, b in zip(spec.filters, spec.filters[1:], strict=False):
        first, second = params.filters.get(a.name), params.filters.get(b.name)
        if (
            a.kind == b.kind == "date"
            and isinstance(first, dt.date)
            and isinstance(second, dt.date)
            and first > second
        ):
            errors.append(f"{a.label} ({first}) is after {b.label} ({second}).")
            del params.filters[b.name], params.raw_filters[b.name]
    sortable = {c.key for c in spec.columns if c.sort}
    sort = _first(query, "sort") or spec.default_sort
    if sort.removeprefix("-") not in sortable:
        names = ", ".join(sorted(sortable))
        errors.append(f"The list cannot be sorted by “{sort[:40]}” (it can be sorted by {names}).")
        sort = spec.default_sort
    params.sort = sort
    params.csv = _first(query, "format") == "csv"
    if _first(query, "format") not in (None, "", "csv"):
        errors.append("The only download format is csv.")
    per_page = _first(query, "per_page")
    if per_page is not None:
        number = parse_int(per_page, low=1, high=max(PER_PAGE_CHOICES))
        if number not in PER_PAGE_CHOICES:
            errors.append(
                "Rows per page must be one of " + ", ".join(map(str, PER_PAGE_CHOICES)) + "."
            )
        else:
            params.per_page = number
    page = _first(query, "page")
    if page == "all" and params.csv:
        params.page = None
    elif page is not None:
        number = parse_int(page, low=1, high=10**9)
        if number is None:
            errors.append("The page must be a whole number from 1 (or “all” for a CSV).")
        else:
            params.page = number
    return params, errors


def _parse_filter(f: Filter[Any], text: str) -> Any:
    if f.kind == "choice":
        allowed = {value for value, _label in f.choices}
        if text not in allowed:
            raise ValueError(f"“{text[:40]}” is not one of the choices.")
        return text
    if f.kind == "date":
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"“{text[:40]}” is not a date (YYYY-MM-DD).") from None
    if len(text) > MAX_SEARCH:
        raise ValueError(f"longer than {MAX_SEARCH} characters.")
    return f.parse(text) if f.parse is not None else text


def list_page(
    spec: ListSpec[M], objects: QuerySet[M], query: QueryDict, *, extra_errors: Iterable[str] = ()
) -> ListPage:
    """Filter, search, sort and cut ``objects`` as ``query`` asks."""
    params, errors = parse_params(spec, query)
    errors.extend(extra_errors)
    for f in spec.filters:
        if f.name in params.filters:
            objects = f.apply(objects, params.filters[f.name])
    if params.search and spec.search is not None:
        objects = spec.search(objects, params.search)
    column = next(c for c in spec.columns if c.key == params.sort.removeprefix("-"))
    descending = params.sort.startswith("-")
    order = [f"-{o}" if descending else o for o in column.sort]
    objects = objects.order_by(*order, "-pk" if descending else "pk")
    base = query.copy()
    for key in ("format",):
        base.pop(key, None)
    if base.get("page") == "all":
        base.pop("page")
    page: Page[Any] | None = None
    if params.page is None:
        chosen: Iterable[M] = objects
        total = objects.count()
    else:
        paginator = Paginator(objects, params.per_page)
        total = paginator.count
        last = paginator.num_pages
        number = params.page
        if number > last:
            errors.append(f"Page {number} does not exist: this list has {last} page(s).")
            number = last
            base.pop("page", None)
        page = paginator.page(number)
        chosen = page.object_list
    rows = [[c.render(obj) for c in spec.columns] for obj in chosen]
    return ListPage(
        spec=spec, params=params, errors=errors, rows=rows, total=total, page=page, base=base
    )


def csv_response(listing: ListPage, filename: str) -> HttpResponse:
    """The rows of ``listing`` as CSV, under the same column labels, formula-safe."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    writer = csv.writer(response)
    writer.writerow(escape_row([c.label for c in listing.spec.columns]))
    for row in listing.rows:
        writer.writerow(escape_row([cell.csv_text() for cell in row]))
    return response


def list_response(
    request: HttpRequest,
    spec: ListSpec[M],
    objects: QuerySet[M],
    *,
    template: str,
    context: dict[str, Any],
    filename: str,
    extra_errors: Iterable[str] = (),
) -> HttpResponse:
    """The list page (or its CSV); bad parameters answer 400 with the page and the reasons."""
    listing = list_page(spec, objects, request.GET, extra_errors=extra_errors)
    if listing.params.csv:
        if listing.errors:
            return HttpResponse(
                "\n".join(listing.errors) + "\n", status=400, content_type="text/plain"
            )
        return csv_response(listing, filename)
    return render(
        request,
        template,
        {**context, "listing": listing},
        status=400 if listing.errors else 200,
    )


_SENTINEL = 987654321987


def url_maker(name: str) -> Callable[[int], str]:
    """``reverse(name, args=[pk])`` for many rows: reversed once, then filled in (a list of
    2,000 rows would otherwise spend most of its time in the URL resolver)."""
    template = reverse(name, args=[_SENTINEL])
    head, tail = template.split(str(_SENTINEL), 1)
    return lambda pk: f"{head}{int(pk)}{tail}"


def query_string(**params: Any) -> str:
    """``?a=1&b=2`` without the empty ones (links from other pages into a filtered list)."""
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return "?" + urlencode(kept) if kept else ""
