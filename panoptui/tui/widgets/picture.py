"""One picture of a stored thumbnail, drawn as the app's Drawing says (images.py)."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.strip import Strip
from textual.widget import Widget

from panoptui.tui.images import Drawing


class Picture(Widget):
    """A stored thumbnail, drawn as the app's Drawing says (see images.py): ready-made half-block
    strips, a textual-image widget, or the picture's mean colour."""

    def __init__(self, drawing: Drawing, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.drawing = drawing
        self.strips: list[Strip] = []
        self._ready: tuple[int, list[Strip]] | None = None  # (width, strips fitted to it)

    def compose(self) -> ComposeResult:
        if self.drawing.widget is not None:  # graphics: textual-image's widget
            yield self.drawing.widget(None, classes="image")

    def set_picture(self, picture: Any) -> None:
        """``picture``: what ``Drawing.picture`` made (None: nothing to show)."""
        if self.drawing.kind == "graphics":
            image: Any = self.query_one(".image")  # textual-image's widget, chosen at run time
            image.image = picture
        elif self.drawing.kind == "none":
            self.styles.background = "rgb({},{},{})".format(*picture) if picture else None
        else:
            self.strips, self._ready = picture or [], None
            self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self._ready is None or self._ready[0] != width:
            style = self.rich_style
            fitted = [s.crop_extend(0, width, None).apply_style(style) for s in self.strips]
            self._ready = (width, fitted)
        lines = self._ready[1]
        return lines[y] if y < len(lines) else Strip.blank(width, self.rich_style)
