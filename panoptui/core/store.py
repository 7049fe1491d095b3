"""The project store: one DuckDB file per project directory.

This module owns the connection, the schema (all DDL lives here) and its forward migrations.
A project is a directory holding ``project.duckdb``; moving the directory moves the project.

Data model (Panoptic's image vs instance):
- ``images``: one row per distinct file content (content hash); metadata, perceptual hash, state.
- ``files``: one row per path on disk; points at the image its bytes currently hold.
- ``thumbnails``: one small JPEG per image.
- ``import_errors``: one row per path that could not be imported, with a readable reason.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

DB_NAME = "project.duckdb"

# Image states. 'ok': at least one file holds this content now. 'missing': its files were deleted
# (kept on record; they come back to 'ok' if the files reappear). 'stale': the path that held this
# content now holds other bytes, so this content and everything derived from it is out of date.
IMAGE_OK, IMAGE_MISSING, IMAGE_STALE = "ok", "missing", "stale"
# File states: the file's bytes were imported, the path is gone, or the file could not be read.
FILE_OK, FILE_MISSING, FILE_ERROR = "ok", "missing", "error"


class ProjectError(Exception):
    """A problem the user can act on; the CLI prints it as one line."""


class ProjectLocked(ProjectError):
    """Another process has the project open."""


def _v1(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE folders (
            id INTEGER PRIMARY KEY,
            path VARCHAR NOT NULL UNIQUE,
            added_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            last_import TIMESTAMP
        );
        CREATE TABLE images (
            id BIGINT PRIMARY KEY,
            content_hash VARCHAR NOT NULL UNIQUE,  -- sha256 of the file's bytes, hex
            size BIGINT NOT NULL,                  -- bytes
            format VARCHAR NOT NULL,               -- Pillow's format name: JPEG, PNG, MPO, ...
            width INTEGER NOT NULL,                -- after EXIF orientation
            height INTEGER NOT NULL,
            mode VARCHAR NOT NULL,                 -- colour mode as stored: RGB, L, P, CMYK, ...
            orientation TINYINT NOT NULL,          -- EXIF orientation tag, 1 when absent
            frames INTEGER NOT NULL,
            phash UBIGINT NOT NULL,                -- 64-bit DCT perceptual hash
            state VARCHAR NOT NULL,                -- ok | missing | stale
            imported_at TIMESTAMP NOT NULL
        );
        CREATE TABLE files (
            id BIGINT PRIMARY KEY,
            path VARCHAR NOT NULL UNIQUE,          -- absolute path
            folder_id INTEGER NOT NULL,
            rel_path VARCHAR NOT NULL,             -- relative to its folder
            size BIGINT NOT NULL,
            mtime_ns BIGINT NOT NULL,
            image_id BIGINT,                       -- NULL while state = 'error'
            state VARCHAR NOT NULL,                -- ok | missing | error
            seen_at TIMESTAMP NOT NULL
        );
        CREATE TABLE thumbnails (
            image_id BIGINT PRIMARY KEY,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            jpeg BLOB NOT NULL
        );
        CREATE TABLE import_errors (
            path VARCHAR PRIMARY KEY,
            folder_id INTEGER,
            reason VARCHAR NOT NULL,
            failed_at TIMESTAMP NOT NULL
        );
        CREATE TABLE settings (
            key VARCHAR PRIMARY KEY,
            value VARCHAR NOT NULL
        );
        """
    )


def _v2(con: duckdb.DuckDBPyConnection) -> None:
    """Vector sets: one row each here, their vectors in a table of their own (vectors_<id>)."""
    con.execute(
        """
        CREATE TABLE vector_sets (
            id INTEGER PRIMARY KEY,
            model VARCHAR NOT NULL,                -- as the user named it: preset or custom spec
            family VARCHAR NOT NULL,               -- open_clip | timm | hf | pixels
            greyscale BOOLEAN NOT NULL,
            weights VARCHAR,                       -- local weights file or folder, if given
            dim INTEGER NOT NULL,
            embeds_text BOOLEAN NOT NULL,
            state VARCHAR NOT NULL,                -- running | incomplete | complete
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL
        );
        CREATE TABLE vector_errors (
            set_id INTEGER NOT NULL,
            image_id BIGINT NOT NULL,
            reason VARCHAR NOT NULL,
            failed_at TIMESTAMP NOT NULL,
            PRIMARY KEY (set_id, image_id)
        );
        """
    )


