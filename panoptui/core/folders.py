"""The folders a project imports: list them, forget one, re-point one that moved, and follow a
project that moved together with its folders.

Folder and file paths are stored absolute (every other module reads them as they are). What
makes a moved folder work again is the project's own location, remembered in the setting
``project_parent``: a folder that lay inside the project directory's parent (``FOLDER`` for a
project in ``FOLDER/.panoptui``, or a sibling of the project directory) is stored, in effect,
relative to it. When the project is opened from elsewhere, such a folder that is gone from its
old place but present at the same relative place is re-pointed there, with all its files'
paths, in one transaction; its files then rescan as unchanged.

Must hold: every file row's path starts with its folder's path; a re-pointing changes all of
them or none.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from panoptui.core import store
from panoptui.core.text import shown

PROJECT_PARENT = "project_parent"  # the setting: the project directory's parent, last opened


@dataclass(frozen=True)
class FolderInfo:
    id: int
    path: str
    files: int  # files on record (any state)
    exists: bool
    last_import: datetime | None

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "path": self.path,
            "files": self.files,
            "exists": self.exists,
            "last_import": self.last_import.isoformat() if self.last_import else None,
        }


def list_folders(con: duckdb.DuckDBPyConnection) -> list[FolderInfo]:
    """Every registered folder, by path, with its number of files and whether it exists."""
    rows = con.execute(
        """
        SELECT d.id, d.path, d.raw_path, count(f.id), d.last_import
        FROM folders d LEFT JOIN files f ON f.folder_id = d.id
        GROUP BY d.id, d.path, d.raw_path, d.last_import ORDER BY d.path
        """
    ).fetchall()
    return [
        FolderInfo(int(i), str(p), int(n), os.path.isdir(store.os_path(p, raw)), t)
        for i, p, raw, n, t in rows
    ]


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _registered(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Registered folders by the operating system's path."""
    rows = con.execute("SELECT id, path, raw_path FROM folders").fetchall()
    return {store.os_path(p, raw): int(i) for i, p, raw in rows}


def _find(con: duckdb.DuckDBPyConnection, path: str) -> tuple[int, str]:
    """The registered folder a user means by ``path`` (as typed, absolute, or resolved: it may
    no longer exist), with its path. ProjectError when none is."""
    registered = _registered(con)
    absolute = os.path.abspath(os.path.expanduser(path))
    for candidate in (path, absolute, os.path.realpath(absolute)):
        if candidate in registered:
            return registered[candidate], candidate
    raise store.ProjectError(f"folder {shown(path)} is not a folder of this project")


def remove_folder(con: duckdb.DuckDBPyConnection, path: str) -> int:
    """Forget a registered folder: its files, their import errors, and the images no other file
    holds, with everything derived from them (thumbnails, vectors, tags, clusters, map points).
    Returns the number of files dropped. One transaction."""
    from panoptui.core.import_commit import refresh_image_states

    folder_id, _ = _find(con, path)
    with store.transaction(con):
        dropped = int(
            store.scalar(con, "SELECT count(*) FROM files WHERE folder_id = ?", [folder_id])
        )
        touched = [
            int(i)
            for (i,) in con.execute(
                "SELECT DISTINCT image_id FROM files WHERE folder_id = ? AND image_id IS NOT NULL",
                [folder_id],
            ).fetchall()
        ]
        # Per-file values and tags go with their files (a later file reusing an id must not
        # inherit them).
        con.execute(
            "DELETE FROM property_values WHERE property_id IN "
            "(SELECT id FROM properties WHERE mode = 'file') "
            "AND target_id IN (SELECT id FROM files WHERE folder_id = ?)",
            [folder_id],
        )
        con.execute(
            "DELETE FROM file_tags WHERE file_id IN (SELECT id FROM files WHERE folder_id = ?)",
            [folder_id],
        )
        con.execute("DELETE FROM files WHERE folder_id = ?", [folder_id])
        con.execute("DELETE FROM import_errors WHERE folder_id = ?", [folder_id])
        con.execute("DELETE FROM folders WHERE id = ?", [folder_id])
        orphans = [
            int(i)
            for (i,) in con.execute(
                "SELECT id FROM images WHERE id IN (SELECT unnest(?::BIGINT[])) "
                "AND id NOT IN (SELECT image_id FROM files WHERE image_id IS NOT NULL)",
                [touched],
            ).fetchall()
        ]
        drop_images(con, orphans)
        refresh_image_states(con, sorted(set(touched) - set(orphans)))
    return dropped


