"""Vector sets: creating them and filling them, batch by batch, resumably.

``compute_vectors`` is the pipeline: images are decoded (JPEG at reduced scale), optionally made
grey, and preprocessed with the model library's own transform in worker processes, while the model
embeds the previous batch; each batch of vectors is committed as it completes. Killed, cancelled
or crashed at any point, a set is simply incomplete: running it again computes only the images
that have no vector yet, in the same order and the same batches, so the result is identical to an
uninterrupted run.
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

from panoptui.core import store
from panoptui.core.decode import (
    DEFAULT_MAX_PIXELS,
    DecodeError,
    load_reduced,
    open_image,
    open_regular_file,
    read_error_reason,
    to_rgb,
)
from panoptui.core.progress import ProgressCallback, RateMeter
from panoptui.core.text import shown
from panoptui.core.workers import children_ignore_interrupts, init_worker

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from panoptui.core.models.base import Embedder, Preprocessor

DEFAULT_BATCH_SIZE = 32
# The largest batch a set may ask for. A batch is decoded whole before the model sees it: 4096
# images at 224 px are 2.5 GB of input tensors (more while decoding), already past what helps
# throughput on any GPU; --batch-size 100000000 would decode the whole project into memory.
MAX_BATCH_SIZE = 4096
# The most memory one image may take to decode, in one decode thread or worker. Pillow holds at
# most 4 bytes a pixel, so every image under the default pixel limit (179 MP: 0.7 GB) fits; only
# a raised --max-pixels lets a bigger one through, and it becomes an error row, not a crash.
IMAGE_MEMORY_BUDGET = 1 << 30
COMPLETE, INCOMPLETE, RUNNING = "complete", "incomplete", "running"
CHANGED_SINCE_IMPORT = "the file changed since it was imported; run panoptui import again"

# Sets being computed by this process: a set stored as 'running' that is not here was left by a
# process that died (another live one would hold the project's lock), so it is incomplete.
_running: set[int] = set()
_running_lock = threading.Lock()


@dataclass
class VectorSet:
    id: int
    model: str
    family: str
    greyscale: bool
    weights: str | None
    dim: int
    embeds_text: bool
    batch_size: int
    count: int  # images with a vector
    total: int  # images of the project (present on disk)
    errors: int  # images that could not be embedded
    status: str  # complete | incomplete | running
    created_at: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class VectorRunSummary:
    set_id: int
    done: int = 0  # vectors computed by this run
    errors: int = 0
    seconds: float = 0.0
    decode_wait_seconds: float = 0.0  # time the model waited for decoded batches
    model_seconds: float = 0.0  # time spent in the model
    cancelled: bool = False
    batch_size: int = 0  # the final one (smaller than asked after a CUDA out-of-memory)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def check_batch_size(batch_size: int) -> int:
    """``batch_size`` if it is within 1..MAX_BATCH_SIZE; else a one-line ProjectError."""
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise store.ProjectError(
            f"batch size {batch_size} is out of range: give 1 to {MAX_BATCH_SIZE} images"
        )
    return batch_size


# --- the store side ----------------------------------------------------------------------------


def list_sets(con: duckdb.DuckDBPyConnection) -> list[VectorSet]:
    rows = con.execute(
        "SELECT id, model, family, greyscale, weights, dim, embeds_text, batch_size, state, "
        "created_at FROM vector_sets ORDER BY id"
    ).fetchall()
    total = int(store.scalar(con, "SELECT count(*) FROM images WHERE state = 'ok'") or 0)
    sets = []
    for set_id, model, family, grey, weights, dim, text, batch, state, created in rows:
        table = store.vector_table(set_id)
        count = int(
            store.scalar(
                con,
                f"SELECT count(*) FROM {table} v JOIN images i ON i.id = v.image_id "
                "WHERE i.state = 'ok'",
            )
            or 0
        )
        errors = int(
            store.scalar(
                con,
                "SELECT count(*) FROM vector_errors e JOIN images i ON i.id = e.image_id "
                "WHERE e.set_id = ? AND i.state = 'ok'",
                [set_id],
            )
            or 0
        )
        with _running_lock:
            running = set_id in _running
        if running:
            status = RUNNING
        elif count + errors >= total and state != RUNNING:
            status = COMPLETE
        else:
            status = INCOMPLETE
        sets.append(
            VectorSet(
                set_id,
                model,
                family,
                bool(grey),
                weights,
                int(dim),
                bool(text),
                int(batch),
                count,
                total,
                errors,
                status,
                created.isoformat(sep=" ", timespec="seconds"),
            )
        )
    return sets


def get_set(con: duckdb.DuckDBPyConnection, set_id: int) -> VectorSet:
    for vector_set in list_sets(con):
        if vector_set.id == set_id:
            return vector_set
    known = ", ".join(str(s.id) for s in list_sets(con)) or "none yet"
    raise store.ProjectError(f"no vector set {set_id} in this project (sets: {known})")


def create_set(
    con: duckdb.DuckDBPyConnection,
    embedder: Embedder,
    greyscale: bool = False,
    weights: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> int:
    """Record a new, empty vector set for a loaded model and return its id."""
    check_batch_size(batch_size)
    now = datetime.now()
    with store.transaction(con):
        set_id = store.next_id(con, "vector_sets")
        con.execute(
            "INSERT INTO vector_sets (id, model, family, greyscale, weights, dim, embeds_text, "
            "batch_size, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                set_id,
                embedder.spec.name,
                embedder.spec.family,
                greyscale,
                weights,
                embedder.dim,
                embedder.embeds_text,
                batch_size,
                INCOMPLETE,
                now,
                now,
            ],
        )
        store.create_vector_table(con, set_id, embedder.dim)
    return set_id


DEFAULT_SET_KEY = "default_vector_set"


def default_set(
    con: duckdb.DuckDBPyConnection,
    requested: int | None = None,
    sets: list[VectorSet] | None = None,
) -> VectorSet:
    """The set a query uses: the one asked for, else the project's default (``vectors default``),
    else the newest complete set, else the newest. ``sets``: list_sets' answer, when the caller
    has it already."""
    if requested is not None:
        return get_set(con, requested)
    sets = list_sets(con) if sets is None else sets
    if not sets:
        raise store.ProjectError(
            "this project has no vector sets yet; create one: panoptui vectors create PROJECT"
        )
    chosen = store.get_setting(con, DEFAULT_SET_KEY)
    for vector_set in sets:
        if chosen is not None and str(vector_set.id) == chosen:
            return vector_set
    complete = [v for v in sets if v.status == COMPLETE]
    return (complete or sets)[-1]


def set_default(con: duckdb.DuckDBPyConnection, set_id: int) -> None:
    get_set(con, set_id)
    store.set_setting(con, DEFAULT_SET_KEY, str(set_id))


def clear_default(con: duckdb.DuckDBPyConnection) -> None:
    """Queries go back to the newest complete set."""
    con.execute("DELETE FROM settings WHERE key = ?", [DEFAULT_SET_KEY])


def delete_set(con: duckdb.DuckDBPyConnection, set_id: int) -> None:
    get_set(con, set_id)  # a clear error if there is no such set
    with store.transaction(con):
        store.drop_vector_table(con, set_id)
        con.execute("DELETE FROM vector_errors WHERE set_id = ?", [set_id])
        con.execute("DELETE FROM vector_sets WHERE id = ?", [set_id])


def vector_errors(con: duckdb.DuckDBPyConnection, set_id: int) -> list[dict[str, Any]]:
    """The images of a set that could not be embedded, with a path each and the reason."""
    get_set(con, set_id)
    return [
        {"image_id": int(i), "path": p, "reason": r, "failed_at": t.isoformat(sep=" ")[:19]}
        for i, p, r, t in con.execute(
            """
            SELECT e.image_id, min(f.path), e.reason, e.failed_at
            FROM vector_errors e JOIN files f ON f.image_id = e.image_id
            JOIN images i ON i.id = e.image_id AND i.state = 'ok'
            WHERE e.set_id = ? GROUP BY e.image_id, e.reason, e.failed_at ORDER BY e.image_id
            """,
            [set_id],
        ).fetchall()
    ]


def _set_state(con: duckdb.DuckDBPyConnection, set_id: int, state: str) -> None:
    con.execute(
        "UPDATE vector_sets SET state = ?, updated_at = ? WHERE id = ?",
        [state, datetime.now(), set_id],
    )


def pending_images(con: duckdb.DuckDBPyConnection, set_id: int) -> list[tuple[int, str, int, int]]:
    """Images present on disk without a vector in the set, in id order, each with one of its
    files (the operating system's path, size, mtime). Images that failed before are tried
    again."""
    table = store.vector_table(set_id)
    return [
        (int(i), store.os_path(p, raw), int(s), int(m))
        for i, p, raw, s, m in con.execute(
            f"""
            SELECT i.id, min_by(f.path, f.id), arg_min_null(f.raw_path, f.id),
                   min_by(f.size, f.id),
                   min_by(f.mtime_ns, f.id)
            FROM images i JOIN files f ON f.image_id = i.id AND f.state = 'ok'
            WHERE i.state = 'ok'
              AND NOT EXISTS (SELECT 1 FROM {table} v WHERE v.image_id = i.id)
            GROUP BY i.id ORDER BY i.id
            """
        ).fetchall()
    ]


def _commit_batch(
    con: duckdb.DuckDBPyConnection,
    set_id: int,
    ids: list[int],
    vectors: np.ndarray,
    errors: list[tuple[int, str]],
) -> None:
    dim = vectors.shape[1] if len(ids) else 0
    with store.transaction(con):
        if ids:
            flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel())
            store.insert_arrow(
                con,
                f"INSERT INTO {store.vector_table(set_id)} SELECT * FROM batch",
                pa.table(
                    {
                        "image_id": pa.array(ids, pa.int64()),
                        "vec": pa.FixedSizeListArray.from_arrays(flat, dim),
                    }
                ),
            )
            con.execute(
                "DELETE FROM vector_errors WHERE set_id = ? "
                "AND image_id IN (SELECT unnest(?::BIGINT[]))",
                [set_id, ids],
            )
        now = datetime.now()
        for image_id, reason in errors:
            con.execute(
                "INSERT INTO vector_errors VALUES (?, ?, ?, ?) ON CONFLICT (set_id, image_id) "
                "DO UPDATE SET reason = excluded.reason, failed_at = excluded.failed_at",
                [set_id, image_id, reason, now],
            )


# --- the worker side ---------------------------------------------------------------------------


def load_for_model(
    path: str,
    size: int | None,
    mtime_ns: int | None,
    preprocessor: Preprocessor,
    greyscale: bool,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> torch.Tensor:
    """One image file -> the model's input tensor. Raises DecodeError (or OSError). With a size
    and mtime, the file must still be as imported. Memory is bounded: decoding by
    IMAGE_MEMORY_BUDGET, the model's preprocessing by Preprocessor.fit (which keeps an elongated
    image from being upscaled to gigabytes)."""
    handle, st = open_regular_file(path)
    with handle:
        if size is not None and (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
            raise DecodeError(CHANGED_SINCE_IMPORT)
        img = open_image(handle, max_pixels)
        with _out_of_memory_said(img):
            decoded = load_reduced(
                img, preprocessor.input_size / min(img.size), IMAGE_MEMORY_BUDGET
            )
    with _out_of_memory_said(img):
        rgb = to_rgb(decoded)
        if greyscale:
            rgb = rgb.convert("L").convert("RGB")
        return preprocessor(rgb)


def out_of_memory(exc: BaseException) -> bool:
    """Pillow and numpy raise MemoryError; torch's CPU allocator a RuntimeError that says so."""
    return isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)
    )


