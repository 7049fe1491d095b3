"""Importing folders: walking, reading each file once (hash, metadata, thumbnail, perceptual hash)
in worker processes, and committing the results to the store in batches.

The import is incremental and crash safe:
- unchanged files (same size and mtime) are skipped; changed files are re-read; files that are
  gone are marked missing (and come back when they reappear); new files are added;
- all cheap bookkeeping (missing files, walk errors) is committed first, then the files to read
  are processed in a fixed order and committed batch by batch, with ids assigned in that order,
  so a run killed at any point and run again ends exactly as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
from PIL import Image

from panoptui.core import store
from panoptui.core.decode import (
    DEFAULT_MAX_PIXELS,
    HEIF_AVAILABLE,
    DecodeError,
    check_jpeg_length,
    decode_reduced,
    make_thumbnail,
    open_image,
    open_regular_file,
    perceptual_hash,
    read_error_reason,
)
from panoptui.core.progress import ProgressCallback, RateMeter
from panoptui.core.workers import (
    available_memory,
    children_ignore_interrupts,
    deferred_interrupts,
    init_worker,
    start_resource_tracker,
    stop_pool,
)

# Extensions a user expects to be imported, in any case. Files with other extensions are ignored
# (they are not counted as errors): an archive holds .txt, .xmp and .json side-cars too.
IMAGE_EXTENSIONS = frozenset(
    [
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".mpo",
        ".png",
        ".apng",
        ".gif",
        ".webp",
        ".tif",
        ".tiff",
        ".bmp",
        ".dib",
        ".ppm",
        ".pgm",
        ".pbm",
        ".pnm",
        ".tga",
        ".ico",
        ".pcx",
        ".avif",
        ".jp2",
        ".j2k",
        ".jpx",
        ".qoi",
    ]
)
DEFAULT_THUMB_SIZE = 256
BATCH_FILES = 256  # files per committed batch
BATCH_SECONDS = 2.0  # ...or fewer, if that many seconds have passed since the last commit
CHUNK_FILES = 8  # files per task sent to a worker process


# Extensions pillow-heif reads (iPhone photos), when it is installed.
HEIF_EXTENSIONS = frozenset([".heic", ".heif", ".hif"])
if HEIF_AVAILABLE:
    IMAGE_EXTENSIONS = IMAGE_EXTENSIONS | HEIF_EXTENSIONS
NO_EXTENSION = "(none)"  # the key of files without an extension in ImportSummary.skipped


@dataclass(frozen=True)
class Found:
    """A file the walk found: either readable (size/mtime known) or an error already.

    ``path`` is the path as stored (text: bytes that are not UTF-8 shown as \\xNN escapes),
    ``os_path`` the path the operating system knows (the same unless the name is not UTF-8)."""

    path: str
    folder_id: int
    rel_path: str
    size: int = 0
    mtime_ns: int = 0
    error: str | None = None
    os_path: str = ""

    @property
    def real_path(self) -> str:
        return self.os_path or self.path


@dataclass
class ImportSummary:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    restored: int = 0  # files marked missing earlier that are back, unchanged
    missing: int = 0  # files newly marked missing by this run
    failed: int = 0  # files of the scanned folders that could not be imported
    # Files the import does not read (not an image format it knows: .dng, .psd, .mp4, and
    # side-cars such as .xmp or .json), by lower-case extension ("(none)": no extension).
    # Hidden files are not counted.
    skipped: dict[str, int] = field(default_factory=dict)
    # Symbolic links (to folders or files) leading outside the folder being imported, not
    # followed (import_folders(..., follow_links=True) follows them).
    links_not_followed: int = 0
    folders: list[str] = field(default_factory=list)
    folders_not_found: list[str] = field(default_factory=list)
    folders_unreadable: list[str] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "skipped": dict(self.skipped)}


def _display_path(path: str) -> str:
    """A path as the store keeps it (see store.stored_path: escaped when not plain UTF-8)."""
    return store.stored_path(path)[0]


def _text(value: str) -> str:
    """Text safe to store: undecodable bytes in file names or messages shown as \\xNN."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class WalkStats:
    """What a walk passed over without importing it (see ImportSummary)."""

    skipped: Counter[str] = field(default_factory=Counter)
    links_not_followed: int = 0


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def walk_folder(
    root: str, folder_id: int, *, follow_links: bool = False, stats: WalkStats | None = None
) -> Iterator[Found]:
    """Yield every image file below ``root``, in a fixed order.

    Real folders are walked first; folders reached through symbolic links come after, and only
    if not seen already, so a link never claims files from their real path and link loops end.
    A symbolic link (to a folder or a file) is followed only when it leads to a place inside
    ``root``, unless ``follow_links``: an archive holding ``pics -> /home/user`` must not pull
    private images in. Hidden entries (names starting with a dot) are skipped. Names that are
    not UTF-8 are imported: ``path`` shows them escaped, ``os_path`` keeps them exact.
    """
    stats = stats if stats is not None else WalkStats()
    real_root = os.path.realpath(root)
    visited: set[tuple[int, int]] = set()
    linked: list[str] = []  # symlinked folders, walked after all real ones

    def found(path: str, size: int = 0, mtime_ns: int = 0, error: str | None = None) -> Found:
        rel = _display_path(os.path.relpath(path, root))
        return Found(_display_path(path), folder_id, rel, size, mtime_ns, error, os_path=path)

    def followed(path: str) -> bool:
        if follow_links or _inside(os.path.realpath(path), real_root):
            return True
        stats.links_not_followed += 1
        return False

    def visit(directory: str) -> Iterator[Found]:
        try:
            st = os.stat(directory)
            if (st.st_dev, st.st_ino) in visited:
                return
            visited.add((st.st_dev, st.st_ino))
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: os.fsencode(e.name))
        except OSError as exc:
            yield found(directory, error=f"cannot list folder: {exc.strerror}")
            return
        for entry in entries:
            name = entry.name
            if name.startswith("."):  # hidden files and folders: .git, .thumbnails, ._AppleDouble
                continue
            path = entry.path
            try:
                is_dir = entry.is_dir()  # follows symlinks
            except OSError:
                is_dir = False
            if is_dir:
                if entry.is_symlink():
                    if followed(path):
                        linked.append(path)
                else:
                    yield from visit(path)
                continue
            extension = os.path.splitext(name)[1].lower()
            if extension not in IMAGE_EXTENSIONS:
                stats.skipped[_text(extension) or NO_EXTENSION] += 1
                continue
            if entry.is_symlink() and not followed(path):
                continue
            try:
                st = entry.stat()  # follows symlinks
            except FileNotFoundError:
                if entry.is_symlink():
                    target = _display_path(os.readlink(path))
                    reason = f"broken symbolic link: it points to {target}, which does not exist"
                else:
                    reason = "file disappeared while the folder was being scanned"
                yield found(path, error=reason)
                continue
            except OSError as exc:
                yield found(path, error=f"cannot stat file: {exc.strerror}")
                continue
            if not stat.S_ISREG(st.st_mode):
                yield found(path, error="not a regular file")
                continue
            yield found(path, size=st.st_size, mtime_ns=st.st_mtime_ns)

    yield from visit(root)
    while linked:
        yield from visit(linked.pop(0))


