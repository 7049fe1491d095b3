"""The derived vector file of a vector set: its rows memory-mapped, so a query needs no load.

Reading a set from DuckDB takes 10+ s at 1,000,000 x 512 (DESIGN.md); a file of the same rows,
mapped, is read by the first query at the speed of memory. The file is derived data only:
DuckDB stays the one source of truth (export, resume and every check read it), and the file is
checked against it before each use, and rebuilt when it does not match.

``PROJECT/matrices/set_<id>.matrix``, little-endian:

- a 4096-byte header: MAGIC, the length and CRC-32 of a JSON text, the text (format version,
  set id, dim, count, and the fingerprint of the set's rows in DuckDB), zero padding;
- the image ids, int64, ascending (every row of the set's table, whatever its image's state:
  the images taking part in a query are chosen from DuckDB each time, cheaply);
- the vectors, float32, one row per id.

Float32, not the fp16 of the issue's first design. Measured on this 2-core machine (numpy 2.5,
200,000 x 512): numpy converts fp16 to float32 at ~5 ns an element (2.6 s at 1M), so a scan of
fp16 costs 10x a float32 scan (40 ms here); torch scores fp16 fast but its import alone takes
4-5 s and 645 MB. A float32 scan of the mapped file is exact (the very values DuckDB holds, so
no re-ranking), and every other user of a set's vectors (clusters, duplicates, maps, ranking)
gets them mapped too, instead of a 10 s load.

Validation (each cold query; a few ms at 1M): the header's CRC, format, set and dim; the file's
size; DuckDB's fingerprint of the table (count, sum, min, max and sum of squares of the image
ids) against the header's; the mapped ids against the fingerprint; the last row's vector
against DuckDB's. Vectors are only ever inserted or deleted with their image, and a new image
takes an id above every remaining one, so an image id used again is the highest one: the last
row's check catches it. A file that fails any check is rebuilt (written to a temporary name,
synced, renamed over: a reader of the old one keeps its mapping), except when the set only
gained rows above the file's highest id (a vector run went on: DuckDB's fingerprint of the rows
up to that id is the file's): then the new file is the old one's rows, copied, and only the new
rows read from DuckDB. A project that cannot be written gives None: the caller reads DuckDB as
before.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from panoptui.core import store
from panoptui.core.progress import ProgressCallback, Stage, check_cancel, no_progress

FORMAT = 1
MAGIC = b"PANOPTUI-MATRIX\x00"
HEADER_SIZE = 4096  # a page: the ids and vectors that follow are page-aligned
CRC_CHUNK = 16 << 20
DIRECTORY = "matrices"
# The stage of a build: it reads the set from DuckDB (its rate counts vectors, as the CLI's
# progress line finds from the part before " (").
BUILDING = "reading vectors (building the vector file)"


@dataclass(frozen=True)
class StoredMatrix:
    """A valid vector file, mapped: ``ids`` (N,) int64 ascending and ``vectors`` (N, dim)
    float32, both views of the (copy-on-write) mapping. Every row of the set: the caller picks
    those of the images present on disk."""

    path: Path
    ids: np.ndarray
    vectors: np.ndarray


def project_dir(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The folder of the project a connection has open (None for an in-memory database)."""
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    if not row or not row[0][0]:
        return None
    return Path(str(row[0][0])).parent


def matrix_path(con: duckdb.DuckDBPyConnection, set_id: int) -> Path | None:
    root = project_dir(con)
    return None if root is None else root / DIRECTORY / f"set_{int(set_id)}.matrix"


def remove(con: duckdb.DuckDBPyConnection, set_id: int) -> None:
    """Delete a set's vector file (the set is deleted); nothing if there is none, or if it
    cannot be removed (a read-only project: a stale file is never used anyway)."""
    path = matrix_path(con, set_id)
    if path is not None:
        for gone in (path, _verified_mark(path)):
            with contextlib.suppress(OSError):
                gone.unlink(missing_ok=True)


