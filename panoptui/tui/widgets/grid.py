"""A page of thumbnails in a grid, a page of rows in a list, and the detail pane. They show what
they are given; the Results screen decides which page, and loads it."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol, cast

import duckdb
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.geometry import Size
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Label, Static

from panoptui.core import browse
from panoptui.core.browse import ImageDetails
from panoptui.core.metadata import describe
from panoptui.core.text import size_text
from panoptui.tui.images import Drawing
from panoptui.tui.literal import lines, marked, plain, text
from panoptui.tui.sources import Item
from panoptui.tui.widgets.picture import Picture

# Each tile size (core/settings.py names them) as one grid cell in terminal cells, border
# included, and so its picture: inside the border, above the caption. A half-block picture of
# w x h cells holds w x 2h pixels, so the heights keep a 4:3 thumbnail about as wide as its
# picture. At 80x24 (the grid gets 80x21 there) "tiny" shows 8 x 3 = 24 tiles, "small" 6 x 3,
# "medium" (the size every earlier version had) 4 x 2; "giant" fills a 240x60 terminal with
# 4 x 2 pictures.
TILE_CELLS: dict[str, tuple[int, int]] = {
    "tiny": (10, 7),
    "small": (13, 7),
    "medium": (19, 9),
    "large": (28, 13),
    "huge": (40, 18),
    "giant": (60, 26),
}
DEFAULT_TILE = "medium"


def picture_size(tile: str) -> tuple[int, int]:
    """The picture inside a tile of this size, in cells (without the border and caption)."""
    width, height = TILE_CELLS[tile]
    return width - 2, height - 3


def caption(item: Item, selected: bool) -> str:
    mark = "✓ " if selected else ""
    name = item.path.rsplit("/", 1)[-1] if item.path else f"#{item.image_id}"
    score = f"{item.score:.3f} " if item.score is not None else ""
    return f"{mark}{score}{name}"


class Cell(Vertical):
    class Clicked(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, index: int, drawing: Drawing) -> None:
        super().__init__(classes="cell")
        self.index = index
        self.drawing = drawing

    def compose(self) -> ComposeResult:
        yield Picture(self.drawing, classes="picture")
        yield Label("", classes="caption")

    def show(self, item: Item | None, picture: Any, cursor: bool, selected: bool) -> None:
        self.display = item is not None
        if item is None:
            return
        self.query_one(Picture).set_picture(picture)
        self.query_one(Label).update(plain(caption(item, selected)), layout=False)
        self.set_class(cursor, "cursor")
        self.set_class(selected, "selected")

    def on_click(self, event: events.Click) -> None:
        self.post_message(self.Clicked(self.index))


class ThumbGrid(Widget, can_focus=True):
    """As many cells of the tile size as fit; the screen asks ``capacity`` and hands over pages
    (pictures made at ``picture_size(grid.tile)``)."""

    class Resized(Message):
        """The grid's capacity or its tile size changed: the page must be loaded again."""

    def __init__(self, drawing: Drawing, tile: str = DEFAULT_TILE, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.drawing = drawing
        self.tile = tile
        self.columns = 1
        self.rows = 1
        self.laid_out: tuple[str, int, int] | None = None  # the tile, columns and rows shown

    @property
    def capacity(self) -> int:
        return self.columns * self.rows

    @property
    def sized(self) -> bool:
        """Whether the grid knows its size (its cells are made once it does)."""
        return self.laid_out is not None

    def on_resize(self, event: events.Resize) -> None:
        self._lay_out(event.size)

    def on_show(self, event: events.Show) -> None:
        # Once it shows, its size is known whatever the Resize events said: a grid without
        # cells would never ask for a page.
        self._lay_out(self.size)

    def set_tile(self, tile: str) -> None:
        """Show tiles of another size (the screen then loads a page that fills them; a hidden
        grid, under the list view, lays them out when it shows again)."""
        self.tile = tile
        self._lay_out(self.size)

    def _lay_out(self, size: Size) -> None:
        if not size.width or not size.height:
            return  # not laid out yet (or hidden): its next Resize comes
        width, height = TILE_CELLS[self.tile]
        columns = max(1, size.width // width)
        rows = max(1, size.height // height)
        if (self.tile, columns, rows) == self.laid_out:
            return
        self.laid_out = (self.tile, columns, rows)
        self.columns, self.rows = columns, rows
        self.styles.grid_size_columns = columns
        self.remove_children()
        cells = [Cell(n, self.drawing) for n in range(self.capacity)]
        for cell in cells:  # the stylesheet's .cell gives the look; the size is the setting's
            cell.styles.width, cell.styles.height = width, height
        self.mount_all(cells)
        self.post_message(self.Resized())

    def show_page(
        self, items: list[Item], pictures: dict[int, Any], cursor: int, selected: set[int]
    ) -> None:
        for cell in self.query(Cell):
            item = items[cell.index] if cell.index < len(items) else None
            picture = pictures.get(item.image_id) if item else None
            cell.show(item, picture, cell.index == cursor, bool(item and item.image_id in selected))

    def move_cursor(self, old: int, new: int) -> None:
        for cell in self.query(Cell):
            if cell.index in (old, new):
                cell.set_class(cell.index == new, "cursor")


class ResultList(DataTable):
    """The same page as rows: rank, score, image id, file name and folder (the name first: it
    stays in view on a narrow terminal). Moving past the page's rows, and paging, are the
    Results screen's: the table holds one page only."""

    BINDINGS = [
        Binding("up", "screen.move(0, -1)", show=False),
        Binding("down", "screen.move(0, 1)", show=False),
        Binding("pagedown", "screen.page(1)", show=False),
        Binding("pageup", "screen.page(-1)", show=False),
        Binding("home", "screen.edge(0)", show=False),
        Binding("end", "screen.edge(1)", show=False),
    ]

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns(" ", "#", "score", "id", "name", "folder")

    def show_page(self, items: list[Item], offset: int, cursor: int, selected: set[int]) -> None:
        self.clear()
        for n, item in enumerate(items):
            name, folder = item.path.rsplit("/", 1)[::-1] if "/" in item.path else (item.path, "")
            self.add_row(
                "✓" if item.image_id in selected else " ",
                str(offset + n + 1),
                f"{item.score:.3f}" if item.score is not None else "",
                str(item.image_id),
                text(name),
                text(folder),
            )
        if items:
            self.move_cursor(row=min(cursor, len(items) - 1))

    @property
    def capacity(self) -> int:
        return max(1, self.size.height - 1)


class CursorSource(Protocol):
    """What the pane needs of the App (widgets do not import it: see pyproject's contracts)."""

    def using_cursor(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]: ...


class DetailPane(VerticalScroll):
    """The image under the cursor: a larger preview, its size and format, the metadata read from
    the file (date taken, camera, exposure, GPS, title...), every path, its tags."""

    def __init__(self, drawing: Drawing, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.drawing = drawing
        self.requests = 0

    def compose(self) -> ComposeResult:
        yield Picture(self.drawing, classes="preview")
        yield Static("", classes="meta")

    def request(self, image_id: int | None, jpeg: bytes | None, score: float | None) -> None:
        """Show an image: its details and preview are read and made in a worker thread (the
        stored thumbnail is looked up there too when ``jpeg`` is None)."""
        self.requests += 1
        if image_id is None:
            self.show(None, None, None)
            return
        size = self.preview_size()
        preview = self.query_one(Picture)
        if preview.styles.height is None or preview.styles.height.value != size[1]:
            preview.styles.height = size[1]
        self._load(self.requests, image_id, jpeg, score, size)

    def preview_size(self) -> tuple[int, int]:
        """The preview takes the pane's width, and the height a 4:3 thumbnail needs there (two
        pixels a cell), leaving 10 lines for the details."""
        width = self.scrollable_content_region.width
        if not width:  # not laid out yet
            return 30, 14
        return width, max(6, min(self.size.height - 10, round(width * 3 / 8) + 1))

    @work(thread=True, exclusive=True, group="details", exit_on_error=False)
    def _load(
        self,
        request: int,
        image_id: int,
        jpeg: bytes | None,
        score: float | None,
        size: tuple[int, int],
    ) -> None:
        with cast(CursorSource, self.app).using_cursor() as cursor:
            details = browse.image_details(cursor, image_id)
            if jpeg is None:
                jpeg = browse.thumbnails(cursor, [image_id]).get(image_id)
        picture = self.drawing.picture(jpeg, *size)
        self.app.call_from_thread(self._shown, request, details, picture, score)

    def _shown(self, request: int, details: Any, picture: Any, score: float | None) -> None:
        if request == self.requests:  # else the cursor has moved on
            self.show(details, picture, score)

    def show(self, details: ImageDetails | None, picture: Any, score: float | None) -> None:
        self.query_one(Picture).set_picture(picture)
        if details is None:
            self.query_one(".meta", Static).update(plain("no image"))
            return
        shown = [
            marked("[b]image $id[/b]", id=details.image_id)
            + plain(f"  score {score:.3f}" if score is not None else ""),
            plain(f"{details.width}×{details.height} {details.format} {details.mode}"),
            plain(
                size_text(details.size) + (f"  ({details.state})" if details.state != "ok" else "")
            ),
            # EXIF, IPTC and XMP as the file wrote them: a title may hold markup or escapes.
            *(
                marked("[b]$label[/b] ", label=label) + plain(value)
                for label, value in describe(details.metadata)
            ),
            # A missing image (a filter naming ``missing``): no file to read; where it was.
            marked("[b]paths[/b]")
            if details.state != "missing"
            else marked("[b]file missing[/b], expected at"),
            *(plain(p) for p in details.paths),
            marked("[b]tags[/b] ") + plain(", ".join(details.tags) or "none"),
            *(
                marked("[b]$name[/b] ", name=name) + plain(value)
                for name, value in details.properties
            ),
        ]
        self.query_one(".meta", Static).update(lines(*shown))
