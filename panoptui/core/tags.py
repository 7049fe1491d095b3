"""Tags: named groups of images that a user makes, or saves from a clustering.

Tags nest (a clustering saved as tags: one tag per cluster under the clustering's name), and a
tag may have several parents (Panoptic's ``cat`` under both ``animal`` and ``pet``): its first
in ``tags.parent_id``, the others in ``tag_parents``; every query of the tags under a tag reads
both (store.TAG_LINKS_SQL). What must hold: a tag stands for its own images and those of every
tag under it, at any depth, through any parent: its view, its members and its count on the Tags
screen agree (``UNDER_TAG_SQL``). Deleting it deletes the tags under it that have no parent
left (which ``tags_under`` names first, so that a dialog can say so); one with another parent
stays, under that one. A loop (a tag under itself, from data written elsewhere) never makes a
query or a listing go round forever. Tags are listed in natural order: cluster 2 before
cluster 10.
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
    parent: str | None  # the name of the parent it is listed under; None at the top
    images: int  # images tagged with it or with a tag under it (what its view shows)
    depth: int = 0  # 0: a top-level tag; 1: a child of one; ...

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "parent": self.parent, "images": self.images}


# The ids of a tag of the ``tags`` property (the parameter: its name) and of every tag under
# it, at any depth, through any of their parents. DuckDB runs a recursive query as a subquery;
# browse's filter by tag uses it too, so that a tag's view and its members are the same images.
# UNION (not UNION ALL) keeps each id once, so a loop of parents ends.
UNDER_TAG_SQL = f"""
    WITH RECURSIVE under_tag(id) AS (
        SELECT id FROM tags WHERE name = ? AND property_id = {store.TAGS_PROPERTY_ID}
        UNION SELECT l.tag_id FROM {store.TAG_LINKS_SQL} l JOIN under_tag u ON l.parent_id = u.id
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


def tag_exists(
    con: duckdb.DuckDBPyConnection, name: str, property_id: int = store.TAGS_PROPERTY_ID
) -> bool:
    return _tag_id(con, clean_name(name), property_id) is not None


def get_tag(
    con: duckdb.DuckDBPyConnection, name: str, property_id: int = store.TAGS_PROPERTY_ID
) -> int:
    name = clean_name(name)
    tag_id = _tag_id(con, name, property_id)
    if tag_id is None:
        if property_id != store.TAGS_PROPERTY_ID:
            prop = property_name(con, property_id)
            raise store.ProjectError(
                f"no tag {name!r} in the property {prop!r} "
                f"(see: panoptui tags PROJECT --property {prop!r})"
            )
        raise store.ProjectError(f"no tag {name!r} in this project (see: panoptui tags PROJECT)")
    return tag_id


@dataclass(frozen=True)
class TagProperty:
    """A property whose values are tags (type tag or multi_tag): ``tags`` or one of the user's
    (an imported Panoptic project brings its own)."""

    id: int
    name: str


def property_name(con: duckdb.DuckDBPyConnection, property_id: int) -> str:
    """The name of a property (``tags`` when it is gone: it is made again on use)."""
    name = store.scalar(con, "SELECT name FROM properties WHERE id = ?", [property_id])
    return str(name) if name is not None else store.TAGS_PROPERTY_NAME


def tag_properties(con: duckdb.DuckDBPyConnection) -> list[TagProperty]:
    """The tag properties that hold at least one tag, in the order they were made (``tags``,
    id 1, first)."""
    rows = con.execute(
        "SELECT p.id, p.name FROM properties p WHERE p.type IN ('tag', 'multi_tag') "
        "AND EXISTS (SELECT 1 FROM tags t WHERE t.property_id = p.id) ORDER BY p.id"
    ).fetchall()
    return [TagProperty(int(i), str(n)) for i, n in rows]


def tag_property(con: duckdb.DuckDBPyConnection, name: str) -> TagProperty:
    """The tag property of that name (case ignored, as properties are named); another type of
    property, or none, is a one-line error."""
    from panoptui.core import properties  # properties imports this module

    if name.strip().casefold() in {b.casefold() for b in properties.BUILT_IN}:
        raise store.ProjectError(f"{name.strip()!r} is a built-in field, not a tag property")
    prop = properties.get_property(con, name)
    if not prop.is_tags:
        raise store.ProjectError(f"the property {prop.name!r} is a {prop.type}, not a tag property")
    return TagProperty(prop.id, prop.name)


def properties_with_tag(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    """The names of the tag properties that have a tag of that name, in property order (to say
    where a tag looked for in the wrong property is)."""
    rows = con.execute(
        "SELECT p.name FROM properties p JOIN tags t ON t.property_id = p.id "
        "WHERE t.name = ? ORDER BY p.id",
        [clean_name(name)],
    ).fetchall()
    return [str(r[0]) for r in rows]


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


def set_parents(con: duckdb.DuckDBPyConnection, tag_id: int, parent_ids: list[int]) -> None:
    """Make ``parent_ids`` all the parents of a tag, in order: the first in ``tags.parent_id``
    (the one parent panoptui always had), the others in ``tag_parents``; none: a top-level
    tag. A parent must be a tag of the same property, and neither the tag itself nor a tag
    under it (that loop would put the tag under itself). Made inside a journaled change, its
    undo restores the parents the tag had (as create_tag's tags)."""
    found = con.execute("SELECT property_id, name FROM tags WHERE id = ?", [tag_id]).fetchall()
    if not found:
        raise store.ProjectError(f"no tag with id {tag_id} in this project")
    property_id, name = int(found[0][0]), str(found[0][1])
    parents = list(dict.fromkeys(int(p) for p in parent_ids))  # each once, first stays first
    known = {
        int(i): (int(prop), str(parent_name))
        for i, prop, parent_name in con.execute(
            "SELECT id, property_id, name FROM tags WHERE id IN (SELECT unnest(?::INTEGER[]))",
            [parents],
        ).fetchall()
    }
    below = {
        int(i)
        for (i,) in con.execute(
            f"""
            WITH RECURSIVE below(id) AS (
                SELECT ?::INTEGER
                UNION SELECT l.tag_id FROM {store.TAG_LINKS_SQL} l
                    JOIN below b ON l.parent_id = b.id
            )
            SELECT id FROM below
            """,
            [tag_id],
        ).fetchall()
    }
    for parent in parents:
        if parent not in known:
            raise store.ProjectError(f"no tag with id {parent} to put the tag {name!r} under")
        parent_property, parent_name = known[parent]
        if parent_property != property_id:
            raise store.ProjectError(
                f"the tag {parent_name!r} is of another property: {name!r} cannot be under it"
            )
        if parent in below:
            raise store.ProjectError(
                f"the tag {name!r} cannot be under {parent_name!r}, which is "
                + ("itself" if parent == tag_id else "under it")
            )
    change = journal.open_change(con)
    if change is not None:
        change.watch("tags", id=[tag_id])
        change.watch("tag_parents", tag_id=[tag_id])
    _write_parents(con, tag_id, parents)


def _write_parents(con: duckdb.DuckDBPyConnection, tag_id: int, parents: list[int]) -> None:
    """Store a tag's parents as they are given (set_parents checks them)."""
    con.execute("DELETE FROM tag_parents WHERE tag_id = ?", [tag_id])
    if len(parents) > 1:
        con.execute("INSERT INTO tag_parents SELECT ?, unnest(?::INTEGER[])", [tag_id, parents[1:]])
    con.execute(
        "UPDATE tags SET parent_id = ? WHERE id = ?", [parents[0] if parents else None, tag_id]
    )


def parents_of(con: duckdb.DuckDBPyConnection, tag_id: int) -> list[int]:
    """A tag's parents: its first (``tags.parent_id``), then the others in id order."""
    first = store.scalar(con, "SELECT parent_id FROM tags WHERE id = ?", [tag_id])
    others = con.execute(
        "SELECT parent_id FROM tag_parents WHERE tag_id = ? ORDER BY parent_id", [tag_id]
    ).fetchall()
    return ([] if first is None else [int(first)]) + [int(p) for (p,) in others if p != first]


def watch_parents(change: journal.Change, ids: list[int]) -> None:
    """Watch the ``tag_parents`` rows of tags about to be deleted, as child and as parent (what
    ``delete_parents`` deletes), so that undo brings them back."""
    change.watch("tag_parents", tag_id=ids)
    change.watch("tag_parents", parent_id=ids)


def delete_parents(con: duckdb.DuckDBPyConnection, ids: list[int]) -> None:
    """Delete the ``tag_parents`` rows of deleted tags, as child and as parent: ids are reused
    (max + 1), and a new tag must inherit no parent, nor any child."""
    con.execute(
        "DELETE FROM tag_parents WHERE tag_id IN (SELECT unnest(?::INTEGER[])) "
        "OR parent_id IN (SELECT unnest(?::INTEGER[]))",
        [ids, ids],
    )


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


def rename_tag(
    con: duckdb.DuckDBPyConnection,
    old: str,
    new: str,
    property_id: int = store.TAGS_PROPERTY_ID,
) -> None:
    tag_id = get_tag(con, old, property_id)
    new = clean_name(new)
    taken = _tag_id(con, new, property_id)
    if taken == tag_id:
        return  # its own name again
    if taken is not None:
        raise store.ProjectError(f"a tag {new!r} exists already")
    with journal.change(con, f"rename the tag {clean_name(old)!r} to {new!r}") as change:
        change.watch("tags", id=[tag_id])
        con.execute("UPDATE tags SET name = ? WHERE id = ?", [new, tag_id])


def _parents_by_tag(con: duckdb.DuckDBPyConnection) -> dict[int, set[int]]:
    """Each tag's parents that exist (a parent that is gone, left by an older version, is no
    parent)."""
    parents: dict[int, set[int]] = {}
    for tag_id, parent_id in con.execute(
        f"SELECT l.tag_id, l.parent_id FROM {store.TAG_LINKS_SQL} l "
        "WHERE l.parent_id IN (SELECT id FROM tags)"
    ).fetchall():
        parents.setdefault(int(tag_id), set()).add(int(parent_id))
    return parents


def _deleted_with(con: duckdb.DuckDBPyConnection, tag_id: int) -> list[int]:
    """The ids that deleting a tag deletes: it, and every tag under it whose parents all go
    (one with a parent elsewhere stays, under that one)."""
    parents = _parents_by_tag(con)
    children: dict[int, list[int]] = {}
    for child, its_parents in parents.items():
        for parent in its_parents:
            children.setdefault(parent, []).append(child)
    gone, todo = {tag_id}, [tag_id]
    while todo:  # each tag enters once: a loop ends
        for child in children.get(todo.pop(), []):
            if child not in gone and parents[child] <= gone:
                gone.add(child)
                todo.append(child)
    return sorted(gone)


def tags_under(
    con: duckdb.DuckDBPyConnection, name: str, property_id: int = store.TAGS_PROPERTY_ID
) -> list[str]:
    """The names of the tags that deleting a tag deletes with it, in natural order: those under
    it, at any depth, but for one that has a parent elsewhere too."""
    tag_id = get_tag(con, name, property_id)
    ids = [i for i in _deleted_with(con, tag_id) if i != tag_id]
    rows = con.execute(
        "SELECT name FROM tags WHERE id IN (SELECT unnest(?::INTEGER[]))", [ids]
    ).fetchall()
    return sorted((str(r[0]) for r in rows), key=natural_key)


def delete_tag(
    con: duckdb.DuckDBPyConnection, name: str, property_id: int = store.TAGS_PROPERTY_ID
) -> list[str]:
    """Delete a tag (of the ``tags`` property unless said) and the tags under it that have no
    parent left (see ``tags_under``); a tag under it that has another parent loses this one.
    Returns the names of those deleted under it."""
    name = clean_name(name)
    tag_id = get_tag(con, name, property_id)  # a tag that does not exist is said
    under = tags_under(con, name, property_id)
    ids = _deleted_with(con, tag_id)
    # Tags that stay but lose a parent here: one whose first parent goes takes its next one.
    staying = [
        int(i)
        for (i,) in con.execute(
            f"SELECT DISTINCT tag_id FROM {store.TAG_LINKS_SQL} l "
            "WHERE parent_id IN (SELECT unnest(?::INTEGER[])) "
            "AND tag_id NOT IN (SELECT unnest(?::INTEGER[]))",
            [ids, ids],
        ).fetchall()
    ]
    with journal.change(con, f"delete the tag {name!r}") as change:
        for table in ("image_tags", "file_tags", "refused_recommendations"):
            change.watch(table, tag_id=ids)
        change.watch("tags", id=ids + staying)
        watch_parents(change, ids + staying)
        existing = {int(i) for (i,) in con.execute("SELECT id FROM tags").fetchall()}
        for tag in staying:
            kept = [p for p in parents_of(con, tag) if p in existing and p not in ids]
            _write_parents(con, tag, kept)
        delete_parents(con, ids)
        con.execute("DELETE FROM image_tags WHERE tag_id IN (SELECT unnest(?::INTEGER[]))", [ids])
        con.execute("DELETE FROM file_tags WHERE tag_id IN (SELECT unnest(?::INTEGER[]))", [ids])
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


def list_tags(
    con: duckdb.DuckDBPyConnection, property_id: int = store.TAGS_PROPERTY_ID
) -> list[Tag]:
    """Every tag of a tag property (``tags`` unless said), each followed by the tags under it,
    siblings in natural order, each with the images its view shows (its own and those of the
    tags under it; for a property of mode file, the images of the files tagged). A tag with
    several parents is listed under each of them (as Panoptic shows it)."""
    rows = con.execute(
        f"""
        WITH RECURSIVE below(top, id) AS (
            SELECT id, id FROM tags WHERE property_id = ?
            UNION SELECT b.top, l.tag_id FROM {store.TAG_LINKS_SQL} l
                JOIN below b ON l.parent_id = b.id
        )
        SELECT t.id, t.name, count(DISTINCT it.image_id)
        FROM tags t JOIN below b ON b.top = t.id
        LEFT JOIN (
            SELECT tag_id, image_id FROM image_tags
            UNION ALL SELECT ft.tag_id, f.image_id
                FROM file_tags ft JOIN files f ON f.id = ft.file_id
        ) it ON it.tag_id = b.id
        GROUP BY t.id, t.name
        """,
        [property_id],
    ).fetchall()
    names = {int(i): str(name) for i, name, _ in rows}
    images = {int(i): int(n) for i, _, n in rows}
    children: dict[int, list[int]] = {}
    # A parent that is gone (an older version left it) is no parent: such a tag is listed at
    # the top, not lost.
    has_parent: set[int] = set()
    for child, parents in _parents_by_tag(con).items():
        for parent in parents:
            if child in names and parent in names:
                children.setdefault(parent, []).append(child)
                has_parent.add(child)

    def order(ids: list[int] | set[int]) -> list[int]:
        return sorted(ids, key=lambda i: (natural_key(names[i]), i))

    listed: list[Tag] = []
    seen: set[int] = set()

    def add(tag: int, parent: int | None, depth: int, path: frozenset[int]) -> None:
        listed.append(
            Tag(names[tag], None if parent is None else names[parent], images[tag], depth)
        )
        seen.add(tag)
        for child in order(children.get(tag, [])):
            if child not in path:  # a loop back to a tag above: it is listed there already
                add(child, tag, depth + 1, path | {child})

    for top in order(set(names) - has_parent):
        add(top, None, 0, frozenset([top]))
    # Tags on a loop that no top-level tag leads to: each loop listed once, from the top.
    for tag in order(set(names)):
        if tag not in seen:
            add(tag, None, 0, frozenset([tag]))
    return listed


def child_tags(
    con: duckdb.DuckDBPyConnection, parent: str, property_id: int = store.TAGS_PROPERTY_ID
) -> list[str]:
    """The names of the tags directly under ``parent``, a tag of a tag property (``tags``
    unless said), through any of their parents, in natural order (none: an empty list)."""
    rows = con.execute(
        f"SELECT t.name FROM {store.TAG_LINKS_SQL} l JOIN tags t ON t.id = l.tag_id "
        "JOIN tags p ON p.id = l.parent_id WHERE p.name = ? AND p.property_id = ?",
        [parent, property_id],
    ).fetchall()
    return sorted((str(r[0]) for r in rows), key=natural_key)
