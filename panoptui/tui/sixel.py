"""Sixel pictures made whole in the thread that loads a page, drawn in the frame that draws
their cells.

A sixel image is pixels the terminal paints over cells. The app's page-loading thread encodes
it (~8 ms for a 180x120 thumbnail, off the event loop); the Picture widget writes it at the end
of its last line, after the blank cells under it, in the same frame as the labels around it
(synchronized output, where the terminal has it, makes that frame appear at once). A new page
writes blank cells and then the new image over the old one, so no old picture stays under a
new label. Inside tmux, only a tmux that draws sixel itself is given sixel (terminal.py), and
it takes the escape as it is."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image as PILImage
from PIL import ImageOps
from rich.segment import Segment
from textual.strip import Strip

from panoptui.tui.kitty import fit


@dataclass(frozen=True)
class SixelPicture:
    width: int  # the cells the widget gave it
    height: int
    columns: int  # the cells the image covers, centred in width x height
    rows: int
    data: str  # the sixel escape (DCS q ... ST)
    strips: list[Strip]  # blank cells, drawn under it


def sixel_picture(
    image: PILImage.Image, width: int, height: int, cell: tuple[int, int]
) -> SixelPicture:
    from textual_image._sixel import image_to_sixels  # the encoder textual-image ships

    blank = [Strip([Segment(" " * width)], width) for _ in range(max(0, height))]
    if width < 1 or height < 1:
        return SixelPicture(width, height, 0, 0, "", blank)
    columns, rows = fit(image.size, width, height, cell)
    # Never taller than its rows: a sixel image that reaches past them paints over the label.
    scaled = ImageOps.contain(image.convert("RGB"), (columns * cell[0], rows * cell[1]))
    return SixelPicture(width, height, columns, rows, image_to_sixels(scaled), blank)


def placed(picture: SixelPicture, x: int, y: int) -> str:
    """The escape that draws ``picture`` whose cells start at screen column x, row y (0-based):
    the cursor to the image's top-left cell, then the image."""
    if not picture.data:
        return ""
    left, top = (picture.width - picture.columns) // 2, (picture.height - picture.rows) // 2
    return f"\x1b[{y + top + 1};{x + left + 1}H" + picture.data
