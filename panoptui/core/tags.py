"""Tags: named groups of images that a user makes, or saves from a clustering."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np

from panoptui.core import store
from panoptui.core.text import shown


@dataclass(frozen=True)
class Tag:
    name: str
    parent: str | None  # the parent tag's name; None for a top-level tag
    images: int  # images tagged with it (not counting its children's)

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "parent": self.parent, "images": self.images}


def clean_name(name: str, what: str = "tag") -> str:
    """A name (of a tag, a clustering, a group) as stored and looked up: without the blanks
    around it. Every way of naming one passes through here, so " b" and "b" are one tag, and a
    blank name, or one that is not UTF-8 text (bytes from a shell argument), is refused."""
    cleaned = name.strip()
    if not cleaned:
        raise store.ProjectError(f"a {what} needs a name that is not blank")
    try:
        cleaned.encode("utf-8")
    except UnicodeEncodeError:
        raise store.ProjectError(
            f"{what} name {shown(cleaned)} is not valid UTF-8 text; type it again"
        ) from None
    return cleaned


def _tag_id(con: duckdb.DuckDBPyConnection, name: str) -> int | None:
    value = store.scalar(con, "SELECT id FROM tags WHERE name = ?", [name])
    return None if value is None else int(value)


def get_tag(con: duckdb.DuckDBPyConnection, name: str) -> int:
    name = clean_name(name)
    tag_id = _tag_id(con, name)
    if tag_id is None:
        raise store.ProjectError(f"no tag {name!r} in this project (see: panoptui tags PROJECT)")
    return tag_id


def create_tag(con: duckdb.DuckDBPyConnection, name: str, parent: str | None = None) -> int:
    """The tag's id, made if it does not exist yet."""
    name = clean_name(name)
    existing = _tag_id(con, name)
    if existing is not None:
        return existing
    parent_id = create_tag(con, parent) if parent else None
    tag_id = store.next_id(con, "tags")
    con.execute("INSERT INTO tags VALUES (?, ?, ?, ?)", [tag_id, name, parent_id, datetime.now()])
    return tag_id


def tag_images(con: duckdb.DuckDBPyConnection, name: str, image_ids: list[int]) -> int:
    """Tag images (made if needed); returns how many were newly tagged."""
    known = {
        int(i)
        for (i,) in con.execute(
            "SELECT id FROM images WHERE id IN (SELECT unnest(?::BIGINT[]))", [image_ids]
        ).fetchall()
    }
    unknown = sorted(set(image_ids) - known)
    if unknown:
        raise store.ProjectError(f"no image {unknown[0]} in this project")
    tag_id = create_tag(con, name)
    before = int(store.scalar(con, "SELECT count(*) FROM image_tags WHERE tag_id = ?", [tag_id]))
    con.execute(
        "INSERT INTO image_tags SELECT ?, unnest(?::BIGINT[]) ON CONFLICT DO NOTHING",
        [tag_id, sorted(known)],
    )
    after = int(store.scalar(con, "SELECT count(*) FROM image_tags WHERE tag_id = ?", [tag_id]))
    return after - before


def untag_images(con: duckdb.DuckDBPyConnection, name: str, image_ids: list[int]) -> None:
    con.execute(
        "DELETE FROM image_tags WHERE tag_id = ? AND image_id IN (SELECT unnest(?::BIGINT[]))",
        [get_tag(con, name), image_ids],
    )


def rename_tag(con: duckdb.DuckDBPyConnection, old: str, new: str) -> None:
    tag_id = get_tag(con, old)
    new = clean_name(new)
    taken = _tag_id(con, new)
    if taken == tag_id:
        return  # its own name again
    if taken is not None:
        raise store.ProjectError(f"a tag {new!r} exists already")
    con.execute("UPDATE tags SET name = ? WHERE id = ?", [new, tag_id])


def delete_tag(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Delete a tag and the tags under it."""
    tag_id = get_tag(con, name)
    children = [
        int(i)
        for (i,) in con.execute("SELECT id FROM tags WHERE parent_id = ?", [tag_id]).fetchall()
    ]
    ids = [tag_id, *children]
    con.execute("DELETE FROM image_tags WHERE tag_id IN (SELECT unnest(?::INTEGER[]))", [ids])
    con.execute("DELETE FROM tags WHERE id IN (SELECT unnest(?::INTEGER[]))", [ids])


def tag_members(con: duckdb.DuckDBPyConnection, name: str) -> np.ndarray:
    """Ids of the images with a tag or with any tag under it."""
    tag_id = get_tag(con, name)
    rows = con.execute(
        "SELECT DISTINCT image_id FROM image_tags WHERE tag_id = ? "
        "OR tag_id IN (SELECT id FROM tags WHERE parent_id = ?)",
        [tag_id, tag_id],
    ).fetchall()
    return np.array([r[0] for r in rows], np.int64)


def list_tags(con: duckdb.DuckDBPyConnection) -> list[Tag]:
    """Every tag, each parent followed by its children, with the images tagged with it."""
    return [
        Tag(name, parent, int(count))
        for name, parent, count in con.execute(
            """
            SELECT t.name, p.name, count(it.image_id)
            FROM tags t LEFT JOIN tags p ON p.id = t.parent_id
            LEFT JOIN image_tags it ON it.tag_id = t.id
            GROUP BY t.id, t.name, p.name
            ORDER BY coalesce(p.name, t.name), p.name NULLS FIRST, t.name
            """
        ).fetchall()
    ]


def child_tags(con: duckdb.DuckDBPyConnection, parent: str) -> list[str]:
    """The names of the tags directly under ``parent``, sorted (none: an empty list)."""
    rows = con.execute(
        "SELECT t.name FROM tags t JOIN tags p ON p.id = t.parent_id WHERE p.name = ? "
        "ORDER BY t.name",
        [parent],
    ).fetchall()
    return [str(r[0]) for r in rows]
