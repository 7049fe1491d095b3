"""Bytes written to the terminal for a page flip with kitty graphics, against a baseline measured
in the same run.

    python benchmarks/graphics_bench.py [--tiles 16] [--size 18x6]

A page of photo-like thumbnails (256x192 JPEG, the import's thumbnail size, stored quality),
each drawn in a tile of the given cells (10x20-pixel cells):
- ours (panoptui/tui/kitty.py, Unicode placeholders): the first time a page is shown, each
  thumbnail is sent (scaled to its cells, PNG, base64, chunked) with a virtual placement, plus
  the placeholder text; when the page comes back, only the text (the ids are reused);
- baseline: textual-image's TGP renderable (what the app used before), which sends the image
  again each time a picture is set (a new renderable per page), plus its text;
- for reference: the same page in half blocks (no image protocol; sent each time).
Over SSH the bytes are the time: at 1 MB/s, 1 MB is a second per page.
"""

from __future__ import annotations

import argparse
import io
import sys

import numpy as np
from PIL import Image
from rich.console import Console

from panoptui.tui.images import halfcell_strips
from panoptui.tui.kitty import KittyImages

CELL = (10, 20)  # pixels per cell, a common terminal font size


def thumbnails(count: int) -> list[bytes]:
    """Photo-like 256x192 JPEGs (smooth shapes plus grain, as a camera's), distinct."""
    out = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        small = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
        base = np.asarray(Image.fromarray(small).resize((256, 192), Image.Resampling.BICUBIC))
        grain = rng.normal(0, 10, (192, 256, 1))
        pixels = np.clip(base + grain, 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
        out.append(buffer.getvalue())
    return out


def _console() -> Console:
    return Console(file=io.StringIO(), color_system="truecolor", force_terminal=True, width=400)


def _strip_bytes(strips: list, console: Console) -> int:
    return sum(len(s.render(console).encode()) for s in strips)


def _ours(jpegs: list[bytes], size: tuple[int, int]) -> tuple[int, int]:
    """(first flip, return flip) bytes with kitty placeholders and ids reused."""
    images = KittyImages(placeholders=True, cell_pixels=CELL)
    console = _console()
    flips = []
    for _ in range(2):
        written: list[str] = []
        text = 0
        for jpeg in jpegs:
            picture = images.picture(Image.open(io.BytesIO(jpeg)), jpeg, *size)
            images.show(picture, written.append)
            text += _strip_bytes(picture.strips, console)
        flips.append(sum(len(w.encode()) for w in written) + text)
    return flips[0], flips[1]


def _textual_image_tgp(jpegs: list[bytes], size: tuple[int, int]) -> tuple[int, int]:
    """(first flip, return flip) bytes with textual-image's TGP renderable, as the app used it:
    a new renderable each time a page sets its pictures. It writes its escapes straight to
    sys.__stdout__, which is swapped for a buffer here; its terminal probe is given the answers
    a kitty terminal would give (no terminal is asked)."""
    from textual_image import _terminal
    from textual_image.renderable import tgp

    setattr(  # noqa: B010 -- textual-image caches its probe here
        _terminal.probe_terminal,
        "_result",
        _terminal.TerminalCapabilities(_terminal.CellSize(*CELL), sixel=False, tgp=True),
    )
    flips = []
    for _ in range(2):
        escapes = io.StringIO()
        saved, sys.__stdout__ = sys.__stdout__, escapes  # type: ignore[assignment,misc]
        try:
            console = Console(
                file=io.StringIO(), color_system="truecolor", force_terminal=True,
                width=size[0], height=size[1],
            )  # fmt: skip
            for jpeg in jpegs:
                image = tgp.Image(Image.open(io.BytesIO(jpeg)), width=size[0], height=size[1])
                console.print(image)
            text = console.file.getvalue()  # type: ignore[attr-defined]
        finally:
            sys.__stdout__ = saved  # type: ignore[misc]
        flips.append(len(escapes.getvalue().encode()) + len(text.encode()))
    return flips[0], flips[1]


def _halfcell(jpegs: list[bytes], size: tuple[int, int]) -> int:
    console = _console()
    return sum(
        _strip_bytes(halfcell_strips(Image.open(io.BytesIO(j)), *size), console) for j in jpegs
    )


def page_flip_bytes(tiles: int = 16, size: tuple[int, int] = (18, 6)) -> dict[str, float]:
    """Bytes written for one page flip of ``tiles`` thumbnails of ``size`` cells: ours and the
    baseline's, the first time and when the page comes back, and their ratios."""
    jpegs = thumbnails(tiles)
    first, again = _ours(jpegs, size)
    base_first, base_again = _textual_image_tgp(jpegs, size)
    return {
        "tiles": tiles,
        "first_bytes": first,
        "return_bytes": again,
        "baseline_first_bytes": base_first,
        "baseline_return_bytes": base_again,
        "halfcell_bytes": _halfcell(jpegs, size),
        "first_ratio": base_first / first,
        "return_ratio": base_again / again,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiles", type=int, default=16)
    parser.add_argument("--size", default="18x6", help="cells per picture, WxH")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    r = page_flip_bytes(args.tiles, (width, height))
    print(f"page flip, {r['tiles']} thumbnails of {width}x{height} cells, kitty graphics:")
    print(
        f"  first time:   {r['first_bytes'] / 1024:8.1f} KiB"
        f"  (textual-image TGP {r['baseline_first_bytes'] / 1024:8.1f} KiB,"
        f" ratio {r['first_ratio']:.2f})"
    )
    print(
        f"  page again:   {r['return_bytes'] / 1024:8.1f} KiB"
        f"  (textual-image TGP {r['baseline_return_bytes'] / 1024:8.1f} KiB,"
        f" ratio {r['return_ratio']:.1f})"
    )
    print(f"  half blocks, for reference: {r['halfcell_bytes'] / 1024:.1f} KiB each time")


if __name__ == "__main__":
    main()