@contextlib.contextmanager
def _out_of_memory_said(img: Image.Image) -> Iterator[None]:
    """Running out of memory while working on ``img`` becomes a DecodeError that says so
    (instead of the reason "cannot decode: MemoryError")."""
    try:
        yield
    except (MemoryError, RuntimeError) as exc:
        if not out_of_memory(exc):
            raise
        raise DecodeError(
            f"image is {img.size[0]}x{img.size[1]}: not enough memory to decode and preprocess "
            "it for the model"
        ) from None


def embed_file(embedder: Embedder, path: str, greyscale: bool) -> np.ndarray:
    """The vector of any image file (one outside the project too), made as the set's are."""
    from panoptui.core.decode import make_thumbnail
    from panoptui.core.scan import DEFAULT_THUMB_SIZE

    try:
        with quiet_decoding():
            if embedder.from_thumbnails:  # as the import would have made its thumbnail
                handle, _ = open_regular_file(path)
                with handle:
                    img = open_image(handle, DEFAULT_MAX_PIXELS)
                    with _out_of_memory_said(img):
                        decoded = load_reduced(
                            img, DEFAULT_THUMB_SIZE / max(img.size), IMAGE_MEMORY_BUDGET
                        )
                with _out_of_memory_said(img):
                    image = make_thumbnail(decoded, DEFAULT_THUMB_SIZE)
                    if greyscale:
                        image = image.convert("L").convert("RGB")
                    tensor = embedder.preprocessor(image)
            else:
                tensor = load_for_model(path, None, None, embedder.preprocessor, greyscale)
    except MemoryError:
        reason = "not enough memory to decode it"
        raise store.ProjectError(f"cannot read image {shown(path)}: {reason}") from None
    except FileNotFoundError:  # never scanned, so not "disappeared": just not there
        raise store.ProjectError(f"no such file: {shown(path)}") from None
    except Exception as exc:
        reason = read_error_reason(exc)
        raise store.ProjectError(f"cannot read image {shown(path)}: {reason}") from None
    return embedder.embed_images(tensor[None])[0]


