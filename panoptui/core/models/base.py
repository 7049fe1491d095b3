"""What every model family provides, and the helpers they share.

An Embedder turns preprocessed image tensors (and, for some, texts) into L2-normalised vectors.
Its preprocessing is described by a small picklable Preprocessor, built from the model library's
own configuration, so that decoding and preprocessing can run in worker processes that never load
the model.
"""

from __future__ import annotations

import os
import re
import socket
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from panoptui.core.decode import DecodeError
from panoptui.core.text import shown

if TYPE_CHECKING:
    import torch
    from PIL import Image


class ModelError(Exception):
    """A model that cannot be had or used; the message says what is missing and how to fix it."""


# The device names a user can give (whether the machine has that device is runtime's question).
DEVICE_NAME = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device_name(device: str) -> str:
    if not DEVICE_NAME.match(device.strip().lower()):
        raise ModelError(f"unknown device {device!r}; choose auto, cpu, cuda, cuda:N or mps")
    return device.strip().lower()


@dataclass(frozen=True)
class ModelSpec:
    """A resolved model choice. ``name`` is what the user typed (a preset or a custom spec) and is
    what a vector set records; the rest says how to load it."""

    name: str
    family: str  # open_clip | timm | hf | pixels
    arch: str  # the library's model name
    pretrained: str | None = None  # open_clip tag or timm/hf hub id, when downloading
    options: dict[str, Any] = field(default_factory=dict)


# The most pixels a model's transform may make of one image on its way to the model's input.
# Transforms resize the short side to the model's size, and an elongated image's long side
# grows with it: a 100000x1 image would become 22,400,000x224 pixels (15 GB) only to be
# cropped to 224x224. 32 MP (128 MB as a Pillow image) leaves every image up to 600:1 at 224 px
# (and 100:1 at 518 px) untouched, so normal images give exactly the vectors they always did.
MAX_RESIZED_PIXELS = 32_000_000
# Over that, what the centre crop keeps is cut out first: the middle of the long side, as long
# as this many times the short side (crops up to 4:1 keep all they would), plus a margin for
# the resampling filter's reach.
KEPT_ASPECT = 4
KEPT_MARGIN = 8


class TooElongated(DecodeError):
    """An image the model's preprocessing cannot take (its short side would vanish)."""


class Preprocessor(ABC):
    """Picklable: carries only configuration, builds the library's transform on first use (in a
    worker process). Calling it fits the image (see ``fit``), then runs the transform."""

    # The shortest side the decoder must deliver; JPEGs are decoded at reduced scale down to it.
    # For "shortest" transforms it is also the size the short side is resized to.
    input_size: int = 224
    # How the library's transform brings an image to the model's input: "shortest" (the short
    # side resized to input_size, then the centre cropped), "squash" (resized straight to the
    # input, the aspect ratio ignored) or "longest" (the long side resized, the rest padded).
    resize_mode: str = "shortest"

    def __call__(self, image: Image.Image) -> Any:
        """An RGB PIL image in, the model's input tensor (C, H, W) out."""
        return self.transform(self.fit(image))

    @abstractmethod
    def transform(self, image: Image.Image) -> Any:
        """The library's own transform."""

    def fit(self, image: Image.Image) -> Image.Image:
        """``image`` as the transform can take it within MAX_RESIZED_PIXELS: unchanged for
        every normal image; for an elongated one under a "shortest" transform, the middle part
        the centre crop would keep anyway. Raises TooElongated for an image a "longest"
        transform would make less than a pixel thick."""
        width, height = image.size
        short, long = min(width, height), max(width, height)
        if self.resize_mode == "longest" and round(short * self.input_size / long) < 1:
            raise TooElongated(
                f"image is {width}x{height}: too elongated to embed (this model fits its long "
                f"side to {self.input_size} px, which leaves the short side under a pixel)"
            )
        if self.resize_mode != "shortest":  # squash and longest never enlarge the long side
            return image
        resized = long * self.input_size / short * self.input_size
        if resized <= MAX_RESIZED_PIXELS:
            return image
        kept = min(long, short * KEPT_ASPECT + 2 * KEPT_MARGIN)
        start = (long - kept) // 2
        box = (
            (start, 0, start + kept, height) if width > height else (0, start, width, start + kept)
        )
        return image.crop(box)


class Embedder(ABC):
    spec: ModelSpec
    dim: int
    embeds_text: bool
    preprocessor: Preprocessor
    device: str
    # True for descriptors computed from the import's 256-px thumbnails instead of the files.
    from_thumbnails: bool = False

    @abstractmethod
    def embed_images(self, batch: torch.Tensor) -> np.ndarray:
        """(N, C, H, W) preprocessed images -> (N, dim) float32, L2-normalised."""

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        raise ModelError(f"model {self.spec.name} embeds images only, not text")


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def weights_path(weights: str | None) -> Path | None:
    """Check a --weights argument: it must exist. Returns it resolved."""
    if weights is None:
        return None
    path = Path(weights).expanduser()
    if not path.exists():
        raise ModelError(f"weights {shown(weights)} not found")
    if not (path.is_file() or path.is_dir()):
        raise ModelError(f"weights {shown(weights)} is not a file or a folder")
    if path.is_file() and not _looks_like_weights(path):
        raise ModelError(
            f"cannot load weights {shown(weights)}: not a weights file (neither a PyTorch "
            "checkpoint nor safetensors)"
        )
    return path.resolve()


