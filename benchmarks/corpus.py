"""Generated corpora of real-size photos for the benchmarks (no downloads)."""

from __future__ import annotations

import io
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

N_BASE_PHOTOS = 16


def base_photo(seed: int, width: int, height: int) -> bytes:
    """A photo-like JPEG: smooth colour fields plus sensor grain (~3-5 MB at 12 MP)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 100 + 2, width // 100 + 2, 3), dtype=np.uint8)
    base = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
    grain = rng.normal(0, 10, (height, width, 1)).astype(np.int16)
    pixels = np.clip(np.asarray(base, np.int16) + grain, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def with_comment(jpeg: bytes, text: str) -> bytes:
    """The same JPEG with a comment segment after SOI: distinct bytes (a distinct image to the
    import), identical decode cost."""
    payload = text.encode()
    segment = b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:2] + segment + jpeg[2:]


def write_photos(folder: Path, count: int, size: tuple[int, int], prefix: str = "IMG") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    n = N_BASE_PHOTOS
    with ProcessPoolExecutor() as pool:
        bases = list(pool.map(base_photo, range(n), [size[0]] * n, [size[1]] * n))
    for i in range(count):
        data = with_comment(bases[i % n], f"panoptui bench {i}")
        (folder / f"{prefix}_{i:05d}.jpg").write_bytes(data)
