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
import math
import os
import threading
import warnings
import weakref
from collections.abc import Generator, Iterable, Iterator
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


# --- JPEGs decoded on the GPU ------------------------------------------------------------------
#
# On CUDA, nvJPEG (torchvision.io.decode_jpeg on a list of files) decodes a batch of JPEGs on
# the GPU, and the model's transform replays there on tensors: the CPU only reads files and
# headers. Every image the GPU path cannot take exactly as the CPU path would (not a JPEG, CMYK,
# a transform that is not plain resize / crop / normalise, a decoder error) takes the CPU path,
# so a run's vectors never depend on which path an image took beyond float rounding.

# Transforms replayed on tensors, by class name (torchvision's, and open_clip's and timm's
# wrappers of them). Anything else in a model's transform keeps it on the CPU path.
_NO_OPS = {"MaybeConvertMode", "_convert_to_rgb"}
_TO_FLOAT = {"ToTensor", "MaybeToTensor"}
_TENSOR_READY = {"Resize", "CenterCrop", "Normalize"}


def tensor_steps(preprocessor: Preprocessor) -> list[Any] | None:
    """The preprocessor's torchvision transform as steps that take a uint8 (C, H, W) tensor on
    any device, or None when it holds a step that only works on PIL images. Resize and crop run
    on uint8, as Pillow's do (rounded to 8 bits), before the conversion to float."""
    transform = getattr(preprocessor, "transform", None)
    if transform is None:
        return None
    # Built lazily (in worker processes); a blank image builds it here.
    built = getattr(preprocessor, "_transform", None)
    if built is None:
        from PIL import Image

        try:
            preprocessor(Image.new("RGB", (preprocessor.input_size,) * 2))
        except Exception:
            return None
        built = getattr(preprocessor, "_transform", None)
    steps = getattr(built, "transforms", None)
    if steps is None:
        return None
    kept: list[Any] = []
    for step in steps:
        name = getattr(step, "__name__", type(step).__name__)
        if name in _NO_OPS:
            continue
        if name in _TO_FLOAT:
            kept.append(_to_float)
        elif name in _TENSOR_READY:
            kept.append(step)
        else:
            return None
    return kept


def _to_float(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.float() / 255.0


def _grey(rgb: torch.Tensor) -> torch.Tensor:
    """Pillow's convert("L").convert("RGB") on a uint8 (3, H, W) tensor: ITU-R 601-2 luma in
    Pillow's own fixed-point arithmetic, so that both paths give the same bytes."""
    import torch

    r, g, b = rgb.to(torch.int32).unbind(0)
    luma = ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).to(torch.uint8)
    return luma.expand(3, -1, -1)


def _box_reduce(tensor: torch.Tensor, factor: int) -> torch.Tensor:
    """Image.reduce's box filter on a uint8 (C, H, W) tensor: partial blocks at the right and
    bottom edges averaged over the pixels they hold, rounded to 8 bits."""
    import torch

    if factor == 1:
        return tensor
    pooled = torch.nn.functional.avg_pool2d(
        tensor[None].float(), factor, ceil_mode=True, count_include_pad=False
    )[0]
    return pooled.round_().clamp_(0, 255).to(torch.uint8)


# EXIF orientation as tensor operations on (C, H, W), as Pillow's transposes do it.
def _orient(tensor: torch.Tensor, orientation: int) -> torch.Tensor:
    if orientation == 2:
        return tensor.flip(2)
    if orientation == 3:
        return tensor.flip(1).flip(2)
    if orientation == 4:
        return tensor.flip(1)
    if orientation == 5:
        return tensor.transpose(1, 2)
    if orientation == 6:
        return tensor.transpose(1, 2).flip(2)
    if orientation == 7:
        return tensor.transpose(1, 2).flip(1).flip(2)
    if orientation == 8:
        return tensor.transpose(1, 2).flip(1)
    return tensor


