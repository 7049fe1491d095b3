"""Typed properties that users give images (issue 13), as Panoptic has them.

A property has a name, a type and a mode:

- types: ``text``, ``number``, ``date``, ``checkbox``, ``url``, ``tag`` (one value from a list)
  and ``multi_tag`` (several);
- mode ``image``: the value belongs to the image's content, shared by all its copies (the
  target is ``images.id``); mode ``file``: to one path (the target is ``files.id``).

Values of the plain types live in ``property_values``, one row per (property, target), in the
column of the type (``text`` for text and url). The values of tag types are tags of that
property (``tags.property_id``, names unique within it) joined to images in ``image_tags`` or to
files in ``file_tags``. The tags made before properties existed are the values of the multi-tag
property ``tags`` (store.TAGS_PROPERTY_ID).

Names of the built-in fields (path, width, the metadata read from the files...) are not free:
a filter, a sort and an export name both kinds the same way.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import duckdb

from panoptui.core import journal, store
from panoptui.core.text import shown

TYPES = ("text", "number", "date", "checkbox", "url", "tag", "multi_tag")
TAG_TYPES = ("tag", "multi_tag")
MODES = ("image", "file")
# The column of property_values that holds each plain type's value.
VALUE_COLUMN = {"text": "text", "url": "text", "number": "number", "date": "date",
                "checkbox": "flag"}  # fmt: skip
# Fields every image has, read-only: from the files, the import and the metadata.
BUILT_IN = ("id", "folder", "path", "name", "format", "width", "height", "size", "missing",
            *store.METADATA_COLUMNS)  # fmt: skip
MAX_NAME = 200

# A value as Python holds it: str (text, url), float (number), datetime (date), bool (checkbox),
# list[str] (tag: one name; multi_tag: any number). None: no value.
Value = str | float | datetime | bool | list[str] | None


@dataclass(frozen=True)
class Property:
    id: int
    name: str
    type: str
    mode: str

    @property
    def is_tags(self) -> bool:
        return self.type in TAG_TYPES

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "type": self.type, "mode": self.mode}


def check_name(name: str) -> str:
    """A property's name as stored: stripped, not blank, one line, not a built-in field's."""
    from panoptui.core.tags import clean_name

    cleaned = clean_name(name, "property")
    if len(cleaned) > MAX_NAME or "\n" in cleaned or "\r" in cleaned:
        raise store.ProjectError(
            f"property name {shown(cleaned[:40])!r}… is too long or spans lines"
        )
    if cleaned.casefold() in {b.casefold() for b in BUILT_IN}:
        raise store.ProjectError(
            f"{cleaned!r} is a built-in field ({', '.join(BUILT_IN)}); choose another name"
        )
    return cleaned


def check_type(type_: str) -> str:
    if type_ not in TYPES:
        raise store.ProjectError(
            f"unknown property type {shown(type_)!r}; one of {', '.join(TYPES)}"
        )
    return type_


def list_properties(con: duckdb.DuckDBPyConnection) -> list[Property]:
    rows = con.execute("SELECT id, name, type, mode FROM properties ORDER BY id").fetchall()
    return [Property(int(i), str(n), str(t), str(m)) for i, n, t, m in rows]


def find_property(con: duckdb.DuckDBPyConnection, name: str) -> Property | None:
    """The property of that name, case ignored: names differing only in case are one name (a
    filter, a CSV header and a spreadsheet column name them alike)."""
    wanted = name.strip().casefold()
    for prop in list_properties(con):
        if prop.name.casefold() == wanted:
            return prop
    return None


def get_property(con: duckdb.DuckDBPyConnection, name: str) -> Property:
    """The property of that name; an error names the nearest one when there is."""
    found = find_property(con, name)
    if found is not None:
        return found
    if name.strip().casefold() in {b.casefold() for b in BUILT_IN}:
        raise store.ProjectError(
            f"{shown(name.strip())!r} is a built-in field, read from the files: it cannot be set"
        )
    names = [p.name for p in list_properties(con)]
    near = difflib.get_close_matches(name.strip(), names, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else " (see: panoptui properties PROJECT)"
    raise store.ProjectError(f"no property {shown(name.strip())!r} in this project{hint}")


def create_property(
    con: duckdb.DuckDBPyConnection, name: str, type_: str, mode: str = "image"
) -> Property:
    """Make a property, or return the one of that name when it has this type and mode."""
    name, type_ = check_name(name), check_type(type_)
    if mode not in MODES:
        raise store.ProjectError(f"unknown property mode {shown(mode)!r}; image or file")
    existing = find_property(con, name)
    if existing is not None:
        if (existing.type, existing.mode) != (type_, mode):
            raise store.ProjectError(
                f"property {existing.name!r} exists already, of type {existing.type} "
                f"({existing.mode})"
            )
        return existing
    with journal.change(con, f"create the {type_} property {name!r}") as change:
        change.watch("properties", name=[name])
        property_id = store.next_id(con, "properties")
        con.execute(
            "INSERT INTO properties VALUES (?, ?, ?, ?, ?)",
            [property_id, name, type_, mode, datetime.now()],
        )
    return Property(property_id, name, type_, mode)


# --- values ---------------------------------------------------------------------------------

_TRUE = {"true", "yes", "y", "1", "x", "on", "checked", "oui", "vrai"}
_FALSE = {"false", "no", "n", "0", "off", "unchecked", "non", "faux"}
# Dates as people write them besides ISO 8601: day first (Europe), with / . or -.
_DAY_FIRST = ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S")
_YEAR_MONTH = re.compile(r"^(\d{4})(?:-(\d{1,2}))?$")


def parse_date(text: str) -> datetime:
    """ISO 8601 (a date, a date-time, with T or a space, with or without an offset: kept as
    the local time written), a year (1990), a year and month (1990-05), and day/month/year
    (31/12/1990, 31.12.1990). Raises ValueError."""
    text = text.strip()
    found = _YEAR_MONTH.match(text)
    if found:
        return datetime(int(found.group(1)), int(found.group(2) or 1), 1)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed.replace(tzinfo=None)
    except ValueError:
        pass
    for form in _DAY_FIRST:
        try:
            return datetime.strptime(text, form)
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date (write 1990-12-31, or 31/12/1990)")


def parse_number(text: str) -> float:
    """A number as written in a spreadsheet: 12, -3.5, 1e6, and a decimal comma (3,5)."""
    cleaned = text.strip().replace("\u00a0", "").replace(" ", "")
    if re.fullmatch(r"-?\d+,\d+", cleaned):
        cleaned = cleaned.replace(",", ".")
    try:
        value = float(cleaned)
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text.strip()!r} is not a finite number")
    return value


def parse_value(type_: str, text: str) -> Value:
    """A value of ``type_`` from text (a CSV cell, a dialog, the CLI); empty text is None.
    Raises ValueError with a short reason."""
    text = text.strip()
    if text == "":
        return None
    if type_ in ("text", "url"):
        return text
    if type_ == "number":
        return parse_number(text)
    if type_ == "date":
        return parse_date(text)
    if type_ == "checkbox":
        lowered = text.casefold()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"{text!r} is not a checkbox value (true or false)")
    if type_ == "tag":
        return [text]
    if type_ == "multi_tag":
        names = [n.strip() for n in text.split(",") if n.strip()]
        return list(dict.fromkeys(names)) or None
    raise ValueError(f"unknown type {type_!r}")


def format_value(type_: str, value: Value) -> str:
    """A value as text that parse_value reads back the same (CSV, the CLI); None is ''."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _check_targets(con: duckdb.DuckDBPyConnection, prop: Property, targets: list[int]) -> None:
    table = "images" if prop.mode == "image" else "files"
    known = {
        int(i)
        for (i,) in con.execute(
            f"SELECT id FROM {table} WHERE id IN (SELECT unnest(?::BIGINT[]))", [targets]
        ).fetchall()
    }
    unknown = sorted(set(targets) - known)
    if unknown:
        what = "image" if prop.mode == "image" else "file"
        raise store.ProjectError(f"no {what} {unknown[0]} in this project")


