"""Pure helpers behind the shared page components (templates/components.html): no I/O, easy to test.

- form_errors: the API's `{"error": {"code", "message", "field"}}` -> the message under the right form field;
- bar_chart: the geometry of a server-rendered SVG bar chart (the template adds a table of the same figures);
- sortable: rows sorted by a column from the query string, with the links and aria-sort each header needs
  (the table sorts without JavaScript through those links; templates/pages.js sorts in place when it can);
- csv_download: a CSV file answer through chalicelib/exports.py (formula cells neutralised).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Optional, Sequence
from urllib.parse import urlencode

from chalicelib.errors import ApiError
from chalicelib.exports import to_csv

FORM = "_form"  # errors that name no field of the form: shown in the summary at the top


def form_errors(error, field_names: Mapping[str, str] | Iterable[str] = ()) -> dict[str, str]:
    """{form field: message} from an ApiError or an API error body. `field_names` maps the API's field (e.g.
    `goal.minutes`) to the form's input name; a plain list means they are the same. An API field the form does
    not have, or no field at all, goes under FORM."""
    if isinstance(error, ApiError):
        field, message = error.field, error.message
    else:
        body = (error or {}).get("error") or {}
        field, message = body.get("field"), body.get("message") or "is not valid"
    mapping = dict(field_names) if isinstance(field_names, Mapping) else {name: name for name in field_names}
    return {mapping.get(field, FORM) if field else FORM: message}


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the value as people read it (e.g. 1,20,000 or 42%)
    y: float
    width: float


@dataclass(frozen=True)
class BarChart:
    title: str
    bars: tuple[Bar, ...]
    width: int
    height: int
    bar_height: int
    label_gap: int  # the label sits above its bar: no long org name is cut at 360 px


def bar_chart(title: str, items: Sequence[tuple[str, float]], text: Callable[[float], str] = str,
              width: int = 600, bar_height: int = 18, row_height: int = 50) -> BarChart:
    """Horizontal bars scaled to the largest value (0 when every value is 0); one row per item, label above."""
    largest = max((value for _, value in items), default=0) or 1
    usable = width - 90  # room on the right for the value's text
    bars = tuple(Bar(label, value, text(value), n * row_height + 26, max(value, 0) / largest * usable)
                 for n, (label, value) in enumerate(items))
    return BarChart(title, bars, width, max(len(items), 1) * row_height + 8, bar_height, 8)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    numeric: bool = False


@dataclass(frozen=True)
class Header:
    column: Column
    href: str  # the same page sorted by this column (reversed when it is the current one)
    aria_sort: str  # ascending, descending or none


def sortable(rows: Sequence[dict], columns: Sequence[Column], query: Mapping[str, str], default: str,
             default_order: str = "asc", prefix: str = "") -> tuple[list[dict], list[Header]]:
    """Rows sorted by `<prefix>sort` / `<prefix>order` from the query (unknown values -> the default column), and
    the headers' links. `prefix` tells several tables on one page apart."""
    keys = {c.key: c for c in columns}
    sort = query.get(f"{prefix}sort") if query.get(f"{prefix}sort") in keys else default
    order = query.get(f"{prefix}order") if query.get(f"{prefix}order") in ("asc", "desc") else default_order
    numeric = keys[sort].numeric

    def key(row):
        value = row.get(sort)
        if numeric:
            return (value is None, value if value is not None else 0)
        return (value is None, str(value or "").casefold())
    ordered = sorted(rows, key=key, reverse=(order == "desc"))
    if order == "desc":  # missing values last either way
        ordered = [r for r in ordered if r.get(sort) is not None] + [r for r in ordered if r.get(sort) is None]
    headers = []
    for column in columns:
        current = column.key == sort
        flipped = ("desc" if order == "asc" else "asc") if current else ("desc" if column.numeric else "asc")
        others = {k: v for k, v in query.items() if k not in (f"{prefix}sort", f"{prefix}order")}
        href = "?" + urlencode({**others, f"{prefix}sort": column.key, f"{prefix}order": flipped})
        headers.append(Header(column, href, ("ascending" if order == "asc" else "descending") if current else "none"))
    return ordered, headers


@dataclass(frozen=True)
class Download:
    """A file answer (the page layer sends it with Content-Disposition: attachment)."""
    body: str
    filename: str
    content_type: str = "text/csv; charset=utf-8"


def csv_download(filename: str, header: Sequence[str], rows: Iterable[Sequence]) -> Download:
    # The BOM makes Excel read UTF-8 (Hindi names) correctly; other tools ignore it.
    safe_name = re.sub(r"[^A-Za-z0-9._-]+", "-", filename).strip("-") or "report.csv"
    return Download("\ufeff" + to_csv(header, rows), safe_name)


def movement(rank: Optional[int], previous: Optional[int]) -> tuple[str, int]:
    """('up'|'down'|'same'|'new'|'', places) comparing a rank with last period's; '' when there is nothing
    to compare (not ranked now, or a period without a previous one)."""
    if rank is None:
        return "", 0
    if previous is None:
        return "new", 0
    if rank < previous:
        return "up", previous - rank
    if rank > previous:
        return "down", rank - previous
    return "same", 0
