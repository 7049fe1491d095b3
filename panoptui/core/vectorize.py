"""Filling vector sets, batch by batch, resumably: the pipeline.

``compute_vectors`` is the pipeline: images are decoded (JPEG at reduced scale; on CUDA, JPEGs on
the GPU), optionally made grey, and preprocessed with the model library's own transform in worker
processes, while the model embeds the previous batch; a writer thread commits each batch of
vectors (one transaction each) while the model embeds the next. Killed, cancelled or crashed at
any point, a set is simply incomplete: running it again computes only the images that have no
vector yet, in the same order and the same batches, so the result is identical to an
uninterrupted run.

The sets themselves (creating, listing, the default one) are ``vector_sets``; turning image files
into the model's input is ``vector_inputs``.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

from panoptui.core import store, vector_inputs, vector_sets
from panoptui.core.decode import (
    DEFAULT_MAX_PIXELS,
    load_reduced,
    make_thumbnail,
    open_image,
    open_regular_file,
    read_error_reason,
)
from panoptui.core.progress import ProgressCallback, RateMeter
from panoptui.core.read_worker import DEFAULT_THUMB_SIZE
from panoptui.core.text import shown
from panoptui.core.vector_inputs import IMAGE_MEMORY_BUDGET, out_of_memory_said, quiet_decoding
from panoptui.core.vector_sets import (
    COMPLETE,
    DEFAULT_BATCH_SIZE,
    INCOMPLETE,
    MAX_BATCH_SIZE,
    RUNNING,
)
from panoptui.core.workers import children_ignore_interrupts

if TYPE_CHECKING:
    import torch

    from panoptui.core.models.base import Embedder


# --- what a run reads and writes ---------------------------------------------------------------


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
    writer_wait_seconds: float = 0.0  # time the writer thread waited for the model's batches
    model_waited_on_writer_seconds: float = 0.0  # time the model waited on a full write queue
    cpu_fallbacks: int = 0  # with GPU decoding: images that took the CPU path

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def set_state(con: duckdb.DuckDBPyConnection, set_id: int, state: str) -> None:
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


def commit_batch(
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


def embed_file(embedder: Embedder, path: str, greyscale: bool) -> np.ndarray:
    """The vector of any image file (one outside the project too), made as the set's are."""
    try:
        with quiet_decoding():
            if embedder.from_thumbnails:  # as the import would have made its thumbnail
                handle, _ = open_regular_file(path)
                with handle:
                    img = open_image(handle, DEFAULT_MAX_PIXELS)
                    with out_of_memory_said(img):
                        decoded = load_reduced(
                            img, DEFAULT_THUMB_SIZE / max(img.size), IMAGE_MEMORY_BUDGET
                        )
                with out_of_memory_said(img):
                    image = make_thumbnail(decoded, DEFAULT_THUMB_SIZE)
                    if greyscale:
                        image = image.convert("L").convert("RGB")
                    tensor = embedder.preprocessor(image)
            else:
                tensor = vector_inputs.load_for_model(
                    path, None, None, embedder.preprocessor, greyscale
                )
    except MemoryError:
        reason = "not enough memory to decode it"
        raise store.ProjectError(f"cannot read image {shown(path)}: {reason}") from None
    except FileNotFoundError:  # never scanned, so not "disappeared": just not there
        raise store.ProjectError(f"no such file: {shown(path)}") from None
    except Exception as exc:
        reason = read_error_reason(exc)
        raise store.ProjectError(f"cannot read image {shown(path)}: {reason}") from None
    return embedder.embed_images(tensor[None])[0]


# --- the pipeline ------------------------------------------------------------------------------


# Batches of vectors waiting for the writer. Two are enough to keep the model busy while one
# commits (a commit takes far less than embedding a batch), and bound the memory held.
WRITE_QUEUE = 2