def _v3(con: duckdb.DuckDBPyConnection) -> None:
    """A vector set keeps its batch size, so that a resume makes the same batches."""
    con.execute("ALTER TABLE vector_sets ADD COLUMN batch_size INTEGER NOT NULL DEFAULT 32")


def _v4(con: duckdb.DuckDBPyConnection) -> None:
    """Tags (optionally under a parent tag) and clusterings."""
    con.execute(
        """
        CREATE TABLE tags (
            id INTEGER PRIMARY KEY,
            name VARCHAR NOT NULL UNIQUE,
            parent_id INTEGER,                     -- a tag groups others (a saved clustering)
            created_at TIMESTAMP NOT NULL
        );
        CREATE TABLE image_tags (
            tag_id INTEGER NOT NULL,
            image_id BIGINT NOT NULL,
            PRIMARY KEY (tag_id, image_id)
        );
        CREATE TABLE clusterings (
            id INTEGER PRIMARY KEY,
            name VARCHAR NOT NULL UNIQUE,
            set_id INTEGER NOT NULL,
            method VARCHAR NOT NULL,               -- kmeans | auto
            created_at TIMESTAMP NOT NULL
        );
        CREATE TABLE clusters (
            clustering_id INTEGER NOT NULL,
            label INTEGER NOT NULL,                -- 0 is the most cohesive cluster
            size INTEGER NOT NULL,
            score DOUBLE NOT NULL,                 -- mean cosine of members to the centroid
            PRIMARY KEY (clustering_id, label)
        );
        CREATE TABLE cluster_members (
            clustering_id INTEGER NOT NULL,
            image_id BIGINT NOT NULL,
            label INTEGER NOT NULL,
            PRIMARY KEY (clustering_id, image_id)
        );
        """
    )


def _v5(con: duckdb.DuckDBPyConnection) -> None:
    """2-D maps: coordinates per vector set and method."""
    con.execute(
        """
        CREATE TABLE map_points (
            set_id INTEGER NOT NULL,
            method VARCHAR NOT NULL,               -- pca | tsne
            image_id BIGINT NOT NULL,
            x FLOAT NOT NULL,
            y FLOAT NOT NULL,
            PRIMARY KEY (set_id, method, image_id)
        );
        """
    )


def _v6(con: duckdb.DuckDBPyConnection) -> None:
    """Paths that are not plain UTF-8 text: ``path`` holds an escaped text (see
    ``stored_path``), ``raw_path`` the exact bytes, to find the file again (NULL for the plain
    paths). ``os_path`` turns the pair back into the operating system's path. The same for
    folders. Paths stored before with a backslash in them take the escaped form now, so that a
    name holding a literal ``\\xe9`` and a Latin-1 name never share one text."""
    con.execute("ALTER TABLE files ADD COLUMN raw_path BLOB")
    con.execute("ALTER TABLE folders ADD COLUMN raw_path BLOB")
    for table in ("files", "folders"):
        con.execute(
            f"UPDATE {table} SET raw_path = encode(path), path = replace(path, ?, ?) "
            "WHERE contains(path, ?)",
            ["\\", "\\\\", "\\"],
        )
    con.execute("UPDATE files SET rel_path = replace(rel_path, ?, ?)", ["\\", "\\\\"])
    con.execute("UPDATE import_errors SET path = replace(path, ?, ?)", ["\\", "\\\\"])


def _v7(con: duckdb.DuckDBPyConnection) -> None:
    """What the user decided about findings, remembered so that they are never proposed again:
    pairs of images the user said are not duplicates (``image_id < other_id``), and images
    refused as recommendations for a tag."""
    con.execute(
        """
        CREATE TABLE not_duplicates (
            image_id BIGINT NOT NULL,
            other_id BIGINT NOT NULL,
            PRIMARY KEY (image_id, other_id)
        );
        CREATE TABLE refused_recommendations (
            tag_id BIGINT NOT NULL,
            image_id BIGINT NOT NULL,
            PRIMARY KEY (tag_id, image_id)
        );
        """
    )


