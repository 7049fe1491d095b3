"""Filling vector sets, batch by batch, resumably: the pipeline.

``compute_vectors`` is the pipeline: images are decoded (JPEG at reduced scale), optionally made
grey, and preprocessed with the model library's own transform in worker processes, while the model
embeds the previous batch; each batch of vectors is committed as it completes. Killed, cancelled
or crashed at any point, a set is simply incomplete: running it again computes only the images
that have no vector yet, in the same order and the same batches, so the result is identical to an
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

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


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


def _stored_batch_size(con: duckdb.DuckDBPyConnection, vector_set: vector_sets.VectorSet) -> int:
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
    prefs = settings.load(con)
    if loading is not None:
        loading(model)
    embedder = load_embedder(model, weights, device or prefs.device)
    if resume_id is not None:
        return resume_id, embedder
    size = batch_size or prefs.batch_size
    return vector_sets.create_set(con, embedder, greyscale, weights, size), embedder


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
    vector_set = vector_sets.get_set(con, set_id)
    if vector_set.dim != embedder.dim:
        raise store.ProjectError(
            f"vector set {set_id} holds {vector_set.dim}-d vectors but model "
            f"{embedder.spec.name} gives {embedder.dim}-d ones; are these the right weights?"
        )
    grey = vector_set.greyscale if greyscale is None else greyscale
    # The set's own batch size unless told otherwise: the same batches as an uninterrupted run
    # give bit-identical vectors (a different batch size changes float rounding, ~1e-7).
    if batch_size:
        vector_sets.check_batch_size(batch_size)
    else:
        batch_size = _stored_batch_size(con, vector_set)
    project = _project_dir(con)
    report = progress or (lambda event: None)
    cancel = cancel or threading.Event()
    summary = VectorRunSummary(set_id, batch_size=batch_size)
    started = time.monotonic()
    items = pending_images(con, set_id)
    vector_sets.start_running(set_id)
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
                loader: Any = vector_inputs.thumbnail_batches(
                    con, items, batch_size, embedder, grey
                )
            elif workers is None and embedder.device == "cpu":
                loader = vector_inputs.threaded_batches(
                    items, batch_size, embedder, grey, max_pixels
                )
            else:
                from torch.utils.data import DataLoader

                processes = vector_inputs.default_workers() if workers is None else workers
                dataset = vector_inputs.ImageDataset(items, embedder.preprocessor, grey, max_pixels)
                loader = DataLoader(
                    # Map-style without torch's Dataset base, so that importing core loads no torch.
                    dataset,  # type: ignore[arg-type]
                    batch_size=batch_size,
                    shuffle=False,
                    num_workers=processes,
                    collate_fn=vector_inputs.collate,
                    multiprocessing_context="spawn" if processes else None,
                    worker_init_fn=vector_inputs.worker_init if processes else None,
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
        vector_sets.stop_running(set_id)
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
