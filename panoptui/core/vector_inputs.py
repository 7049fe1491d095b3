"""The worker side of vectors: image files made into the model's input, batch by batch.

An image is decoded at reduced scale within a memory budget, optionally made grey, and passed
through the model library's own preprocessing (``load_for_model``). ``ImageDataset`` does that in
torch's DataLoader worker processes, ``threaded_batches`` in a thread per core, and
``thumbnail_batches`` from the thumbnails the import stored, for models that need no more.
Every failure becomes the image's error, with the reason; none stops a run.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import warnings
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

import duckdb
import numpy as np

from panoptui.core.decode import (
    DEFAULT_MAX_PIXELS,
    DecodeError,
    load_reduced,
    open_image,
    open_regular_file,
    read_error_reason,
    to_rgb,
)
from panoptui.core.workers import init_worker

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from panoptui.core.models.base import Embedder, Preprocessor

# The most memory one image may take to decode, in one decode thread or worker. Pillow holds at
# most 4 bytes a pixel, so every image under the default pixel limit (179 MP: 0.7 GB) fits; only
# a raised --max-pixels lets a bigger one through, and it becomes an error row, not a crash.
IMAGE_MEMORY_BUDGET = 1 << 30
CHANGED_SINCE_IMPORT = "the file changed since it was imported; run panoptui import again"


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
        with out_of_memory_said(img):
            decoded = load_reduced(
                img, preprocessor.input_size / min(img.size), IMAGE_MEMORY_BUDGET
            )
    with out_of_memory_said(img):
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
def out_of_memory_said(img: Image.Image) -> Iterator[None]:
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


# Warnings raised while a thread decodes an image (Pillow's about odd files, numpy's about odd
# pixel values) are dropped: printed, they would land over the terminal app, and the image's
# error row already says what matters. Per thread, unlike warnings.catch_warnings, which
# changes the filters of every thread at once.
_decoding = threading.local()


def _drop_decoding_warnings(show: Any) -> Any:
    def hook(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if not getattr(_decoding, "active", False):
            show(message, category, filename, lineno, file, line)

    return hook


# The hooks set above (weakly held), so that one is never wrapped in another.
_installed_hooks: weakref.WeakSet[Any] = weakref.WeakSet()


@contextlib.contextmanager
def quiet_decoding() -> Iterator[None]:
    """Decode and preprocess images in this thread without printing library warnings."""
    if warnings.showwarning not in _installed_hooks:
        warnings.showwarning = _drop_decoding_warnings(warnings.showwarning)
        _installed_hooks.add(warnings.showwarning)
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
    batch: np.ndarray | torch.Tensor | None = None
    if good and isinstance(good[0][1], np.ndarray):
        batch = np.stack([t for _, t in good])
    elif good:
        import torch

        batch = torch.stack([t for _, t in good])
    return [i for i, _ in good], batch, errors


def worker_init(worker_id: int) -> None:
    import torch

    init_worker()
    torch.set_num_threads(1)  # decoding is parallel across processes, not threads


def default_workers() -> int:
    cores = os.cpu_count() or 1
    return max(1, min(cores - 1, 12))


def thumbnail_batches(
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


def threaded_batches(
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
