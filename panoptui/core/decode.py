"""Decoding image files with Pillow: safe opening, cheap reduced-size decode, RGB conversion.

Shared by the import (metadata, thumbnails, perceptual hash) and, later, the embedding pipeline.
Every failure a real archive holds becomes a DecodeError with a sentence a user can act on.
"""

from __future__ import annotations

import io
import math
import os
import stat
import warnings
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow's own bomb check warns at MAX_IMAGE_PIXELS and only raises at twice that; we check the
# header ourselves against the user's limit and turn Pillow's check off to avoid a second, different
# threshold.
Image.MAX_IMAGE_PIXELS = None
warnings.simplefilter("ignore", Image.DecompressionBombWarning)

DEFAULT_MAX_PIXELS = 178_956_970  # Pillow's default limit (~179 MP): a 0.5 GB RGB bitmap.

EXIF_ORIENTATION = 0x0112


class DecodeError(Exception):
    """An image that cannot be imported; the message is the reason shown to the user."""


# File signatures, to tell "this is not an image" from "this is a damaged image".
SIGNATURES = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"BM": "BMP",
}


def _signature_format(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for sig, fmt in SIGNATURES.items() if data.startswith(sig)), None)


def _preview_bytes(data: bytes) -> str:
    head = data[:12]
    text = "".join(chr(b) if 32 <= b < 127 else "." for b in head)
    return text


def open_image(source: bytes | BinaryIO, max_pixels: int) -> Image.Image:
    """Open an image (header only) from its bytes or an open binary file, and check its size
    against the pixel limit. The file must stay open until the image is loaded."""
    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    head = handle.read(16)
    handle.seek(0)
    if not head:
        raise DecodeError("empty file (0 bytes)")
    try:
        img = Image.open(handle)
    except UnidentifiedImageError:
        looks_like = _signature_format(head)
        if looks_like:
            raise DecodeError(
                f"corrupt {looks_like} file: it starts like one but its header cannot be read"
            ) from None
        raise DecodeError(
            f"not an image Pillow can read (the file starts with {_preview_bytes(head)!r})"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DecodeError(f"unreadable image header: {exc}") from None
    width, height = img.size
    if width <= 0 or height <= 0:
        raise DecodeError(f"image header gives an empty size ({width}x{height})")
    if width * height > max_pixels:
        raise DecodeError(
            f"image is {width}x{height} = {width * height / 1e6:.0f} megapixels, over the limit "
            f"of {max_pixels / 1e6:.0f} (a possible decompression bomb; raise it with --max-pixels)"
        )
    return img


def exif_orientation(img: Image.Image) -> int:
    try:
        value = int(img.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:  # malformed EXIF is common and must not fail the image
        return 1
    return value if 1 <= value <= 8 else 1


def load_reduced(img: Image.Image, scale: float) -> Image.Image:
    """Decode the first frame at (at least) ``scale`` times its size, then apply EXIF orientation.

    For JPEG this lets libjpeg skip detail we don't need (draft mode: 1/2, 1/4 or 1/8 scale), which
    makes a 12 MP photo about 20x cheaper to decode; other formats decode at full size.
    """
    if img.format in ("JPEG", "MPO") and scale < 1.0:
        width, height = img.size
        wanted = (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale)))
        img.draft(img.mode if img.mode in ("L", "CMYK") else "RGB", wanted)
    try:
        img.load()
    except OSError as exc:
        raise DecodeError(f"truncated or corrupt image data: {exc}") from None
    except Exception as exc:  # decoders raise many types on hostile data
        raise DecodeError(f"corrupt image data: {type(exc).__name__}: {exc}") from None
    try:
        return ImageOps.exif_transpose(img) or img
    except Exception:  # a broken EXIF block: keep the pixels as stored
        return img


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB: transparency over white, 16-bit and float images
    stretched to their own range rather than clipped."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        return Image.fromarray(arr.astype(np.uint8)).convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def make_thumbnail(img: Image.Image, size: int) -> Image.Image:
    """An RGB copy whose longer side is at most ``size`` pixels."""
    thumb = to_rgb(img)
    if max(thumb.size) > size:
        thumb = thumb.copy()
        thumb.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)
    return thumb


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    mat = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    mat[0] /= np.sqrt(2.0)
    return mat


_DCT32 = _dct_matrix(32)


def perceptual_hash(img: Image.Image) -> int:
    """64-bit DCT hash: the 8x8 lowest frequencies of a 32x32 grey copy, each bit set when the
    coefficient is above their median. Robust to resizing and re-encoding; not to crops."""
    grey = np.asarray(to_rgb(img).convert("L").resize((32, 32), Image.Resampling.BOX), np.float64)
    low = (_DCT32 @ grey @ _DCT32.T)[:8, :8].ravel()
    bits = low > np.median(low)
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return value


def open_regular_file(path: str) -> tuple[BinaryIO, os.stat_result]:
    """Open a file for reading without blocking (a FIFO put where a file was would hang a plain
    open) and check that it is a regular file. Returns the open file and its stat."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise IsADirectoryError(path)  # reported as "not a regular file"
    return os.fdopen(fd, "rb"), st


FILE_GONE = "file disappeared (deleted or moved since it was scanned)"


def read_error_reason(exc: BaseException) -> str:
    """The sentence a user sees for a failure to read or decode a file."""
    if isinstance(exc, DecodeError):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return FILE_GONE
    if isinstance(exc, PermissionError):
        return "permission denied: the file cannot be read by this user"
    if isinstance(exc, IsADirectoryError):
        return "not a regular file"
    if isinstance(exc, OSError):
        return f"cannot read the file: {exc.strerror or exc}"
    return f"cannot decode: {type(exc).__name__}: {exc}"
