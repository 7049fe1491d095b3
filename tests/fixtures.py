"""Generated test corpora: varied good images and the hostile files real archives hold."""

from __future__ import annotations

import io
import os
import random
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from panoptui.core.read_worker import ReadResult
from panoptui.core.samples import family_image, with_orientation


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """A photo-like RGB image: smooth shapes plus grain, so JPEG sizes are realistic."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, height // 64), max(2, width // 64), 3), dtype=np.uint8)
    base = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
    grain = rng.normal(0, 12, (height, width, 1)).astype(np.int16)
    arr = np.clip(np.asarray(base, np.int16) + grain, 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def write_good_corpus(root: Path) -> dict[str, dict[str, object]]:
    """Write images of many formats, modes, sizes and EXIF orientations.

    Returns, per relative path, what the import must record: format, mode, displayed size.
    """
    root.mkdir(parents=True, exist_ok=True)
    expected: dict[str, dict[str, object]] = {}

    def add(rel: str, img: Image.Image, fmt: str, size: tuple[int, int], **save: object) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path, **save)
        expected[rel] = {"format": fmt, "mode": img.mode, "width": size[0], "height": size[1]}

    base = family_image("circles", 1, (300, 200))
    for orientation in range(1, 9):
        # Stored sideways or mirrored, displayed upright: 300x200 once the tag is applied.
        stored, exif = with_orientation(base, orientation)
        add(f"exif/orient_{orientation}.jpg", stored, "JPEG", (300, 200), quality=90, exif=exif)
    stored, exif = with_orientation(base, 6)
    add("exif/orient_6.tif", stored, "TIFF", (300, 200), exif=exif)
    add(
        "exif/orient_8.webp",
        *with_orientation(base, 8)[:1],
        "WEBP",
        (300, 200),
        exif=with_orientation(base, 8)[1],
    )
    add("formats/upper.JPG", family_image("stripes", 2), "JPEG", (320, 240), format="JPEG")
    add("formats/mixed.Jpeg", family_image("stripes", 3), "JPEG", (320, 240), format="JPEG")
    add("formats/grey.jpg", family_image("checker", 1).convert("L"), "JPEG", (320, 240))
    add("formats/cmyk.jpg", family_image("checker", 2).convert("CMYK"), "JPEG", (320, 240))
    add("formats/rgb.png", family_image("triangles", 1), "PNG", (320, 240))
    rgba = family_image("triangles", 2).convert("RGBA")
    rgba.putalpha(128)
    add("formats/rgba.png", rgba, "PNG", (320, 240))
    add("formats/palette.png", family_image("noise", 1).convert("P"), "PNG", (320, 240))
    deep = Image.fromarray((np.arange(64 * 48, dtype=np.uint16) * 20).reshape(48, 64))
    add("formats/deep16.png", deep, "PNG", (64, 48))
    frames = [family_image("gradient", i, (120, 90)).convert("P") for i in range(3)]
    path = root / "formats/anim.gif"
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    expected["formats/anim.gif"] = {"format": "GIF", "mode": "P", "width": 120, "height": 90}
    add("formats/photo.webp", photo(400, 300, 1), "WEBP", (400, 300))
    add("formats/photo.tif", photo(256, 192, 2), "TIFF", (256, 192))
    add("formats/photo.TIFF", photo(192, 256, 3), "TIFF", (192, 256))
    add("formats/photo.bmp", photo(100, 80, 4), "BMP", (100, 80))
    mpo_path = root / "formats/camera.mpo"
    left, right = photo(320, 240, 5), photo(320, 240, 6)
    left.save(mpo_path, format="MPO", save_all=True, append_images=[right])
    expected["formats/camera.mpo"] = {"format": "MPO", "mode": "RGB", "width": 320, "height": 240}
    add("big/large.jpg", photo(3000, 2000, 7), "JPEG", (3000, 2000), quality=85)
    add("tiny/one_pixel.png", Image.new("RGB", (1, 1), (10, 20, 30)), "PNG", (1, 1))
    add("deep/a/b/c/nested.png", family_image("noise", 9), "PNG", (320, 240))
    (root / "notes.txt").write_text("a side-car file that is not an image")
    (root / ".hidden").mkdir(exist_ok=True)
    family_image("noise", 5).save(root / ".hidden" / "ignored.png")
    return expected


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge size over a few bytes of data (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def jpeg_bytes(img: Image.Image, **save: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", **save)
    return buffer.getvalue()


def write_hostile_files(root: Path) -> dict[str, str]:
    """Write one file per hostile case; returns relative path -> a word its error must contain."""
    root.mkdir(parents=True, exist_ok=True)
    cases: dict[str, str] = {}
    (root / "empty.jpg").write_bytes(b"")
    cases["empty.jpg"] = "empty"
    whole = jpeg_bytes(photo(640, 480, 11), quality=90)
    (root / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    cases["truncated.jpg"] = "truncated"
    (root / "text.jpg").write_text("This is a shopping list, not a photo.\n")
    cases["text.jpg"] = "not an image"
    (root / "bomb.png").write_bytes(png_bomb(100_000, 100_000))
    cases["bomb.png"] = "decompression bomb"
    os.symlink(root / "does-not-exist.jpg", root / "broken_link.jpg")
    cases["broken_link.jpg"] = "broken symbolic link"
    os.mkfifo(root / "pipe.png")
    cases["pipe.png"] = "not a regular file"
    random.seed(3)
    header = jpeg_bytes(photo(64, 64, 13))[:200]
    (root / "damaged_header.jpg").write_bytes(header + random.randbytes(2000))
    cases["damaged_header.jpg"] = "corrupt JPEG"
    data = jpeg_bytes(photo(640, 480, 14))
    scan_start = data.index(b"\xff\xda") + 14
    (root / "garbage_pixels.jpg").write_bytes(data[:scan_start] + random.randbytes(5000))
    cases["garbage_pixels.jpg"] = "corrupt image data"
    (root / "corrupt_mid.png").write_bytes(damaged_in_the_middle(photo(1200, 900, 16)))
    cases["corrupt_mid.png"] = "corrupt image data"
    return cases


def png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def apng_claiming_frames(frames: int) -> bytes:
    """A 1x1 APNG whose animation header (acTL) claims ``frames`` frames (93 bytes)."""
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
        + png_chunk(b"acTL", struct.pack(">II", frames, 0))
        + png_chunk(b"IDAT", zlib.compress(b"\0\0"))
        + png_chunk(b"IEND", b"")
    )


def jpeg_with_size(data: bytes, width: int, height: int) -> bytes:
    """A JPEG whose frame header (SOF) claims another size than its data holds."""
    sof = next(data.index(m) for m in (b"\xff\xc0", b"\xff\xc2") if m in data)
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


def damaged_in_the_middle(img: Image.Image) -> bytes:
    """A PNG whose compressed pixel data (IDAT) is overwritten with noise half-way."""
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    middle = len(data) // 2
    data[middle : middle + 64] = random.Random(5).randbytes(64)
    return bytes(data)


def read_chunk_crashing_on_marked_files(
    paths: list[str], max_pixels: int, thumb_size: int, *budget: int
) -> list[ReadResult]:
    """A worker's chunk reader that dies like a segfaulting decoder on files named *CRASH*."""
    from panoptui.core.read_worker import read_image_file

    if any("CRASH" in p for p in paths):
        os._exit(139)
    return [read_image_file(p, max_pixels, thumb_size, *budget) for p in paths]