def files_of_images(con: duckdb.DuckDBPyConnection, image_ids: Iterable[int]) -> list[int]:
    """The files (paths) of images: a file-mode property set on a selection of images goes to
    every path of each."""
    rows = con.execute(
        "SELECT id FROM files WHERE image_id IN (SELECT unnest(?::BIGINT[])) ORDER BY id",
        [list(image_ids)],
    ).fetchall()
    return [int(r[0]) for r in rows]


def targets_for_images(
    con: duckdb.DuckDBPyConnection, prop: Property, image_ids: list[int]
) -> list[int]:
    """What a value set on these images goes to: the images, or all their files."""
    return list(image_ids) if prop.mode == "image" else files_of_images(con, image_ids)


def set_values(
    con: duckdb.DuckDBPyConnection, prop: Property, targets: list[int], value: Value
) -> int:
    """Give each target (image ids, or file ids for a file-mode property) the same value; None
    clears it. A tag value replaces the target's tags of this property (add_tags adds). Returns
    how many targets it was set on."""
    return set_each(con, prop, [(t, value) for t in dict.fromkeys(targets)])


def set_each(con: duckdb.DuckDBPyConnection, prop: Property, pairs: list[tuple[int, Value]]) -> int:
    """Give each target its own value (a CSV import), in one statement per kind of change."""
    if not pairs:
        return 0
    targets = [int(t) for t, _ in pairs]
    _check_targets(con, prop, targets)
    verb = "clear" if all(v is None for _, v in pairs) else "set"
    with journal.change(con, f"{verb} {prop.name!r} on {_targets_said(prop, pairs)}") as change:
        if prop.is_tags:
            return _set_tags(con, change, prop, pairs)
        column = VALUE_COLUMN[prop.type]
        kept = [(t, v) for t, v in pairs if v is not None]
        stored = [_stored(prop.type, v) for _, v in kept]  # checked before anything changes
        change.watch("property_values", property_id=[prop.id], target_id=targets)
        con.execute(
            "DELETE FROM property_values WHERE property_id = ? "
            "AND target_id IN (SELECT unnest(?::BIGINT[]))",
            [prop.id, targets],
        )
        if kept:
            con.execute(
                f"INSERT INTO property_values (property_id, target_id, {column}) "
                "SELECT ?, unnest(?::BIGINT[]), unnest(?)",
                [prop.id, [t for t, _ in kept], stored],
            )
    return len(pairs)