def _fingerprint(
    con: duckdb.DuckDBPyConnection, set_id: int, up_to: int | None = None
) -> list[str]:
    """The set's rows in DuckDB (those with an image id <= ``up_to`` when given), cheaply (one
    pass over the image ids, none over the vectors; 6-14 ms at 1M): [count, sum, min, max, sum
    of squares] as text (the sums are 128-bit)."""
    below = "" if up_to is None else "WHERE image_id <= ?"
    row = con.execute(
        f"""
        SELECT count(*), coalesce(sum(image_id), 0), coalesce(min(image_id), 0),
               coalesce(max(image_id), 0), coalesce(sum(image_id::HUGEINT * image_id), 0)
        FROM {store.vector_table(set_id)} {below}
        """,
        [] if up_to is None else [up_to],
    ).fetchall()[0]
    return [str(int(x)) for x in row]


def _last_vector(con: duckdb.DuckDBPyConnection, set_id: int, image_id: int) -> np.ndarray:
    rows = con.execute(
        f"SELECT vec FROM {store.vector_table(set_id)} WHERE image_id = ?", [image_id]
    ).fetchall()
    return np.asarray(rows[0][0], np.float32) if len(rows) == 1 else np.empty(0, np.float32)


def _sizes(count: int, dim: int) -> tuple[int, int]:
    """(offset of the vectors, size of the file)."""
    vectors_at = HEADER_SIZE + 8 * count
    return vectors_at, vectors_at + 4 * count * dim


def _identity(con: duckdb.DuckDBPyConnection, set_id: int) -> list[str]:
    """Which set this is, beyond its id (ids are reused after a delete): its model, greyscale,
    weights and when it was made."""
    rows = con.execute(
        "SELECT model, greyscale, weights, created_at FROM vector_sets WHERE id = ?", [set_id]
    ).fetchall()
    return [str(x) for x in rows[0]] if rows else []