# --- worker side -------------------------------------------------------------------------------

HASH_BLOCK = 1 << 20
INT32_MAX = 2**31 - 1  # width, height and frames are INTEGER columns


def read_image_file(
    path: str, max_pixels: int, thumb_size: int, memory_budget: int | None = None
) -> dict[str, object]:
    """Read one file: everything the store keeps about it. Never raises.

    The header is checked first, so a huge file that is not an image fails without being read;
    the bytes are hashed in blocks, so memory stays small whatever the file size. The first frame
    is decoded in full (a file damaged half-way must fail here, not later when vectors are made),
    within ``memory_budget`` bytes of decoded pixels.
    """
    result: dict[str, object] = {"path": path}
    try:
        handle, st = open_regular_file(path)
        with handle:
            result["size"], result["mtime_ns"] = st.st_size, st.st_mtime_ns
            img = open_image(handle, max_pixels)
            if img.format in ("JPEG", "MPO"):
                check_jpeg_length(handle, st.st_size, img.size)
            digest = hashlib.sha256()
            handle.seek(0)
            while block := handle.read(HASH_BLOCK):
                digest.update(block)
            result["content_hash"] = digest.hexdigest()
            handle.seek(0)
            stored_size, stored_mode, fmt = img.size, img.mode, img.format
            # Counting frames seeks through the file and back to the first frame: before the
            # decode, so that nothing reloads the decoded frame from the file afterwards.
            frames = _frame_count(img)
            decoded, orientation = decode_reduced(img, thumb_size / max(stored_size), memory_budget)
        # Displayed size: the stored one, swapped when the decoded (oriented) picture turned by
        # 90 degrees. Read from the pixels, since Pillow's readers differ in what `size` reports.
        width, height = stored_size
        if (decoded.width > decoded.height) != (width > height) and width != height:
            width, height = height, width
        if max(width, height) > INT32_MAX:
            raise DecodeError(f"image header gives a size of {width}x{height}, too large to store")
        thumb = make_thumbnail(decoded, thumb_size)
        buffer = io.BytesIO()
        thumb.save(buffer, "JPEG", quality=82)
        result.update(
            format=fmt or "unknown",
            mode=stored_mode,
            orientation=orientation,
            frames=frames,
            width=width,
            height=height,
            phash=perceptual_hash(thumb),
            thumb_width=thumb.width,
            thumb_height=thumb.height,
            thumb=buffer.getvalue(),
        )
    except FileNotFoundError as exc:
        result["error"], result["gone"] = read_error_reason(exc), True
    except Exception as exc:  # every failure, decoder bugs included, is recorded; the run goes on
        result["error"] = read_error_reason(exc)
    return result


