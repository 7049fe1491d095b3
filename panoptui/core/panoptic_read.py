"""Reading a Panoptic project folder, read-only, in either layout users have.

- Panoptic 1.0: ``project.db``, ``data.db``, ``media.db`` (SQLite, WAL). Deleted rows stay, with
  ``operation = -1``; a cleared value is a NULL value. Tags of per-image and per-instance
  properties are junction rows; a per-file tag value is a JSON list of tag ids.
- Panoptic 0.7: one ``panoptic.db``. Deletes are real; tag values are JSON lists of tag ids;
  its sha1 is of a re-encoded JPEG, so it serves only to join rows together here.

Nothing here writes: a database with a WAL beside it (Panoptic has it open) is read through
SQLite's read-only mode, which takes part in its locking; one without is opened ``immutable``
(which creates no -wal/-shm file beside it) and read again if it changed meanwhile. This module
turns the project into plain records; ``panoptic_import`` stores them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.request import pathname2url

import numpy as np

from panoptui.core import store
from panoptui.core.text import shown

LAYOUT_1 = "1.x"
LAYOUT_07 = "0.7"
# The database versions this reader knows, per file (Panoptic's own ``_version`` / ``panoptic``).
KNOWN_1 = {"data.db": 2, "media.db": 1, "project.db": 1}
KNOWN_07 = 7
# Panoptic's property types: the panoptui type each becomes. A colour is Panoptic's palette
# index (0 to 11), kept as a number; a path is text; an image link is a url.
TYPE_MAP = {
    "text": "text",
    "number": "number",
    "date": "date",
    "checkbox": "checkbox",
    "url": "url",
    "color": "number",
    "tag": "tag",
    "multi_tags": "multi_tag",
    "path": "text",
    "image_link": "url",
}
DELETED = -1  # Panoptic 1.0's ``operation`` of a deleted row


@dataclass(frozen=True, slots=True)
class Instance:
    """One Panoptic image instance: a file at a path, with the sha1 Panoptic keyed it by."""

    id: int
    path: str  # absolute, as Panoptic recorded it
    sha1: str
    file_id: int  # Panoptic 1.0's file row (0.7: the instance id itself)
    width: int
    height: int
    format: str


@dataclass(frozen=True, slots=True)
class Property:
    id: int
    name: str
    type: str  # Panoptic's dtype
    mode: str  # sha1 (per image), id (per instance), file (per file, 1.0)


@dataclass(frozen=True, slots=True)
class Tag:
    id: int
    property_id: int
    value: str
    parents: tuple[int, ...]  # alive parents only


@dataclass(frozen=True, slots=True)
class Value:
    """A value of a property: on an image (``sha1``), an instance or a file (``anchor``)."""

    property_id: int
    anchor: str | int  # sha1 for mode sha1, instance id for mode id, file id for mode file
    value: object  # decoded JSON; tag properties: a list of tag ids


@dataclass(frozen=True, slots=True)
class VectorType:
    id: int
    source: str
    model: str
    greyscale: bool
    count: int  # vectors stored
    dim: int  # 0 when none is stored


@dataclass
class PanopticProject:
    folder: Path
    layout: str
    version: str  # the database version read, in words
    name: str
    key: str  # what identifies the project across runs: its uuid (1.0) or its folder (0.7)
    roots: list[str]
    instances: list[Instance]
    properties: list[Property]
    tags: list[Tag]
    values: list[Value]
    vector_types: list[VectorType]
    # What stays behind, by reason (deleted rows, values of unknown properties...).
    left_out: dict[str, int] = field(default_factory=dict)
    _media: sqlite3.Connection | None = None
    _anchors: dict[str, str] = field(default_factory=dict)
    _copies: list[tempfile.TemporaryDirectory] = field(default_factory=list)

    def leave_out(self, reason: str, n: int = 1) -> None:
        if n:
            self.left_out[reason] = self.left_out.get(reason, 0) + n

    def add_value(self, property_id: int, key: object, value: object, tags: set[int]) -> None:
        """A value as stored (JSON text); a tag value is a list of tag ids (live ones kept)."""
        try:
            decoded = _json(value)
        except ValueError:
            self.leave_out("values_not_json")
            return
        if isinstance(decoded, list):
            decoded = [t for t in decoded if t in tags]
        anchor = _anchor(key)
        if isinstance(anchor, str):  # one text per sha1, however many values it has
            anchor = self._anchors.setdefault(anchor, anchor)
        self.values.append(Value(property_id, anchor, decoded))

    def vectors(self, type_id: int, batch: int = 4096) -> Iterator[list[tuple[str, np.ndarray]]]:
        """A vector type's vectors, (sha1, float32 vector), a batch at a time."""
        assert self._media is not None
        table = "vectors"
        cursor = self._media.execute(
            f"SELECT sha1, data FROM {table} WHERE type_id = ? ORDER BY sha1", [type_id]
        )
        while rows := cursor.fetchmany(batch):
            yield [(str(s), np.frombuffer(bytes(d), np.float32)) for s, d in rows]

    def thumbnails(self, sha1s: list[str]) -> dict[str, bytes]:
        """Panoptic's JPEG thumbnails of these images, the largest it kept up to 256 px."""
        assert self._media is not None
        found: dict[str, bytes] = {}
        for start in range(0, len(sha1s), 500):
            chunk = sha1s[start : start + 500]
            marks = ",".join("?" * len(chunk))
            if self.layout == LAYOUT_1:
                rows = self._media.execute(
                    "SELECT i.sha1, i.data FROM images i JOIN image_types t ON t.id = i.type_id "
                    f"WHERE i.sha1 IN ({marks}) ORDER BY abs(coalesce(t.width, 0) - 256) DESC",
                    chunk,
                ).fetchall()
            else:
                # 0.7 leaves a size empty when the image is not larger than it.
                rows = self._media.execute(
                    "SELECT sha1, coalesce(nullif(medium, x''), nullif(small, x''), "
                    f"nullif(large, x'')) FROM images WHERE sha1 IN ({marks})",
                    chunk,
                ).fetchall()
            for sha1, data in rows:  # the best last: it wins
                if data:
                    found[str(sha1)] = bytes(data)
        return found

    def close(self) -> None:
        if self._media is not None:
            self._media.close()
            self._media = None
        for copy in self._copies:
            copy.cleanup()
        self._copies = []


