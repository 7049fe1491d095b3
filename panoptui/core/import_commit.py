"""Storing what the import read: one batch of read results per transaction.

Files, images (one per distinct content), thumbnails and import errors are written together, so
a batch is either stored whole or not at all; ids are assigned in the order of the results, which
is what makes an interrupted import end, when run again, exactly as an uninterrupted one.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

from panoptui.core import store
from panoptui.core.read_worker import ReadResult
from panoptui.core.text import storable
from panoptui.core.walk import Found


def insert_rows(
    con: duckdb.DuckDBPyConnection, sql: str, rows: list[dict[str, object]], schema: pa.Schema
) -> None:
    store.insert_arrow(con, sql, pa.Table.from_pylist(rows, schema=schema))


# The Arrow type of each DuckDB type store.METADATA_COLUMNS uses.
_ARROW_TYPES = {
    "TIMESTAMP": pa.timestamp("us"),
    "VARCHAR": pa.string(),
    "DOUBLE": pa.float64(),
    "INTEGER": pa.int32(),
    "VARCHAR[]": pa.list_(pa.string()),
}
METADATA_FIELDS = [(name, _ARROW_TYPES[kind]) for name, kind in store.METADATA_COLUMNS.items()]
METADATA_SCHEMA = pa.schema([("id", pa.int64()), *METADATA_FIELDS])

IMAGES_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("content_hash", pa.string()),
        ("size", pa.int64()),
        ("format", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("mode", pa.string()),
        ("orientation", pa.int8()),
        ("frames", pa.int32()),
        ("phash", pa.uint64()),
        ("state", pa.string()),
        ("imported_at", pa.timestamp("us")),
        *METADATA_FIELDS,
        ("metadata_read", pa.bool_()),
    ]
)
THUMBS_SCHEMA = pa.schema(
    [
        ("image_id", pa.int64()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("jpeg", pa.binary()),
    ]
)
ERRORS_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("folder_id", pa.int32()),
        ("reason", pa.string()),
        ("failed_at", pa.timestamp("us")),
    ]
)
FILES_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("path", pa.string()),
        ("folder_id", pa.int32()),
        ("rel_path", pa.string()),
        ("size", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("image_id", pa.int64()),
        ("state", pa.string()),
        ("seen_at", pa.timestamp("us")),
        ("raw_path", pa.binary()),  # the exact bytes of a path that is not UTF-8, else NULL
    ]
)


def refresh_image_states(con: duckdb.DuckDBPyConnection, image_ids: list[int]) -> None:
    if not image_ids:
        return
    con.execute(
        """
        UPDATE images SET state = s.state FROM (
            SELECT i.id,
                   CASE WHEN count(f.id) FILTER (WHERE f.state = 'ok') > 0 THEN 'ok'
                        WHEN count(f.id) FILTER (WHERE f.state = 'missing') > 0 THEN 'missing'
                        ELSE 'stale' END AS state
            FROM images i LEFT JOIN files f ON f.image_id = i.id
            WHERE i.id IN (SELECT unnest(?::BIGINT[]))
            GROUP BY i.id
        ) s
        WHERE images.id = s.id AND images.state <> s.state
        """,
        [image_ids],
    )


def metadata_row(metadata: dict[str, object] | None) -> dict[str, object]:
    """The metadata columns of an image row (all None when nothing was read)."""
    metadata = metadata or {}
    return {name: metadata.get(name) for name in store.METADATA_COLUMNS}


def store_metadata(
    con: duckdb.DuckDBPyConnection, found: dict[int, dict[str, object] | None]
) -> None:
    """Record the metadata read for images imported before it was read (image id -> fields),
    and that it was read; an image whose metadata is already read keeps it."""
    if not found:
        return
    rows = [{"id": image_id, **metadata_row(fields)} for image_id, fields in found.items()]
    assignments = ", ".join(f"{name} = b.{name}" for name in store.METADATA_COLUMNS)
    insert_rows(
        con,
        f"UPDATE images SET {assignments}, metadata_read = true FROM batch b "
        "WHERE images.id = b.id AND NOT coalesce(images.metadata_read, false)",
        rows,
        METADATA_SCHEMA,
    )


def _existing_files(con: duckdb.DuckDBPyConnection, paths: list[str]) -> dict[str, tuple]:
    rows = con.execute(
        "SELECT path, id, image_id FROM files WHERE path IN (SELECT unnest(?::VARCHAR[]))",
        [paths],
    ).fetchall()
    return {path: (file_id, image_id) for path, file_id, image_id in rows}


def _upsert_files(con: duckdb.DuckDBPyConnection, rows: list[dict[str, object]]) -> None:
    insert_rows(
        con,
        """
        INSERT INTO files SELECT * FROM batch
        ON CONFLICT (path) DO UPDATE SET
            folder_id = excluded.folder_id, rel_path = excluded.rel_path, size = excluded.size,
            mtime_ns = excluded.mtime_ns, image_id = excluded.image_id, state = excluded.state,
            seen_at = excluded.seen_at, raw_path = excluded.raw_path
        """,
        rows,
        FILES_SCHEMA,
    )


def _upsert_errors(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, int, str]]) -> None:
    if not rows:
        return
    now = datetime.now()
    insert_rows(
        con,
        """
        INSERT INTO import_errors SELECT * FROM batch
        ON CONFLICT (path) DO UPDATE SET folder_id = excluded.folder_id,
            reason = excluded.reason, failed_at = excluded.failed_at
        """,
        [{"path": p, "folder_id": f, "reason": r, "failed_at": now} for p, f, r in rows],
        ERRORS_SCHEMA,
    )


def commit_results(
    con: duckdb.DuckDBPyConnection, found: dict[str, Found], results: list[ReadResult]
) -> None:
    """Write one batch of read results in one transaction.

    No single file may sink a batch: when the batch cannot be stored, its files are stored one
    at a time, and a file that still cannot be stored becomes an error row with the reason. Only
    when even that fails (a full disk, a lost database) does the error go up.
    """
    try:
        _commit_batch(con, found, results)
        return
    except (duckdb.Error, pa.ArrowException, ValueError, TypeError, OverflowError):
        if len(results) == 1 and results[0].error is not None:
            raise
    for result in results:
        try:
            _commit_batch(con, found, [result])
        except (duckdb.Error, pa.ArrowException, ValueError, TypeError, OverflowError) as exc:
            if result.error is not None:
                raise
            reason = f"cannot store what was read from this file: {_first_line(exc)}"
            _commit_batch(con, found, [ReadResult(result.path, error=reason)])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def _commit_batch(
    con: duckdb.DuckDBPyConnection, found: dict[str, Found], results: list[ReadResult]
) -> None:
    now = datetime.now()
    paths = [r.path for r in results]
    with store.transaction(con):
        existing = _existing_files(con, paths)
        touched_images = {img for _, img in existing.values() if img is not None}
        hashes = sorted({str(r.content_hash) for r in results if r.error is None})
        stored = con.execute(
            "SELECT content_hash, id, coalesce(metadata_read, false) FROM images "
            "WHERE content_hash IN (SELECT unnest(?::VARCHAR[]))",
            [hashes],
        ).fetchall()
        known = {digest: image_id for digest, image_id, _ in stored}
        # Images imported before metadata was read: a file of theirs read now brings it.
        unread = {image_id for _, image_id, read in stored if not read}
        late_metadata: dict[int, dict[str, object] | None] = {}
        next_image = store.next_id(con, "images")
        next_file = store.next_id(con, "files")
        new_images: list[dict[str, object]] = []
        new_thumbs: list[dict[str, object]] = []
        file_rows: list[dict[str, object]] = []
        errors: list[tuple[str, int, str]] = []
        for r in results:
            path = r.path
            info = found[path]
            if path in existing:
                file_id = existing[path][0]
            else:
                file_id, next_file = next_file, next_file + 1
            image_id = None
            state = store.FILE_OK
            if r.gone and existing.get(path, (None, None))[1] is not None:
                # Imported before, deleted since the scan: missing, like any deleted file.
                image_id, state = existing[path][1], store.FILE_MISSING
            elif r.error is not None:
                state = store.FILE_ERROR
                errors.append((path, info.folder_id, storable(r.error)))
            else:
                digest = str(r.content_hash)
                if digest not in known:
                    known[digest], next_image = next_image, next_image + 1
                    new_images.append(
                        {
                            "id": known[digest],
                            "content_hash": digest,
                            "size": r.size,
                            "format": r.format,
                            "width": r.width,
                            "height": r.height,
                            "mode": r.mode,
                            "orientation": r.orientation,
                            "frames": r.frames,
                            "phash": r.phash,
                            "state": store.IMAGE_OK,
                            "imported_at": now,
                            **metadata_row(r.metadata),
                            "metadata_read": r.metadata is not None,
                        }
                    )
                    new_thumbs.append(
                        {
                            "image_id": known[digest],
                            "width": r.thumb_width,
                            "height": r.thumb_height,
                            "jpeg": r.thumb,
                        }
                    )
                image_id = known[digest]
                touched_images.add(image_id)
                if image_id in unread and r.metadata is not None:
                    late_metadata.setdefault(image_id, r.metadata)
            file_rows.append(
                {
                    "id": file_id,
                    "path": path,
                    "folder_id": info.folder_id,
                    "rel_path": info.rel_path,
                    "size": info.size if r.size is None else r.size,
                    "mtime_ns": info.mtime_ns if r.mtime_ns is None else r.mtime_ns,
                    "image_id": image_id,
                    "state": state,
                    "seen_at": now,
                    "raw_path": store.stored_path(info.real_path)[1],
                }
            )
        if new_images:
            insert_rows(
                con, "INSERT INTO images BY NAME SELECT * FROM batch", new_images, IMAGES_SCHEMA
            )
            insert_rows(
                con, "INSERT INTO thumbnails SELECT * FROM batch", new_thumbs, THUMBS_SCHEMA
            )
        store_metadata(con, late_metadata)
        _upsert_files(con, file_rows)
        _upsert_errors(con, errors)
        ok_paths = [row["path"] for row in file_rows if row["state"] != store.FILE_ERROR]
        if ok_paths:
            con.execute(
                "DELETE FROM import_errors WHERE path IN (SELECT unnest(?::VARCHAR[]))", [ok_paths]
            )
        refresh_image_states(con, sorted(touched_images))
