"""How the app draws images: which renderer, and what a picture of a stored thumbnail becomes.

- ``kitty``: kitty graphics with Unicode placeholders (kitty.py): each thumbnail sent once per
  run, then drawn as text strips, which survive tmux.
- ``kitty-direct``: kitty graphics placed directly (kitty.py), for kitty before 0.28.
- ``sixel``: sixel images (sixel.py), encoded in the thread that loads the page.
- ``halfcell``: coloured half blocks (two pixels a cell), which every colour terminal shows. These
  are drawn here as ready-made strips, built in the thread that loads a page: textual-image's
  half-cell renderable redoes its resize and Rich rendering on the event loop at every refresh,
  which measured 110-175 ms for a 16-image page.
- ``none``: a block of the picture's mean colour (layout and keys unchanged).

Which one: terminal.py asks the terminal and decides, before Textual takes the terminal over
(``prepare()`` runs before ``App.run()``). Every picture comes from the thumbnail stored at
import: the UI never decodes an original."""

from __future__ import annotations

import functools
import io
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image as PILImage
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from panoptui.tui import terminal
from panoptui.tui.kitty import KittyImages
from panoptui.tui.sixel import sixel_picture

PROTOCOLS = ("auto", "kitty", "sixel", "halfcell", "none")


@dataclass(frozen=True)
class Drawing:
    kind: str  # kitty | kitty-direct | sixel | halfcell | none
    kitty: KittyImages | None = None  # the run's kitty images, for kitty and kitty-direct
    cell_pixels: tuple[int, int] = (10, 20)  # a cell's size in pixels, for sixel
    note: str | None = None  # one line: why the protocol asked for was not used
    reason: str = ""  # why this drawing was chosen

    def picture(self, jpeg: bytes | None, width: int, height: int) -> Any:
        """What a Picture of width x height cells shows for a stored thumbnail (made in a
        worker thread): strips (halfcell), a KittyPicture, a SixelPicture or an RGB triple
        (none)."""
        img = open_thumbnail(jpeg) if jpeg else None
        if img is None:
            return None
        if self.kind == "halfcell":
            return halfcell_strips(img, width, height)
        if self.kitty is not None and jpeg:
            return self.kitty.picture(img, jpeg, width, height)
        if self.kind == "sixel":
            return sixel_picture(img, width, height, self.cell_pixels)
        r, g, b = (int(v) for v in np.asarray(img.convert("RGB")).reshape(-1, 3).mean(axis=0))
        return (r, g, b)  # none


def prepare(protocol: str, answers: terminal.Answers | None = None) -> Drawing:
    """The drawing for ``--image-protocol``: auto asks the terminal (terminal.py); kitty or
    sixel where they cannot work fall back to auto's choice with a one-line ``note``.
    ``answers``: recorded ones (tests); None asks this process's terminal."""
    if protocol == "none":
        return Drawing("none")
    if protocol == "halfcell":
        return Drawing("halfcell")
    decision, note = terminal.decide(answers or terminal.ask(), protocol)
    return drawing_for(decision, note)


def drawing_for(decision: terminal.Decision, note: str | None = None) -> Drawing:
    if decision.protocol in ("kitty", "kitty-direct"):
        placeholders = decision.protocol == "kitty"
        if placeholders:
            # The placeholder's colour carries the image id, so it must reach the terminal as
            # 24-bit colour. Rich picks its colours from COLORTERM when Textual makes its console
            # (after this), and SSH does not forward COLORTERM; every terminal with kitty
            # graphics draws 24-bit colour.
            os.environ.setdefault("COLORTERM", "truecolor")
        images = KittyImages(
            placeholders=placeholders, tmux=decision.tmux, cell_pixels=decision.cell_pixels
        )
        return Drawing(decision.protocol, kitty=images, note=note, reason=decision.reason)
    if decision.protocol == "sixel":
        return Drawing("sixel", cell_pixels=decision.cell_pixels, note=note, reason=decision.reason)
    return Drawing("halfcell", note=note, reason=decision.reason)


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