def _targets_said(prop: Property, pairs: list[tuple[int, Value]] | list[int]) -> str:
    what = "image" if prop.mode == "image" else "file"
    n = len(pairs)
    return f"{n} {what}{'' if n == 1 else 's'}"


def _stored(type_: str, value: Value) -> object:
    """A value checked against its property's type, as its column holds it."""
    if type_ in ("text", "url") and isinstance(value, str):
        return value
    if type_ == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if type_ == "date" and isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if type_ == "checkbox" and isinstance(value, bool):
        return value
    raise store.ProjectError(f"a {type_} property cannot hold {shown(value)!r}")


def _tag_table(prop: Property) -> tuple[str, str]:
    return ("image_tags", "image_id") if prop.mode == "image" else ("file_tags", "file_id")


def _tag_ids(con: duckdb.DuckDBPyConnection, prop: Property) -> list[int]:
    rows = con.execute("SELECT id FROM tags WHERE property_id = ? ORDER BY id", [prop.id])
    return [int(i) for (i,) in rows.fetchall()]


def _make_tags(
    con: duckdb.DuckDBPyConnection, change: journal.Change, prop: Property, names: list[str]
) -> dict[str, int]:
    """The ids of tags of the property by name, made where new (watched first: undo removes
    the ones it made)."""
    from panoptui.core.tags import clean_name, create_tag

    cleaned = list(dict.fromkeys(clean_name(n) for n in names))
    change.watch("tags", property_id=[prop.id], name=cleaned)
    return {name: create_tag(con, name, property_id=prop.id) for name in cleaned}


