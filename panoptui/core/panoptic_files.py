"""Which of panoptui's files and images each of a Panoptic project's files is
(``import-panoptic``, see ``panoptic_import``).

Matched by path (under ``--move``'s new root), else by what an earlier run matched, else, for
Panoptic 1.x whose sha1 is of the file's bytes, by content among the other files of the folders
(a renamed or moved file). A file that is nowhere gets a missing image (one per sha1), with
Panoptic's thumbnail, so that its annotations stay; an earlier run's missing rows give way to
the files found later.
"""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
from PIL import Image

from panoptui.core import properties, store
from panoptui.core.folders import drop_images
from panoptui.core.import_commit import refresh_image_states
from panoptui.core.panoptic_read import LAYOUT_1, Instance, PanopticProject
from panoptui.core.text import storable

MISSING_HASH = "panoptic-sha1:"  # content_hash of a missing image known only by Panoptic's sha1
HASH_CHUNK = 1 << 20

# What an earlier import of the same Panoptic project made here (the project's settings).
Memory = dict[str, dict[str, object]]


@dataclass
class FileMatch:
    """Panoptic's files as panoptui rows, and the counts the summary gives."""

    files_of: dict[int, int] = field(default_factory=dict)  # instance id -> files.id
    images_of: dict[str, list[int]] = field(default_factory=dict)  # sha1 -> images.id
    files: int = 0
    found: int = 0
    found_by_content: int = 0
    missing: int = 0
    unreadable: int = 0
    missing_thumbnails: int = 0
    images: int = 0
    missing_images: int = 0  # of the images, those with no file on disk
    other_files: int = 0
    not_imported: dict[str, int] = field(default_factory=dict)

    def left_out(self, reason: str, n: int = 1) -> None:
        if n:
            self.not_imported[reason] = self.not_imported.get(reason, 0) + n


def moved_path(path: str, move: tuple[str, str] | None) -> str:
    """Panoptic's recorded path, under the new root when the project travelled."""
    if move is None:
        return path
    old, new = move[0].rstrip("/") or "/", move[1].rstrip("/") or "/"
    if path == old:
        return new
    if path.startswith(old.rstrip("/") + "/"):
        return new.rstrip("/") + "/" + path[len(old.rstrip("/")) + 1 :]
    return path


# Records that an instance is a file (or none) holding an image: match_files's bookkeeping.
Take = Callable[[Instance, int | None, int], None]
FileRow = tuple[int, int | None, str, int]  # files: id, image_id, state, size


def _in_store(path: str, real: dict[str, str]) -> str:
    """The path the store keys a file by: under its root resolved as the import resolves it."""
    for root, resolved in real.items():
        if path.startswith(root.rstrip("/") + "/"):
            return store.stored_path(resolved.rstrip("/") + path[len(root.rstrip("/")) :])[0]
    return store.stored_path(path)[0]