class _JpegPlan:
    """One JPEG the GPU path takes: its bytes, and how the CPU path would have reduced it."""

    def __init__(self, data: bytes, orientation: int, draft: int, box: int) -> None:
        self.data = data
        self.orientation = orientation
        self.draft = draft  # libjpeg's DCT scaling (1, 2, 4 or 8), done here by a box filter
        self.box = box  # decode_reduced's integer box reduction after it


def plan_jpeg(
    path: str, size: int, mtime_ns: int, preprocessor: Preprocessor, max_pixels: int
) -> _JpegPlan | None:
    """The plan for decoding one file on the GPU, or None for the CPU path: anything but a
    baseline-readable RGB or greyscale JPEG, a file that changed since import, an image over
    the limits or one the model's fit would crop. Reads the file and its header only."""
    from panoptui.core.decode import REDUCING_GAP, check_jpeg_length, exif_orientation

    handle, st = open_regular_file(path)
    with handle:
        if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
            return None
        data = handle.read()
    source = io.BytesIO(data)
    img = open_image(source, max_pixels)
    if img.format != "JPEG" or img.mode not in ("RGB", "L"):
        return None
    check_jpeg_length(source, len(data), img.size)
    width, height = img.size
    if width * height * 3 > IMAGE_MEMORY_BUDGET:
        return None
    if preprocessor.fit(img) is not img:  # an elongated image cropped first: the CPU path
        return None
    orientation = exif_orientation(img)
    scale = preprocessor.input_size / min(img.size)
    if scale >= 1.0:
        return _JpegPlan(data, orientation, 1, 1)
    wanted = (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale)))
    img.draft("RGB" if img.mode == "RGB" else "L", wanted)  # the header's size changes only
    # libjpeg's scale: 1/1 to 1/8, the size rounded up (a 1001-px side at 1/8 is 126 px).
    draft = next(
        (k for k in (8, 4, 2) if img.size == (math.ceil(width / k), math.ceil(height / k))), 1
    )
    box = max(
        1,
        min(
            int(img.size[0] / (wanted[0] * REDUCING_GAP)),
            int(img.size[1] / (wanted[1] * REDUCING_GAP)),
        ),
    )
    return _JpegPlan(data, orientation, draft, box)


def _decode_all(decoder: Any, datas: list[bytes], device: str) -> list[Any]:
    """Each file decoded, or the exception it raised: the whole list at once (one call, which
    nvJPEG batches), and where that fails, one by one."""
    import torch
    from torchvision.io import ImageReadMode

    tensors = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in datas]
    try:
        return list(decoder(tensors, mode=ImageReadMode.RGB, device=device))
    except Exception:
        pass
    out: list[Any] = []
    for tensor in tensors:
        try:
            out.append(decoder([tensor], mode=ImageReadMode.RGB, device=device)[0])
        except Exception as exc:
            out.append(exc)
    return out


# JPEGs decoded in one call, then reduced to the model's input before the next: what the GPU
# holds at full size at once (32 photos of 12 MP: 1.2 GB), whatever the batch size.
DECODE_CHUNK = 32


