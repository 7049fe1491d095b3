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
from PIL import Image, UnidentifiedImageError

try:  # HEIC/HEIF (iPhone photos) through pillow-heif; registered wherever this module is imported
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_AVAILABLE = True
except ImportError:  # an install without it reads every other format
    HEIF_AVAILABLE = False

# Pillow's own bomb check warns at MAX_IMAGE_PIXELS and only raises at twice that; we check the
# header ourselves against the user's limit and turn Pillow's check off to avoid a second, different
# threshold.
Image.MAX_IMAGE_PIXELS = None
warnings.simplefilter("ignore", Image.DecompressionBombWarning)

DEFAULT_MAX_PIXELS = 178_956_970  # Pillow's default limit (~179 MP): a 0.5 GB RGB bitmap.

EXIF_ORIENTATION = 0x0112

# Bytes per pixel of a decoded image, by mode: Pillow keeps 1-band 8-bit modes in one byte, 16-bit
# ones in two, and every other mode (RGB included) in four.
_ONE_BYTE_MODES = frozenset(["1", "L", "P"])


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
    """The EXIF orientation tag (1 to 8; 1 when absent or malformed). For PNG, reading EXIF
    decodes the image: read it once the image is loaded, or a decoding error swallowed here
    leaves a half-decoded image that the next load takes as complete."""
    try:
        value = int(img.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:  # malformed EXIF is common and must not fail the image
        return 1
    return value if 1 <= value <= 8 else 1


# What each EXIF orientation asks for (as ImageOps.exif_transpose does it).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# Reduce big decoded images to at least this many times the size asked for, so the resampling
# that follows (thumbnail, model transform) still has detail to work with.
REDUCING_GAP = 2.0
_STRIP_BYTES = 32 << 20  # modes Image.reduce refuses are converted and reduced in strips this big


def decode_bytes(img: Image.Image) -> int:
    """Bytes the decoded first frame takes, at the size the image will be decoded at (after
    ``draft``). An estimate from the header: nothing is decoded."""
    width, height = img.size
    if img.mode in _ONE_BYTE_MODES:
        per_pixel = 1
    elif img.mode.startswith("I;16"):
        per_pixel = 2
    else:
        per_pixel = 4
    return width * height * per_pixel


def _megabytes(n: int) -> str:
    return f"{n / 2**20:,.0f} MB"


def decode_reduced(
    img: Image.Image, scale: float, memory_budget: int | None = None
) -> tuple[Image.Image, int]:
    """Decode the first frame at (at least) ``scale`` times its size; returns it with EXIF
    orientation applied, and the orientation.

    Memory stays near one decoded copy of the image: JPEGs decode at 1/2, 1/4 or 1/8 scale
    (libjpeg's draft mode, about 20x cheaper for a 12 MP photo); other formats decode at full
    size and are reduced (box filter) before anything else touches them, so conversions and
    rotations work on the small copy. With ``memory_budget``, an image whose decoded size would
    exceed it is refused before it is decoded.
    """
    width, height = img.size
    wanted = (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale)))
    if img.format in ("JPEG", "MPO") and scale < 1.0:
        img.draft(img.mode if img.mode in ("L", "CMYK") else "RGB", wanted)
    # The orientation the file records. Read before decoding (the TIFF reader applies and drops
    # it while decoding), except for PNG, whose EXIF may follow the pixels: reading it decodes
    # them, and a decoding error swallowed there would leave a half-decoded image.
    recorded = exif_orientation(img) if img.format not in ("PNG", None) else None
    if memory_budget is not None and decode_bytes(img) > memory_budget:
        raise DecodeError(
            f"decoding this {width}x{height} image (mode {img.mode}) needs about "
            f"{_megabytes(decode_bytes(img))} of memory, more than the "
            f"{_megabytes(memory_budget)} one image may use here"
        )
    try:
        img.load()
    except OSError as exc:
        raise DecodeError(f"truncated or corrupt image data: {exc}") from None
    except MemoryError:
        raise DecodeError(
            f"not enough memory to decode this {width}x{height} image "
            f"({_megabytes(decode_bytes(img))})"
        ) from None
    except Exception as exc:  # decoders raise many types on hostile data
        raise DecodeError(f"corrupt image data: {type(exc).__name__}: {exc}") from None
    pending = exif_orientation(img)  # what the decoder left for us to apply
    orientation = pending if recorded is None else recorded
    # One integer factor for both axes, so the picture keeps its aspect ratio (thumbnails and the
    # model's centre crop see it undistorted); an elongated strip is small whatever the factor.
    factor = max(
        1,
        min(
            int(img.width / (wanted[0] * REDUCING_GAP)),
            int(img.height / (wanted[1] * REDUCING_GAP)),
        ),
    )
    decoded = _reduce(img, (factor, factor)) if factor > 1 else img
    method = _TRANSPOSE.get(pending)
    if method is not None:
        decoded = decoded.transpose(method)
    return decoded, orientation