def _sha1_of(path: str) -> str | None:
    digest = hashlib.sha1()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(HASH_CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def match_files(
    con: duckdb.DuckDBPyConnection,
    source: PanopticProject,
    move: tuple[str, str] | None,
    real: dict[str, str],
    memory: Memory,
) -> FileMatch:
    """Panoptic's instances as panoptui rows: instance id -> files.id, sha1 -> images.id. An
    instance whose content is nowhere here gets a missing image, so its annotations stay."""
    match = FileMatch()
    paths: dict[int, str] = {}
    for instance in source.instances:
        moved = moved_path(instance.path, move)
        if os.path.isabs(moved):
            paths[instance.id] = _in_store(moved, real)
        else:
            match.left_out("not_local")
    remembered = {int(k): int(str(v)) for k, v in memory["files"].items()}
    rows: dict[str | int, FileRow] = {}
    for p, fid, image_id, state, size in con.execute(
        "SELECT path, id, image_id, state, size FROM files "
        "WHERE path IN (SELECT unnest(?::VARCHAR[])) OR id IN (SELECT unnest(?::BIGINT[]))",
        [list(paths.values()), list(remembered.values())],
    ).fetchall():
        found = (int(fid), None if image_id is None else int(image_id), str(state), int(size))
        rows[str(p)] = rows[int(fid)] = found
    # Each instance's file row: at its path, else the one an earlier run matched it to (found
    # by content, or kept as missing at the path it had then).
    row_of: dict[int, FileRow] = {}
    for instance_id, path in paths.items():
        at = rows.get(path)
        if at is None and instance_id in remembered:
            at = rows.get(remembered[instance_id])
        if at is not None:
            row_of[instance_id] = at
    files_of, images_of = match.files_of, match.images_of

    def take(instance: Instance, file_id: int | None, image_id: int) -> None:
        if file_id is not None:
            files_of[instance.id] = file_id
        ids = images_of.setdefault(instance.sha1, [])
        if image_id not in ids:
            ids.append(image_id)

    lost: list[Instance] = []
    for instance in source.instances:
        if instance.id not in paths:
            continue
        row = row_of.get(instance.id)
        if row is not None and row[2] == store.FILE_OK and row[1] is not None:
            take(instance, row[0], row[1])
            match.found += 1
        else:
            lost.append(instance)
    match.files = len(paths)
    listed = set(paths.values())
    others = _other_files(con, listed, list(real.values()))
    if lost and others and source.layout == LAYOUT_1:
        lost = _match_by_content(lost, others, take, match)
    match.other_files = len(others) - match.found_by_content
    unfound = []
    for instance in lost:
        row = row_of.get(instance.id)
        gone = row is not None and row[2] == store.FILE_MISSING and row[3] >= 0
        if gone and row is not None and row[1] is not None:
            take(instance, row[0], row[1])  # a file imported before, gone since: its image
            match.missing += 1
        else:
            unfound.append(instance)
    lost = unfound
    _merge_placeholders(con, images_of)
    if lost:
        _keep_missing(con, source, lost, paths, row_of, files_of, images_of, take, match)
    _drop_superseded_files(con, memory, files_of)
    images = sorted({i for ids in images_of.values() for i in ids})
    match.images = len(images)
    match.missing_images = int(
        store.scalar(
            con,
            "SELECT count(*) FROM images WHERE state <> 'ok' "
            "AND id IN (SELECT unnest(?::BIGINT[]))",
            [images],
        )
        or 0
    )
    return match


def _other_files(
    con: duckdb.DuckDBPyConnection, listed: set[str], roots: list[str]
) -> list[tuple[int, int, str, bytes | None]]:
    """The present files of Panoptic's folders that Panoptic did not list: (id, image, path)."""
    if not roots:
        return []
    stored_roots = [store.stored_path(r)[0] for r in roots]
    rows = con.execute(
        "SELECT f.id, f.image_id, f.path, f.raw_path FROM files f JOIN folders fo "
        "ON fo.id = f.folder_id WHERE f.state = 'ok' AND list_contains(?, fo.path) ORDER BY f.id",
        [stored_roots],
    ).fetchall()
    return [(int(i), int(img), str(p), raw) for i, img, p, raw in rows if p not in listed]


def _match_by_content(
    lost: list[Instance],
    others: list[tuple[int, int, str, bytes | None]],
    take: Take,
    match: FileMatch,
) -> list[Instance]:
    """Panoptic 1.x's sha1 is of the file's bytes: a file it knew that was renamed or moved
    within the folders is found by it. Each file found so is one instance's."""
    wanted = {i.sha1 for i in lost}
    by_sha1: dict[str, list[tuple[int, int]]] = {}
    for file_id, image_id, path, raw in others:
        sha1 = _sha1_of(store.os_path(path, raw))
        if sha1 in wanted:
            by_sha1.setdefault(sha1, []).append((file_id, image_id))
    remaining = []
    for instance in lost:
        candidates = by_sha1.get(instance.sha1)
        if candidates:
            file_id, image_id = candidates.pop(0)
            take(instance, file_id, image_id)
            match.found_by_content += 1
        else:
            remaining.append(instance)
    return remaining


def _merge_placeholders(con: duckdb.DuckDBPyConnection, images_of: dict[str, list[int]]) -> None:
    """Missing images made by an earlier run whose content is found now (the files came back,
    or --move told where they are): their files, tags and values go to the image found."""
    placeholders = {
        str(h)[len(MISSING_HASH) :]: int(i)
        for h, i in con.execute(
            "SELECT content_hash, id FROM images WHERE content_hash IN (SELECT unnest(?))",
            [[MISSING_HASH + sha1 for sha1, ids in images_of.items() if ids]],
        ).fetchall()
    }
    if not placeholders:
        return
    image_props = [p.id for p in properties.list_properties(con) if p.mode == "image"]
    for sha1, old in placeholders.items():
        new = images_of[sha1][0]
        con.execute("UPDATE files SET image_id = ? WHERE image_id = ?", [new, old])
        con.execute(
            "INSERT INTO image_tags SELECT tag_id, ? FROM image_tags WHERE image_id = ? "
            "ON CONFLICT DO NOTHING",
            [new, old],
        )
        con.execute(
            "INSERT INTO property_values SELECT property_id, ?, text, number, date, flag "
            "FROM property_values WHERE target_id = ? AND list_contains(?, property_id) "
            "ON CONFLICT DO NOTHING",
            [new, old, image_props],
        )
        con.execute(
            "UPDATE panoptic_values SET target_id = ? WHERE target_id = ? "
            "AND list_contains(?, property_id) AND NOT EXISTS (SELECT 1 FROM panoptic_values p "
            "WHERE p.source = panoptic_values.source AND p.property_id = "
            "panoptic_values.property_id AND p.target_id = ?)",
            [new, old, image_props, new],
        )
    drop_images(con, list(placeholders.values()))


def _drop_superseded_files(
    con: duckdb.DuckDBPyConnection, memory: Memory, files_of: dict[int, int]
) -> None:
    """A missing file row an earlier run made for an instance that is found now at another
    path (--move, a renamed folder): its values and tags go to the file found, and it goes."""
    file_props = [p.id for p in properties.list_properties(con) if p.mode == "file"]
    for instance, before in memory["files"].items():
        now = files_of.get(int(instance))
        old = int(str(before))
        if now is None or now == old:
            continue
        # The row of a file that is gone from there (the folder moved or was renamed; or a
        # missing row an earlier run made): its values and tags go to the file found.
        if not store.scalar(con, "SELECT 1 FROM files WHERE id = ? AND state = 'missing'", [old]):
            continue
        con.execute(
            "INSERT INTO property_values SELECT property_id, ?, text, number, date, flag "
            "FROM property_values WHERE target_id = ? AND list_contains(?, property_id) "
            "ON CONFLICT DO NOTHING",
            [now, old, file_props],
        )
        con.execute(
            "DELETE FROM property_values WHERE target_id = ? AND list_contains(?, property_id)",
            [old, file_props],
        )
        con.execute(
            "INSERT INTO file_tags SELECT tag_id, ? FROM file_tags WHERE file_id = ? "
            "ON CONFLICT DO NOTHING",
            [now, old],
        )
        con.execute("DELETE FROM file_tags WHERE file_id = ?", [old])
        # What the last import brought follows the file, so it is not taken for a change.
        con.execute(
            "UPDATE panoptic_values SET target_id = ? WHERE target_id = ? "
            "AND list_contains(?, property_id) AND NOT EXISTS (SELECT 1 FROM panoptic_values p "
            "WHERE p.source = panoptic_values.source AND p.property_id = "
            "panoptic_values.property_id AND p.target_id = ?)",
            [now, old, file_props, now],
        )
        con.execute(
            "DELETE FROM panoptic_values WHERE target_id = ? AND list_contains(?, property_id)",
            [old, file_props],
        )
        image = store.scalar(con, "SELECT image_id FROM files WHERE id = ?", [old])
        con.execute("DELETE FROM files WHERE id = ?", [old])
        if image is not None:
            refresh_image_states(con, [int(image)])
    # A folder registered only for missing files, left with none.
    for folder_id in list(memory["folders_added"]):
        if not store.scalar(con, "SELECT 1 FROM files WHERE folder_id = ?", [int(folder_id)]):
            con.execute("DELETE FROM import_errors WHERE folder_id = ?", [int(folder_id)])
            con.execute("DELETE FROM folders WHERE id = ?", [int(folder_id)])
            del memory["folders_added"][folder_id]


def _keep_missing(
    con: duckdb.DuckDBPyConnection,
    source: PanopticProject,
    lost: list[Instance],
    paths: dict[int, str],
    row_of: dict[int, FileRow],
    files_of: dict[int, int],
    images_of: dict[str, list[int]],
    take: Take,
    match: FileMatch,
) -> None:
    """Missing images (one per sha1) and missing file rows for Panoptic's files not on disk,
    with Panoptic's thumbnails where it kept one. A file on disk that cannot be read now keeps
    its row (its error is in `panoptui errors`) and gets the missing image."""
    hashes = sorted({MISSING_HASH + i.sha1 for i in lost})
    image_of = {
        str(h): int(i)
        for h, i in con.execute(
            "SELECT content_hash, id FROM images WHERE content_hash IN (SELECT unnest(?))",
            [hashes],
        ).fetchall()
    }
    made: set[int] = set()
    now = datetime.now()
    next_image = store.next_id(con, "images")
    for instance in lost:
        key = MISSING_HASH + instance.sha1
        if images_of.get(instance.sha1):  # its content is here, at another path
            image_of[key] = images_of[instance.sha1][0]
        if key in image_of:
            continue
        image_of[key] = next_image
        made.add(next_image)
        con.execute(
            "INSERT INTO images (id, content_hash, size, format, width, height, mode, "
            "orientation, frames, phash, state, imported_at, metadata_read) "
            "VALUES (?, ?, 0, ?, ?, ?, '', 1, 1, 0, ?, ?, true)",
            [
                next_image,
                key,
                (instance.format or "unknown").upper(),
                instance.width,
                instance.height,
                store.IMAGE_MISSING,
                now,
            ],
        )
        next_image += 1
    folders = [
        (int(i), store.os_path(p, raw))
        for i, p, raw in con.execute("SELECT id, path, raw_path FROM folders").fetchall()
    ]
    next_file = store.next_id(con, "files")
    for instance in lost:
        image_id = image_of[MISSING_HASH + instance.sha1]
        path = paths[instance.id]
        row = row_of.get(instance.id)
        if row is not None:
            take(instance, row[0], image_id)
            if row[2] == store.FILE_ERROR:
                match.unreadable += 1
            else:
                match.missing += 1
            continue
        take(instance, None, image_id)
        match.missing += 1
        folder = next(
            ((i, p) for i, p in folders if path.startswith(storable(p).rstrip("/") + "/")), None
        )
        if folder is None:
            match.left_out("outside_folders")
            continue
        stored, raw = store.stored_path(store.os_path(path))
        con.execute(
            "INSERT INTO files (id, path, folder_id, rel_path, size, mtime_ns, image_id, state, "
            "seen_at, raw_path) VALUES (?, ?, ?, ?, -1, -1, ?, ?, ?, ?)",
            [
                next_file,
                stored,
                folder[0],
                stored[len(storable(folder[1]).rstrip("/")) + 1 :],
                image_id,
                store.FILE_MISSING,
                now,
                raw,
            ],
        )
        row_of[instance.id] = (next_file, image_id, store.FILE_MISSING, -1)
        files_of[instance.id] = next_file
        next_file += 1
    placeholders = {i: image_of[MISSING_HASH + i.sha1] for i in lost}
    _missing_thumbnails(con, source, placeholders, match)


def _missing_thumbnails(
    con: duckdb.DuckDBPyConnection,
    source: PanopticProject,
    placeholders: dict[Instance, int],
    match: FileMatch,
) -> None:
    """Panoptic's thumbnails for the missing images that have none."""
    image_ids = sorted(set(placeholders.values()))
    have = {
        int(i)
        for (i,) in con.execute(
            "SELECT image_id FROM thumbnails WHERE image_id IN (SELECT unnest(?::BIGINT[]))",
            [image_ids],
        ).fetchall()
    }
    sha1_of = {image_id: i.sha1 for i, image_id in placeholders.items()}
    wanted = sorted({sha1_of[i] for i in image_ids if i not in have})
    try:
        found = source.thumbnails(wanted)
    except sqlite3.DatabaseError:
        match.left_out("damaged_media", len(wanted))
        found = {}
    image_of = {sha1: image_id for image_id, sha1 in sha1_of.items()}
    for sha1, jpeg in found.items():
        try:
            with Image.open(io.BytesIO(jpeg)) as thumb:
                width, height = thumb.size
        except (OSError, Image.DecompressionBombError, ValueError):
            match.left_out("unreadable_thumbnails")
            continue
        con.execute(
            "INSERT INTO thumbnails VALUES (?, ?, ?, ?)", [image_of[sha1], width, height, jpeg]
        )
        have.add(image_of[sha1])
    missing_images = {
        int(i)
        for (i,) in con.execute(
            "SELECT id FROM images WHERE state <> 'ok' AND id IN (SELECT unnest(?::BIGINT[]))",
            [image_ids],
        ).fetchall()
    }
    match.missing_thumbnails = len(missing_images & have)
