"""Importing folders: the orchestration of walking, reading and storing.

An import walks the folders (``walk``), reads each new or changed file once in worker processes
(``read_worker``: hash, metadata, thumbnail, perceptual hash) and commits the results to the
store in batches (``import_commit``). This module runs those stages and counts what happened.

The import is incremental and crash safe:
- unchanged files (same size and mtime) are skipped; changed files are re-read; files that are
  gone are marked missing (and come back when they reappear); new files are added;
- all cheap bookkeeping (missing files, walk errors) is committed first, then the files to read
  are processed in a fixed order and committed batch by batch, with ids assigned in that order,
  so a run killed at any point and run again ends exactly as an uninterrupted run.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from panoptui.core import read_worker, store
from panoptui.core.decode import DEFAULT_MAX_PIXELS
from panoptui.core.import_commit import commit_results, refresh_image_states, store_metadata
from panoptui.core.progress import ProgressCallback, RateMeter
from panoptui.core.read_worker import DEFAULT_THUMB_SIZE, ReadResult
from panoptui.core.text import storable
from panoptui.core.walk import Found, WalkStats, walk_folder
from panoptui.core.workers import (
    available_memory,
    children_ignore_interrupts,
    deferred_interrupts,
    init_worker,
    start_resource_tracker,
    stop_pool,
)

BATCH_FILES = 256  # files per committed batch
BATCH_SECONDS = 2.0  # ...or fewer, if that many seconds have passed since the last commit
CHUNK_FILES = 8  # files per task sent to a worker process


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
    # Images imported before metadata was read (schema version 8) whose EXIF, IPTC and XMP this
    # run read, from one unchanged file of each.
    metadata_updated: int = 0
    folders: list[str] = field(default_factory=list)
    folders_not_found: list[str] = field(default_factory=list)
    folders_unreadable: list[str] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "skipped": dict(self.skipped)}


ChunkReader = Callable[..., list[ReadResult]]

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
) -> ReadResult:
    """Read one file in a process of its own, so a decoder crash is pinned on that file."""
    executor = ProcessPoolExecutor(1, mp_context=ctx, initializer=init_worker)
    try:
        with children_ignore_interrupts():
            future = executor.submit(read_chunk, [path], *settings)
        return future.result()[0]
    except BrokenProcessPool:
        return ReadResult(path, error="the image decoder crashed on this file")
    finally:
        stop_pool(executor)


def read_files(
    paths: list[str],
    workers: int,
    max_pixels: int,
    thumb_size: int,
    read_chunk: ChunkReader = read_worker.read_chunk,
    memory_budget: int | None = None,
) -> Generator[list[ReadResult], None, None]:
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
        raise store.ProjectError(f"folder {storable(str(folder))} does not exist")
    if not path.is_dir():
        raise store.ProjectError(f"{storable(str(folder))} is not a folder")
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
                prefix = storable(os.path.relpath(child, folder))
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


def _unread_metadata(
    con: duckdb.DuckDBPyConnection, folder_ids: list[int], found: dict[str, Found]
) -> list[tuple[int, Found]]:
    """The images of these folders imported before metadata was read, each with one of its
    files that the walk found (the first by id)."""
    rows = con.execute(
        "SELECT f.image_id, list(f.path ORDER BY f.id) FROM files f "
        "JOIN images i ON i.id = f.image_id "
        "WHERE f.folder_id IN (SELECT unnest(?::INTEGER[])) AND f.state = 'ok' "
        "AND NOT coalesce(i.metadata_read, false) GROUP BY f.image_id ORDER BY f.image_id",
        [folder_ids],
    ).fetchall()
    todo = []
    for image_id, paths in rows:
        info = next((found[p] for p in paths if p in found), None)
        if info is not None and info.error is None:
            todo.append((int(image_id), info))
    return todo


def _read_late_metadata(
    con: duckdb.DuckDBPyConnection,
    folder_ids: list[int],
    found: dict[str, Found],
    workers: int,
    max_pixels: int,
    report: ProgressCallback,
    cancel: threading.Event,
    summary: ImportSummary,
) -> None:
    """Read the metadata of the images imported before it was read, once: the header of one
    file each, nothing decoded or hashed. An image whose file cannot be read now is tried
    again by the next import."""
    if os.environ.get(read_worker.SKIP_METADATA_ENV):
        return  # the benchmark's import without metadata: every image is left unread
    todo = _unread_metadata(con, folder_ids, found)
    if not todo:
        return
    meter = RateMeter()
    report(meter.event("reading metadata", 0, len(todo)))
    reader = read_files(
        [info.real_path for _, info in todo],
        workers,
        max_pixels,
        0,
        read_chunk=read_worker.read_metadata_chunk,
    )
    done = errors = 0
    batch: dict[int, dict[str, object] | None] = {}
    try:
        for chunk in reader:
            for result in chunk:
                image_id = todo[done][0]
                done += 1
                if result.metadata is None:
                    errors += 1
                else:
                    batch[image_id] = result.metadata
            if len(batch) >= BATCH_FILES:
                store_metadata(con, batch)
                summary.metadata_updated += len(batch)
                batch = {}
            report(meter.event("reading metadata", done, len(todo), errors))
            if cancel.is_set():
                summary.cancelled = True
                break
    finally:
        with deferred_interrupts():
            reader.close()
            if batch:
                store_metadata(con, batch)
                summary.metadata_updated += len(batch)


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
    summary = ImportSummary(folders=[storable(p) for _, p in targets])

    found: dict[str, Found] = {}
    stats = WalkStats()
    scan_meter = RateMeter()
    scanned_ids = []
    not_found_ids = []
    for folder_id, folder in targets:
        if not os.path.isdir(folder):
            summary.folders_not_found.append(storable(folder))
            scanned_ids.append(folder_id)  # gone: its files are missing
            not_found_ids.append(folder_id)
            continue
        try:
            os.scandir(folder).close()
        except OSError as exc:
            # Unreadable (permissions, a stale mount): say so, and mark nothing missing.
            summary.folders_unreadable.append(f"{storable(folder)}: {exc.strerror}")
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
        commit_results(con, found, [ReadResult(f.path, error=f.error) for f in walk_errors])

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
    batch: list[ReadResult] = []
    last_commit = time.monotonic()
    report(meter.event("importing", 0, len(to_read)))
    reader = read_files(
        [f.real_path for f in to_read], workers, max_pixels, thumb_size, memory_budget=memory_budget
    )
    try:
        for chunk in reader:
            for result in chunk:
                # Workers saw the path the OS knows; the store keys files by the stored text.
                result.path = to_read[done].path
                done += 1
                if result.gone and result.path in was_known:
                    summary.missing += 1
                elif result.error is not None:
                    errors += 1
                elif result.path in was_known:
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
        _read_late_metadata(con, folder_ids, found, workers, max_pixels, report, cancel, summary)
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