def drop_images(con: duckdb.DuckDBPyConnection, image_ids: list[int]) -> None:
    """Delete images and everything derived from them or set on them."""
    if not image_ids:
        return
    ids = "(SELECT unnest(?::BIGINT[]))"
    con.execute(
        f"DELETE FROM property_values WHERE target_id IN {ids} "
        "AND property_id IN (SELECT id FROM properties WHERE mode = 'image')",
        [image_ids],
    )
    for table in ("thumbnails", "image_tags", "cluster_members", "map_points", "vector_errors"):
        con.execute(f"DELETE FROM {table} WHERE image_id IN {ids}", [image_ids])
    for (set_id,) in con.execute("SELECT id FROM vector_sets").fetchall():
        con.execute(
            f"DELETE FROM {store.vector_table(set_id)} WHERE image_id IN {ids}", [image_ids]
        )
    con.execute(f"DELETE FROM images WHERE id IN {ids}", [image_ids])
    # Clusters keep their sizes right; a cluster left empty keeps its row (and its label).
    con.execute(
        """
        UPDATE clusters SET size = (
            SELECT count(*) FROM cluster_members m
            WHERE m.clustering_id = clusters.clustering_id AND m.label = clusters.label
        )
        """
    )


def move_folder(con: duckdb.DuckDBPyConnection, old: str, new: str) -> int:
    """Re-point a registered folder and all its files' paths to where the folder is now, in one
    transaction. Returns the number of files re-pointed (a rescan then finds them unchanged).

    ProjectError when ``old`` is not registered, ``new`` does not exist, is already registered,
    or lies inside (or around) another registered folder."""
    folder_id, old_path = _find(con, old)
    target = Path(new).expanduser()
    if not target.is_dir():
        raise store.ProjectError(f"folder {shown(new)} does not exist")
    new_path = str(target.resolve())
    registered = _registered(con)
    if new_path in registered:
        raise store.ProjectError(f"folder {shown(new_path)} is already a folder of this project")
    for other in registered:
        if other != old_path and (_inside(new_path, other) or _inside(other, new_path)):
            raise store.ProjectError(
                f"folder {shown(new_path)} overlaps {shown(other)}, a folder of this project"
            )
    with store.transaction(con):
        return _repoint(con, folder_id, old_path, new_path)


def _repoint(con: duckdb.DuckDBPyConnection, folder_id: int, old: str, new: str) -> int:
    """Rewrite a folder's path and the prefix of its files' and import errors' paths (``old``
    and ``new`` are the operating system's paths)."""
    new_text, new_raw = store.stored_path(new)
    old_text = store.stored_path(old)[0]
    con.execute(
        "UPDATE folders SET path = ?, raw_path = ? WHERE id = ?", [new_text, new_raw, folder_id]
    )
    files = con.execute(
        "SELECT id, path, raw_path FROM files WHERE folder_id = ?", [folder_id]
    ).fetchall()
    moved: dict[str, list] = {"id": [], "path": [], "raw_path": []}
    for file_id, path, raw in files:
        real = store.os_path(path, raw)
        if real.startswith(old.rstrip("/") + "/"):
            text, raw_new = store.stored_path(new + real[len(old) :])
            moved["id"].append(file_id)
            moved["path"].append(text)
            moved["raw_path"].append(raw_new)
    if moved["id"]:
        batch = pa.table(
            {
                "id": pa.array(moved["id"], pa.int64()),
                "path": pa.array(moved["path"], pa.string()),
                "raw_path": pa.array(moved["raw_path"], pa.binary()),
            }
        )
        store.insert_arrow(
            con,
            "UPDATE files SET path = batch.path, raw_path = batch.raw_path "
            "FROM batch WHERE files.id = batch.id",
            batch,
        )
    con.execute(
        "UPDATE import_errors SET path = ? || substr(path, ?) "
        "WHERE folder_id = ? AND (path = ? OR starts_with(path, ? || '/'))",
        [new_text, len(old_text) + 1, folder_id, old_text, old_text],
    )
    return len(files)


def follow_project_move(
    con: duckdb.DuckDBPyConnection, project: str | os.PathLike[str]
) -> list[tuple[str, str]]:
    """After the project directory moved (or was first opened), re-point the folders that moved
    with it; returns the (old, new) paths re-pointed. One transaction.

    A folder inside the project's previous parent is re-pointed when it is gone from its old
    place and present at the same place relative to the new parent. A copy, whose old place
    still exists, keeps pointing there."""
    parent = str(Path(project).expanduser().resolve().parent)
    previous = store.get_setting(con, PROJECT_PARENT)
    if previous == parent:
        return []
    registered = _registered(con)
    moves: list[tuple[int, str, str]] = []
    unresolved = False
    if previous is not None:
        for path, folder_id in sorted(registered.items()):
            if not _inside(path, previous):
                continue
            candidate = os.path.normpath(os.path.join(parent, os.path.relpath(path, previous)))
            if os.path.isdir(path):
                continue
            if os.path.isdir(candidate) and candidate not in registered:
                moves.append((folder_id, path, candidate))
            else:
                unresolved = True  # neither here nor there: try again at the next open
    with store.transaction(con):
        for folder_id, old, new in moves:
            _repoint(con, folder_id, old, new)
        if not unresolved:
            store.set_setting(con, PROJECT_PARENT, parent)
    return [(old, new) for _, old, new in moves]
