"""Peak memory of reading one big image at import, against a plain Pillow read in the same run.

A 657 KB 13000x13000 RGBA PNG under the pixel limit once took 4 GB in one import worker. The
import now decodes the first frame once and shrinks it in strips before anything else touches
it. This prints the memory each way adds to a fresh process (ru_maxrss after the read minus
before it), for a few shapes and modes:

    .venv/bin/python benchmarks/decode_memory_bench.py [SIDE]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

# What a plain import would do with Pillow: decode, convert to RGB over white, orient, thumbnail.
PLAIN = """
import resource, sys
from PIL import Image, ImageOps
Image.MAX_IMAGE_PIXELS = None
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
img = Image.open(sys.argv[1])
img.load()
img = ImageOps.exif_transpose(img)
rgba = img.convert("RGBA")
rgb = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
rgb = rgb.convert("RGB")
rgb.thumbnail((256, 256))
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""

PANOPTUI = """
import resource, sys
from panoptui.core.read_worker import read_image_file
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = read_image_file(sys.argv[1], 10**9, 256)
assert result.error is None, result.error
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


def png(path: Path, width: int, height: int, colour_type: int, bands: int) -> None:
    """A PNG of zeros (a few hundred KB on disk, width*height*bands bytes decoded)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, colour_type, 0, 0, 0])
    raw = zlib.compressobj(9)
    row = b"\x00" * (1 + width * bands)
    data = b"".join(raw.compress(row) for _ in range(height)) + raw.flush()
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def added(script: str, path: Path) -> int:
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


def main() -> None:
    side = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    cases = [
        ("RGBA", side, side, 6, 4),
        ("RGB", side, side, 2, 3),
        ("grey", side, side, 0, 1),
        ("RGBA strip", side * 4, side // 4, 6, 4),
    ]
    print(f"{'image':<24} {'on disk':>8} {'decoded':>8} {'Pillow':>8} {'panoptui':>9} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as folder:
        for name, width, height, colour_type, bands in cases:
            path = Path(folder) / f"{name.replace(' ', '_')}.png"
            png(path, width, height, colour_type, bands)
            plain, ours = added(PLAIN, path), added(PANOPTUI, path)
            print(
                f"{name + f' {width}x{height}':<24} {path.stat().st_size / 2**20:7.1f}M "
                f"{width * height * bands / 2**20:7.0f}M {plain / 2**20:7.0f}M "
                f"{ours / 2**20:8.0f}M {plain / max(ours, 1):5.1f}x"
            )


if __name__ == "__main__":
    main()