def _body_crc(path: Path) -> int:
    """CRC-32 of everything after the header: the ids and the vectors (about 4 GB/s)."""
    crc = 0
    with open(path, "rb") as handle:
        handle.seek(HEADER_SIZE)
        while chunk := handle.read(CRC_CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


def _verified_mark(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _body_intact(path: Path, header: dict) -> bool:
    """Whether the ids and vectors are the bytes the header's CRC was made of. Reading 2 GB
    (at 1M x 512) at every query would cost more than the query: the check is made once after
    the file last changed, and remembered beside it (its size, time and inode); a file written
    to since (damaged, or put back) is checked again. Where the mark cannot be written (a
    read-only project), every opening checks."""
    try:
        info = path.stat()
    except OSError:
        return False
    seen = [info.st_size, info.st_mtime_ns, info.st_ino, header.get("body_crc")]
    mark = _verified_mark(path)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(mark.read_text()) == seen:
            return True
    if _body_crc(path) != header.get("body_crc"):
        return False
    with contextlib.suppress(OSError):
        mark.write_text(json.dumps(seen))
    return True


def _header(set_id: int, dim: int, fingerprint: list[str], identity: list[str], crc: int) -> bytes:
    text = json.dumps(
        {
            "format": FORMAT,
            "set_id": int(set_id),
            "dim": int(dim),
            "count": int(fingerprint[0]),
            "fingerprint": fingerprint,
            "identity": identity,
            "body_crc": crc,
        },
        sort_keys=True,
    ).encode()
    head = MAGIC + len(text).to_bytes(4, "little") + zlib.crc32(text).to_bytes(4, "little")
    return (head + text).ljust(HEADER_SIZE, b"\0")


def _read_header(path: Path) -> dict | None:
    """The header's fields, or None when it is not one this version wrote intact."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEADER_SIZE)
    except OSError:
        return None
    start = len(MAGIC) + 8
    if len(head) < HEADER_SIZE or not head.startswith(MAGIC):
        return None
    length = int.from_bytes(head[len(MAGIC) : len(MAGIC) + 4], "little")
    crc = int.from_bytes(head[len(MAGIC) + 4 : start], "little")
    text = head[start : start + length]
    if start + length > HEADER_SIZE or zlib.crc32(text) != crc:
        return None
    try:
        fields = json.loads(text)
    except ValueError:
        return None
    return fields if isinstance(fields, dict) and fields.get("format") == FORMAT else None


def _map(path: Path, count: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The file's ids and vectors as arrays over one mapping (which stays open as
    long as they live; the file may be replaced meanwhile: the mapping keeps the old one)."""
    vectors_at, _ = _sizes(count, dim)
    with open(path, "rb") as handle:
        # Copy-on-write (a private mapping): the arrays are writable, as a set read from DuckDB
        # is (torch warns on read-only ones; some callers normalise in place), and a write
        # changes this process's copy of a page, never the file.
        mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
    # The first query reads every row once, in order: ask the kernel to read ahead.
    with contextlib.suppress(AttributeError, OSError, ValueError):
        mapping.madvise(mmap.MADV_WILLNEED)
    ids = np.frombuffer(mapping, np.int64, count, HEADER_SIZE)
    vectors = np.frombuffer(mapping, np.float32, count * dim, vectors_at).reshape(count, dim)
    return ids, vectors


def _mapped(
    path: Path, set_id: int, dim: int
) -> tuple[dict, list[str], np.ndarray, np.ndarray] | None:
    """The file's fingerprint, ids and vectors, when it is whole and agrees with itself (its
    header intact, its size and its ids as the header says); else None."""
    header = _read_header(path)
    if header is None or header.get("set_id") != set_id or header.get("dim") != dim:
        return None
    fingerprint = header.get("fingerprint")
    if not isinstance(fingerprint, list) or len(fingerprint) != 5:
        return None
    try:
        count = int(fingerprint[0])
        if path.stat().st_size != _sizes(count, dim)[1]:
            return None
        ids, vectors = _map(path, count, dim)
    except (OSError, ValueError):
        return None
    # A damaged file, not only a stale one, fails here: its ids are not what its header says.
    if count and (
        int(ids[0]) != int(fingerprint[2])
        or int(ids[-1]) != int(fingerprint[3])
        or int(ids.sum()) != int(fingerprint[1])
        or not bool(np.all(ids[1:] > ids[:-1]))
    ):
        return None
    return header, fingerprint, ids, vectors


Reusable = tuple[np.ndarray, np.ndarray]  # the ids and vectors of a file a new one extends


def _open_valid(
    con: duckdb.DuckDBPyConnection, set_id: int, dim: int, path: Path
) -> tuple[StoredMatrix | None, Reusable | None]:
    """The file, mapped, when it matches the set in DuckDB now. Else, when the set only gained
    rows above the file's highest id (a vector run went on: the usual staleness), the file's
    rows to extend; else neither."""
    mapped = _mapped(path, set_id, dim)
    if mapped is None:
        return None, None
    header, fingerprint, ids, vectors = mapped
    # Another set that had this id (deleted since), or bytes changed inside: not this set's.
    if header.get("identity") != _identity(con, set_id) or not _body_intact(path, header):
        return None, None
    now = _fingerprint(con, set_id)
    same_last = not len(ids) or np.array_equal(_last_vector(con, set_id, int(ids[-1])), vectors[-1])
    if now == fingerprint:
        return (StoredMatrix(path, ids, vectors) if same_last else None), None
    highest = int(fingerprint[3])
    if (
        len(ids)
        and same_last
        and int(now[3]) > highest
        and _fingerprint(con, set_id, up_to=highest) == fingerprint
    ):
        return None, (ids, vectors)
    return None, None


def _write(fd: int, array: np.ndarray, offset: int) -> None:
    """All of ``array``'s bytes at ``offset`` (a write may take fewer than it is given)."""
    view = memoryview(np.ascontiguousarray(array)).cast("B")
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


LEFT_OVER_SECONDS = 3600  # a temporary file untouched this long: its process is gone


def _remove_left_over(path: Path) -> None:
    """Temporary files of builds whose process was killed (a build writes its file all along,
    so one untouched for an hour is no other process's build in progress)."""
    for old in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if time.time() - old.stat().st_mtime > LEFT_OVER_SECONDS:
                old.unlink()


class _Changed(Exception):
    """The set changed while its file was being built (a vector job of this process)."""


def _build(
    con: duckdb.DuckDBPyConnection,
    set_id: int,
    dim: int,
    path: Path,
    progress: ProgressCallback,
    cancel: threading.Event | None,
    reuse: Reusable | None,
    batch_rows: int,
) -> None:
    """Write the set's file from DuckDB, batch by batch (each written where it goes, so memory
    holds one batch), to a temporary name beside it, then synced and renamed over ``path``.
    ``reuse``: the rows of the file it extends, copied from there (the set's rows up to their
    highest id, checked equal): only the rows above are read from DuckDB."""
    fingerprint = _fingerprint(con, set_id)
    count = int(fingerprint[0])
    vectors_at, size = _sizes(count, dim)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_left_over(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # As readable as the project's database (mkstemp makes it its owner's only).
        with contextlib.suppress(OSError):
            os.fchmod(fd, store.db_path(path.parent.parent).stat().st_mode & 0o666)
        os.ftruncate(fd, size)
        filled, total, low, high = 0, 0, None, None
        above = ""
        stage = Stage(progress, BUILDING, count)
        if reuse is not None:
            old_ids, old_vectors = reuse
            if len(old_ids) > count:
                raise _Changed
            for start in range(0, len(old_ids), batch_rows):
                check_cancel(cancel)
                part = slice(start, start + batch_rows)
                _write(fd, old_ids[part], HEADER_SIZE + 8 * start)
                _write(fd, old_vectors[part], vectors_at + 4 * dim * start)
            filled, total = len(old_ids), int(old_ids.sum())
            low, high = int(old_ids[0]), int(old_ids[-1])
            above = f"WHERE image_id > {high}"  # an int of ours: no text of a user's
            stage.step(filled)
        reader = store.arrow_batches(
            con,
            f"SELECT image_id, vec FROM {store.vector_table(set_id)} {above} ORDER BY image_id",
            batch_rows,
        )
        for batch in reader:
            check_cancel(cancel)
            n = batch.num_rows
            if not n:
                continue
            if filled + n > count:
                raise _Changed
            ids = np.ascontiguousarray(batch.column(0).to_numpy(), np.int64)
            flat = batch.column(1).flatten().to_numpy(zero_copy_only=False)
            vectors = np.ascontiguousarray(flat, np.float32)
            _write(fd, ids, HEADER_SIZE + 8 * filled)
            _write(fd, vectors, vectors_at + 4 * dim * filled)
            total += int(ids.sum())
            low = int(ids[0]) if low is None else low
            high = int(ids[-1])
            filled += n
            stage.step(filled)
        stage.finish()
        if count and [filled, total, low, high] != [int(x) for x in fingerprint[:4]]:
            raise _Changed
        # The header last: a file with one is whole.
        os.fsync(fd)
        crc = _body_crc(Path(temporary))
        header = _header(set_id, dim, fingerprint, _identity(con, set_id), crc)
        _write(fd, np.frombuffer(header, np.uint8), 0)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(temporary, path)
        with contextlib.suppress(OSError):  # its CRC was just made from these bytes
            info = path.stat()
            seen = [info.st_size, info.st_mtime_ns, info.st_ino, crc]
            _verified_mark(path).write_text(json.dumps(seen))
    finally:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def load(
    con: duckdb.DuckDBPyConnection,
    set_id: int,
    dim: int,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
    batch_rows: int = 65_536,
) -> StoredMatrix | None:
    """The set's vector file, mapped: the one there when it is valid, else a new one built now
    (a progress stage, BUILDING, a step each ``batch_rows`` rows; cancel raises Cancelled and
    leaves no file). None when there is no valid file and none can be written (a read-only
    project, a full disk) or the set changed while it was built: the caller reads DuckDB."""
    path = matrix_path(con, set_id)
    if path is None:
        return None
    stored, reuse = _open_valid(con, set_id, dim, path)
    if stored is not None:
        return stored
    try:
        _build(con, set_id, dim, path, progress, cancel, reuse, batch_rows)
    except (OSError, _Changed):
        return None
    return _open_valid(con, set_id, dim, path)[0]
