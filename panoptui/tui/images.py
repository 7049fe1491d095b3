"""How the app draws images: which renderer, and what a picture of a stored thumbnail becomes.

- ``graphics``: the terminal's own image protocol (kitty's, or sixel), through textual-image
  widgets. textual-image probes the terminal when it is imported, which is only possible before
  Textual takes the terminal over: ``prepare()`` runs before ``App.run()``.
- ``halfcell``: coloured half blocks (two pixels a cell), which every colour terminal shows. These
  are drawn here as ready-made strips, built in the thread that loads a page: textual-image's
  half-cell renderable redoes its resize and Rich rendering on the event loop at every refresh,
  which measured 110-175 ms for a 16-image page.
- ``none``: a block of the picture's mean colour (layout and keys unchanged).

Every picture comes from the thumbnail stored at import: the UI never decodes an original."""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image as PILImage
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

PROTOCOLS = ("auto", "kitty", "sixel", "halfcell", "none")


@dataclass(frozen=True)
class Drawing:
    kind: str  # graphics | halfcell | none
    widget: type[Any] | None = None  # the textual-image widget, for graphics

    def picture(self, jpeg: bytes | None, width: int, height: int) -> Any:
        """What a Picture of width x height cells shows for a stored thumbnail (made in a
        worker thread): strips (halfcell), a PIL image (graphics) or an RGB triple (none)."""
        img = open_thumbnail(jpeg) if jpeg else None
        if img is None:
            return None
        if self.kind == "halfcell":
            return halfcell_strips(img, width, height)
        if self.kind == "none":
            r, g, b = (int(v) for v in np.asarray(img.convert("RGB")).reshape(-1, 3).mean(axis=0))
            return (r, g, b)
        return img


def prepare(protocol: str) -> Drawing:
    """The drawing for ``--image-protocol`` (auto: what textual-image detects)."""
    if protocol == "none":
        return Drawing("none")
    if protocol == "halfcell":
        return Drawing("halfcell")
    from textual_image import renderable, widget

    if protocol == "kitty":
        return Drawing("graphics", widget.TGPImage)
    if protocol == "sixel":
        return Drawing("graphics", widget.SixelImage)
    if renderable.Image in (renderable.HalfcellImage, renderable.UnicodeImage):
        return Drawing("halfcell")  # no graphics protocol here
    return Drawing("graphics", widget.Image)


def open_thumbnail(jpeg: bytes) -> PILImage.Image | None:
    try:
        img = PILImage.open(io.BytesIO(jpeg))
        img.load()
        return img
    except (OSError, ValueError):
        return None


@functools.lru_cache(maxsize=1 << 16)
def _colour(r: int, g: int, b: int) -> Color:
    return Color.from_rgb(r, g, b)


@functools.lru_cache(maxsize=1 << 16)
def _style(r: int, g: int, b: int, r2: int, g2: int, b2: int) -> Style:
    # Rich makes colours and styles slowly (~20 us each); thumbnails repeat them a lot.
    return Style(color=_colour(r, g, b), bgcolor=_colour(r2, g2, b2))


def halfcell_strips(img: PILImage.Image, width: int, height: int) -> list[Strip]:
    """The image fitted (aspect kept, centred) into width x height cells of upper half blocks:
    each cell shows two pixels, the top one as the foreground, the bottom one as background."""
    w, h = img.size
    scale = min(width / w, 2 * height / h)
    pw, ph = max(1, round(w * scale)), max(2, round(h * scale))
    ph += ph % 2
    pixels = np.asarray(img.convert("RGB").resize((pw, ph), PILImage.Resampling.BOX))
    left, top = (width - pw) // 2, (height - ph // 2) // 2
    right = width - left - pw
    strips = []
    for row in range(height):
        r = row - top
        if not 0 <= r < ph // 2:
            strips.append(Strip([Segment(" " * width)], width))
            continue
        segments = [Segment(" " * left)] if left else []
        for upper, lower in zip(pixels[2 * r].tolist(), pixels[2 * r + 1].tolist(), strict=True):
            segments.append(Segment("▀", _style(*upper, *lower)))
        if right:
            segments.append(Segment(" " * right))
        strips.append(Strip(segments, width))
    return strips
