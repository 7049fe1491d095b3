"""Kitty graphics for the app: each thumbnail sent once, then drawn as text.

With Unicode placeholders (kitty 0.28+, Ghostty) a picture is TEXT: every cell holds U+10EEEE
plus diacritics for its row and column (and the image id's high byte), in a foreground colour
that carries the id's low 24 bits. Textual lays out, scrolls, crops and diffs these strips like
any other text, tmux passes them on, and the terminal draws the image it was sent under that id.
The image itself goes once per run (``a=t``, chunked, quiet, wrapped for tmux passthrough inside
tmux) with one virtual placement (``a=p,U=1``) saying how many cells it fills; showing the page
again later writes only the text (over SSH the image is most of the bytes).

Older kitty (0.26: no placeholders) gets the same transmission and a direct placement
(``a=p`` at the cursor, ``C=1``), written in the frame where the picture's cells are; the
placement is deleted when the picture changes or goes.

Every escape is written through Textual's driver (its writer thread, in order with the frames),
never straight to stdout, where it could land inside a half-written frame.

Ids: 32-bit, from a random start per run (a picture left by another run of the app in the same
terminal is never shown: each id is transmitted in this run before its first use), one per
thumbnail and size (the image is scaled to the cells it fills, so that kitty is sent no more
pixels than it shows)."""

from __future__ import annotations

import base64
import hashlib
import io
import random
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image as PILImage
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from panoptui.tui.terminal import tmux_wrap

PLACEHOLDER = "\U0010eeee"
CHUNK = 4096  # the protocol's largest chunk of base64
# Images kept in the terminal at once. kitty keeps 320 MB of images by default and then evicts
# the oldest, silently: a page coming back would show empty tiles. 2,000 thumbnails of ~180x120
# pixels (RGBA in the terminal) are ~170 MB.
KEPT = 2000

# Row/column numbers as combining characters, from kitty's rowcolumn-diacritics.txt.
# fmt: off
DIACRITICS = [chr(c) for c in (
    0x00305, 0x0030d, 0x0030e, 0x00310, 0x00312, 0x0033d, 0x0033e, 0x0033f, 0x00346, 0x0034a,
    0x0034b, 0x0034c, 0x00350, 0x00351, 0x00352, 0x00357, 0x0035b, 0x00363, 0x00364, 0x00365,
    0x00366, 0x00367, 0x00368, 0x00369, 0x0036a, 0x0036b, 0x0036c, 0x0036d, 0x0036e, 0x0036f,
    0x00483, 0x00484, 0x00485, 0x00486, 0x00487, 0x00592, 0x00593, 0x00594, 0x00595, 0x00597,
    0x00598, 0x00599, 0x0059c, 0x0059d, 0x0059e, 0x0059f, 0x005a0, 0x005a1, 0x005a8, 0x005a9,
    0x005ab, 0x005ac, 0x005af, 0x005c4, 0x00610, 0x00611, 0x00612, 0x00613, 0x00614, 0x00615,
    0x00616, 0x00617, 0x00657, 0x00658, 0x00659, 0x0065a, 0x0065b, 0x0065d, 0x0065e, 0x006d6,
    0x006d7, 0x006d8, 0x006d9, 0x006da, 0x006db, 0x006dc, 0x006df, 0x006e0, 0x006e1, 0x006e2,
    0x006e4, 0x006e7, 0x006e8, 0x006eb, 0x006ec, 0x00730, 0x00732, 0x00733, 0x00735, 0x00736,
    0x0073a, 0x0073d, 0x0073f, 0x00740, 0x00741, 0x00743, 0x00745, 0x00747, 0x00749, 0x0074a,
    0x007eb, 0x007ec, 0x007ed, 0x007ee, 0x007ef, 0x007f0, 0x007f1, 0x007f3, 0x00816, 0x00817,
    0x00818, 0x00819, 0x0081b, 0x0081c, 0x0081d, 0x0081e, 0x0081f, 0x00820, 0x00821, 0x00822,
    0x00823, 0x00825, 0x00826, 0x00827, 0x00829, 0x0082a, 0x0082b, 0x0082c, 0x0082d, 0x00951,
    0x00953, 0x00954, 0x00f82, 0x00f83, 0x00f86, 0x00f87, 0x0135d, 0x0135e, 0x0135f, 0x017dd,
    0x0193a, 0x01a17, 0x01a75, 0x01a76, 0x01a77, 0x01a78, 0x01a79, 0x01a7a, 0x01a7b, 0x01a7c,
    0x01b6b, 0x01b6d, 0x01b6e, 0x01b6f, 0x01b70, 0x01b71, 0x01b72, 0x01b73, 0x01cd0, 0x01cd1,
    0x01cd2, 0x01cda, 0x01cdb, 0x01ce0, 0x01dc0, 0x01dc1, 0x01dc3, 0x01dc4, 0x01dc5, 0x01dc6,
    0x01dc7, 0x01dc8, 0x01dc9, 0x01dcb, 0x01dcc, 0x01dd1, 0x01dd2, 0x01dd3, 0x01dd4, 0x01dd5,
    0x01dd6, 0x01dd7, 0x01dd8, 0x01dd9, 0x01dda, 0x01ddb, 0x01ddc, 0x01ddd, 0x01dde, 0x01ddf,
    0x01de0, 0x01de1, 0x01de2, 0x01de3, 0x01de4, 0x01de5, 0x01de6, 0x01dfe, 0x020d0, 0x020d1,
    0x020d4, 0x020d5, 0x020d6, 0x020d7, 0x020db, 0x020dc, 0x020e1, 0x020e7, 0x020e9, 0x020f0,
    0x02cef, 0x02cf0, 0x02cf1, 0x02de0, 0x02de1, 0x02de2, 0x02de3, 0x02de4, 0x02de5, 0x02de6,
    0x02de7, 0x02de8, 0x02de9, 0x02dea, 0x02deb, 0x02dec, 0x02ded, 0x02dee, 0x02def, 0x02df0,
    0x02df1, 0x02df2, 0x02df3, 0x02df4, 0x02df5, 0x02df6, 0x02df7, 0x02df8, 0x02df9, 0x02dfa,
    0x02dfb, 0x02dfc, 0x02dfd, 0x02dfe, 0x02dff, 0x0a66f, 0x0a67c, 0x0a67d, 0x0a6f0, 0x0a6f1,
    0x0a8e0, 0x0a8e1, 0x0a8e2, 0x0a8e3, 0x0a8e4, 0x0a8e5, 0x0a8e6, 0x0a8e7, 0x0a8e8, 0x0a8e9,
    0x0a8ea, 0x0a8eb, 0x0a8ec, 0x0a8ed, 0x0a8ee, 0x0a8ef, 0x0a8f0, 0x0a8f1, 0x0aab0, 0x0aab2,
    0x0aab3, 0x0aab7, 0x0aab8, 0x0aabe, 0x0aabf, 0x0aac1, 0x0fe20, 0x0fe21, 0x0fe22, 0x0fe23,
    0x0fe24, 0x0fe25, 0x0fe26, 0x10a0f, 0x10a38, 0x1d185, 0x1d186, 0x1d187, 0x1d188, 0x1d189,
    0x1d1aa, 0x1d1ab, 0x1d1ac, 0x1d1ad, 0x1d242, 0x1d243, 0x1d244
)]
# fmt: on
MAX_CELLS = len(DIACRITICS)  # the largest picture, in rows or columns