def _fail(folder: Path, why: str) -> store.ProjectError:
    return store.ProjectError(f"cannot read Panoptic project {shown(str(folder))}: {why}")


def _identity(roots: list[str], instances: list[Instance]) -> str:
    """What identifies a 0.7 project (which records no id of its own) wherever its folder
    goes: the folders it imported and its first image."""
    first = instances[0].sha1 if instances else ""
    return hashlib.sha1(json.dumps([sorted(roots), first]).encode()).hexdigest()[:16]


def _connect(
    folder: Path, name: str, copies: list[tempfile.TemporaryDirectory]
) -> sqlite3.Connection:
    """A read-only connection that leaves the folder as it was (see the module's docstring).
    A WAL left without its -shm (Panoptic was killed), or one SQLite cannot share read-only,
    is read from a copy of the database and its WAL in a temporary folder."""
    path = folder / name
    if not os.access(path, os.R_OK):
        raise _fail(folder, f"{name}: permission denied")
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    attempts = ["mode=ro"] if wal.exists() and shm.exists() else []
    if not wal.exists():
        attempts.append("immutable=1")
    for mode in attempts:
        try:
            url = "file:" + pathname2url(str(path))
            con = sqlite3.connect(f"{url}?{mode}", uri=True, check_same_thread=False)
        except sqlite3.Error as exc:
            raise _fail(folder, f"{name} is not a readable SQLite database ({exc})") from None
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchall()
            return con
        except sqlite3.Error as exc:
            con.close()
            if mode == "immutable=1" or "not a database" in str(exc):
                raise _fail(folder, f"{name} is not a readable SQLite database ({exc})") from None
    copy = tempfile.TemporaryDirectory(prefix="panoptui-panoptic-")
    copies.append(copy)
    try:
        for part in (path, wal):
            if part.exists():
                shutil.copyfile(part, Path(copy.name) / part.name)
        con = sqlite3.connect(str(Path(copy.name) / name), check_same_thread=False)
        con.execute("SELECT count(*) FROM sqlite_master").fetchall()
    except (OSError, sqlite3.Error) as exc:
        raise _fail(folder, f"{name} is not a readable SQLite database ({exc})") from None
    return con


