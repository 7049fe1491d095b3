"""Tags: named groups of images that a user makes, or saves from a clustering.

Tags nest (a clustering saved as tags: one tag per cluster under the clustering's name). What
must hold: a tag stands for its own images and those of every tag under it, at any depth: its
view, its members and its count on the Tags screen agree (``UNDER_TAG_SQL``), and deleting it
deletes the tags under it (which ``tags_under`` names first, so that a dialog can say so).
Tags are listed in natural order: cluster 2 before cluster 10.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np

from panoptui.core import journal, store
from panoptui.core.text import shown


@dataclass(frozen=True)
class Tag:
    name: str
    parent: str | None  # the parent tag's name; None for a top-level tag
    images: int  # images tagged with it or with a tag under it (what its view shows)
    depth: int = 0  # 0: a top-level tag; 1: a child of one; ...

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "parent": self.parent, "images": self.images}


# The ids of a tag of the ``tags`` property (the parameter: its name) and of every tag under
# it, at any depth. DuckDB runs a recursive query as a subquery; browse's filter by tag uses it
# too, so that a tag's view and its members are the same images.
UNDER_TAG_SQL = f"""
    WITH RECURSIVE under_tag(id) AS (
        SELECT id FROM tags WHERE name = ? AND property_id = {store.TAGS_PROPERTY_ID}
        UNION SELECT t.id FROM tags t JOIN under_tag u ON t.parent_id = u.id
    )
    SELECT id FROM under_tag