# Warnings raised while a thread decodes an image (Pillow's about odd files, numpy's about odd
# pixel values) are dropped: printed, they would land over the terminal app, and the image's
# error row already says what matters. Per thread, unlike warnings.catch_warnings, which
# changes the filters of every thread at once.
_decoding = threading.local()


def _drop_decoding_warnings(show: Any) -> Any:
    def hook(message, category, filename, lineno, file=None, line=None):  # type: ignore
        if not getattr(_decoding, "active", False):
            show(message, category, filename, lineno, file, line)

    hook.panoptui_quiet = True  # type: ignore[attr-defined]
    return hook


@contextlib.contextmanager
def quiet_decoding() -> Iterator[None]:
    """Decode and preprocess images in this thread without printing library warnings."""
    if not getattr(warnings.showwarning, "panoptui_quiet", False):
        warnings.showwarning = _drop_decoding_warnings(warnings.showwarning)
    before = getattr(_decoding, "active", False)
    _decoding.active = True
    try:
        with np.errstate(all="ignore"):  # numpy's error state is per thread
            yield
    finally:
        _decoding.active = before


class ImageDataset:
    """A torch map-style dataset of (image id, tensor or None, error or None)."""

    def __init__(
        self,
        items: list[tuple[int, str, int, int]],
        preprocessor: Preprocessor,
        greyscale: bool,
        max_pixels: int,
    ) -> None:
        self.items = items
        self.preprocessor = preprocessor
        self.greyscale = greyscale
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[int, Any, str | None]:
        image_id, path, size, mtime_ns = self.items[index]
        try:
            with quiet_decoding():
                tensor = load_for_model(
                    path, size, mtime_ns, self.preprocessor, self.greyscale, self.max_pixels
                )
        except MemoryError:  # outside the image's own work (load_for_model names those)
            return image_id, None, "not enough memory to decode and preprocess this image"
        except Exception as exc:  # every failure is recorded with its reason; the run goes on
            return image_id, None, read_error_reason(exc)
        return image_id, tensor, None


