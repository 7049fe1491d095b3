"""Named views (issue 13), like Panoptic's tabs: a filter expression, sort keys and a grouping
kept under a name in the project, to switch between with a key. Each is one settings row,
``view/NAME``, holding JSON; views are listed in the order they were first saved."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import duckdb

from panoptui.core import store
from panoptui.core.browse import ImageFilter
from panoptui.core.store import TAGS_PROPERTY_NAME
from panoptui.core.tags import clean_name

PREFIX = "view/"


@dataclass(frozen=True)
class View:
    name: str
    where: str | None = None
    sort: str | None = None
    group: str | None = None
    tag: str | None = None
    folder: str | None = None

    def describe(self) -> str:
        parts = [
            f"tag {self.tag}" if self.tag else "",
            f"folder {self.folder}" if self.folder else "",
            f"where {self.where}" if self.where else "",
            f"sorted by {self.sort}" if self.sort else "",
            f"grouped by {self.group}" if self.group else "",
        ]
        return ", ".join(p for p in parts if p) or "all images"


def save_view(con: duckdb.DuckDBPyConnection, view: View) -> View:
    """Keep a view (replacing one of the same name). Its expressions are checked first: a view
    that cannot run is refused (FilterError), never saved."""
    from panoptui.core import filters

    view = View(**{**asdict(view), "name": clean_name(view.name, "view")})
    if view.where:
        filters.compile_filter(con, view.where)
    if view.sort:
        filters.parse_sort(con, view.sort)
    if view.group:
        filters.parse_group(con, view.group)
    values: dict[str, object] = {k: v for k, v in asdict(view).items() if k != "name"}
    # Its place among the views: kept when it is saved again.
    before = store.get_setting(con, PREFIX + view.name)
    try:
        values["saved"] = float(json.loads(before)["saved"]) if before else time.time()
    except (ValueError, TypeError, KeyError):
        values["saved"] = time.time()
    with store.transaction(con):
        con.execute("DELETE FROM settings WHERE key = ?", [PREFIX + view.name])
        con.execute("INSERT INTO settings VALUES (?, ?)", [PREFIX + view.name, json.dumps(values)])
    return view


def list_views(con: duckdb.DuckDBPyConnection) -> list[View]:
    """The saved views, in the order they were first saved."""
    rows = con.execute(
        "SELECT key, value FROM settings WHERE starts_with(key, ?)", [PREFIX]
    ).fetchall()
    found: list[tuple[float, View]] = []
    for key, value in rows:
        try:
            data = json.loads(value)
            fields = {k: data.get(k) for k in ("where", "sort", "group", "tag", "folder")}
            found.append((float(data.get("saved", 0)), View(str(key)[len(PREFIX) :], **fields)))
        except (ValueError, TypeError, AttributeError):
            continue  # a damaged row: not a view, and not worth failing the screen for
    return [view for _, view in sorted(found, key=lambda pair: (pair[0], pair[1].name))]


def delete_view(con: duckdb.DuckDBPyConnection, name: str) -> None:
    name = clean_name(name, "view")
    if not any(v.name == name for v in list_views(con)):
        raise store.ProjectError(f"no view {name!r} in this project")
    con.execute("DELETE FROM settings WHERE key = ?", [PREFIX + name])


def as_where(flt: ImageFilter) -> str | None:
    """One filter expression for a view's conditions: its expression, its tag (and the tags
    under it) and its folder (None: all images). Its name pattern is not one of them (views
    keep no name pattern)."""
    from panoptui.core.filter_completion import quoted

    parts = [f"({flt.where})" if flt.where else ""]
    if flt.tag:
        parts.append(f"{TAGS_PROPERTY_NAME} has any ({quoted(flt.tag, always=True)})")
    if flt.folder:
        parts.append(f"path startswith {quoted(flt.folder.rstrip('/') + '/', always=True)}")
    joined = " and ".join(p for p in parts if p)
    return joined or None


def group_filter(con: duckdb.DuckDBPyConnection, group: str, value: object) -> str:
    """The filter expression that takes the images of one group of ``group`` (``NAME`` or
    ``NAME:year|month|day``), as filters.group_counts gave it: opening a group is filtering by
    it, so the view can be kept, refined and shown like any other."""
    from datetime import date, timedelta

    from panoptui.core import filters
    from panoptui.core.filter_completion import quoted

    field, part = filters.parse_group(con, group)
    name = quoted(field.name)
    if value is None:
        return f"{name} is not set"
    if field.type in ("tags", "list"):
        return f"{name} has any ({quoted(str(value), always=True)})"
    if field.type == "date" and part:
        text = {"year": f"{value}-01-01", "month": f"{value}-01"}.get(part, str(value))
        start = date.fromisoformat(text)
        if part == "year":
            end = start.replace(year=start.year + 1)
        elif part == "month":  # the first of the next month
            end = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        else:
            end = start + timedelta(days=1)
        return f"{name} >= {start.isoformat()} and {name} < {end.isoformat()}"
    if field.type == "checkbox":
        return f"{name} = {'true' if value else 'false'}"
    if field.type == "number":
        return f"{name} = {value!r}" if isinstance(value, float) else f"{name} = {value}"
    return f"{name} = {quoted(str(value), always=True)}"