def _set_tags(
    con: duckdb.DuckDBPyConnection,
    change: journal.Change,
    prop: Property,
    pairs: list[tuple[int, Value]],
) -> int:
    from panoptui.core.tags import clean_name

    names_of: list[tuple[int, list[str]]] = []
    for target, value in pairs:
        if value is not None and not isinstance(value, list):
            raise store.ProjectError(f"a {prop.type} property holds a list of tag names")
        if prop.type == "tag" and value is not None and len(value) > 1:
            raise store.ProjectError(
                f"property {prop.name!r} holds one tag; {len(value)} given ({', '.join(value)})"
            )
        names_of.append((int(target), [clean_name(n) for n in value or []]))
    table, column = _tag_table(prop)
    targets = [int(t) for t, _ in pairs]
    ids = _make_tags(con, change, prop, [n for _, names in names_of for n in names])
    change.watch(table, tag_id=_tag_ids(con, prop), **{column: targets})
    con.execute(
        f"DELETE FROM {table} WHERE {column} IN (SELECT unnest(?::BIGINT[])) "
        "AND tag_id IN (SELECT id FROM tags WHERE property_id = ?)",
        [targets, prop.id],
    )
    rows: tuple[list[int], list[int]] = ([], [])
    for target, names in names_of:
        for name in names:
            rows[0].append(ids[name])
            rows[1].append(int(target))
    if rows[0]:
        con.execute(
            f"INSERT INTO {table} SELECT unnest(?::INTEGER[]), unnest(?::BIGINT[]) "
            "ON CONFLICT DO NOTHING",
            [rows[0], rows[1]],
        )
    return len(pairs)


def values_of(
    con: duckdb.DuckDBPyConnection, prop: Property, targets: list[int]
) -> dict[int, Value]:
    """The targets' values that are set (a target without a value is absent)."""
    if prop.is_tags:
        table, column = _tag_table(prop)
        rows = con.execute(
            f"SELECT x.{column}, list(t.name ORDER BY t.name) FROM {table} x "
            "JOIN tags t ON t.id = x.tag_id "
            f"WHERE t.property_id = ? AND x.{column} IN (SELECT unnest(?::BIGINT[])) "
            f"GROUP BY x.{column}",
            [prop.id, targets],
        ).fetchall()
        return {int(t): [str(n) for n in names] for t, names in rows}
    column = VALUE_COLUMN[prop.type]
    rows = con.execute(
        f"SELECT target_id, {column} FROM property_values WHERE property_id = ? "
        "AND target_id IN (SELECT unnest(?::BIGINT[]))",
        [prop.id, targets],
    ).fetchall()
    return {int(t): v for t, v in rows if v is not None}


def count_values(con: duckdb.DuckDBPyConnection, prop: Property) -> int:
    """How many targets hold a value of the property (what deleting it loses)."""
    if prop.is_tags:
        table, column = _tag_table(prop)
        return int(
            store.scalar(
                con,
                f"SELECT count(DISTINCT x.{column}) FROM {table} x JOIN tags t ON t.id = x.tag_id "
                "WHERE t.property_id = ?",
                [prop.id],
            )
        )
    return int(
        store.scalar(con, "SELECT count(*) FROM property_values WHERE property_id = ?", [prop.id])
    )


# --- rename, delete, change the type (each one journaled change, in one transaction) ---------


def rename_property(con: duckdb.DuckDBPyConnection, old: str, new: str) -> Property:
    """Rename a property; the new name is checked as a new property's is."""
    prop = get_property(con, old)
    new = check_name(new)
    taken = find_property(con, new)
    if taken is not None and taken.id != prop.id:
        raise store.ProjectError(f"a property {taken.name!r} exists already (case is ignored)")
    if new == prop.name:
        return prop
    with journal.change(con, f"rename the property {prop.name!r} to {new!r}") as change:
        change.watch("properties", id=[prop.id])
        con.execute("UPDATE properties SET name = ? WHERE id = ?", [new, prop.id])
    return Property(prop.id, new, prop.type, prop.mode)


def _watch_values(con: duckdb.DuckDBPyConnection, change: journal.Change, prop: Property) -> None:
    """Watch every value of a property: its rows, or its tags and where they are set (and the
    recommendations refused for them)."""
    if prop.is_tags:
        from panoptui.core.tags import watch_parents

        ids = _tag_ids(con, prop)
        table, _ = _tag_table(prop)
        change.watch(table, tag_id=ids)
        change.watch("refused_recommendations", tag_id=ids)
        watch_parents(change, ids)
        change.watch("tags", property_id=[prop.id])
    else:
        change.watch("property_values", property_id=[prop.id])