class GpuJpegBatches:
    """Batches like ``ImageDataset``'s, decoded by ``decoder`` (torchvision's decode_jpeg) on
    ``device``, the model's transform replayed there. Files it cannot take go the CPU path (in
    a thread per core); ``fallback_ids`` lists them. ``steps`` come from ``tensor_steps``."""

    def __init__(
        self,
        items: list[tuple[int, str, int, int]],
        batch_size: int,
        preprocessor: Preprocessor,
        steps: list[Any],
        greyscale: bool,
        max_pixels: int,
        device: str,
        decoder: Any = None,
    ) -> None:
        if decoder is None:
            from torchvision.io import decode_jpeg

            decoder = decode_jpeg
        self.items = items
        self.batch_size = batch_size
        self.steps = steps
        self.greyscale = greyscale
        self.max_pixels = max_pixels
        self.device = device
        self.decoder = decoder
        self.dataset = ImageDataset(items, preprocessor, greyscale, max_pixels)
        self.fallback_ids: list[int] = []

    def _plan(self, index: int) -> _JpegPlan | None:
        _, path, size, mtime_ns = self.items[index]
        try:
            with quiet_decoding():
                return plan_jpeg(path, size, mtime_ns, self.dataset.preprocessor, self.max_pixels)
        except Exception:  # the CPU path says what is wrong with it
            return None

    def _finish(self, tensor: torch.Tensor, plan: _JpegPlan) -> torch.Tensor:
        tensor = _box_reduce(_box_reduce(tensor, plan.draft), plan.box)
        tensor = _orient(tensor, plan.orientation)
        if self.greyscale:
            tensor = _grey(tensor)
        for step in self.steps:
            tensor = step(tensor)
        return tensor

    def __iter__(self) -> Iterator[tuple[list[int], Any, list]]:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            for start in range(0, len(self.items), self.batch_size):
                indices = list(range(start, min(start + self.batch_size, len(self.items))))
                samples: dict[int, tuple[int, Any, str | None]] = {}
                for first in range(0, len(indices), DECODE_CHUNK):
                    samples.update(self._decoded(pool, indices[first : first + DECODE_CHUNK]))
                rest = [i for i in indices if i not in samples]
                self.fallback_ids.extend(self.items[i][0] for i in rest)
                for index, sample in zip(
                    rest, pool.map(self.dataset.__getitem__, rest), strict=True
                ):
                    samples[index] = sample
                yield self._collate([samples[i] for i in indices])

    def _decoded(self, pool: Any, indices: list[int]) -> dict[int, tuple[int, Any, None]]:
        """The model inputs of the images of ``indices`` that the GPU path takes."""
        plans = list(pool.map(self._plan, indices))
        taken = [(i, p) for i, p in zip(indices, plans, strict=True) if p is not None]
        with quiet_decoding():  # torchvision warns that it will hand decoding over
            decoded = _decode_all(self.decoder, [p.data for _, p in taken], self.device)
        samples: dict[int, tuple[int, Any, None]] = {}
        for (index, plan), tensor in zip(taken, decoded, strict=True):
            if isinstance(tensor, Exception):
                continue
            try:
                samples[index] = (self.items[index][0], self._finish(tensor, plan), None)
            except Exception:
                continue  # the CPU path again
        return samples

    def _collate(self, samples: list[tuple[int, Any, str | None]]) -> tuple[list[int], Any, list]:
        """As ``collate``, with the CPU path's tensors moved to the device first."""
        moved = [(i, t.to(self.device) if t is not None else None, e) for i, t, e in samples]
        return collate(moved)


def prefetched(batches: Iterable[Any], depth: int = 2) -> Generator[Any, None, None]:
    """``batches`` made on a thread of their own, up to ``depth`` ahead of the consumer (the
    GPU path decodes while the model embeds). An error there is raised here; a consumer that
    stops early stops the thread at its next batch."""
    import queue

    done = object()
    ready: queue.Queue[Any] = queue.Queue(depth)
    stop = threading.Event()

    def make() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        ready.put((batch, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put((done, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            ready.put((done, exc))

    thread = threading.Thread(target=make, name="vector-batches", daemon=True)
    thread.start()
    try:
        while True:
            batch, error = ready.get()
            if batch is done:
                if error is not None:
                    raise error
                return
            yield batch
    finally:
        stop.set()


class Prefetched:
    """``prefetched(source)``, with ``source`` kept in sight (for what it counts)."""

    def __init__(self, source: Iterable[Any], depth: int = 2) -> None:
        self.source = source
        self._batches = prefetched(source, depth)

    def __iter__(self) -> Iterator[Any]:
        return self._batches

    def close(self) -> None:
        self._batches.close()
