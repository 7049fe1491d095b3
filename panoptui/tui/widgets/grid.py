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
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Label, Static

from panoptui.core import browse
from panoptui.core.browse import ImageDetails
from panoptui.tui.images import Drawing
from panoptui.tui.literal import lines, marked, plain, text
from panoptui.tui.sources import Item
from panoptui.tui.widgets.picture import Picture

# One grid cell in terminal cells, border included: 4 across at 80 columns.
CELL_WIDTH = 19
CELL_HEIGHT = 9
# Its picture: inside the border, above the caption.
PICTURE_SIZE = (CELL_WIDTH - 2, CELL_HEIGHT - 3)


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
    """As many cells as fit; the screen asks ``capacity`` and hands over pages."""

    class Resized(Message):
        pass

    def __init__(self, drawing: Drawing, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.drawing = drawing
        self.columns = 1
        self.rows = 1

    @property
    def capacity(self) -> int:
        return self.columns * self.rows

    @property
    def sized(self) -> bool:
        """Whether the grid knows its size (its cells are made once it does)."""
        return bool(self.children)

    def on_resize(self, event: events.Resize) -> None:
        columns = max(1, event.size.width // CELL_WIDTH)
        rows = max(1, event.size.height // CELL_HEIGHT)
        if (columns, rows) == (self.columns, self.rows) and self.children:
            return
        self.columns, self.rows = columns, rows
        self.styles.grid_size_columns = columns
        self.remove_children()
        self.mount_all([Cell(n, self.drawing) for n in range(self.capacity)])
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
    """The image under the cursor: a larger preview, metadata, every path, its tags."""

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
        preview = self.query_one(Picture)
        size = (preview.size.width or 30, preview.size.height or 14)
        self._load(self.requests, image_id, jpeg, score, size)

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
                f"{details.size / 1024:.0f} KiB"
                + (f"  ({details.state})" if details.state != "ok" else "")
            ),
            marked("[b]paths[/b]"),
            *(plain(p) for p in details.paths),
            marked("[b]tags[/b] ") + plain(", ".join(details.tags) or "none"),
        ]
        self.query_one(".meta", Static).update(lines(*shown))
