"""One picture of a stored thumbnail, drawn as the app's Drawing says (images.py)."""

from __future__ import annotations

import itertools
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.app import ScreenStackError
from textual.dom import NoScreen
from textual.errors import NoWidget
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
    colour. Escapes go out only while the picture's screen is on top and the picture is whole
    and the size it was made for: beneath a dialog, the palette or help, its cells are blank."""

    def __init__(self, drawing: Drawing, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.drawing = drawing
        self.strips: list[Strip] = []
        self._ready: tuple[int, list[Strip]] | None = None  # (width, strips fitted to it)
        self.kitty: KittyPicture | None = None  # what kitty shows here now
        self.sixel: SixelPicture | None = None  # the sixel image drawn here now
        self._placement_id = next(_placement_ids)
        self._replaced: set[int] = set()  # image ids whose placement here is not deleted yet

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
            if self.drawing.kind == "kitty-direct" and self.kitty is not None:
                # The old placement goes right after the frame that places the new one and
                # writes its label (the frame is one synchronized update), so the tile never
                # shows empty under its old label.
                self._replaced.add(self.kitty.image_id)
                self.call_after_refresh(self._delete_replaced)
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
        """A picture placed directly stays on the screen until deleted: delete it (and any
        replaced one not deleted yet) when it must not show."""
        if self.drawing.kind == "kitty-direct" and self.kitty is not None:
            self._replaced.add(self.kitty.image_id)
        self._delete_replaced(keep_current=False)

    def _delete_replaced(self, keep_current: bool = True) -> None:
        """Delete the placements of replaced pictures; not the current one's (the same
        thumbnail shown again: its placement was just made again under the same ids)."""
        current = self.kitty.image_id if keep_current and self.kitty is not None else None
        gone = [i for i in self._replaced if i != current]
        if gone and self.drawing.kitty is not None:
            delete = self.drawing.kitty.delete
            self.write_to_terminal("".join(delete(i, self._placement_id) for i in gone))
        self._replaced.difference_update(gone)

    def on_mount(self) -> None:
        if self.drawing.kind in ("kitty-direct", "sixel"):
            self.app.screen_change_signal.subscribe(self, self._screen_changed)

    def _screen_changed(self, screen: Any) -> None:
        """Another screen on top (a dialog, the palette, help, another screen): a picture
        placed directly would be drawn over it, so take it down; and draw this screen's lines
        again, without escapes while it is beneath (see ``_escapes_allowed``). Back on top,
        the next frame of this screen carries the picture again."""
        if screen is not self.screen:
            self._take_down()
        self.refresh()

    def on_hide(self, event: events.Hide) -> None:
        """Hidden (the detail pane closed: its display off): a picture placed directly stays on
        the screen until deleted, over whatever takes its cells."""
        self._take_down()

    def on_show(self, event: events.Show) -> None:
        self.refresh()  # the next frame places the picture again

    def on_unmount(self) -> None:
        self._take_down()

    def on_resize(self, event: events.Resize) -> None:
        """Resized (the detail pane opened or closed, another tile size): the picture made for
        the old size would spill over its neighbours' cells, where no text rewrites it; it is
        taken down, and drawn again when the picture for the new size comes."""
        if not self._fits(self.kitty):
            self._take_down()

    def _fits(self, picture: KittyPicture | SixelPicture | None) -> bool:
        """``picture`` is there to draw, made for this widget's size."""
        if picture is None or (isinstance(picture, SixelPicture) and not picture.data):
            return False
        return (picture.width, picture.height) == (self.size.width, self.size.height)

    def _escapes_allowed(self) -> bool:
        """Escapes go out only in a frame of the top screen, with the whole picture visible.
        Beneath a dialog, Textual draws this screen as the dialog's dimmed background, as text:
        an escape loses its ESC and shows as raw sixel data or a kitty command cut short, and a
        picture placed directly would cover the dialog. A picture partly clipped
        (a pane scrolled) would have its line cropped, which cuts an escape anywhere."""
        try:
            if self.screen is not self.app.screen:
                return False
            geometry = self.screen.find_widget(self)
        except (NoScreen, NoWidget, ScreenStackError):
            return False
        return geometry.clip.contains_region(geometry.region)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self._ready is None or self._ready[0] != width:
            style = self.rich_style
            fitted = [s.crop_extend(0, width, None).apply_style(style) for s in self.strips]
            self._ready = (width, fitted)
        lines = self._ready[1]
        line = lines[y] if y < len(lines) else Strip.blank(width, self.rich_style)
        placing = y == 0 and self.drawing.kind == "kitty-direct" and self._fits(self.kitty)
        drawing = y == self.size.height - 1 and self._fits(self.sixel)
        if not (placing or drawing) or not self._escapes_allowed():
            return line
        return self._with_placement(line) if placing else self._with_sixel(line)

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