# The metadata read from the files at import (issue 13), as columns of ``images`` (their
# content: EXIF, IPTC and XMP live in the bytes), with their DuckDB types. Each is a read-only
# property in filters, sorts, exports and the detail pane, by this name.
METADATA_COLUMNS = {
    "date_taken": "TIMESTAMP",  # EXIF DateTimeOriginal: local time as the camera wrote it
    "date_offset": "VARCHAR",  # its OffsetTimeOriginal ("+02:00"), when written
    "camera_make": "VARCHAR",
    "camera_model": "VARCHAR",
    "lens": "VARCHAR",
    "focal_length": "DOUBLE",  # millimetres
    "exposure": "DOUBLE",  # seconds
    "iso": "INTEGER",
    "latitude": "DOUBLE",  # degrees, north positive
    "longitude": "DOUBLE",  # degrees, east positive
    "title": "VARCHAR",  # IPTC / XMP
    "description": "VARCHAR",
    "creator": "VARCHAR",
    "keywords": "VARCHAR[]",
}

# The property that the tags made before version 8 belong to (a multi-tag property of images).
TAGS_PROPERTY_ID = 1
TAGS_PROPERTY_NAME = "tags"


def _v8(con: duckdb.DuckDBPyConnection) -> None:
    """Issue 13: metadata read from the files, typed properties and their values, and the
    journal that undo reads.

    - ``images`` gains METADATA_COLUMNS and ``metadata_read`` (false for images imported
      before: the next import reads theirs).
    - ``properties``: each of a type (text, number, date, checkbox, url, tag, multi_tag) and a
      mode: ``image`` (its content, shared by all its copies) or ``file`` (one path).
    - ``property_values``: one row per (property, image or file) of a non-tag property, the
      value in the column of its type.
    - Tags become the values of tag and multi-tag properties: ``tags.property_id``, a name
      unique within its property. Every tag made before belongs to the multi-tag property
      ``tags`` (TAGS_PROPERTY_ID), and keeps its id, its parent and its images. A file-mode
      tag property's values are in ``file_tags``.
    - ``journal``: the annotation changes, each with what takes it back (core/journal.py)."""
    for column, sql_type in METADATA_COLUMNS.items():
        con.execute(f"ALTER TABLE images ADD COLUMN {column} {sql_type}")
    con.execute("ALTER TABLE images ADD COLUMN metadata_read BOOLEAN DEFAULT false")
    con.execute(
        """
        CREATE TABLE properties (
            id INTEGER PRIMARY KEY,
            name VARCHAR NOT NULL UNIQUE,
            type VARCHAR NOT NULL,                 -- text | number | date | checkbox | url
                                                   -- | tag | multi_tag
            mode VARCHAR NOT NULL,                 -- image | file
            created_at TIMESTAMP NOT NULL
        );
        CREATE TABLE property_values (
            property_id INTEGER NOT NULL,
            target_id BIGINT NOT NULL,             -- images.id (mode image) or files.id (file)
            text VARCHAR,                          -- text, url
            number DOUBLE,                         -- number
            date TIMESTAMP,                        -- date
            flag BOOLEAN,                          -- checkbox
            PRIMARY KEY (property_id, target_id)
        );
        CREATE TABLE file_tags (
            tag_id INTEGER NOT NULL,
            file_id BIGINT NOT NULL,
            PRIMARY KEY (tag_id, file_id)
        );
        CREATE TABLE journal (
            id BIGINT PRIMARY KEY,                 -- the order of the changes
            said VARCHAR NOT NULL,                 -- the change in words
            undo VARCHAR NOT NULL,                 -- JSON: what takes it back
            redo VARCHAR NOT NULL,                 -- JSON: what does it again
            undone BOOLEAN NOT NULL DEFAULT false,
            changed_at TIMESTAMP NOT NULL
        );
        CREATE TABLE tags_v8 (
            id INTEGER PRIMARY KEY,
            property_id INTEGER NOT NULL,
            name VARCHAR NOT NULL,
            parent_id INTEGER,                     -- a tag groups others (a saved clustering)
            created_at TIMESTAMP NOT NULL,
            UNIQUE (property_id, name)
        );
        """
    )
    con.execute(
        "INSERT INTO properties VALUES (?, ?, 'multi_tag', 'image', current_timestamp)",
        [TAGS_PROPERTY_ID, TAGS_PROPERTY_NAME],
    )
    con.execute(
        "INSERT INTO tags_v8 SELECT id, ?, name, parent_id, created_at FROM tags",
        [TAGS_PROPERTY_ID],
    )
    con.execute("DROP TABLE tags")
    con.execute("ALTER TABLE tags_v8 RENAME TO tags")