def _stamp(folder: Path, names: list[str]) -> list[tuple[str, float, int, bool]]:
    """What tells that a database changed while it was read: its size and time, and whether a
    WAL appeared."""
    stamps = []
    for name in names:
        info = (folder / name).stat()
        stamps.append((name, info.st_mtime, info.st_size, (folder / f"{name}-wal").exists()))
    return stamps


def detect(folder: str | os.PathLike[str]) -> tuple[Path, str]:
    """The project folder and its layout; a one-line ProjectError when it is not one."""
    root = Path(folder).expanduser().absolute()
    try:
        if not root.is_dir():
            what = "does not exist" if not root.exists() else "is not a folder"
            raise store.ProjectError(f"Panoptic project {shown(str(root))} {what}")
        if all((root / name).is_file() for name in KNOWN_1):
            return root, LAYOUT_1
        if (root / "panoptic.db").is_file():
            return root, LAYOUT_07
        panoptui_project = (root / store.DB_NAME).is_file()
    except PermissionError:
        raise _fail(root, "permission denied") from None
    except OSError as exc:
        raise _fail(root, exc.strerror or str(exc)) from None
    if panoptui_project:
        raise store.ProjectError(
            f"{shown(str(root))} is a panoptui project, not a Panoptic one: nothing to import"
        )
    raise store.ProjectError(
        f"{shown(str(root))} is not a Panoptic project "
        "(no project.db, data.db and media.db of Panoptic 1.x, nor panoptic.db of 0.7)"
    )


def read_project(folder: str | os.PathLike[str]) -> PanopticProject:
    """Read a Panoptic project (everything but vectors and thumbnails, read on demand). The
    caller closes it. One-line ProjectError for every problem of the folder."""
    root, layout = detect(folder)
    names = list(KNOWN_1) if layout == LAYOUT_1 else ["panoptic.db"]
    for _attempt in range(3):
        before = _stamp(root, names)
        project = _read_1(root) if layout == LAYOUT_1 else _read_07(root)
        if _stamp(root, names) == before:
            return project
        project.close()  # Panoptic wrote meanwhile: read again
    raise _fail(root, "it kept changing while it was read; close Panoptic and try again")


def _version(con: sqlite3.Connection, root: Path, name: str, table: str) -> int:
    try:
        row = con.execute(f"SELECT value FROM {table} WHERE key = 'db_version'").fetchone()
    except sqlite3.OperationalError:  # no such table: not one of Panoptic's databases
        raise _fail(root, f"{name} has no database version Panoptic writes") from None
    except sqlite3.DatabaseError as exc:
        raise _fail(root, f"{name} is damaged ({exc})") from None
    try:
        return int(row[0])
    except (TypeError, ValueError):
        raise _fail(root, f"{name} has no database version Panoptic writes") from None


def _json(text: object) -> object:
    return json.loads(text) if isinstance(text, str | bytes) else text


def _ids(text: object) -> list[int]:
    """A JSON list of ids (a tag's parents); anything else is no id."""
    try:
        decoded = _json(text)
    except ValueError:
        return []
    if not isinstance(decoded, list):
        return []
    return [i for i in decoded if isinstance(i, int) and not isinstance(i, bool)]