def _delete_values(con: duckdb.DuckDBPyConnection, prop: Property) -> None:
    if prop.is_tags:
        from panoptui.core.tags import delete_parents

        ids = _tag_ids(con, prop)
        table, _ = _tag_table(prop)
        delete_parents(con, ids)
        for each in (table, "refused_recommendations", "tags"):
            key = "id" if each == "tags" else "tag_id"
            con.execute(f"DELETE FROM {each} WHERE {key} IN (SELECT unnest(?::BIGINT[]))", [ids])
    else:
        con.execute("DELETE FROM property_values WHERE property_id = ?", [prop.id])


def delete_property(con: duckdb.DuckDBPyConnection, name: str) -> int:
    """Delete a property and its values (and, for a tag property, its tags); returns how many
    targets held a value (what a dialog asks about before: count_values)."""
    prop = get_property(con, name)
    lost = count_values(con, prop)
    with journal.change(con, f"delete the property {prop.name!r} ({lost} values)") as change:
        _watch_values(con, change, prop)
        change.watch("properties", id=[prop.id])
        _delete_values(con, prop)
        con.execute("DELETE FROM properties WHERE id = ?", [prop.id])
    return lost


def all_values(con: duckdb.DuckDBPyConnection, prop: Property) -> dict[int, Value]:
    """Every target's value of the property (targets without one are absent)."""
    if prop.is_tags:
        table, column = _tag_table(prop)
        sql = f"SELECT DISTINCT {column} FROM {table} WHERE tag_id IN (SELECT unnest(?))"
        targets = [int(t) for (t,) in con.execute(sql, [_tag_ids(con, prop)]).fetchall()]
    else:
        sql = "SELECT target_id FROM property_values WHERE property_id = ?"
        targets = [int(t) for (t,) in con.execute(sql, [prop.id]).fetchall()]
    return values_of(con, prop, targets)


def _converted(old: str, new: str, value: Value) -> Value:
    """A value of type ``old`` as one of type ``new``, through its text; ValueError when it
    does not fit. A plain value becomes one tag name (a text holding commas too)."""
    if isinstance(value, list):
        if len(value) > 1 and new not in ("text", "url"):
            raise ValueError(f"holds several tags ({', '.join(value)})")
        text = ", ".join(value)
    else:
        text = format_value(old, value)
    if new in TAG_TYPES:
        return [text.strip()] if text.strip() else None
    return parse_value(new, text)


def change_type(con: duckdb.DuckDBPyConnection, name: str, new_type: str) -> tuple[Property, int]:
    """Change a property's type, its values converted: all of them, or none and a one-line
    error that counts those that do not fit and shows one. Returns the property and how many
    values it converted. Tag and multi-tag keep their tags (a multi-tag whose images hold one
    each becomes a tag); the other conversions go through each value's text."""
    prop = get_property(con, name)
    new_type = check_type(new_type)
    if new_type == prop.type:
        return prop, 0
    if prop.id == store.TAGS_PROPERTY_ID:
        raise store.ProjectError(
            f"{prop.name!r} holds the tags of tag, tags and recommend: it stays a multi_tag"
        )
    what = "image" if prop.mode == "image" else "file"
    values = all_values(con, prop)
    retyped = Property(prop.id, prop.name, new_type, prop.mode)
    said = f"change the type of {prop.name!r} from {prop.type} to {new_type}"
    if prop.is_tags and retyped.is_tags:
        several = {t: v for t, v in values.items() if isinstance(v, list) and len(v) > 1}
        if new_type == "tag" and several:
            target, names = next(iter(sorted(several.items())))
            raise store.ProjectError(
                f"cannot make {prop.name!r} a tag (one value each): {len(several)} "
                f"{what}s hold several of its tags (e.g. {what} {target}: "
                f"{shown(', '.join(names))})"
            )
        with journal.change(con, said) as change:
            change.watch("properties", id=[prop.id])
            con.execute("UPDATE properties SET type = ? WHERE id = ?", [new_type, prop.id])
        return retyped, len(values)
    converted: list[tuple[int, Value]] = []
    bad: list[tuple[int, str]] = []
    for target, value in sorted(values.items()):
        try:
            converted.append((target, _converted(prop.type, new_type, value)))
        except ValueError as exc:
            bad.append((target, str(exc)))
    if bad:
        target, reason = bad[0]
        raise store.ProjectError(
            f"cannot make {prop.name!r} a {new_type}: {len(bad)} of {len(values)} values do "
            f"not fit (e.g. {what} {target}: {shown(reason)})"
        )
    with journal.change(con, said) as change:
        _watch_values(con, change, prop)
        change.watch("properties", id=[prop.id])
        _delete_values(con, prop)
        con.execute("UPDATE properties SET type = ? WHERE id = ?", [new_type, prop.id])
        set_each(con, retyped, [(t, v) for t, v in converted if v is not None])
    return retyped, len(converted)