def read_chunk_hanging_on_marked_files(
    paths: list[str], max_pixels: int, thumb_size: int, *budget: int
) -> list[ReadResult]:
    """A worker's chunk reader that never returns on files named *HANG* (a decoder stuck on a
    hostile file)."""
    import time

    from panoptui.core.read_worker import read_image_file

    if any("HANG" in p for p in paths):
        while True:
            time.sleep(60)
    return [read_image_file(p, max_pixels, thumb_size, *budget) for p in paths]


def jpeg_with_bad_exif() -> bytes:
    """A JPEG whose EXIF description tag claims more data than the file holds: Pillow warns
    ("Tag data larger than file") when it reads the EXIF block."""
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010E] = "a description long enough to be stored out of line"
    data = bytearray(jpeg_bytes(Image.new("RGB", (32, 32), (1, 2, 3)), exif=exif.tobytes()))
    start = data.index(b"Exif\0\0") + 6
    order = "<" if data[start : start + 2] == b"II" else ">"
    entry = data.index(struct.pack(f"{order}H", 0x010E), start)
    data[entry + 4 : entry + 8] = struct.pack(f"{order}I", 100_000)
    return bytes(data)


def png_of_zeros(path: Path, width: int, height: int, colour_type: int = 6) -> None:
    """A valid PNG of zero pixels (RGBA by default), compressed to a few hundred KB whatever its
    size, written row by row so that making it costs no memory."""
    bands = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour_type]
    compressor = zlib.compressobj(1)
    row = b"\0" * (1 + width * bands)
    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n")
        handle.write(
            png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0))
        )
        data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
        handle.write(png_chunk(b"IDAT", data))
        handle.write(png_chunk(b"IEND", b""))
