"""Rows of pictures: each a text beside a strip of thumbnails, as many as the width holds, in a
list whose highlight up and down move (the clusters of a clustering, the groups of a
grouping)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from panoptui.tui.widgets.picture import Picture

# A row: its text, then thumbnails of THUMB_SIZE cells (and a gap), at most MAX_STRIP.
TEXT_WIDTH = 30
THUMB_SIZE = (12, 5)
MAX_STRIP = 12


class StripRow(Widget):
    """A row: ``describe()`` beside a strip of pictures (of ``images`` at most), which the
    screen mounts as the width asks (``show_strip``) and fills when they are made."""

    DEFAULT_CSS = """
    StripRow { height: 5; layout: horizontal; margin-bottom: 1; }
    StripRow .row-text { width: 30; height: 5; padding: 0 1; }
    StripRow.-highlight .row-text { background: $accent 40%; text-style: bold; }
    StripRow .row-strip { width: 1fr; height: 5; }
    StripRow Picture { width: 12; height: 5; margin-right: 1; }
    """

    def __init__(self, images: int, drawing: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.images = images
        self.drawing = drawing

    def compose(self) -> ComposeResult:
        yield Static(self.describe(), classes="row-text")
        yield Horizontal(classes="row-strip")

    def describe(self) -> Content:
        raise NotImplementedError

    def redescribe(self) -> None:
        """Say it again (a cluster renamed)."""
        self.query_one(".row-text", Static).update(self.describe())

    def show_strip(self, length: int) -> None:
        """Show ``length`` pictures (no more than the row's images), mounting any missing:
        only the pictures the width holds are made (measured: 200 clusters with 12 pictures
        each mounted took 5 s to open)."""
        shown = min(length, self.images)
        strip = self.query_one(".row-strip", Horizontal)
        have = list(strip.query(Picture))
        if len(have) < shown:
            strip.mount_all(Picture(self.drawing) for _ in range(shown - len(have)))
        for n, picture in enumerate(have):
            picture.display = n < shown

    def set_pictures(self, pictures: list[Any]) -> None:
        for widget, picture in zip(self.query(Picture), pictures, strict=False):
            widget.set_picture(picture)

    def on_click(self, event: events.Click) -> None:
        rows = self.parent
        if isinstance(rows, StripList):
            rows.highlighted = rows.rows.index(self)


class StripList(VerticalScroll, can_focus=True):
    """The rows; up and down move the highlight."""

    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("home", "move(-1000000)", "First", show=False),
        Binding("end", "move(1000000)", "Last", show=False),
        Binding("pageup", "move(-4)", "Page up", show=False),
        Binding("pagedown", "move(4)", "Page down", show=False),
    ]

    highlighted: reactive[int | None] = reactive(None)

    @property
    def rows(self) -> Sequence[StripRow]:
        return list(self.query(StripRow))

    def action_move(self, step: int) -> None:
        rows = self.rows
        if rows:
            now = self.highlighted if self.highlighted is not None else 0
            self.highlighted = max(0, min(len(rows) - 1, now + step))

    def watch_highlighted(self, old: int | None, index: int | None) -> None:
        rows = self.rows
        if old is not None and old < len(rows):
            rows[old].remove_class("-highlight")
        if index is not None and index < len(rows):
            rows[index].add_class("-highlight")
            self.scroll_to_widget(rows[index], animate=False)

    def strip_length(self) -> int:
        """How many thumbnails a row's width holds (each 12 cells and a gap), at least one."""
        width = self.scrollable_content_region.width or self.app.size.width
        return max(1, min(MAX_STRIP, (width - TEXT_WIDTH) // (THUMB_SIZE[0] + 1)))