def _v9(con: duckdb.DuckDBPyConnection) -> None:
    """Issue 14: a tag may have several parents (Panoptic's tags do: ``cat`` under both
    ``animal`` and ``pet``). ``tags.parent_id`` stays a tag's first parent, so that nothing
    made before changes meaning; ``tag_parents`` holds its other parents. Every query of the
    tags under a tag reads both, through TAG_LINKS_SQL.

    ``panoptic_values``: each value ``import-panoptic`` brought, as Panoptic held it (its JSON;
    a tag value: the sorted ids of Panoptic's tags), so that a second run writes only what
    changed in Panoptic since, and what the user changed here stays."""
    con.execute(
        """
        CREATE TABLE tag_parents (
            tag_id INTEGER NOT NULL,
            parent_id INTEGER NOT NULL,            -- a parent beyond tags.parent_id
            PRIMARY KEY (tag_id, parent_id)
        );
        CREATE TABLE panoptic_values (
            source VARCHAR NOT NULL,               -- the Panoptic project (panoptic_import)
            property_id INTEGER NOT NULL,
            target_id BIGINT NOT NULL,
            value VARCHAR NOT NULL,
            PRIMARY KEY (source, property_id, target_id)
        );
        """
    )


# Every (tag, parent) link: a tag's first parent (tags.parent_id) and its others (tag_parents).
# A subquery, for the recursive queries of the tags under a tag (core/tags.py, core/filters.py).
TAG_LINKS_SQL = """(
    SELECT id AS tag_id, parent_id FROM tags WHERE parent_id IS NOT NULL
    UNION SELECT tag_id, parent_id FROM tag_parents
)"""

# Forward migrations: MIGRATIONS[i] takes a project from version i to version i + 1.
MIGRATIONS: list[Callable[[duckdb.DuckDBPyConnection], None]] = [
    _v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9,
]  # fmt: skip
SCHEMA_VERSION = len(MIGRATIONS)

# The tables of a project at SCHEMA_VERSION (vector sets add one table each, vectors_<id>).
TABLES = frozenset(
    [
        "schema_meta",
        "folders",
        "images",
        "files",
        "thumbnails",
        "import_errors",
        "settings",
        "vector_sets",
        "vector_errors",
        "tags",
        "tag_parents",
        "panoptic_values",
        "image_tags",
        "clusterings",
        "clusters",
        "cluster_members",
        "map_points",
        "not_duplicates",
        "refused_recommendations",
        "properties",
        "property_values",
        "file_tags",
        "journal",
    ]
)


def stored_path(path: str) -> tuple[str, bytes | None]:
    """A path of the operating system as the store keeps it: (text, exact bytes or None).

    A UTF-8 path without a backslash is kept as it is. Any other is escaped, one to one: a
    backslash as ``\\\\``, each byte that is not UTF-8 (a surrogate escape, as Python gives
    it) as ``\\xNN``; its exact bytes go with it. So a Latin-1 ``caf\\xe9.jpg`` and a UTF-8
    name that holds those very characters are two texts, never one row."""
    if "\\" not in path:
        try:
            path.encode("utf-8")
            return path, None
        except UnicodeEncodeError:
            pass
    raw = path.encode("utf-8", "surrogateescape")
    return raw.replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace"), raw


def os_path(path: str, raw_path: bytes | None = None) -> str:
    """The operating system's path of a stored file row (``files.path``, ``files.raw_path``)."""
    return os.fsdecode(bytes(raw_path)) if raw_path is not None else path


def db_path(project: str | os.PathLike[str]) -> Path:
    return Path(project) / DB_NAME


def is_project(project: str | os.PathLike[str]) -> bool:
    return db_path(project).is_file()


def _lock_holder(message: str) -> str:
    """Describe the process named in DuckDB's lock error, with its command line when we can."""
    match = re.search(r"PID (\d+)", message)
    if not match:
        return "another process"
    pid = match.group(1)
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        cmd = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    except OSError:
        cmd = ""
    if len(cmd) > 80:
        cmd = cmd[:77] + "..."
    return f"process {pid} ({cmd})" if cmd else f"process {pid}"


# A project file is never a reason to load (or download) a DuckDB extension: a SQLite file named
# project.duckdb would make DuckDB fetch sqlite_scanner from the network.
CONNECT_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
SQLITE_MAGIC = b"SQLite format 3\x00"
DUCKDB_MAGIC = b"DUCK"  # at offset 8 of every DuckDB database file


