"""A synthetic image corpus made by code: visually distinct families in several formats, modes,
sizes and EXIF orientations. For newcomers (no images needed to try panoptui), tests and
benchmarks."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

FAMILIES = ("stripes", "circles", "checker", "gradient", "noise", "triangles")


def family_image(
    family: str, seed: int, size: tuple[int, int] = (320, 240), hue_spread: float = 1.0
) -> Image.Image:
    """One RGB image of a family; images of one family look alike, families look different.

    ``hue_spread``: how far the hues of a family's images wander from the family's own, as a
    fraction of the colour wheel. 1.0 (the default, for tests): spread by the golden ratio over
    the whole wheel, so images of a family never share colours by chance. Small (the demo):
    a family keeps its palette, so that colour-based vectors (pixels) group it too."""
    rng = random.Random(f"{family}-{seed}")
    width, height = size
    if family in FAMILIES:
        wander = (seed * 0.6180339887) % 1.0
        if hue_spread < 1.0:
            wander = (wander - 0.5) * hue_spread
        hue = (FAMILIES.index(family) / len(FAMILIES) + wander) % 1.0
    else:
        hue = rng.random()
    base = tuple(int(255 * c) for c in _hsv(hue, 0.7, 0.9))
    other = tuple(int(255 * c) for c in _hsv((hue + 0.5) % 1, 0.8, 0.4))
    img = Image.new("RGB", size, base)
    draw = ImageDraw.Draw(img)
    if family == "stripes":
        step = rng.randint(8, 24)
        for x in range(0, width + height, step * 2):
            draw.polygon(
                [(x, 0), (x + step, 0), (x + step - height, height), (x - height, height)],
                fill=other,
            )
    elif family == "circles":
        for _ in range(rng.randint(4, 9)):
            r = rng.randint(height // 10, height // 4)
            cx, cy = rng.randint(0, width), rng.randint(0, height)
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=other, outline=(255, 255, 255))
    elif family == "checker":
        step = rng.randint(16, 40)
        for y in range(0, height, step):
            for x in range(0, width, step):
                if (x // step + y // step) % 2:
                    draw.rectangle([x, y, x + step - 1, y + step - 1], fill=other)
    elif family == "gradient":
        ramp = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
        a = np.array(base, np.float32)[None, None, :]
        b = np.array(other, np.float32)[None, None, :]
        arr = np.broadcast_to(a * (1 - ramp) + b * ramp, (height, width, 3))
        img = Image.fromarray(arr.astype(np.uint8))
    elif family == "noise":
        gen = np.random.default_rng(rng.randint(0, 2**31))
        arr = gen.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
        img = Image.fromarray(arr).resize(size, Image.Resampling.NEAREST)
    elif family == "triangles":
        for _ in range(rng.randint(3, 7)):
            points = [(rng.randint(0, width), rng.randint(0, height)) for _ in range(3)]
            draw.polygon(points, fill=other)
    else:
        raise ValueError(f"unknown family {family!r}")
    return img


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


def with_orientation(img: Image.Image, orientation: int) -> tuple[Image.Image, bytes]:
    """The stored pixels and EXIF block of a photo that displays as ``img`` under an EXIF
    orientation tag (what a camera held sideways writes)."""
    inverse = {
        1: None,
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_90,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_270,
    }[orientation]
    stored = img.transpose(inverse) if inverse is not None else img
    exif = Image.Exif()
    exif[0x0112] = orientation
    return stored, exif.tobytes()


FORMATS = [
    ("jpg", "RGB"),
    ("png", "RGB"),
    ("webp", "RGB"),
    ("png", "RGBA"),
    ("gif", "P"),
    ("tif", "RGB"),
    ("bmp", "RGB"),
    ("png", "L"),
]
PILLOW_FORMAT = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF", "tif": "TIFF"}


def sample_paths(folder: str | Path, per_family: int = 8) -> list[Path]:
    """The paths write_samples writes, in order (without writing anything)."""
    root = Path(folder)
    return [
        root / family / f"{family}_{i:03d}.{FORMATS[i % len(FORMATS)][0]}"
        for family in FAMILIES
        for i in range(per_family)
    ]


def write_samples(
    folder: str | Path, per_family: int = 8, hue_spread: float = 1.0, skip_existing: bool = False
) -> list[Path]:
    """Write a varied corpus below ``folder`` (one sub-folder per family) and return the paths.
    ``hue_spread``: see family_image.

    Each image is written to a hidden temporary name and renamed into place, so a sample that
    exists is complete: a killed run leaves no half image, and ``skip_existing`` finishes it."""
    written: list[Path] = []
    for n, path in enumerate(sample_paths(folder, per_family)):
        i = n % per_family
        family = path.parent.name
        written.append(path)
        if skip_existing and path.is_file():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        size = [(320, 240), (240, 320), (640, 480), (200, 200)][i % 4]
        img = family_image(family, i, size, hue_spread)
        ext, mode = FORMATS[i % len(FORMATS)]
        # Hidden: the import skips it, should a kill leave it behind.
        partial = path.with_name(f".{path.name}.partial")
        fmt = PILLOW_FORMAT.get(ext, ext.upper())  # named: the temporary name says nothing
        if ext == "jpg":
            stored, exif = with_orientation(img, [1, 6, 8, 3][(i // len(FORMATS)) % 4])
            stored.save(partial, fmt, quality=90, exif=exif)
        elif mode == "RGBA":
            rgba = img.convert("RGBA")
            rgba.putalpha(200)
            rgba.save(partial, fmt)
        elif mode == "P":
            img.convert("P", palette=Image.Palette.ADAPTIVE).save(partial, fmt)
        else:
            img.convert(mode).save(partial, fmt)
        os.replace(partial, path)
    return written