class BatchWriter:
    """Commits finished batches on a thread of its own, while the model embeds the next.

    Each batch is one transaction (committed whole or not at all), in the order handed over, on
    a cursor of its own (DuckDB wants one per thread). The queue is bounded, so a slow disk
    holds back the model instead of filling memory. The writer's first error stops it: ``put``
    and ``close`` raise it in the model's thread, and nothing after it is written.

    ``committed`` is called (on the writer's thread) after each commit. Once ``cancel`` is set,
    batches not yet committed are dropped (resuming computes them again, identically) once one
    batch is: as before the writer had a thread, a cancelled run stops after its current
    commit, and every run, however soon cancelled, saves at least one batch."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        set_id: int,
        project: str,
        cancel: threading.Event,
        committed: Callable[[BatchWriter], None],
    ) -> None:
        import queue

        self.set_id = set_id
        self.project = project
        self.cancel = cancel
        self.committed = committed
        self.cursor = con.cursor()
        self.queue: queue.Queue[tuple[list[int], np.ndarray, list] | None] = queue.Queue(
            WRITE_QUEUE
        )
        self.batches = 0  # committed
        self.done = 0  # images committed, with a vector / with an error
        self.errors = 0
        self.waited_seconds = 0.0  # the writer idle, waiting for a batch
        self.blocked_seconds = 0.0  # the model held up by a full queue
        self.error: BaseException | None = None
        self.closed = False
        self.thread = threading.Thread(target=self._run, name="vector-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            waited = time.monotonic()
            item = self.queue.get()
            self.waited_seconds += time.monotonic() - waited
            if item is None:
                return
            if self.error is not None or (self.cancel.is_set() and self.batches):
                continue  # drain without writing, so that put never blocks for ever
            ids, vectors, errors = item
            try:
                with saving(self.set_id, self.project):
                    commit_batch(self.cursor, self.set_id, ids, vectors, errors)
            except BaseException as exc:  # handed to the model's thread, which raises it
                self.error = exc
                continue
            self.batches += 1
            self.done += len(ids)
            self.errors += len(errors)
            try:
                self.committed(self)
            except BaseException as exc:
                self.error = exc

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def put(self, ids: list[int], vectors: np.ndarray, errors: list[tuple[int, str]]) -> None:
        self._raise()
        if not self.queue.full():
            self.queue.put((ids, vectors, errors))
            return
        blocked = time.monotonic()  # the model waits on the writer: what must not happen
        self.queue.put((ids, vectors, errors))
        self.blocked_seconds += time.monotonic() - blocked

    def close(self) -> None:
        """Wait for every batch handed over to be committed; raises the writer's error."""
        if not self.closed:
            self.closed = True
            self.queue.put(None)
            self.thread.join()
            with contextlib.suppress(duckdb.Error):
                self.cursor.close()
        self._raise()


class ForwardBatcher:
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


def stored_batch_size(con: duckdb.DuckDBPyConnection, vector_set: vector_sets.VectorSet) -> int:
    """The set's batch size, brought within 1..MAX_BATCH_SIZE (older versions stored any
    number); a corrected value is stored, so that later resumes make the same batches."""
    batch_size = vector_set.batch_size
    if 1 <= batch_size <= MAX_BATCH_SIZE:
        return batch_size
    batch_size = MAX_BATCH_SIZE if batch_size > MAX_BATCH_SIZE else DEFAULT_BATCH_SIZE
    con.execute("UPDATE vector_sets SET batch_size = ? WHERE id = ?", [batch_size, vector_set.id])
    return batch_size


def run_settings(
    con: duckdb.DuckDBPyConnection, set_id: int, embedder: Embedder, batch_size: int | None
) -> tuple[vector_sets.VectorSet, int]:
    """The set a run fills (its vectors must be the model's size) and the batch size: the set's
    own unless told otherwise, since the same batches as an uninterrupted run give bit-identical
    vectors (a different batch size changes float rounding, ~1e-7)."""
    vector_set = vector_sets.get_set(con, set_id)
    if vector_set.dim != embedder.dim:
        raise store.ProjectError(
            f"vector set {set_id} holds {vector_set.dim}-d vectors but model "
            f"{embedder.spec.name} gives {embedder.dim}-d ones; are these the right weights?"
        )
    if batch_size:
        vector_sets.check_batch_size(batch_size)
        return vector_set, batch_size
    return vector_set, stored_batch_size(con, vector_set)