def _frame_count(img: Image.Image) -> int:
    """Frames as the header claims them, clamped to what the store holds: an APNG may claim
    2**31 frames in 93 bytes. A count that cannot be read is 1 (the first frame decoded)."""
    try:
        frames = int(getattr(img, "n_frames", 1) or 1)
    except Exception:  # a damaged later frame; the first one decoded
        return 1
    return max(1, min(frames, INT32_MAX))


def _read_chunk(
    paths: list[str], max_pixels: int, thumb_size: int, memory_budget: int | None = None
) -> list[dict[str, object]]:
    return [read_image_file(p, max_pixels, thumb_size, memory_budget) for p in paths]


# --- store side --------------------------------------------------------------------------------


def insert_rows(
    con: duckdb.DuckDBPyConnection, sql: str, rows: list[dict[str, object]], schema: pa.Schema
) -> None:
    store.insert_arrow(con, sql, pa.Table.from_pylist(rows, schema=schema))


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
    con: duckdb.DuckDBPyConnection, found: dict[str, Found], results: list[dict[str, object]]
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
        if len(results) == 1 and "error" in results[0]:
            raise
    for result in results:
        try:
            _commit_batch(con, found, [result])
        except (duckdb.Error, pa.ArrowException, ValueError, TypeError, OverflowError) as exc:
            if "error" in result:
                raise
            reason = f"cannot store what was read from this file: {_first_line(exc)}"
            _commit_batch(con, found, [{"path": result["path"], "error": reason}])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def _commit_batch(
    con: duckdb.DuckDBPyConnection, found: dict[str, Found], results: list[dict[str, object]]
) -> None:
    now = datetime.now()
    paths = [str(r["path"]) for r in results]
    with store.transaction(con):
        existing = _existing_files(con, paths)
        touched_images = {img for _, img in existing.values() if img is not None}
        hashes = sorted({str(r["content_hash"]) for r in results if "error" not in r})
        known = dict(
            con.execute(
                "SELECT content_hash, id FROM images "
                "WHERE content_hash IN (SELECT unnest(?::VARCHAR[]))",
                [hashes],
            ).fetchall()
        )
        next_image = store.next_id(con, "images")
        next_file = store.next_id(con, "files")
        new_images: list[dict[str, object]] = []
        new_thumbs: list[dict[str, object]] = []
        file_rows: list[dict[str, object]] = []
        errors: list[tuple[str, int, str]] = []
        for r in results:
            path = str(r["path"])
            info = found[path]
            if path in existing:
                file_id = existing[path][0]
            else:
                file_id, next_file = next_file, next_file + 1
            image_id = None
            state = store.FILE_OK
            if r.get("gone") and existing.get(path, (None, None))[1] is not None:
                # Imported before, deleted since the scan: missing, like any deleted file.
                image_id, state = existing[path][1], store.FILE_MISSING
            elif "error" in r:
                state = store.FILE_ERROR
                errors.append((path, info.folder_id, _text(str(r["error"]))))
            else:
                digest = str(r["content_hash"])
                if digest not in known:
                    known[digest], next_image = next_image, next_image + 1
                    new_images.append(
                        {
                            "id": known[digest],
                            "content_hash": digest,
                            **{k: r[k] for k in ("size", "format", "width", "height", "mode")},
                            "orientation": r["orientation"],
                            "frames": r["frames"],
                            "phash": r["phash"],
                            "state": store.IMAGE_OK,
                            "imported_at": now,
                        }
                    )
                    new_thumbs.append(
                        {
                            "image_id": known[digest],
                            "width": r["thumb_width"],
                            "height": r["thumb_height"],
                            "jpeg": r["thumb"],
                        }
                    )
                image_id = known[digest]
                touched_images.add(image_id)
            file_rows.append(
                {
                    "id": file_id,
                    "path": path,
                    "folder_id": info.folder_id,
                    "rel_path": info.rel_path,
                    "size": r.get("size", info.size),
                    "mtime_ns": r.get("mtime_ns", info.mtime_ns),
                    "image_id": image_id,
                    "state": state,
                    "seen_at": now,
                    "raw_path": store.stored_path(info.real_path)[1],
                }
            )
        if new_images:
            insert_rows(con, "INSERT INTO images SELECT * FROM batch", new_images, IMAGES_SCHEMA)
            insert_rows(
                con, "INSERT INTO thumbnails SELECT * FROM batch", new_thumbs, THUMBS_SCHEMA
            )
        _upsert_files(con, file_rows)
        _upsert_errors(con, errors)
        ok_paths = [row["path"] for row in file_rows if row["state"] != store.FILE_ERROR]
        if ok_paths:
            con.execute(
                "DELETE FROM import_errors WHERE path IN (SELECT unnest(?::VARCHAR[]))", [ok_paths]
            )
        refresh_image_states(con, sorted(touched_images))


