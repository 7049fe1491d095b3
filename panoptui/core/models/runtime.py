"""Where and how models run: device choice, mixed precision, and the batch size that fits."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import torch

from panoptui.core.models.base import ModelError

if TYPE_CHECKING:
    from panoptui.core.models.base import Embedder

DEVICES = ("auto", "cpu", "cuda", "mps")


def pick_device(requested: str = "auto") -> str:
    """'auto': CUDA, then Apple's MPS, then the CPU. A forced device must exist."""
    requested = requested.lower()
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if requested == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if requested == "cuda" or requested.startswith("cuda:"):
        if not cuda:
            raise ModelError("device cuda asked for, but torch sees no CUDA GPU here")
        index = requested.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise ModelError(
                f"no device {requested}: this machine has {torch.cuda.device_count()} CUDA GPUs "
                f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})"
            )
        return requested
    if requested == "mps" and not mps:
        raise ModelError("device mps asked for, but torch sees no Apple GPU here")
    if requested not in DEVICES:
        raise ModelError(
            f"unknown device {requested!r}; choose one of {', '.join(DEVICES)} (or cuda:N)"
        )
    return requested


@contextlib.contextmanager
def autocast(device: str) -> Iterator[None]:
    """Half precision on CUDA (bf16 where supported, else fp16); full precision elsewhere."""
    if device.startswith("cuda"):
        # bf16 from Ampere (compute capability 8) on, asked of the device in use.
        major, _ = torch.cuda.get_device_capability(torch.device(device))
        dtype = torch.bfloat16 if major >= 8 else torch.float16
        with torch.autocast("cuda", dtype=dtype):
            yield
    else:
        yield


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def free_memory(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


# The largest batch tried on a GPU. Past it, a batch no longer makes the model faster (the GPU
# is saturated well before), and it only holds more memory in the pipeline's queues.
BATCH_CEILING = 512


def largest_batch(
    fits: Callable[[int], object], ceiling: int = BATCH_CEILING, device: str = "cuda"
) -> int:
    """The largest power of two up to ``ceiling`` for which ``fits(size)`` runs without running
    out of memory: tried from the ceiling down, halving on each out-of-memory. Any other error
    is raised; so is an out-of-memory at size 1."""
    size = ceiling
    while True:
        try:
            fits(size)
        except Exception as exc:
            if not is_out_of_memory(exc) or size == 1:
                raise
            free_memory(device)
            size //= 2
            continue
        free_memory(device)
        return size


def batch_probe(embedder: Embedder) -> Callable[[int], object]:
    """A trial forward pass of ``size`` blank images of the model's input shape."""
    from PIL import Image

    side = embedder.preprocessor.input_size
    shape = tuple(embedder.preprocessor(Image.new("RGB", (side, side))).shape)

    def fits(size: int) -> object:
        return embedder.embed_images(torch.zeros((size, *shape)))

    return fits


def device_name(device: str) -> str:
    """What a device is, for remembering what fits on it: the GPU's model and memory."""
    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        props = torch.cuda.get_device_properties(index)
        return f"{props.name} {props.total_memory >> 30} GiB"
    return device