# --- tags of a multi-tag property added to / removed from a selection -----------------------


def _multi(prop: Property) -> None:
    if prop.type != "multi_tag":
        raise store.ProjectError(
            f"property {prop.name!r} is a {prop.type}: add and remove work on a multi_tag "
            "(set its value instead)"
        )


def add_tags(
    con: duckdb.DuckDBPyConnection, prop: Property, targets: list[int], names: list[str]
) -> int:
    """Add tags (made where new) to each target's value of a multi-tag property, keeping the
    ones it holds; returns how many (target, tag) pairs are new."""
    _multi(prop)
    targets = list(dict.fromkeys(int(t) for t in targets))
    _check_targets(con, prop, targets)
    table, column = _tag_table(prop)
    said = f"add {', '.join(names)} to {prop.name!r} on {_targets_said(prop, targets)}"
    with journal.change(con, said) as change:
        ids = list(_make_tags(con, change, prop, names).values())
        change.watch(table, tag_id=ids, **{column: targets})
        before = _pairs(con, table, column, ids, targets)
        con.execute(
            f"INSERT INTO {table} (tag_id, {column}) SELECT * FROM "
            "(SELECT unnest(?::INTEGER[])) CROSS JOIN (SELECT unnest(?::BIGINT[])) "
            "ON CONFLICT DO NOTHING",
            [ids, targets],
        )
        return _pairs(con, table, column, ids, targets) - before


def remove_tags(
    con: duckdb.DuckDBPyConnection, prop: Property, targets: list[int], names: list[str]
) -> int:
    """Remove tags from each target's value of a multi-tag property; returns how many (target,
    tag) pairs went. A name that is not one of the property's tags is an error."""
    from panoptui.core.tags import _tag_id, clean_name

    _multi(prop)
    targets = list(dict.fromkeys(int(t) for t in targets))
    _check_targets(con, prop, targets)
    ids = []
    for name in names:
        found = _tag_id(con, clean_name(name), prop.id)
        if found is None:
            raise store.ProjectError(f"{prop.name!r} has no tag {shown(clean_name(name))!r}")
        ids.append(found)
    table, column = _tag_table(prop)
    said = f"remove {', '.join(names)} from {prop.name!r} on {_targets_said(prop, targets)}"
    with journal.change(con, said) as change:
        change.watch(table, tag_id=ids, **{column: targets})
        before = _pairs(con, table, column, ids, targets)
        con.execute(
            f"DELETE FROM {table} WHERE tag_id IN (SELECT unnest(?::INTEGER[])) "
            f"AND {column} IN (SELECT unnest(?::BIGINT[]))",
            [ids, targets],
        )
        return before


def _pairs(
    con: duckdb.DuckDBPyConnection, table: str, column: str, ids: list[int], targets: list[int]
) -> int:
    return int(
        store.scalar(
            con,
            f"SELECT count(*) FROM {table} WHERE tag_id IN (SELECT unnest(?::INTEGER[])) "
            f"AND {column} IN (SELECT unnest(?::BIGINT[]))",
            [ids, targets],
        )
    )


@dataclass(frozen=True)
class Summary:
    """A property as `panoptui properties` lists it."""

    property: Property
    values: int

    def as_dict(self) -> dict[str, object]:
        return {**self.property.as_dict(), "values": self.values}


def summaries(con: duckdb.DuckDBPyConnection) -> list[Summary]:
    return [Summary(p, count_values(con, p)) for p in list_properties(con)]