# --- orchestration -----------------------------------------------------------------------------


ChunkReader = Callable[..., list[dict[str, object]]]

# Memory an import worker needs besides decoded pixels: the interpreter, Pillow, numpy, the file
# being hashed, the thumbnail. Measured: about 90 MB resident per worker; kept with a margin.
WORKER_OVERHEAD = 160 << 20
MIN_DECODE_BUDGET = 64 << 20


def plan_workers(requested: int | None, max_pixels: int) -> tuple[int, int]:
    """How many import workers to run and how many bytes of decoded pixels each may hold.

    One worker per core, but no more than the available memory holds when each decodes the
    largest image the pixel limit lets through (4 bytes a pixel: a 13000x13000 RGBA PNG of
    657 KB decodes to 676 MB). With little memory, a single worker gets what there is, and an
    image that needs more is refused with that reason instead of failing with MemoryError.
    """
    workers = max(1, requested or os.cpu_count() or 1)
    budget = max_pixels * 4
    available = available_memory()
    if available is None:
        return workers, budget
    usable = available * 3 // 4  # the rest for the main process, DuckDB and everyone else
    workers = max(1, min(workers, usable // (budget + WORKER_OVERHEAD)))
    budget = max(MIN_DECODE_BUDGET, min(budget, usable // workers - WORKER_OVERHEAD))
    return workers, budget


def _read_isolated(
    path: str, ctx: multiprocessing.context.BaseContext, read_chunk: ChunkReader, *settings: object
) -> dict[str, object]:
    """Read one file in a process of its own, so a decoder crash is pinned on that file."""
    executor = ProcessPoolExecutor(1, mp_context=ctx, initializer=init_worker)
    try:
        with children_ignore_interrupts():
            future = executor.submit(read_chunk, [path], *settings)
        return future.result()[0]
    except BrokenProcessPool:
        return {"path": path, "error": "the image decoder crashed on this file"}
    finally:
        stop_pool(executor)


def read_files(
    paths: list[str],
    workers: int,
    max_pixels: int,
    thumb_size: int,
    read_chunk: ChunkReader = _read_chunk,
    memory_budget: int | None = None,
) -> Generator[list[dict[str, object]], None, None]:
    """Read files in worker processes; yield results in input order, a chunk at a time.

    A worker that dies (a decoder crash on a hostile file) costs only that file: the chunks that
    were in flight are read again one file per process, and the pool is restarted. Closing the
    generator (Ctrl-C, a cancel) terminates the workers at once rather than waiting for the
    chunks in flight: their results were not going to be stored anyway.
    """
    settings: tuple[object, ...] = (max_pixels, thumb_size)
    if memory_budget is not None:
        settings += (memory_budget,)
    # Always in worker processes, even for one file: a decoder crash on a hostile file must cost
    # that file, not the import (which would then crash on it at every rerun).
    # spawn, not fork: the parent holds DuckDB's threads, and forking a threaded process is unsafe.
    ctx = multiprocessing.get_context("spawn")
    start_resource_tracker()
    chunks = [paths[i : i + CHUNK_FILES] for i in range(0, len(paths), CHUNK_FILES)]

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max(1, workers), mp_context=ctx, initializer=init_worker)

    executor = new_pool()
    pending: list[tuple[list[str], Future]] = []
    submitted = 0
    try:
        while submitted < len(chunks) or pending:
            with children_ignore_interrupts():  # submitting starts the processes
                while submitted < len(chunks) and len(pending) < max(1, workers) * 3:
                    chunk = chunks[submitted]
                    pending.append((chunk, executor.submit(read_chunk, chunk, *settings)))
                    submitted += 1
            chunk, future = pending.pop(0)
            try:
                result = future.result()
            except BrokenProcessPool:
                stop_pool(executor)
                redo = [chunk] + [c for c, _ in pending]
                pending.clear()
                for again in redo:
                    yield [_read_isolated(p, ctx, read_chunk, *settings) for p in again]
                executor = new_pool()
                continue
            yield result
    finally:
        # A second Ctrl-C must not interrupt the clean-up half-way (and print a traceback).
        with deferred_interrupts():
            stop_pool(executor)


def resolve_folder(folder: str | os.PathLike[str]) -> str:
    """The absolute, resolved path of a folder to import (the operating system's path: a name
    that is not UTF-8 is kept as Python gives it). ProjectError when it is not a folder."""
    path = Path(folder).expanduser()
    if not path.exists():
        raise store.ProjectError(f"folder {_text(str(folder))} does not exist")
    if not path.is_dir():
        raise store.ProjectError(f"{_text(str(folder))} is not a folder")
    return str(path.resolve())


def registered_folders(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str]]:
    """Every registered folder as (id, the operating system's path), by id."""
    rows = con.execute("SELECT id, path, raw_path FROM folders ORDER BY id").fetchall()
    return [(int(i), store.os_path(p, raw)) for i, p, raw in rows]


def _walks_into(parent: str, child: str) -> bool:
    """True when walking ``parent`` reaches ``child``: it lies below, and not under a hidden
    folder (those are skipped by the walk, so a hidden folder is imported on its own)."""
    if not child.startswith(parent.rstrip("/") + "/"):
        return False
    below = os.path.relpath(child, parent).split(os.sep)
    return not any(part.startswith(".") for part in below)


def add_folders(con: duckdb.DuckDBPyConnection, folders: list[str]) -> list[tuple[int, str]]:
    """Register folders (absolute, resolved paths) and return the (id, path) pairs to scan.

    A folder inside a registered one is already covered: its parent is scanned instead. A folder
    that contains registered ones takes their files over, so every file belongs to one folder.
    """
    registered = {path: folder_id for folder_id, path in registered_folders(con)}
    to_scan: dict[int, str] = {}
    for folder in folders:
        parent = next((p for p in registered if folder == p or _walks_into(p, folder)), None)
        if parent is not None:
            to_scan[registered[parent]] = parent
            continue
        children = [p for p in registered if _walks_into(folder, p)]
        with store.transaction(con):
            folder_id = store.next_id(con, "folders")
            con.execute(
                "INSERT INTO folders (id, path, raw_path) VALUES (?, ?, ?)",
                [folder_id, *store.stored_path(folder)],
            )
            for child in children:
                prefix = _text(os.path.relpath(child, folder))
                con.execute(
                    "UPDATE files SET folder_id = ?, rel_path = ? || '/' || rel_path "
                    "WHERE folder_id = ?",
                    [folder_id, prefix, registered[child]],
                )
                con.execute(
                    "UPDATE import_errors SET folder_id = ? WHERE folder_id = ?",
                    [folder_id, registered[child]],
                )
                con.execute("DELETE FROM folders WHERE id = ?", [registered[child]])
                to_scan.pop(registered[child], None)
                del registered[child]
        registered[folder] = folder_id
        to_scan[folder_id] = folder
    return sorted(to_scan.items())


def _mark_gone_and_restored(
    con: duckdb.DuckDBPyConnection, folder_ids: list[int], found: dict[str, Found]
) -> tuple[list[Found], int, int, int]:
    """Compare the walk with the store. Commits missing/restored marks and returns the files to
    read, plus the counts of unchanged, restored and newly missing files."""
    known = con.execute(
        "SELECT path, size, mtime_ns, state, image_id FROM files "
        "WHERE folder_id IN (SELECT unnest(?::INTEGER[]))",
        [folder_ids],
    ).fetchall()
    by_path = {row[0]: row[1:] for row in known}
    to_read: list[Found] = []
    unchanged = 0
    restored: list[str] = []
    for info in found.values():
        if info.error is not None:
            continue
        previous = by_path.get(info.path)
        if (
            previous is None
            or (previous[0], previous[1]) != (info.size, info.mtime_ns)
            # Failed files are always retried: fixing permissions or raising --max-pixels
            # changes no mtime, and a broken file fails fast.
            or previous[2] == store.FILE_ERROR
        ):
            to_read.append(info)
        elif previous[2] == store.FILE_MISSING:
            restored.append(info.path)
        else:
            unchanged += 1
    gone_ok = [p for p, row in by_path.items() if p not in found and row[2] == store.FILE_OK]
    gone_other = [p for p, row in by_path.items() if p not in found and row[2] != store.FILE_OK]
    touched = sorted(
        {row[3] for p, row in by_path.items() if row[3] is not None and (p not in found)}
        | {by_path[p][3] for p in restored if by_path[p][3] is not None}
    )
    with store.transaction(con):
        con.execute(
            "UPDATE files SET state = 'missing' WHERE path IN (SELECT unnest(?::VARCHAR[]))",
            [gone_ok],
        )
        con.execute(
            "UPDATE files SET state = 'ok' WHERE path IN (SELECT unnest(?::VARCHAR[]))", [restored]
        )
        # Errors of files that are gone are no longer errors; missing files stay on record.
        gone_errors = [p for p in gone_other if by_path[p][2] == store.FILE_ERROR]
        con.execute("DELETE FROM files WHERE path IN (SELECT unnest(?::VARCHAR[]))", [gone_errors])
        con.execute(
            "DELETE FROM import_errors WHERE folder_id IN (SELECT unnest(?::INTEGER[])) "
            "AND path NOT IN (SELECT path FROM files)",
            [folder_ids],
        )
        refresh_image_states(con, touched)
    return to_read, unchanged, len(restored), len(gone_ok)


def import_folders(
    con: duckdb.DuckDBPyConnection,
    folders: list[str] | None = None,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    thumb_size: int = DEFAULT_THUMB_SIZE,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    follow_links: bool = False,
) -> ImportSummary:
    """Import (or rescan) folders into the project. ``folders`` None rescans all registered ones.

    Returns when done or, if ``cancel`` is set, after committing what was read so far. Symbolic
    links leading outside the folder being imported are followed only with ``follow_links``.
    """
    started = time.monotonic()
    report = progress or (lambda event: None)
    cancel = cancel or threading.Event()
    workers, memory_budget = plan_workers(workers, max_pixels)
    if folders is None:
        targets = registered_folders(con)
    else:
        targets = add_folders(con, [resolve_folder(f) for f in folders])
    # The summary holds text (escaped where not UTF-8); the walk works on the OS's paths.
    summary = ImportSummary(folders=[_text(p) for _, p in targets])

    found: dict[str, Found] = {}
    stats = WalkStats()
    scan_meter = RateMeter()
    scanned_ids = []
    not_found_ids = []
    for folder_id, folder in targets:
        if not os.path.isdir(folder):
            summary.folders_not_found.append(_text(folder))
            scanned_ids.append(folder_id)  # gone: its files are missing
            not_found_ids.append(folder_id)
            continue
        try:
            os.scandir(folder).close()
        except OSError as exc:
            # Unreadable (permissions, a stale mount): say so, and mark nothing missing.
            summary.folders_unreadable.append(f"{_text(folder)}: {exc.strerror}")
            continue
        scanned_ids.append(folder_id)
        for info in walk_folder(folder, folder_id, follow_links=follow_links, stats=stats):
            found[info.path] = info
            if len(found) % 1000 == 0:
                report(scan_meter.event("scanning", len(found), 0))
                if cancel.is_set():
                    summary.cancelled = True
                    summary.seconds = time.monotonic() - started
                    return summary
    summary.skipped = dict(sorted(stats.skipped.items(), key=lambda kv: (-kv[1], kv[0])))
    summary.links_not_followed = stats.links_not_followed
    folder_ids = scanned_ids
    to_read, summary.unchanged, summary.restored, summary.missing = _mark_gone_and_restored(
        con, folder_ids, found
    )
    walk_errors = [info for info in found.values() if info.error is not None]
    if walk_errors:
        commit_results(con, found, [{"path": f.path, "error": f.error} for f in walk_errors])

    was_known = {
        row[0]
        for row in con.execute(
            "SELECT path FROM files WHERE state <> 'error' "
            "AND path IN (SELECT unnest(?::VARCHAR[]))",
            [[f.path for f in to_read]],
        ).fetchall()
    }
    meter = RateMeter()
    done = errors = 0
    batch: list[dict[str, object]] = []
    last_commit = time.monotonic()
    report(meter.event("importing", 0, len(to_read)))
    reader = read_files(
        [f.real_path for f in to_read], workers, max_pixels, thumb_size, memory_budget=memory_budget
    )
    try:
        for chunk in reader:
            for result in chunk:
                # Workers saw the path the OS knows; the store keys files by the stored text.
                result["path"] = to_read[done].path
                done += 1
                if result.get("gone") and result["path"] in was_known:
                    summary.missing += 1
                elif "error" in result:
                    errors += 1
                elif result["path"] in was_known:
                    summary.changed += 1
                else:
                    summary.new += 1
            batch.extend(chunk)
            if len(batch) >= BATCH_FILES or time.monotonic() - last_commit > BATCH_SECONDS:
                commit_results(con, found, batch)
                batch, last_commit = [], time.monotonic()
            report(meter.event("importing", done, len(to_read), errors))
            if cancel.is_set():
                summary.cancelled = True
                break
    finally:
        # Stop the workers and store what was read, even when a second Ctrl-C comes meanwhile:
        # it is raised once this is done, and a project is left consistent either way.
        with deferred_interrupts():
            reader.close()
            if batch:
                commit_results(con, found, batch)
    if not summary.cancelled:
        con.execute(
            "UPDATE folders SET last_import = current_localtimestamp() "
            "WHERE id IN (SELECT unnest(?::INTEGER[]))",
            [[i for i, _ in targets if i in scanned_ids and i not in not_found_ids]],
        )
    summary.failed = int(
        store.scalar(
            con,
            "SELECT count(*) FROM files WHERE state = 'error' "
            "AND folder_id IN (SELECT unnest(?::INTEGER[]))",
            [folder_ids],
        )
    )
    summary.seconds = time.monotonic() - started
    return summary