def escape(keys: str, payload: str = "") -> str:
    return f"\x1b_G{keys}{';' + payload if payload else ''}\x1b\\"


@dataclass(frozen=True)
class KittyPicture:
    """One thumbnail at one size: its id, the text that shows it (placeholders) or blank cells
    (direct placement), and, when made before the image was first sent, the escapes that send it."""

    image_id: int
    width: int  # the cells the widget gave it
    height: int
    columns: int  # the cells the image itself covers (aspect kept), centred in width x height
    rows: int
    strips: list[Strip]
    transmission: str | None


def fit(size: tuple[int, int], width: int, height: int, cell: tuple[int, int]) -> tuple[int, int]:
    """The columns x rows an image of ``size`` pixels covers inside width x height cells of
    ``cell`` pixels, aspect kept (at least one cell each way)."""
    w, h = size
    scale = min(width * cell[0] / w, height * cell[1] / h)
    columns = min(width, max(1, round(w * scale / cell[0])))
    rows = min(height, max(1, round(h * scale / cell[1])))
    return columns, rows


def placeholder_strips(
    image_id: int, width: int, height: int, columns: int, rows: int
) -> list[Strip]:
    """width x height cells, the image's columns x rows of placeholders centred in them. Every
    cell names its row and column (Textual may redraw a line from any cell, and a bare
    placeholder would continue from whatever cell the terminal saw last)."""
    if not (0 < columns <= MAX_CELLS and 0 < rows <= MAX_CELLS):
        raise ValueError(
            f"a kitty picture is 1 to {MAX_CELLS} cells each way, not {columns}x{rows}"
        )
    style = Style(
        color=Color.from_rgb((image_id >> 16) & 255, (image_id >> 8) & 255, image_id & 255)
    )
    high = DIACRITICS[(image_id >> 24) & 255]
    left, top = (width - columns) // 2, (height - rows) // 2
    right = width - left - columns
    strips = []
    for y in range(height):
        row = y - top
        if not 0 <= row < rows:
            strips.append(Strip([Segment(" " * width)], width))
            continue
        text = "".join(PLACEHOLDER + DIACRITICS[row] + DIACRITICS[c] + high for c in range(columns))
        segments = [Segment(" " * left)] if left else []
        segments.append(Segment(text, style))
        if right:
            segments.append(Segment(" " * right))
        strips.append(Strip(segments, width))
    return strips