def _looks_like_weights(path: Path) -> bool:
    """Whether a file starts as a checkpoint does: a zip (torch.save), a pickle (older
    torch.save), or safetensors (an 8-byte header length, then JSON). Anything else would fail
    deep inside the loader with a message about something else ("list index out of range")."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
    except OSError as exc:
        raise ModelError(f"cannot read weights {shown(path)}: {exc.strerror}") from None
    if head.startswith((b"PK\x03\x04", b"\x80")):
        return True
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") > 0


# --- unsafe checkpoints -------------------------------------------------------------------------

# How torch.load(weights_only=True) and timm word a refusal, and where they name the global the
# pickle asked for ("GLOBAL posix.system", "Unsupported globals: posix.system.").
_REFUSED = ("Weights only load failed", "weights_only=True blocked", "Unsupported global")
_REFUSED_NAME = re.compile(r"(?:GLOBAL |Unsupported globals?: )([\w.]+)")


def unsafe_checkpoint_error(
    exc: BaseException, weights: Path | str | None, model: str
) -> ModelError | None:
    """The error for a checkpoint that torch refused to unpickle with weights_only, or None for
    any other failure. A pickle that names a function or class holds code or objects, not only
    tensors; one that names none is damaged or not a checkpoint. Torch's own message advises
    weights_only=False, which would run whatever the file holds: it is never repeated."""
    texts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(texts) < 10:
        texts.append(str(seen))
        seen = seen.__cause__ or seen.__context__
    if not any(words in text for text in texts for words in _REFUSED):
        return None
    names = [
        found.group(1).rstrip(".") for t in texts for found in [_REFUSED_NAME.search(t)] if found
    ]
    if not names:
        return ModelError(
            f"cannot load weights {shown(weights)} for model {model}: the file is not a "
            "checkpoint of plain weights (damaged, or not a weights file)"
        )
    return ModelError(
        f"weights {shown(weights)} hold code or objects that are not plain weights (the file "
        f"asks for {names[0]}); not loaded, for safety. Give a .safetensors file, or a "
        "checkpoint saved as a plain state dict of tensors"
    )


# --- the model hub -----------------------------------------------------------------------------

HUB_PROBE_SECONDS = 3.0


def _hub_address() -> tuple[str, int]:
    """Where a download would connect first: the proxy if one is set, else the hub itself."""
    for variable in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        if os.environ.get(variable):
            proxy = urlparse(os.environ[variable])
            return proxy.hostname or "", proxy.port or 8080
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    return endpoint.hostname or "huggingface.co", endpoint.port or 443


def hub_reachable(timeout: float = HUB_PROBE_SECONDS) -> bool:
    """Can a connection to the hub be opened within ``timeout``, name lookup included (which
    the socket timeout does not cover, hence the thread)?"""
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures import TimeoutError as Timeout

    def connect() -> None:
        socket.create_connection(_hub_address(), timeout=timeout).close()

    pool = ThreadPoolExecutor(1)
    try:
        pool.submit(connect).result(timeout=timeout)
    except (OSError, Timeout):
        return False
    finally:
        pool.shutdown(wait=False)
    return True


def prepare_hub_access() -> bool:
    """Before a download: decide quickly whether the hub can be reached. Without it, the hub
    client retries for most of a minute; with HF_HUB_OFFLINE=1 it answers from its cache at once.
    Returns True when downloads are possible."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    if hub_reachable():
        return True
    prefer_offline_hub()
    return False


def prefer_offline_hub() -> None:
    """From now on, this process never reaches the model hub (HF_HUB_OFFLINE=1)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    _refresh_hub_constants()


def _refresh_hub_constants() -> None:
    """huggingface_hub reads HF_HUB_OFFLINE when imported; tell it, if it was imported already."""
    try:
        from huggingface_hub import constants

        constants.HF_HUB_OFFLINE = True
    except (ImportError, AttributeError):
        pass


def missing_weights_message(spec: ModelSpec, what: str, online: bool, cause: object) -> str:
    where = "the model hub cannot be reached" if not online else "the download failed"
    return (
        f"cannot load {what} for model {spec.name}: {where} and it is not in the local cache "
        f"({str(cause).splitlines()[0][:160] if str(cause) else type(cause).__name__}). "
        "Download it once on a machine with network access and copy the cache "
        "(~/.cache/huggingface) here with HF_HUB_OFFLINE=1, or give a local file or folder "
        "with --weights PATH"
    )
