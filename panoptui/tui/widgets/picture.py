"""One picture of a stored thumbnail, drawn as the app's Drawing says (images.py)."""

from __future__ import annotations

import itertools
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from panoptui.tui.images import Drawing
from panoptui.tui.kitty import KittyPicture
from panoptui.tui.sixel import SixelPicture, placed

_placement_ids = itertools.count(1)  # kitty placement ids: one per Picture widget
_NO_STYLE = Style()


class Picture(Widget):
    """A stored thumbnail, drawn as the app's Drawing says (see images.py): ready-made strips
    (half blocks, or kitty placeholders), blank cells under a sixel image or a kitty picture
    placed directly (each written with the frame that draws the cells), or the picture's mean
    colour."""

    def __init__(self, drawing: Drawing, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.drawing = drawing
        self.strips: list[Strip] = []
        self._ready: tuple[int, list[Strip]] | None = None  # (width, strips fitted to it)
        self.kitty: KittyPicture | None = None  # what kitty shows here now
        self.sixel: SixelPicture | None = None  # the sixel image drawn here now
        self._placement_id = next(_placement_ids)

    def write_to_terminal(self, escapes: str) -> None:
        """Escapes for the terminal, written in order with Textual's frames: through its driver
        (its writer thread), never straight to stdout, where they could split a frame. Nothing
        is written where there is no terminal (headless tests)."""
        driver = self.app._driver  # Textual has no public way to write to the terminal
        if escapes and driver is not None and not self.app.is_headless:
            driver.write(escapes)

    def set_picture(self, picture: Any) -> None:
        """``picture``: what ``Drawing.picture`` made (None: nothing to show)."""
        if self.drawing.kind == "none":
            self.styles.background = "rgb({},{},{})".format(*picture) if picture else None
            return
        if self.drawing.kitty is not None:
            self._take_down()
            self.kitty = picture
            if picture is not None:
                self.drawing.kitty.show(picture, self.write_to_terminal)
            picture = picture.strips if picture is not None else None
        elif self.drawing.kind == "sixel":
            self.sixel = picture
            picture = picture.strips if picture is not None else None
        self.strips, self._ready = picture or [], None
        self.refresh()

    def _take_down(self) -> None:
        """A picture placed directly stays on the screen until deleted: delete it before
        another takes its place (no stale image under a new label)."""
        if self.drawing.kind == "kitty-direct" and self.kitty is not None:
            assert self.drawing.kitty is not None
            self.write_to_terminal(
                self.drawing.kitty.delete(self.kitty.image_id, self._placement_id)
            )

    def on_mount(self) -> None:
        if self.drawing.kind == "kitty-direct":
            self.app.screen_change_signal.subscribe(self, self._screen_changed)

    def _screen_changed(self, screen: Any) -> None:
        """A picture placed directly is drawn over whatever comes on top (a dialog, another
        screen): take it down; the frame that draws this screen again places it again."""
        if screen is not self.screen:
            self._take_down()
            self.refresh()  # the next frame of this screen carries the placement again

    def on_unmount(self) -> None:
        self._take_down()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self._ready is None or self._ready[0] != width:
            style = self.rich_style
            fitted = [s.crop_extend(0, width, None).apply_style(style) for s in self.strips]
            self._ready = (width, fitted)
        lines = self._ready[1]
        line = lines[y] if y < len(lines) else Strip.blank(width, self.rich_style)
        if y == 0 and self.drawing.kind == "kitty-direct" and self.kitty is not None:
            line = self._with_placement(line)
        if y == self.size.height - 1 and self.sixel is not None and self.sixel.data:
            line = self._with_sixel(line)
        return line

    def _with_sixel(self, line: Strip) -> Strip:
        """The last line, followed by the sixel image: drawn after every blank cell under it
        (text written later would wipe it), then the cursor back where the line ended, where
        Textual goes on writing."""
        assert self.sixel is not None
        region = self.content_region
        back = f"\x1b[{region.bottom};{region.right + 1}H"
        control = Segment(placed(self.sixel, region.x, region.y) + back, _NO_STYLE, control=[])
        return Strip([*line, control], line.cell_length)

    def _with_placement(self, line: Strip) -> Strip:
        """The first line, carrying the escape that places the picture over the blank cells
        (written with the frame that draws them, so both appear together). The escape moves the
        cursor; Textual positions it again before the next line it writes."""
        assert self.drawing.kitty is not None and self.kitty is not None
        region = self.content_region
        place = self.drawing.kitty.placement(self.kitty, self._placement_id, region.x, region.y)
        back = f"\x1b[{region.y + 1};{region.x + 1}H"
        control = Segment(place + back, _NO_STYLE, control=[])
        return Strip([control, *line], line.cell_length)