def collate(samples: list[tuple[int, Any, str | None]]) -> tuple[list[int], Any, list]:
    """One batch from samples: tensors stacked by torch, numpy arrays (pixels) by numpy."""
    good = [(i, t) for i, t, e in samples if e is None]
    errors = [(i, e) for i, t, e in samples if e is not None]
    batch = None
    if good and isinstance(good[0][1], np.ndarray):
        batch = np.stack([t for _, t in good])
    elif good:
        import torch

        batch = torch.stack([t for _, t in good])
    return [i for i, _ in good], batch, errors


def _worker_init(worker_id: int) -> None:
    import torch

    init_worker()
    torch.set_num_threads(1)  # decoding is parallel across processes, not threads


def default_workers() -> int:
    cores = os.cpu_count() or 1
    return max(1, min(cores - 1, 12))


def _thumbnail_batches(
    con: duckdb.DuckDBPyConnection,
    items: list[tuple[int, str, int, int]],
    batch_size: int,
    embedder: Embedder,
    greyscale: bool,
) -> Iterator[tuple[list[int], Any, list]]:
    """Batches made from the thumbnails the import stored, for descriptors that need no more
    detail than that (``pixels``): no decode of the originals at all."""
    from PIL import Image

    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        ids = [item[0] for item in chunk]
        jpegs = dict(
            con.execute(
                "SELECT image_id, jpeg FROM thumbnails WHERE image_id IN (SELECT unnest(?))",
                [ids],
            ).fetchall()
        )
        samples: list[tuple[int, Any, str | None]] = []
        for image_id, path, size, mtime_ns in chunk:
            # The file is not read, but it must still be there as imported.
            try:
                st = os.stat(path)
            except OSError as exc:
                samples.append((image_id, None, read_error_reason(exc)))
                continue
            if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
                samples.append((image_id, None, CHANGED_SINCE_IMPORT))
                continue
            if image_id not in jpegs:
                samples.append((image_id, None, "no thumbnail: run panoptui import again"))
                continue
            try:
                with quiet_decoding():
                    image = Image.open(io.BytesIO(jpegs[image_id])).convert("RGB")
                    if greyscale:
                        image = image.convert("L").convert("RGB")
                    samples.append((image_id, embedder.preprocessor(image), None))
            except MemoryError:
                samples.append((image_id, None, "not enough memory to read its thumbnail"))
            except Exception as exc:  # a damaged thumbnail fails its image, not the run
                reason = f"its stored thumbnail cannot be read ({type(exc).__name__})"
                samples.append((image_id, None, reason))
        yield collate(samples)