def _read_1(root: Path) -> PanopticProject:
    copies: list[tempfile.TemporaryDirectory] = []
    cons: dict[str, sqlite3.Connection] = {}
    try:
        for name in KNOWN_1:
            cons[name] = _connect(root, name, copies)
        for name, known in KNOWN_1.items():
            version = _version(cons[name], root, name, "_version")
            if version > known:
                raise _fail(
                    root,
                    f"{name} is of a newer Panoptic (database version {version}; this panoptui "
                    f"reads version {known})",
                )
        try:
            project = _rows_1(root, cons["data.db"], cons["project.db"], cons["media.db"])
        except sqlite3.DatabaseError as exc:
            raise _fail(root, f"its databases cannot be read ({exc})") from None
    except BaseException:
        for con in cons.values():
            con.close()
        for copy in copies:
            copy.cleanup()
        raise
    cons["data.db"].close()
    cons["project.db"].close()
    project._copies = copies
    return project


def _rows_1(
    root: Path, data: sqlite3.Connection, config: sqlite3.Connection, media: sqlite3.Connection
) -> PanopticProject:
    data.execute("BEGIN")  # one snapshot of data.db, also while Panoptic writes to it
    settings = {
        str(k): _json(v) for k, v in config.execute("SELECT key, value FROM project_config")
    }
    instances = [
        Instance(int(i), f"{folder_path}/{name}", str(sha1), int(fid), w or 0, h or 0, fmt or "")
        for i, folder_path, name, sha1, fid, w, h, fmt in data.execute(
            "SELECT i.id, fo.path, f.name, i.sha1, f.id, f.width, f.height, f.format "
            "FROM instances i JOIN files f ON f.id = i.file_id "
            "JOIN folders fo ON fo.id = f.folder_id ORDER BY i.id"
        )
    ]
    roots = [str(p) for (p,) in data.execute("SELECT path FROM folders WHERE parent IS NULL")]
    project = PanopticProject(
        root,
        LAYOUT_1,
        f"Panoptic 1.x (data.db version {_version(data, root, 'data.db', '_version')})",
        str(settings.get("name") or root.name),
        f"panoptic:{settings.get('id') or root}",
        sorted(roots),
        instances,
        [],
        [],
        [],
        [],
        _media=media,
    )
    alive: set[int] = set()
    for pid, name, dtype, mode, operation in data.execute(
        "SELECT id, name, dtype, mode, operation FROM properties WHERE system_key IS NULL "
        "ORDER BY id"
    ):
        if operation == DELETED:
            project.leave_out("deleted_properties")
        elif dtype not in TYPE_MAP:
            project.leave_out(f"unknown_type:{dtype}")
        else:
            project.properties.append(Property(int(pid), str(name), str(dtype), str(mode)))
            alive.add(int(pid))
    tag_rows = data.execute("SELECT id, list_id, value, parents, operation FROM tags").fetchall()
    live_tags = {int(t[0]) for t in tag_rows if t[4] != DELETED and int(t[1]) in alive}
    for tid, list_id, value, parents, operation in sorted(tag_rows):
        if operation == DELETED:
            project.leave_out("deleted_tags")
        elif int(tid) in live_tags:
            # A deleted parent stays in its children's lists in 1.0: only live ones count.
            kept = tuple(p for p in _ids(parents) if p in live_tags)
            project.tags.append(Tag(int(tid), int(list_id), str(value), kept))
    for table, anchor in (
        ("sha1_values", "sha1"),
        ("instance_values", "instance_id"),
        ("file_values", "file_id"),
    ):
        for pid, key, value, operation in data.execute(
            f"SELECT property_id, {anchor}, value, operation FROM {table}"
        ):
            if operation == DELETED or int(pid) not in alive:
                project.leave_out("deleted_values")
            elif value is not None:  # a cleared value: NULL, not a tombstone
                project.add_value(int(pid), key, value, live_tags)
    tags_of: dict[tuple[int, str | int], list[int]] = {}
    for table, anchor in (("sha1_tag_values", "sha1"), ("instance_tag_values", "instance_id")):
        for pid, key, tid, operation in data.execute(
            f"SELECT property_id, {anchor}, tag_id, operation FROM {table} ORDER BY tag_id"
        ):
            if operation == DELETED or int(tid) not in live_tags or int(pid) not in alive:
                project.leave_out("deleted_tag_values")
            else:
                tags_of.setdefault((int(pid), _anchor(key)), []).append(int(tid))
    project.values.extend(Value(pid, key, ids) for (pid, key), ids in tags_of.items())
    project.vector_types = _vector_types(media, "vector_types")
    return project


