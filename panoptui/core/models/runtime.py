"""Where and how models run: device choice and mixed precision."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from panoptui.core.models.base import ModelError

DEVICES = ("auto", "cpu", "cuda", "mps")


def pick_device(requested: str = "auto") -> str:
    """'auto': CUDA, then Apple's MPS, then the CPU. A forced device must exist."""
    requested = requested.lower()
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if requested == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if requested.startswith("cuda"):
        if not cuda:
            raise ModelError("device cuda asked for, but torch sees no CUDA GPU here")
        return requested
    if requested == "mps" and not mps:
        raise ModelError("device mps asked for, but torch sees no Apple GPU here")
    if requested not in DEVICES:
        raise ModelError(f"unknown device {requested!r}; choose one of {', '.join(DEVICES)}")
    return requested


@contextlib.contextmanager
def autocast(device: str) -> Iterator[None]:
    """Half precision on CUDA (bf16 where supported, else fp16); full precision elsewhere."""
    if device.startswith("cuda"):
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
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
