"""Browsing a project a page at a time: images in import order (optionally within a tag or a
folder), their thumbnails and their details. A screen asks for one page; nothing here loads every
row, so 100,000 images page as fast as 300."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import duckdb
import numpy as np

from panoptui.core import store, tags
from panoptui.core.query import paths_of

GLOB_CHARACTERS = "*?["


@dataclass(frozen=True)
class ImageFilter:
    """Which images a view shows, and in what order: all, or those of a tag, below a folder,
    with a file whose path matches ``name`` (see ``name_filter``), taken by a filter
    expression ``where`` (core/filters.py); any of them together. ``sort``: sort keys
    (``date_taken,-width``; None: import order)."""

    tag: str | None = None
    folder: str | None = None
    name: str | None = None
    where: str | None = None
    sort: str | None = None

    def describe(self) -> str:
        parts = []
        if self.tag:
            parts.append(f"tag {self.tag}")
        if self.folder:
            parts.append(f"folder {self.folder}")
        if self.name:
            parts.append(f"name {self.name}")
        if self.where:
            parts.append(f"where {self.where}")
        described = ", ".join(parts) or "all images"
        return f"{described}, sorted by {self.sort}" if self.sort else described


def name_filter(pattern: str, base: ImageFilter = ImageFilter()) -> ImageFilter:
    """``base`` narrowed to the images with a file whose path matches ``pattern``, or
    ProjectError with a one-line reason. The CLI (`panoptui find`) and the Results screen (F)
    both search by name through here.

    Case is ignored. Without any of * ? [ the pattern is a plain substring of the path (no
    character is special: "%" and "_" too). With them it is a glob (``*`` any characters, ``/``
    included; ``?`` one; ``[abc]``, ``[a-z]``, ``[!a]`` a set), matched against the whole
    path when it starts with / or *, else against the path's end after a / (so ``cat_*.jpg``
    matches a file name, ``2024/*.png`` a folder and its files)."""
    pattern = pattern.strip()
    if not pattern:
        raise store.ProjectError("give a file name, part of a path, or a glob (* ? [)")
    if "[" in pattern and "]" not in pattern[pattern.index("[") + 1 :]:
        raise store.ProjectError(f"glob {pattern!r}: a [ without its closing ]")
    return replace(base, name=pattern)


def _name_clause(pattern: str) -> tuple[str, str]:
    """The SQL condition on ``path`` and its parameter for a name pattern (see name_filter)."""
    if not any(c in pattern for c in GLOB_CHARACTERS):
        return "contains(lower(f.path), ?)", pattern.lower()
    if not pattern.startswith(("/", "*")):
        pattern = "*/" + pattern
    return "lower(f.path) GLOB ?", pattern.lower()


@dataclass
class ImageDetails:
    image_id: int
    width: int
    height: int
    format: str
    mode: str
    size: int
    state: str
    paths: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    # EXIF, IPTC and XMP read at import, by store.METADATA_COLUMNS name (None where unset);
    # metadata.describe() says them for a person.
    metadata: dict[str, Any] = field(default_factory=dict)
    # The user's properties set on it: (name, value as text), in the order they were made.
    properties: list[tuple[str, str]] = field(default_factory=list)


def _where(con: duckdb.DuckDBPyConnection, flt: ImageFilter) -> tuple[str, list[Any]]:
    """The SQL condition on ``images AS i`` of a filter, and its parameters (a bad ``where`` or
    ``sort``: FilterError, a ProjectError)."""
    from panoptui.core import filters

    # Present images; missing ones too when the filter names ``missing`` (filters.images_scope),
    # whose folder and name are then those of their recorded files.
    condition, params = filters.scoped_filter(con, flt.where)
    clauses = [condition]
    files = filters.files_for(flt.where)
    if flt.tag:
        # The tag's images and those of every tag under it (a parent tag shows its children's).
        clauses.append(
            f"i.id IN (SELECT image_id FROM image_tags WHERE tag_id IN ({tags.UNDER_TAG_SQL}))"
        )
        params.append(flt.tag)
    if flt.folder:
        clauses.append(
            f"i.id IN (SELECT f.image_id FROM files f WHERE {files} AND starts_with(f.path, ?))"
        )
        # A folder is given as on disk; paths are stored escaped (store.stored_path).
        params.append(store.stored_path(flt.folder.rstrip("/") + "/")[0])
    if flt.name:
        condition, value = _name_clause(flt.name)
        clauses.append(f"i.id IN (SELECT f.image_id FROM files f WHERE {files} AND {condition})")
        params.append(value)
    return " AND ".join(clauses), params


def _order(con: duckdb.DuckDBPyConnection, flt: ImageFilter) -> tuple[str, str]:
    """The joins the sort keys need, and the ORDER BY (unset values last, then import
    order)."""
    if not flt.sort:
        return "", "ORDER BY i.id"
    from panoptui.core import filters

    values = filters.Values(filters.files_for(flt.where))
    order = filters.order_by(filters.parse_sort(con, flt.sort), values)
    return values.sql(), order


def count_images(con: duckdb.DuckDBPyConnection, flt: ImageFilter = ImageFilter()) -> int:
    where, params = _where(con, flt)
    return int(store.scalar(con, f"SELECT count(*) FROM images i WHERE {where}", params) or 0)


def filter_ids(con: duckdb.DuckDBPyConnection, flt: ImageFilter) -> np.ndarray:
    """Ids of every image a filter shows (to run a query among them)."""
    where, params = _where(con, flt)
    # fetchnumpy: 100,000 ids in 20 ms, without a Python object for each.
    ids = con.execute(f"SELECT i.id FROM images i WHERE {where} ORDER BY i.id", params).fetchnumpy()
    return np.asarray(ids["id"], np.int64)


def page_images(
    con: duckdb.DuckDBPyConnection, offset: int, limit: int, flt: ImageFilter = ImageFilter()
) -> list[tuple[int, str]]:
    """(image id, one path) for images offset..offset+limit, in import order or the filter's
    sort."""
    where, params = _where(con, flt)
    joins, order = _order(con, flt)
    ids = [
        int(r[0])
        for r in con.execute(
            f"SELECT i.id FROM images i {joins} WHERE {where} {order} LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
    ]
    paths = paths_of(con, ids)
    absent = [i for i in ids if i not in paths]
    if absent:  # missing images (a filter naming ``missing``): where their files were
        paths.update(recorded_paths(con, absent))
    return [(i, paths.get(i, "")) for i in ids]


def recorded_paths(con: duckdb.DuckDBPyConnection, image_ids: list[int]) -> dict[int, str]:
    """One path per image, its first file whatever its state: for an image with no present
    file, the path it is expected at."""
    return {
        int(i): p
        for i, p in con.execute(
            "SELECT image_id, min_by(path, id) FROM files "
            "WHERE image_id IN (SELECT unnest(?::BIGINT[])) GROUP BY image_id",
            [image_ids],
        ).fetchall()
    }


def thumbnails(con: duckdb.DuckDBPyConnection, image_ids: list[int]) -> dict[int, bytes]:
    """The stored JPEG thumbnails of some images (made at import: no original is decoded)."""
    if not image_ids:
        return {}
    return {
        int(i): bytes(jpeg)
        for i, jpeg in con.execute(
            "SELECT image_id, jpeg FROM thumbnails WHERE image_id IN (SELECT unnest(?::BIGINT[]))",
            [image_ids],
        ).fetchall()
    }


def image_details(con: duckdb.DuckDBPyConnection, image_id: int) -> ImageDetails | None:
    columns = ", ".join(store.METADATA_COLUMNS)  # our own identifiers
    rows = con.execute(
        f"SELECT id, width, height, format, mode, size, state, {columns} FROM images WHERE id = ?",
        [image_id],
    ).fetchall()
    if not rows:
        return None
    i, width, height, fmt, mode, size, state, *values = rows[0]
    metadata = dict(zip(store.METADATA_COLUMNS, values, strict=True))
    # A present image's present files; a missing one's, where its files were (the pane says
    # they are missing: ``state``).
    wanted = store.FILE_OK if state == store.IMAGE_OK else store.FILE_MISSING
    paths = [
        r[0]
        for r in con.execute(
            "SELECT path FROM files WHERE image_id = ? AND state = ? ORDER BY id",
            [image_id, wanted],
        ).fetchall()
    ]
    tag_names = [
        r[0]
        for r in con.execute(
            "SELECT t.name FROM image_tags it JOIN tags t ON t.id = it.tag_id "
            "WHERE it.image_id = ? AND t.property_id = ? ORDER BY t.name",
            [image_id, store.TAGS_PROPERTY_ID],
        ).fetchall()
    ]
    return ImageDetails(
        int(i), width, height, fmt, mode, int(size), state, paths, tag_names, metadata=metadata,
        properties=property_values(con, int(i)),
    )  # fmt: skip


def property_values(con: duckdb.DuckDBPyConnection, image_id: int) -> list[tuple[str, str]]:
    """(name, value as text) of each property the image has a value of, but ``tags`` (shown on
    its own); a file property's values of its several paths are joined with " | "."""
    from panoptui.core import properties

    found = []
    for prop in properties.list_properties(con):
        if prop.id == store.TAGS_PROPERTY_ID:
            continue
        targets = properties.targets_for_images(con, prop, [image_id])
        values = properties.values_of(con, prop, targets)
        texts = dict.fromkeys(properties.format_value(prop.type, values[t]) for t in values)
        if texts:
            found.append((prop.name, " | ".join(texts)))
    return found


def folders(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The project's folders."""
    return [r[0] for r in con.execute("SELECT path FROM folders ORDER BY path").fetchall()]


def directories(con: duckdb.DuckDBPyConnection, limit: int = 1000) -> list[str]:
    """The project's folders and every directory holding images below them (the first
    ``limit``, in order), to filter by, as on disk (filters.real_text). Split at forward
    slashes only: a backslash is part of a file name on Linux (DuckDB's default separator
    splits at both)."""
    from panoptui.core.filters import real_text

    rows = con.execute(
        "SELECT path FROM folders UNION SELECT DISTINCT parse_dirpath(path, 'forward_slash') "
        "FROM files "
        "WHERE state = 'ok' ORDER BY 1 LIMIT ?",
        [limit],
    ).fetchall()
    return [real_text(r[0]) for r in rows]