def _anchor(key: object) -> str | int:
    return key if isinstance(key, str) else int(str(key))


def _vector_types(media: sqlite3.Connection, table: str) -> list[VectorType]:
    counts = {
        int(t): (int(n), int(size or 0))
        for t, n, size in media.execute(
            "SELECT type_id, count(*), max(length(data)) FROM vectors GROUP BY type_id"
        )
    }
    types = []
    for vid, source, params in media.execute(f"SELECT id, source, params FROM {table} ORDER BY id"):
        settings = _json(params) or {}
        if not isinstance(settings, dict):
            settings = {}
        n, size = counts.get(int(vid), (0, 0))
        types.append(
            VectorType(
                int(vid),
                str(source or ""),
                str(settings.get("model") or ""),
                bool(settings.get("greyscale")),
                n,
                size // 4,
            )
        )
    return types


def _read_07(root: Path) -> PanopticProject:
    copies: list[tempfile.TemporaryDirectory] = []
    con = _connect(root, "panoptic.db", copies)
    try:
        version = _version(con, root, "panoptic.db", "panoptic")
        if version > KNOWN_07:
            raise _fail(
                root,
                f"panoptic.db is of a newer Panoptic 0.x (database version {version}; this "
                f"panoptui reads version {KNOWN_07})",
            )
        if version < KNOWN_07:
            raise _fail(
                root,
                f"panoptic.db is of an older Panoptic (database version {version}); open it "
                "once with Panoptic 0.7 or later, which updates it, then import it",
            )
        try:
            project = _rows_07(root, con, version)
        except sqlite3.DatabaseError as exc:
            raise _fail(root, f"panoptic.db cannot be read ({exc})") from None
    except BaseException:
        con.close()
        for copy in copies:
            copy.cleanup()
        raise
    project._copies = copies
    return project


def _rows_07(root: Path, con: sqlite3.Connection, version: int) -> PanopticProject:
    instances = [
        Instance(int(i), str(url), str(sha1), int(i), w or 0, h or 0, str(ext or ""))
        for i, url, sha1, w, h, ext in con.execute(
            "SELECT id, url, sha1, width, height, extension FROM instances ORDER BY id"
        )
    ]
    roots = [str(p) for (p,) in con.execute("SELECT path FROM folders WHERE parent IS NULL")]
    project = PanopticProject(
        root,
        LAYOUT_07,
        f"Panoptic 0.7 (panoptic.db version {version})",
        root.name,
        f"panoptic07:{_identity(roots, instances)}",
        sorted(roots),
        instances,
        [],
        [],
        [],
        [],
        _media=con,
    )
    alive: set[int] = set()
    for pid, name, dtype, mode in con.execute(
        "SELECT id, name, type, mode FROM properties ORDER BY id"
    ):
        if dtype not in TYPE_MAP:
            project.leave_out(f"unknown_type:{dtype}")
            continue
        project.properties.append(Property(int(pid), str(name), str(dtype), str(mode or "id")))
        alive.add(int(pid))
    rows = con.execute("SELECT id, property_id, value, parents FROM tags ORDER BY id").fetchall()
    live_tags = {int(r[0]) for r in rows if int(r[1]) in alive}
    for tid, pid, value, parents in rows:
        if int(tid) in live_tags:
            kept = tuple(p for p in _ids(parents) if p in live_tags)
            project.tags.append(Tag(int(tid), int(pid), str(value), kept))
    for table, anchor in (
        ("image_property_values", "sha1"),
        ("instance_property_values", "instance_id"),
    ):
        for pid, key, value in con.execute(f"SELECT property_id, {anchor}, value FROM {table}"):
            if int(pid) in alive and value is not None:
                project.add_value(int(pid), key, value, live_tags)
    project.vector_types = _vector_types(con, "vector_type")
    return project