def _threaded_batches(
    items: list[tuple[int, str, int, int]],
    batch_size: int,
    embedder: Embedder,
    greyscale: bool,
    max_pixels: int,
) -> Iterator[tuple[list[int], Any, list]]:
    """Batches decoded by a thread per core (Pillow and torch release the GIL while they work)."""
    from concurrent.futures import ThreadPoolExecutor

    dataset = ImageDataset(items, embedder.preprocessor, greyscale, max_pixels)
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        for start in range(0, len(items), batch_size):
            indices = range(start, min(start + batch_size, len(items)))
            yield collate(list(pool.map(dataset.__getitem__, indices)))


# --- the pipeline ------------------------------------------------------------------------------


class _ForwardBatcher:
    """Runs the model on a batch in slices; on CUDA out-of-memory, halves the slice and retries
    (and keeps the smaller size for the batches that follow)."""

    def __init__(self, embedder: Embedder, size: int) -> None:
        self.embedder = embedder
        self.size = size

    def __call__(self, batch: torch.Tensor) -> np.ndarray:
        out: list[np.ndarray] = []
        start = 0
        while start < len(batch):
            try:
                out.append(self.embedder.embed_images(batch[start : start + self.size]))
            except Exception as exc:
                from panoptui.core.models import runtime

                if not runtime.is_out_of_memory(exc) or self.size == 1:
                    raise
                runtime.free_memory(self.embedder.device)
                self.size = max(1, self.size // 2)
                continue
            start += self.size
        return np.concatenate(out) if out else np.zeros((0, self.embedder.dim), np.float32)


def _stored_batch_size(con: duckdb.DuckDBPyConnection, vector_set: VectorSet) -> int:
    """The set's batch size, brought within 1..MAX_BATCH_SIZE (older versions stored any
    number); a corrected value is stored, so that later resumes make the same batches."""
    batch_size = vector_set.batch_size
    if 1 <= batch_size <= MAX_BATCH_SIZE:
        return batch_size
    batch_size = MAX_BATCH_SIZE if batch_size > MAX_BATCH_SIZE else DEFAULT_BATCH_SIZE
    con.execute("UPDATE vector_sets SET batch_size = ? WHERE id = ?", [batch_size, vector_set.id])
    return batch_size


def _project_dir(con: duckdb.DuckDBPyConnection) -> str:
    """The project folder of a connection (for messages), asked before anything can fail."""
    path = store.scalar(
        con, "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    )
    return os.path.dirname(path) if path else "PROJECT"


@contextlib.contextmanager
def _saving(set_id: int, project: str) -> Iterator[None]:
    """A write of the set that fails for a full disk becomes one line saying how to go on
    (what was committed before stays, and resuming computes the rest)."""
    try:
        yield
    except (duckdb.Error, OSError) as exc:
        if not store.disk_full(exc):
            raise
        resume = shown(f"panoptui vectors resume {shlex.quote(project)} {set_id}")
        raise store.ProjectError(
            f"disk full while saving vectors of set {set_id}; free space, then: {resume}"
        ) from None


def compute_vectors(
    con: duckdb.DuckDBPyConnection,
    set_id: int,
    embedder: Embedder,
    *,
    greyscale: bool | None = None,
    batch_size: int | None = None,
    workers: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> VectorRunSummary:
    """Fill a vector set: embed every image that has no vector yet. Returns when done, or after
    committing the current batch once ``cancel`` is set.

    ``workers``: None chooses. On a GPU, worker processes (cores - 1) decode while the model
    embeds the previous batch. On the CPU, decoding and the model compete for the same cores, and
    overlapping them makes torch's threads stall on each other (measured: 11 vs 14 images/s
    with ViT-B/32 on 2 cores), so each batch is decoded by a thread per core, then embedded.
    A number forces that many worker processes; 0 decodes in this thread."""
    vector_set = get_set(con, set_id)
    if vector_set.dim != embedder.dim:
        raise store.ProjectError(
            f"vector set {set_id} holds {vector_set.dim}-d vectors but model "
            f"{embedder.spec.name} gives {embedder.dim}-d ones; are these the right weights?"
        )
    grey = vector_set.greyscale if greyscale is None else greyscale
    # The set's own batch size unless told otherwise: the same batches as an uninterrupted run
    # give bit-identical vectors (a different batch size changes float rounding, ~1e-7).
    if batch_size:
        check_batch_size(batch_size)
    else:
        batch_size = _stored_batch_size(con, vector_set)
    project = _project_dir(con)
    report = progress or (lambda event: None)
    cancel = cancel or threading.Event()
    summary = VectorRunSummary(set_id, batch_size=batch_size)
    started = time.monotonic()
    items = pending_images(con, set_id)
    with _running_lock:
        if set_id in _running:
            raise store.ProjectError(f"vector set {set_id} is already being computed")
        _running.add(set_id)
    forward = _ForwardBatcher(embedder, batch_size)
    batches: Any = None
    meter = RateMeter()
    failed = False
    try:
        with _saving(set_id, project):
            _set_state(con, set_id, RUNNING)
        report(meter.event("embedding", 0, len(items)))
        if items:
            if embedder.from_thumbnails:
                loader: Any = _thumbnail_batches(con, items, batch_size, embedder, grey)
            elif workers is None and embedder.device == "cpu":
                loader = _threaded_batches(items, batch_size, embedder, grey, max_pixels)
            else:
                from torch.utils.data import DataLoader

                processes = default_workers() if workers is None else workers
                loader = DataLoader(
                    ImageDataset(items, embedder.preprocessor, grey, max_pixels),  # type: ignore
                    batch_size=batch_size,
                    shuffle=False,
                    num_workers=processes,
                    collate_fn=collate,
                    multiprocessing_context="spawn" if processes else None,
                    worker_init_fn=_worker_init if processes else None,
                    prefetch_factor=4 if processes else None,
                    pin_memory=embedder.device.startswith("cuda"),
                )
            waited = time.monotonic()
            with children_ignore_interrupts():
                batches = iter(loader)  # starts the worker processes, if any
            for ids, batch, errors in batches:
                summary.decode_wait_seconds += time.monotonic() - waited
                model_started = time.monotonic()
                vectors = forward(batch) if batch is not None else np.zeros((0, embedder.dim))
                summary.model_seconds += time.monotonic() - model_started
                with _saving(set_id, project):
                    _commit_batch(con, set_id, ids, vectors, errors)
                summary.done += len(ids)
                summary.errors += len(errors)
                report(
                    meter.event(
                        "embedding", summary.done + summary.errors, len(items), summary.errors
                    )
                )
                if cancel.is_set():
                    summary.cancelled = True
                    break
                waited = time.monotonic()
    except BaseException:
        failed = True
        raise
    finally:
        # Stop decoding workers now, while this process is whole: left to garbage collection at
        # interpreter exit (after Ctrl-C), their pipes break mid-write and print tracebacks.
        shutdown = getattr(batches, "_shutdown_workers", None)
        if shutdown is not None:
            with contextlib.suppress(Exception):
                shutdown()
        with _running_lock:
            _running.discard(set_id)
        finished = not summary.cancelled and summary.done + summary.errors == len(items)
        try:
            _set_state(con, set_id, COMPLETE if finished else INCOMPLETE)
        except (duckdb.Error, OSError):
            # After a failed commit (a full disk) the database may refuse every write: the
            # first error is the one to report, and a set stored as running that no process
            # computes reads as incomplete.
            if not failed:
                raise
        summary.batch_size = forward.size
        summary.seconds = time.monotonic() - started
    return summary