def project_dir(con: duckdb.DuckDBPyConnection) -> str:
    """The project folder of a connection (for messages), asked before anything can fail."""
    path = store.scalar(
        con, "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    )
    return os.path.dirname(path) if path else "PROJECT"


@contextlib.contextmanager
def saving(set_id: int, project: str) -> Iterator[None]:
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


def prepare_run(
    con: duckdb.DuckDBPyConnection,
    *,
    model: str,
    greyscale: bool = False,
    weights: str | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    resume_id: int | None = None,
    loading: Callable[[str], None] | None = None,
) -> tuple[int, Embedder]:
    """Everything before ``compute_vectors``, the same for the CLI and the app: load the model
    and create a new set (or, with ``resume_id``, the set's own model, greyscale and weights
    unless other ``weights`` are given). ``device`` and ``batch_size`` (a new set's) default to
    the project's settings; ``loading`` hears the model's name just before it loads. Returns the
    set's id and the loaded embedder."""
    from panoptui.core import settings
    from panoptui.core.models import load_embedder

    if resume_id is not None:
        vector_set = vector_sets.get_set(con, resume_id)
        model, greyscale = vector_set.model, vector_set.greyscale
        weights = weights or vector_set.weights
    elif weights:
        weights = str(Path(weights).expanduser().resolve())
    if loading is not None:
        loading(model)
    embedder = load_embedder(model, weights, device or settings.load(con).device)
    if resume_id is not None:
        return resume_id, embedder
    size = batch_size or default_batch_size(con, embedder)
    return vector_sets.create_set(con, embedder, greyscale, weights, size), embedder


# Where the batch size found to fit a model on a GPU is remembered, in the project's settings.
FITTING_BATCH_KEY = "fitting_batch_size/{model}/{device}"


def default_batch_size(
    con: duckdb.DuckDBPyConnection,
    embedder: Embedder,
    fits: Callable[[int], object] | None = None,
    device_name: str | None = None,
) -> int:
    """A new set's batch size when none is given: the project's setting where one is stored;
    else, on CUDA, the largest power of two up to 512 that fits the model (found once by
    trying, then remembered per model and GPU); else DEFAULT_BATCH_SIZE. ``fits`` and
    ``device_name`` stand in for the GPU's in tests."""
    from panoptui.core import settings

    if store.get_setting(con, "batch_size") is not None:
        return settings.load(con).batch_size
    if not embedder.device.startswith("cuda") or embedder.from_thumbnails:
        return DEFAULT_BATCH_SIZE  # on the CPU a bigger batch is no faster, only more memory
    from panoptui.core.models import runtime

    name = device_name or runtime.device_name(embedder.device)
    key = FITTING_BATCH_KEY.format(model=embedder.spec.name, device=name)
    stored = store.get_setting(con, key)
    if stored is not None and stored.isdigit() and 1 <= int(stored) <= MAX_BATCH_SIZE:
        return int(stored)
    size = runtime.largest_batch(fits or runtime.batch_probe(embedder), device=embedder.device)
    store.set_setting(con, key, str(size))
    return size


# Decoded images waiting in worker processes' batches, at most (one batch a worker beyond it).
PREFETCHED_IMAGES = 4096


def batch_loader(
    con: duckdb.DuckDBPyConnection,
    items: list[tuple[int, str, int, int]],
    batch_size: int,
    embedder: Embedder,
    greyscale: bool,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int | None = None,
    gpu_decode: bool | None = None,
) -> Any:
    """The batches (image ids, model input, errors) of ``compute_vectors``, in order, made as
    its arguments say (see there); iterating them alone is the pipeline's decoding bound."""
    if embedder.from_thumbnails:
        return vector_inputs.thumbnail_batches(con, items, batch_size, embedder, greyscale)
    if gpu_decode or (gpu_decode is None and embedder.device.startswith("cuda")):
        steps = vector_inputs.tensor_steps(embedder.preprocessor)
        if steps is not None:
            return vector_inputs.Prefetched(
                vector_inputs.GpuJpegBatches(
                    items,
                    batch_size,
                    embedder.preprocessor,
                    steps,
                    greyscale,
                    max_pixels,
                    embedder.device,
                )
            )
    if workers is None and embedder.device == "cpu":
        return vector_inputs.threaded_batches(items, batch_size, embedder, greyscale, max_pixels)
    from torch.utils.data import DataLoader

    processes = vector_inputs.default_workers() if workers is None else workers
    dataset = vector_inputs.ImageDataset(items, embedder.preprocessor, greyscale, max_pixels)
    return DataLoader(
        # Map-style without torch's Dataset base, so that importing core loads no torch.
        dataset,  # type: ignore[arg-type]
        batch_size=batch_size,
        shuffle=False,
        num_workers=processes,
        collate_fn=vector_inputs.collate,
        multiprocessing_context="spawn" if processes else None,
        worker_init_fn=vector_inputs.worker_init if processes else None,
        # Each worker makes whole batches: at most about PREFETCHED_IMAGES images wait decoded
        # (2.4 GB at 224 px), or one batch a worker when batches are bigger than that allows.
        prefetch_factor=max(1, min(4, PREFETCHED_IMAGES // (processes * batch_size)))
        if processes
        else None,
        # Page-locked batches, so that their copy to the GPU runs without blocking the model.
        pin_memory=embedder.device.startswith("cuda"),
    )


def compute_vectors(
    con: duckdb.DuckDBPyConnection,
    set_id: int,
    embedder: Embedder,
    *,
    greyscale: bool | None = None,
    batch_size: int | None = None,
    workers: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    gpu_decode: bool | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> VectorRunSummary:
    """Fill a vector set: embed every image that has no vector yet. Returns when done, or after
    committing the current batch once ``cancel`` is set.

    ``workers``: None chooses. On a GPU, worker processes (cores - 1) decode while the model
    embeds the previous batch. On the CPU, decoding and the model compete for the same cores, and
    overlapping them makes torch's threads stall on each other (measured: 11 vs 14 images/s
    with ViT-B/32 on 2 cores), so each batch is decoded by a thread per core, then embedded.
    A number forces that many worker processes; 0 decodes in this thread.

    ``gpu_decode``: JPEGs decoded by torchvision's decode_jpeg on the model's device, the rest on
    the CPU path (``vector_inputs.GpuJpegBatches``). None: on CUDA, for models whose transform
    replays on tensors. True forces it on any device (on the CPU it is the same code, for
    tests); False keeps every image on the CPU path."""
    vector_set, batch_size = run_settings(con, set_id, embedder, batch_size)
    grey = vector_set.greyscale if greyscale is None else greyscale
    project = project_dir(con)
    report = progress or (lambda event: None)
    cancel = cancel or threading.Event()
    summary = VectorRunSummary(set_id, batch_size=batch_size)
    started = time.monotonic()
    items = pending_images(con, set_id)
    vector_sets.start_running(set_id)
    forward = ForwardBatcher(embedder, batch_size)
    loader: Any = None
    batches: Any = None
    meter = RateMeter()
    failed = False

    def committed(writer: BatchWriter) -> None:
        # What is reported is what is committed: a count seen is a count a kill keeps.
        done = writer.done + writer.errors
        report(meter.event("embedding", done, len(items), writer.errors))

    writer = BatchWriter(con, set_id, project, cancel, committed)
    try:
        with saving(set_id, project):
            set_state(con, set_id, RUNNING)
        report(meter.event("embedding", 0, len(items)))
        if items:
            loader = batch_loader(
                con, items, batch_size, embedder, grey, max_pixels, workers, gpu_decode
            )
            waited = time.monotonic()
            with children_ignore_interrupts():
                batches = iter(loader)  # starts the worker processes, if any
            for ids, batch, errors in batches:
                summary.decode_wait_seconds += time.monotonic() - waited
                model_started = time.monotonic()
                vectors = forward(batch) if batch is not None else np.zeros((0, embedder.dim))
                summary.model_seconds += time.monotonic() - model_started
                writer.put(ids, vectors, errors)
                if cancel.is_set():
                    summary.cancelled = True
                    break
                waited = time.monotonic()
        # What the model made is committed before the run ends (unless cancelled meanwhile).
        writer.close()
        if cancel.is_set() and writer.done + writer.errors < len(items):
            summary.cancelled = True
    except BaseException:
        failed = True
        raise
    finally:
        # On an interrupt or a model error, the batches already handed over are still
        # committed (each whole); after the writer's own failure nothing more is written.
        with contextlib.suppress(BaseException):
            writer.close()
        summary.done, summary.errors = writer.done, writer.errors
        summary.writer_wait_seconds = writer.waited_seconds
        summary.model_waited_on_writer_seconds = writer.blocked_seconds
        fallbacks = getattr(getattr(loader, "source", None), "fallback_ids", [])
        summary.cpu_fallbacks = len(fallbacks)
        # Stop decoding workers now, while this process is whole: left to garbage collection at
        # interpreter exit (after Ctrl-C), their pipes break mid-write and print tracebacks.
        shutdown = getattr(batches, "_shutdown_workers", None) or getattr(batches, "close", None)
        if shutdown is not None:  # a generator's close stops its threads (GPU decoding's too)
            with contextlib.suppress(Exception):
                shutdown()
        vector_sets.stop_running(set_id)
        finished = not summary.cancelled and summary.done + summary.errors == len(items)
        try:
            set_state(con, set_id, COMPLETE if finished else INCOMPLETE)
        except (duckdb.Error, OSError):
            # After a failed commit (a full disk) the database may refuse every write: the
            # first error is the one to report, and a set stored as running that no process
            # computes reads as incomplete.
            if not failed:
                raise
        summary.batch_size = forward.size
        summary.seconds = time.monotonic() - started
    return summary
