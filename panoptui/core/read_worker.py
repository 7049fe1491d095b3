"""The import's worker side: reading one image file, in a worker process.

Everything the store keeps about a file is read at once, so the file is opened once: its content
hash, metadata (format, size, orientation, frames), a JPEG thumbnail and a perceptual hash. A
reader never raises: a failure is a result with the reason, stored as an error row.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from typing import Any

from PIL import Image

from panoptui.core.decode import (
    DecodeError,
    check_jpeg_length,
    decode_reduced,
    make_thumbnail,
    open_image,
    open_regular_file,
    perceptual_hash,
    read_error_reason,
)
from panoptui.core.metadata import png_header_metadata, read_metadata

DEFAULT_THUMB_SIZE = 256
HASH_BLOCK = 1 << 20
INT32_MAX = 2**31 - 1  # width, height and frames are INTEGER columns
# Set (to anything) only by benchmarks/import_bench.py, to time the import without reading
# EXIF, IPTC and XMP against the same import with it. An environment variable, since the
# workers are spawned processes: they see the parent's environment, not its module globals.
SKIP_METADATA_ENV = "PANOPTUI_BENCH_SKIP_METADATA"


@dataclass
class ReadResult:
    """What was read from one file. A failed read has ``error`` set (and ``gone`` when the file
    was deleted meanwhile) and only the fields read before the failure; a successful one has
    them all. Plain data, so it crosses from the worker processes by pickling."""

    path: str
    size: int | None = None
    mtime_ns: int | None = None
    content_hash: str | None = None
    format: str | None = None
    mode: str | None = None
    orientation: int | None = None
    frames: int | None = None
    width: int | None = None
    height: int | None = None
    phash: int | None = None
    thumb_width: int | None = None
    thumb_height: int | None = None
    thumb: bytes | None = None
    # EXIF, IPTC and XMP fields by store.METADATA_COLUMNS name (metadata.read_metadata); None
    # when not read (a failed read, or the benchmark's switch).
    metadata: dict[str, Any] | None = None
    error: str | None = None
    gone: bool = False


def read_image_file(
    path: str, max_pixels: int, thumb_size: int, memory_budget: int | None = None
) -> ReadResult:
    """Read one file: everything the store keeps about it. Never raises.

    The header is checked first, so a huge file that is not an image fails without being read;
    the bytes are hashed in blocks, so memory stays small whatever the file size. The first frame
    is decoded in full (a file damaged half-way must fail here, not later when vectors are made),
    within ``memory_budget`` bytes of decoded pixels.
    """
    result = ReadResult(path)
    try:
        handle, st = open_regular_file(path)
        with handle:
            result.size, result.mtime_ns = st.st_size, st.st_mtime_ns
            img = open_image(handle, max_pixels)
            if img.format in ("JPEG", "MPO"):
                check_jpeg_length(handle, st.st_size, img.size)
            digest = hashlib.sha256()
            handle.seek(0)
            while block := handle.read(HASH_BLOCK):
                digest.update(block)
            result.content_hash = digest.hexdigest()
            handle.seek(0)
            stored_size, stored_mode, fmt = img.size, img.mode, img.format
            # Counting frames seeks through the file and back to the first frame: before the
            # decode, so that nothing reloads the decoded frame from the file afterwards.
            frames = frame_count(img)
            # Metadata from what is open: before the decode (the TIFF reader drops EXIF
            # orientation while decoding), except for PNG, whose chunks may follow the pixels.
            read_meta = not os.environ.get(SKIP_METADATA_ENV)
            if read_meta and fmt != "PNG":
                result.metadata = read_metadata(img)
            decoded, orientation = decode_reduced(img, thumb_size / max(stored_size), memory_budget)
            if read_meta and fmt == "PNG":
                result.metadata = read_metadata(img)
        # Displayed size: the stored one, swapped when the decoded (oriented) picture turned by
        # 90 degrees. Read from the pixels, since Pillow's readers differ in what `size` reports.
        width, height = stored_size
        if (decoded.width > decoded.height) != (width > height) and width != height:
            width, height = height, width
        if max(width, height) > INT32_MAX:
            raise DecodeError(f"image header gives a size of {width}x{height}, too large to store")
        thumb = make_thumbnail(decoded, thumb_size)
        buffer = io.BytesIO()
        thumb.save(buffer, "JPEG", quality=82)
        phash = perceptual_hash(thumb)
        result.format, result.mode = fmt or "unknown", stored_mode
        result.orientation, result.frames = orientation, frames
        result.width, result.height, result.phash = width, height, phash
        result.thumb_width, result.thumb_height = thumb.width, thumb.height
        result.thumb = buffer.getvalue()
    except FileNotFoundError as exc:
        result.error, result.gone = read_error_reason(exc), True
    except Exception as exc:  # every failure, decoder bugs included, is recorded; the run goes on
        result.error = read_error_reason(exc)
    return result


def read_metadata_only(path: str, max_pixels: int) -> ReadResult:
    """Read only the metadata of a file (for an image imported before metadata was read): the
    header is opened, nothing is decoded or hashed. Never raises; a failure is a result with
    the reason, and ``metadata`` None."""
    result = ReadResult(path)
    try:
        handle, st = open_regular_file(path)
        with handle:
            result.size, result.mtime_ns = st.st_size, st.st_mtime_ns
            img = open_image(handle, max_pixels)
            if img.format == "PNG":
                result.metadata = png_header_metadata(handle)
            else:
                result.metadata = read_metadata(img)
    except FileNotFoundError as exc:
        result.error, result.gone = read_error_reason(exc), True
    except Exception as exc:  # as read_image_file: recorded, the run goes on
        result.error = read_error_reason(exc)
    return result


def frame_count(img: Image.Image) -> int:
    """Frames as the header claims them, clamped to what the store holds: an APNG may claim
    2**31 frames in 93 bytes. A count that cannot be read is 1 (the first frame decoded)."""
    try:
        frames = int(getattr(img, "n_frames", 1) or 1)
    except Exception:  # a damaged later frame; the first one decoded
        return 1
    return max(1, min(frames, INT32_MAX))


def read_chunk(
    paths: list[str], max_pixels: int, thumb_size: int, memory_budget: int | None = None
) -> list[ReadResult]:
    return [read_image_file(p, max_pixels, thumb_size, memory_budget) for p in paths]


def read_metadata_chunk(
    paths: list[str], max_pixels: int, thumb_size: int, memory_budget: int | None = None
) -> list[ReadResult]:
    """``read_chunk`` for metadata only (scan.read_files passes the same settings to both)."""
    return [read_metadata_only(p, max_pixels) for p in paths]