def _check_header(path: Path, project: Path) -> None:
    """Refuse, in one line, a project file that is not a DuckDB database at all."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        return  # DuckDB says what is wrong
    if head.startswith(SQLITE_MAGIC):
        raise ProjectError(
            f"cannot open project {project}: {DB_NAME} is an SQLite database, "
            "not a panoptui project"
        )
    if len(head) >= 12 and head[8:12] != DUCKDB_MAGIC:
        raise ProjectError(
            f"cannot open project {project}: {DB_NAME} is not a DuckDB database, "
            "not a panoptui project"
        )


def _connect(path: Path, read_only: bool, project: Path) -> duckdb.DuckDBPyConnection:
    _check_header(path, project)
    try:
        return duckdb.connect(str(path), read_only=read_only, config=CONNECT_CONFIG)
    except duckdb.IOException as exc:
        message = str(exc)
        if "Could not set lock" in message or "Conflicting lock" in message:
            raise ProjectLocked(
                f"project {project} is in use by {_lock_holder(message)}; "
                "wait for it to finish or close it, then try again"
            ) from None
        if not read_only and ("Permission denied" in message or "Read-only file" in message):
            raise ProjectError(
                f"project {project} is read-only for this user: commands that only read it "
                "work (status, errors, similar, export, the app), this one writes to it"
            ) from None
        raise ProjectError(f"cannot open project {project}: {message.splitlines()[0]}") from None
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise ProjectError(f"cannot open project {project}: {first}") from None


def open_project(
    project: str | os.PathLike[str], *, create: bool = False, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open (or create) a project and bring its schema up to date.

    Raises ProjectError with a one-line message for every problem a user can cause.
    """
    try:
        str(project).encode("utf-8")
    except UnicodeEncodeError:
        raise ProjectError("the project path is not valid UTF-8; choose another name") from None
    root = Path(project).expanduser().absolute()
    path = root / DB_NAME
    if not path.is_file():
        if not create:
            if not root.exists():
                raise ProjectError(f"project {root} does not exist")
            inside = root / "project"
            if (inside / DB_NAME).is_file():  # a demo's folder: its project is inside
                raise ProjectError(f"{root} holds the project {inside}: give that path")
            raise ProjectError(
                f"{root} is not a panoptui project (no {DB_NAME} inside); "
                f"create one with: panoptui import {root} FOLDER"
            )
        if root.exists() and not root.is_dir():
            raise ProjectError(f"cannot create project {root}: it is a file, not a directory")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProjectError(f"cannot create project {root}: {exc.strerror}") from None
    con = _connect(path, read_only, root)
    try:
        version = _schema_version(con, root)
        if version == 0 and scalar(con, "SELECT count(*) FROM information_schema.tables"):
            raise ProjectError(
                f"{path} is a DuckDB database of another program, not a panoptui project"
            )
        if version > SCHEMA_VERSION:
            raise ProjectError(
                f"project {root} was written by a newer panoptui (schema {version}, "
                f"this one knows {SCHEMA_VERSION}); upgrade panoptui"
            )
        if version < SCHEMA_VERSION:
            if read_only:
                # Migrate through a short writable connection, then reopen read-only.
                con.close()
                _migrate(_connect(path, False, root), version, close=True)
                con = _connect(path, True, root)
            else:
                _migrate(con, version, close=False)
        _check_tables(con, root)
        con = _follow_move(con, path, root, read_only)
    except BaseException:
        con.close()
        raise
    return con


def open_project_as_permitted(
    project: str | os.PathLike[str],
) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """Open a project for writing, or read-only (the second value) when this user may not write
    it: the file, or the folder where DuckDB writes its journal beside it (a read-only mount
    counts too). The CLI's read commands work on such a project; so does the app."""
    root = Path(project).expanduser().absolute()
    database = root / DB_NAME
    writable = os.access(database, os.W_OK) and os.access(root, os.W_OK)
    if database.is_file() and not writable:
        return open_project(root, read_only=True), True
    return open_project(root), False


def _follow_move(
    con: duckdb.DuckDBPyConnection, path: Path, root: Path, read_only: bool
) -> duckdb.DuckDBPyConnection:
    """Re-point folders that moved together with the project (see core/folders.py). A read-only
    opening does it through a short writable connection, when it can (not on a read-only disk,
    nor while another process has the project open)."""
    from panoptui.core.folders import PROJECT_PARENT, follow_project_move

    if not read_only:
        follow_project_move(con, root)
        return con
    if get_setting(con, PROJECT_PARENT) == str(root.resolve().parent):
        return con
    con.close()
    try:
        writer = _connect(path, False, root)
    except ProjectError:
        return _connect(path, True, root)
    try:
        follow_project_move(writer, root)
    except duckdb.Error:
        pass  # a read-only file: the paths stay as they were
    finally:
        writer.close()
    return _connect(path, True, root)