def _reduce(img: Image.Image, factors: tuple[int, int]) -> Image.Image:
    """``img`` shrunk by integer factors (box filter), a strip of rows at a time: Image.reduce
    makes a full-size premultiplied copy of RGBA images, and modes it refuses (palette,
    bilevel, 16-bit) need a converted copy first; strips keep either small."""
    target = {"1": "L", "P": "RGBA", "PA": "RGBA"}.get(img.mode, img.mode)
    if img.mode.startswith("I;16"):
        target = "I"
    if img.mode == "P" and "transparency" not in img.info:
        target = "RGB"
    fx, fy = factors
    out = Image.new(target, (math.ceil(img.width / fx), math.ceil(img.height / fy)))
    rows = max(1, _STRIP_BYTES // max(1, img.width * 4 * fy)) * fy  # a multiple of fy
    for top in range(0, img.height, rows):
        strip = img.crop((0, top, img.width, min(img.height, top + rows)))
        if strip.mode != target:
            strip = strip.convert(target)
        out.paste(strip.reduce(factors), (0, top // fy))
    return out


def load_reduced(img: Image.Image, scale: float, memory_budget: int | None = None) -> Image.Image:
    """Decode the first frame at (at least) ``scale`` times its size, with EXIF orientation
    applied (see ``decode_reduced``)."""
    return decode_reduced(img, scale, memory_budget)[0]


# JPEG start-of-frame markers with Huffman coding (arithmetic coding can spend under a bit per
# block, so no length bound holds for it).
_HUFFMAN_SOF = frozenset([0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7])


def _jpeg_frame(handle: BinaryIO) -> tuple[int, int, int, int, int] | None:
    """(SOF marker, width, height, max horizontal and vertical sampling) from a JPEG's header,
    or None when the header cannot be walked."""
    handle.seek(2)
    for _ in range(1000):  # segments before the frame header: APPn, DQT, DHT, COM ...
        head = handle.read(4)
        if len(head) < 4 or head[0] != 0xFF:
            return None
        marker, length = head[1], int.from_bytes(head[2:4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            body = handle.read(max(0, length - 2))
            if len(body) < 6:
                return None
            height, width = int.from_bytes(body[1:3], "big"), int.from_bytes(body[3:5], "big")
            layers = body[6 : 6 + 3 * body[5]]
            samplings = [layers[i + 1] for i in range(0, len(layers) - 2, 3)] or [0x11]
            hmax = max(1, max(s >> 4 for s in samplings))
            vmax = max(1, max(s & 15 for s in samplings))
            return marker, width, height, hmax, vmax
        handle.seek(length - 2, io.SEEK_CUR)
    return None


def check_jpeg_length(handle: BinaryIO, file_size: int, size: tuple[int, int]) -> None:
    """Refuse a JPEG far too short for the size its header claims.

    libjpeg decodes a JPEG that ends early as grey, without an error, when an end marker follows
    the short data (a 13000x13000 header over a 16x16 picture). A Huffman-coded scan spends at
    least one bit on every block of every MCU, so a file shorter than MCUs / 8 bytes is certainly
    truncated. ``size`` is the size Pillow read from the header."""
    try:
        frame = _jpeg_frame(handle)
    finally:
        handle.seek(0)
    if frame is None:
        return
    marker, width, height, hmax, vmax = frame
    if marker not in _HUFFMAN_SOF or (width, height) != size or width == 0 or height == 0:
        return  # arithmetic coding, or a header walked differently from Pillow: no bound
    mcus = math.ceil(width / (8 * hmax)) * math.ceil(height / (8 * vmax))
    if file_size < mcus // 8:
        raise DecodeError(
            f"truncated image data: a {width}x{height} JPEG needs at least {mcus // 8:,} bytes "
            f"of image data, the file has {file_size:,}"
        )


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