def transmission(
    image: PILImage.Image, image_id: int, columns: int, rows: int, *, placeholders: bool, tmux: bool
) -> str:
    """The escapes that send ``image`` (PNG, chunked, quiet: q=2 asks the terminal to answer
    nothing, since Textual reads stdin) and, with placeholders, make its virtual placement."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    data = base64.standard_b64encode(buffer.getvalue()).decode("ascii")
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)] or [""]
    escapes = []
    for n, chunk in enumerate(chunks):
        more = int(n < len(chunks) - 1)
        keys = f"a=t,f=100,i={image_id},q=2,m={more}" if n == 0 else f"q=2,m={more}"
        escapes.append(escape(keys, chunk))
    if placeholders:
        escapes.append(escape(f"a=p,U=1,i={image_id},c={columns},r={rows},q=2"))
    return "".join(tmux_wrap(e) if tmux else e for e in escapes)


class KittyImages:
    """The run's kitty images: one id per thumbnail and size, each sent to the terminal once.

    ``picture`` runs in the threads that load pages; ``show``, ``placement`` and ``delete`` on the
    event loop, which writes what they return (or pass to ``write``) through Textual's driver."""

    def __init__(
        self,
        *,
        placeholders: bool,
        tmux: bool = False,
        cell_pixels: tuple[int, int] = (10, 20),
        first_id: int | None = None,
    ) -> None:
        self.placeholders = placeholders
        self.tmux = tmux
        self.cell_pixels = cell_pixels
        # Random per run; ids stay below 2**32 (the protocol's limit) and never 0.
        self._next = first_id if first_id is not None else random.randrange(1, 1 << 31)
        self._ids: dict[tuple[bytes, int, int], int] = {}
        self._sent: OrderedDict[int, None] = OrderedDict()  # least recently shown first
        self._lock = threading.Lock()

    def _id_for(self, key: tuple[bytes, int, int]) -> tuple[int, bool]:
        with self._lock:
            if key in self._ids:
                image_id = self._ids[key]
                return image_id, image_id in self._sent
            image_id = self._next
            self._next = self._next % 0xFFFFFFFE + 1
            self._ids[key] = image_id
            return image_id, False

    def picture(
        self, image: PILImage.Image, thumbnail: bytes, width: int, height: int
    ) -> KittyPicture:
        """``image`` (the decoded ``thumbnail``) fitted into width x height cells."""
        digest = hashlib.blake2b(thumbnail, digest_size=16).digest()
        image_id, sent = self._id_for((digest, width, height))
        if width < 1 or height < 1:  # no room: nothing to draw, nothing to send
            return KittyPicture(image_id, width, height, 0, 0, [], None)
        # The diacritics number at most MAX_CELLS rows and columns: larger pictures are capped.
        room = (min(width, MAX_CELLS), min(height, MAX_CELLS))
        columns, rows = fit(image.size, *room, self.cell_pixels)
        if self.placeholders:
            strips = placeholder_strips(image_id, width, height, columns, rows)
        else:
            strips = [Strip([Segment(" " * width)], width) for _ in range(height)]
        sending = None
        if not sent:
            pixels = (columns * self.cell_pixels[0], rows * self.cell_pixels[1])
            scaled = image.copy()
            scaled.thumbnail(pixels, PILImage.Resampling.LANCZOS)  # never larger than stored
            sending = transmission(
                scaled, image_id, columns, rows, placeholders=self.placeholders, tmux=self.tmux
            )
        return KittyPicture(image_id, width, height, columns, rows, strips, sending)

    def show(self, picture: KittyPicture, write: Callable[[str], None]) -> None:
        """Send ``picture``'s image unless this run has sent it already. Past ``KEPT`` images,
        the least recently shown is deleted from the terminal (and sent again if it comes
        back), before the terminal's own quota evicts images we still count as sent."""
        with self._lock:
            if picture.image_id in self._sent:
                self._sent.move_to_end(picture.image_id)
                return
            if picture.transmission is None:
                return
            self._sent[picture.image_id] = None
            dropped = [self._sent.popitem(last=False)[0] for _ in range(len(self._sent) - KEPT)]
        if dropped:
            write("".join(self._wrap(escape(f"a=d,d=I,i={i},q=2")) for i in dropped))
        write(picture.transmission)

    def _wrap(self, escape: str) -> str:
        return tmux_wrap(escape) if self.tmux else escape

    def placement(self, picture: KittyPicture, placement_id: int, x: int, y: int) -> str:
        """Direct placement (no placeholders) of ``picture`` whose cells start at screen column
        x, row y: cursor there, place, cursor not moved by the image (C=1)."""
        left, top = (picture.width - picture.columns) // 2, (picture.height - picture.rows) // 2
        keys = (
            f"a=p,i={picture.image_id},p={placement_id},c={picture.columns},"
            f"r={picture.rows},C=1,q=2"
        )
        return f"\x1b[{y + top + 1};{x + left + 1}H" + escape(keys)

    def delete(self, image_id: int, placement_id: int) -> str:
        """Take a direct placement off the screen (the image stays stored for its next use)."""
        return escape(f"a=d,d=i,i={image_id},p={placement_id},q=2")

    @staticmethod
    def delete_all_placements() -> str:
        """Every placement visible on screen off (images stay stored): for a screen change."""
        return escape("a=d,d=a,q=2")