def _check_tables(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    """A project whose schema says it is current but lacks tables is damaged: say which."""
    present = {
        str(name)
        for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    }
    missing = sorted(TABLES - present)
    if missing:
        raise ProjectError(
            f"project {root} is damaged: table{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} missing"
        )


def _schema_version(con: duckdb.DuckDBPyConnection, root: Path) -> int:
    has_meta = scalar(
        con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_meta'"
    )
    if not has_meta:
        return 0
    try:
        return int(scalar(con, "SELECT version FROM schema_meta") or 0)
    except (duckdb.Error, ValueError, TypeError):
        # A schema_meta without a whole-number version column: not something panoptui wrote.
        raise ProjectError(
            f"project {root} is damaged: its schema version cannot be read"
        ) from None


def _migrate(con: duckdb.DuckDBPyConnection, version: int, *, close: bool) -> None:
    try:
        con.execute("BEGIN")
        if version == 0:
            con.execute("CREATE TABLE IF NOT EXISTS schema_meta (version INTEGER NOT NULL)")
            con.execute("INSERT INTO schema_meta VALUES (0)")
        for step in range(version, SCHEMA_VERSION):
            MIGRATIONS[step](con)
        con.execute("UPDATE schema_meta SET version = ?", [SCHEMA_VERSION])
        con.execute("COMMIT")
    except BaseException:
        # A failed ROLLBACK (after Ctrl-C DuckDB may have ended the transaction itself) must not
        # replace the exception that got us here.
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    finally:
        if close:
            con.close()


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what led to it) says the disk is full: DuckDB reports it in words,
    Python as ENOSPC."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if getattr(seen, "errno", None) == errno.ENOSPC or "No space left on device" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> Any:
    """The first value of the first row, or None. Fetches the whole result: DuckDB refuses other
    work on a connection whose last result was not read to the end."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """All or nothing: committed when the block ends, rolled back if it raises (Ctrl-C too)."""
    con.execute("BEGIN")
    try:
        yield
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # as in _migrate: keep the first exception
            con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def insert_arrow(con: duckdb.DuckDBPyConnection, sql: str, batch: pa.Table) -> None:
    """Run ``sql`` with the name ``batch`` bound to an Arrow table: one bulk statement, never a
    row at a time."""
    con.register("batch", batch)
    try:
        con.execute(sql)
    finally:
        con.unregister("batch")


def arrow_batches(con: duckdb.DuckDBPyConnection, sql: str, rows: int) -> Any:
    """Iterate over a query's result as Arrow record batches of about ``rows`` rows (the method
    is named differently in DuckDB 1.x and 2.x)."""
    relation = con.sql(sql)  # a relation streams without the extra copy of a cursor result
    for name in ("to_arrow_reader", "fetch_arrow_reader", "record_batch"):
        if hasattr(relation, name):
            return getattr(relation, name)(rows)
    raise RuntimeError("this DuckDB cannot stream Arrow record batches")


def next_id(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """The next free id of a table. Ids are assigned by us, in processing order, so that an
    interrupted and resumed import ends with exactly the ids of an uninterrupted one."""
    return int(scalar(con, f"SELECT coalesce(max(id), 0) + 1 FROM {table}"))


def get_setting(con: duckdb.DuckDBPyConnection, key: str, default: str | None = None) -> str | None:
    value = scalar(con, "SELECT value FROM settings WHERE key = ?", [key])
    return default if value is None else str(value)


def set_setting(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    con.execute(
        "INSERT INTO settings VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )


def vector_table(set_id: int) -> str:
    return f"vectors_{int(set_id)}"


def create_vector_table(con: duckdb.DuckDBPyConnection, set_id: int, dim: int) -> None:
    """One table per vector set: its vectors as fixed-size arrays (L2-normalised), keyed by
    image (content), so duplicate files are embedded once."""
    con.execute(
        f"CREATE TABLE {vector_table(set_id)} "
        f"(image_id BIGINT NOT NULL, vec FLOAT[{int(dim)}] NOT NULL)"
    )


def drop_vector_table(con: duckdb.DuckDBPyConnection, set_id: int) -> None:
    con.execute(f"DROP TABLE IF EXISTS {vector_table(set_id)}")