"""


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key of a name: its runs of digits by their value ("c/2" before "c/10"), the rest
    case-folded (each part tagged, so that a number never meets a string)."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part.casefold())
        for part in re.split(r"(\d+)", name)
        if part
    )


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


def _tag_id(
    con: duckdb.DuckDBPyConnection, name: str, property_id: int = store.TAGS_PROPERTY_ID
) -> int | None:
    value = store.scalar(
        con, "SELECT id FROM tags WHERE property_id = ? AND name = ?", [property_id, name]
    )
    return None if value is None else int(value)


def tag_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return _tag_id(con, clean_name(name)) is not None


def get_tag(con: duckdb.DuckDBPyConnection, name: str) -> int:
    name = clean_name(name)
    tag_id = _tag_id(con, name)
    if tag_id is None:
        raise store.ProjectError(f"no tag {name!r} in this project (see: panoptui tags PROJECT)")
    return tag_id


def create_tag(
    con: duckdb.DuckDBPyConnection,
    name: str,
    parent: str | None = None,
    property_id: int = store.TAGS_PROPERTY_ID,
) -> int:
    """The tag's id in a tag property (the ``tags`` one unless said), made if it does not
    exist yet."""
    name = clean_name(name)
    existing = _tag_id(con, name, property_id)
    if existing is not None:
        return existing
    parent_id = create_tag(con, parent, property_id=property_id) if parent else None
    if property_id == store.TAGS_PROPERTY_ID:
        ensure_tags_property(con)
    tag_id = store.next_id(con, "tags")
    change = journal.open_change(con)
    if change is not None:  # made inside a journaled change: its undo removes the tag
        change.watch("tags", id=[tag_id])
    con.execute(
        "INSERT INTO tags (id, property_id, name, parent_id, created_at) VALUES (?, ?, ?, ?, ?)",
        [tag_id, property_id, name, parent_id, datetime.now()],
    )
    return tag_id


def ensure_tags_property(con: duckdb.DuckDBPyConnection) -> None:
    """The ``tags`` property, made again if a user deleted it (tag and recommend put their tags
    there)."""
    if store.scalar(con, "SELECT 1 FROM properties WHERE id = ?", [store.TAGS_PROPERTY_ID]):
        return
    if store.scalar(con, "SELECT 1 FROM properties WHERE name = ?", [store.TAGS_PROPERTY_NAME]):
        raise store.ProjectError(
            f"the property {store.TAGS_PROPERTY_NAME!r} that tags go to was deleted, and "
            "another property has its name now; rename that one to tag images"
        )
    change = journal.open_change(con)
    if change is not None:
        change.watch("properties", id=[store.TAGS_PROPERTY_ID])
    con.execute(
        "INSERT INTO properties VALUES (?, ?, 'multi_tag', 'image', ?)",
        [store.TAGS_PROPERTY_ID, store.TAGS_PROPERTY_NAME, datetime.now()],
    )


def known_images(con: duckdb.DuckDBPyConnection, image_ids: list[int]) -> list[int]:
    """The images, sorted; an id that is not an image of the project is an error."""
    known = {
        int(i)
        for (i,) in con.execute(
            "SELECT id FROM images WHERE id IN (SELECT unnest(?::BIGINT[]))", [image_ids]
        ).fetchall()
    }
    unknown = sorted(set(image_ids) - known)
    if unknown:
        raise store.ProjectError(f"no image {unknown[0]} in this project")
    return sorted(known)


def _images_said(n: int) -> str:
    return f"{n} image{'' if n == 1 else 's'}"


def tag_images(con: duckdb.DuckDBPyConnection, name: str, image_ids: list[int]) -> int:
    """Tag images (made if needed); returns how many were newly tagged."""
    known = known_images(con, image_ids)
    name = clean_name(name)
    with journal.change(con, f"tag {_images_said(len(known))} {name!r}") as change:
        tag_id = create_tag(con, name)  # a new one is watched by create_tag
        change.watch("image_tags", tag_id=[tag_id], image_id=known)
        count = "SELECT count(*) FROM image_tags WHERE tag_id = ?"
        before = int(store.scalar(con, count, [tag_id]))
        con.execute(
            "INSERT INTO image_tags SELECT ?, unnest(?::BIGINT[]) ON CONFLICT DO NOTHING",
            [tag_id, known],
        )
        return int(store.scalar(con, count, [tag_id])) - before


def untag_images(con: duckdb.DuckDBPyConnection, name: str, image_ids: list[int]) -> None:
    tag_id = get_tag(con, name)
    ids = [int(i) for i in image_ids]
    said = f"untag {_images_said(len(ids))} {clean_name(name)!r}"
    with journal.change(con, said) as change:
        change.watch("image_tags", tag_id=[tag_id], image_id=ids)
        con.execute(
            "DELETE FROM image_tags WHERE tag_id = ? AND image_id IN (SELECT unnest(?::BIGINT[]))",
            [tag_id, ids],
        )


def rename_tag(con: duckdb.DuckDBPyConnection, old: str, new: str) -> None:
    tag_id = get_tag(con, old)
    new = clean_name(new)
    taken = _tag_id(con, new)
    if taken == tag_id:
        return  # its own name again
    if taken is not None:
        raise store.ProjectError(f"a tag {new!r} exists already")
    with journal.change(con, f"rename the tag {clean_name(old)!r} to {new!r}") as change:
        change.watch("tags", id=[tag_id])
        con.execute("UPDATE tags SET name = ? WHERE id = ?", [new, tag_id])


def tags_under(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    """The names of the tags under a tag, at any depth, in natural order (what deleting it
    deletes with it)."""
    name = clean_name(name)
    rows = con.execute(
        f"SELECT name FROM tags WHERE id IN ({UNDER_TAG_SQL}) AND name <> ?", [name, name]
    ).fetchall()
    return sorted((str(r[0]) for r in rows), key=natural_key)


def delete_tag(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    """Delete a tag and the tags under it, at any depth; returns the names of those under it."""
    name = clean_name(name)
    get_tag(con, name)  # a tag that does not exist is said
    under = tags_under(con, name)
    ids = [int(i) for (i,) in con.execute(UNDER_TAG_SQL, [name]).fetchall()]
    with journal.change(con, f"delete the tag {name!r}") as change:
        for table in ("image_tags", "refused_recommendations"):
            change.watch(table, tag_id=ids)
        change.watch("tags", id=ids)
        con.execute("DELETE FROM image_tags WHERE tag_id IN (SELECT unnest(?::INTEGER[]))", [ids])
        # Its refusals go too: ids are reused (max + 1), and a new tag must not inherit them.
        con.execute(
            "DELETE FROM refused_recommendations WHERE tag_id IN (SELECT unnest(?::INTEGER[]))",
            [ids],
        )
        con.execute("DELETE FROM tags WHERE id IN (SELECT unnest(?::INTEGER[]))", [ids])
    return under


def tag_members(con: duckdb.DuckDBPyConnection, name: str) -> np.ndarray:
    """Ids of the images with a tag or with any tag under it (at any depth), in id order."""
    name = clean_name(name)
    get_tag(con, name)  # a tag that does not exist is said
    rows = con.execute(
        f"SELECT DISTINCT image_id FROM image_tags WHERE tag_id IN ({UNDER_TAG_SQL}) "
        "ORDER BY image_id",
        [name],
    ).fetchall()
    return np.array([r[0] for r in rows], np.int64)


def list_tags(con: duckdb.DuckDBPyConnection) -> list[Tag]:
    """Every tag, each followed by the tags under it, siblings in natural order, each with the
    images its view shows (its own and those of the tags under it)."""
    rows = con.execute(
        """
        WITH RECURSIVE below(top, id) AS (
            SELECT id, id FROM tags WHERE property_id = ?
            UNION SELECT b.top, t.id FROM tags t JOIN below b ON t.parent_id = b.id
        )
        SELECT t.id, t.name, t.parent_id, count(DISTINCT it.image_id)
        FROM tags t JOIN below b ON b.top = t.id
        LEFT JOIN image_tags it ON it.tag_id = b.id
        GROUP BY t.id, t.name, t.parent_id
        """,
        [store.TAGS_PROPERTY_ID],
    ).fetchall()
    names = {int(i): str(name) for i, name, _, _ in rows}
    children: dict[int | None, list[tuple[str, int, int]]] = {}
    for i, name, parent, images in rows:
        # A parent that is gone (an older version left it): listed at the top, not lost.
        key = int(parent) if parent is not None and int(parent) in names else None
        children.setdefault(key, []).append((str(name), int(i), int(images)))
    listed: list[Tag] = []

    def add(parent: int | None, depth: int) -> None:
        for name, i, images in sorted(children.get(parent, []), key=lambda c: natural_key(c[0])):
            listed.append(Tag(name, None if parent is None else names[parent], images, depth))
            add(i, depth + 1)

    add(None, 0)
    return listed


def child_tags(con: duckdb.DuckDBPyConnection, parent: str) -> list[str]:
    """The names of the tags directly under ``parent``, in natural order (none: an empty
    list)."""
    rows = con.execute(
        "SELECT t.name FROM tags t JOIN tags p ON p.id = t.parent_id "
        "WHERE p.name = ? AND p.property_id = ?",
        [parent, store.TAGS_PROPERTY_ID],
    ).fetchall()
    return sorted((str(r[0]) for r in rows), key=natural_key)
