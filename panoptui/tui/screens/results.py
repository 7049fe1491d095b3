"""Results: a paged grid (or list) of images, a detail pane, and every way to explore from here:
similar images, text search, recommendations, clustering, duplicates, the 2-D map, tags, filters
and export. Pages come from DuckDB in a thread worker; the event loop only draws."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import duckdb
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerState

from panoptui.core import (
    browse,
    duplicates,
    filter_completion,
    filters,
    properties,
    query,
    ranking,
    settings,
    store,
    tags,
    vector_sets,
    views,
)
from panoptui.core.text import count_text, shown
from panoptui.tui.job import JobChanged
from panoptui.tui.jobs import (
    start_clustering,
    start_diverse,
    start_duplicates,
    start_map,
    start_query,
    start_rank,
)
from panoptui.tui.literal import plain
from panoptui.tui.screens.base import USER_ERRORS, AppScreen
from panoptui.tui.screens.dialogs import (
    Field,
    FormDialog,
    export_dialog,
    not_a_number,
    shown_view,
    vector_set_field,
)
from panoptui.tui.screens.groups import GroupsScreen
from panoptui.tui.sources import AllImages, Item, RankedImages, Source
from panoptui.tui.widgets.grid import Cell, DetailPane, ResultList, ThumbGrid, picture_size
from panoptui.tui.widgets.navbar import NavBar

DEFAULT_K = 60  # images a query returns
SCORE_STEP = 0.05  # what one `[` or `]` moves the minimum score by
# While keys keep coming, a page passed by is drawn when the grid has drawn none for this long
# (seconds): the grid follows a held key even where pages load slower than keys come.
PASSING_PAGE = 0.25


def an_image_file(path: str) -> str:
    """A path field's check: a file that exists (its image is read in the query's job)."""
    if not Path(path).expanduser().is_file():
        raise ValueError(f"no file {shown(path)}")
    return str(Path(path).expanduser())


@dataclass(frozen=True)
class Page:
    """A page read and drawn in a worker, ready to show."""

    offset: int
    total: int
    items: list[Item]
    pictures: dict[int, Any]
    jpegs: dict[int, bytes]
    source: Source


@dataclass
class View:
    """Where the user is: what is shown, from which image on, and the cursor on the page."""

    source: Source
    offset: int = 0
    cursor: int = 0
    came_from: Any = None  # makes the screen these results were opened from (back: Escape)


class ResultsScreen(AppScreen):
    BINDINGS = [
        Binding("s", "similar", "Similar", tooltip="images like the one under the cursor"),
        Binding("slash", "search", "Search", tooltip="text-to-image search"),
        Binding("r", "recommend", "Recommend", tooltip="images for the selection or the tag"),
        Binding("c", "cluster", "Cluster", tooltip="cluster the images shown (k or auto)"),
        Binding("d", "duplicates", "Dups", tooltip="groups of near-identical images"),
        Binding("m", "map", "Map", tooltip="a 2-D map of a vector set"),
        Binding("o", "order", "Order", show=False, tooltip="most representative or unusual first"),
        Binding("D", "diverse", "Diverse", show=False, tooltip="N images that cover those shown"),
        Binding("L", "classify", "Label", show=False, tooltip="label by names (zero-shot)"),
        Binding("x", "cancel_job", "Cancel job", show=False, tooltip="stop a search, map..."),
        Binding("t", "tag", "Tag", tooltip="tag the selection (or the image under the cursor)"),
        Binding("P", "set_property", "Set property", show=False, tooltip="on the selection"),
        Binding("u", "untag", "Untag", show=False, tooltip="remove a tag from the selection"),
        Binding("a", "accept", "Accept", show=False, tooltip="accept recommendations into tag"),
        Binding("R", "refuse", "Refuse", show=False, tooltip="refuse recommendations for tag"),
        Binding("right_square_bracket", "min_score(1)", "Raise min score", show=False),
        Binding("left_square_bracket", "min_score(-1)", "Lower min score", show=False),
        Binding("f", "filter", "Filter", tooltip="filter, sort, group; keep as a view"),
        Binding("greater_than_sign", "view(1)", "Next view", show=False, tooltip="kept views"),
        Binding("less_than_sign", "view(-1)", "Previous view", show=False),
        Binding("e", "export", "Export", show=False, tooltip="write CSV or Parquet"),
        Binding("space", "select", "Select", tooltip="select or unselect the image"),
        Binding("asterisk", "select_all", "Select all", show=False, tooltip="all pages"),
        Binding("v", "select_page", "Select page", show=False, tooltip="again: unselect it"),
        Binding("tilde", "invert_selection", "Invert selection", show=False),
        Binding("X", "clear_selection", "Clear selection", show=False),
        Binding("shift+left", "extend(-1, 0)", "Select left", show=False),
        Binding("shift+right", "extend(1, 0)", "Select right", show=False),
        Binding("shift+up", "extend(0, -1)", "Select up", show=False),
        Binding("shift+down", "extend(0, 1)", "Select down", show=False),
        Binding("F", "find_name", "Find by name", show=False, tooltip="a part or a glob"),
        Binding("plus", "tile(1)", "Bigger tiles", show=False),
        Binding("minus", "tile(-1)", "Smaller tiles", show=False),
        Binding("g", "toggle_view", "Grid/List", show=False, tooltip="grid or list with scores"),
        Binding("i,enter", "toggle_details", "Details", show=False, tooltip="detail pane"),
        Binding("escape,backspace", "back", "Back", show=False, tooltip="previous results"),
        Binding("left", "move(-1, 0)", "left", show=False),
        Binding("right", "move(1, 0)", "right", show=False),
        Binding("up", "move(0, -1)", "up", show=False),
        Binding("down", "move(0, 1)", "down", show=False),
        Binding("pagedown,n", "page(1)", "Next page", show=False),
        Binding("pageup,p", "page(-1)", "Previous page", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view_name: str | None = None  # the kept view shown last (< and > go on from it)
        self.view = View(AllImages())
        self.history: list[View] = []
        self.items: list[Item] = []
        self.total = 0
        self.list_mode = False
        self.page_shown_at = 0.0  # monotonic time the last page was drawn (benchmarks read it)
        self.grid_drawn_at = 0.0  # ... and the grid drew any page, one passed by included
        self.page_request = 0
        # A page load runs (one at a time: see load_page). Not "loading": Textual's reactive of
        # that name covers the screen with a spinner, and takes the grid's focus away.
        self.page_loading = False
        self.wanted: tuple[int, Source, int, int] | None = None  # the newest page asked for
        # Actions on the image under the cursor asked while its page loads (a key typed right
        # after pagedown): they run once the page is shown, not on "no image here".
        self.after_page: list[Callable[[], None]] = []
        self.pictures: dict[int, Any] = {}
        self.jpegs: dict[int, bytes] = {}

    # --- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        drawing = self.panoptui.drawing
        yield NavBar("results")
        yield Input(placeholder="search by text; Enter to search, Escape to close", id="search")
        with Horizontal(id="results-body"):
            yield ThumbGrid(drawing, settings.load(self.panoptui.db).tile_size, id="grid")
            yield ResultList(id="list")
            yield DetailPane(drawing, id="details")
        yield Static("", id="results-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#search").display = False
        self.query_one("#list").display = False
        # Narrow terminals give the grid the room; `i` brings the pane back.
        self.query_one("#details").display = self.panoptui.size.width >= 100
        self.query_one("#grid").focus()

    def resumed(self) -> None:
        grid = self.query_one(ThumbGrid)
        tile = settings.load(self.panoptui.db).tile_size  # the Settings screen may have set it
        if tile != grid.tile and grid.sized:
            grid.set_tile(tile)  # its Resized message reloads
            return
        grid.tile = tile
        self.reload()

    def on_resize(self, event: events.Resize) -> None:
        # The detail pane grows with the terminal (a third of it, 34 to 80 columns): its
        # preview takes the pane's width.
        self.query_one(DetailPane).styles.width = max(34, min(80, event.size.width // 3))

    def on_thumb_grid_resized(self, event: ThumbGrid.Resized) -> None:
        self.reload()

    @property
    def capacity(self) -> int:
        if self.list_mode:
            return self.query_one(ResultList).capacity
        return self.query_one(ThumbGrid).capacity

    # --- loading pages ---------------------------------------------------------------------

    def show(self, source: Source, came_from: Any = None) -> None:
        """Show new results; Escape comes back to the current ones (or to the screen they were
        opened from, ``came_from``: a cluster list, a map)."""
        self.history.append(self.view)
        self.view = View(source, came_from=came_from)
        self.after_page = []  # asked of the page that was shown
        self.reload()

    def reload(self) -> None:
        if not self.list_mode and not self.query_one(ThumbGrid).sized:
            return  # its Resized message reloads, with the real page size
        page = self.capacity
        # The image under the cursor stays there when the page size changes (tile size, the
        # detail pane, a resized terminal): its page is the one shown.
        index = self.view.offset + self.view.cursor
        self.view.offset = (index // page) * page if page else 0
        self.view.cursor = index - self.view.offset
        self.load_page(self.view.source, self.view.offset, page)

    def load_page(self, source: Source, offset: int, limit: int) -> None:
        """Load a page in a worker; only the newest request is shown.

        One load runs at a time. Keys pressed meanwhile (a held PageDown) only move the view and
        the status line's page number; when the running load ends, the newest page asked for
        loads next, and a load no longer wanted stops before it makes its pictures. So a burst
        of keys costs at most one stale load, where a thread per key made every page's pictures,
        all fighting for the interpreter lock. Measured at 100,000 images in half blocks (the
        burst of benchmarks/tui_bench.py, keys 3 ms apart): settled 16-19 ms after the last
        key, against 30-70 ms with a thread per key; at 30 keys a second both keep up."""
        self.page_request += 1
        self.wanted = (self.page_request, source, offset, limit)
        if self.is_mounted:
            self._show_status()
        if not self.page_loading:
            self._start_load()

    def _start_load(self) -> None:
        if self.wanted is None:
            return
        self.page_loading = True
        size = picture_size(self.query_one(ThumbGrid).tile)
        self._load_page(*self.wanted, size)

    @work(thread=True, group="page", exit_on_error=False)
    def _load_page(
        self, request: int, source: Source, offset: int, limit: int, size: tuple[int, int]
    ) -> None:
        page = None
        try:
            page = self._read_page(request, source, offset, limit, size)
        finally:  # also after an error (said by on_worker_state_changed): the next load starts
            with contextlib.suppress(RuntimeError):  # raised once the app has closed
                self.panoptui.call_from_thread(self._load_ended, request, page)

    def _read_page(
        self, request: int, source: Source, offset: int, limit: int, size: tuple[int, int]
    ) -> Page | None:
        """The page (None: a newer one is wanted), read and drawn in the worker's thread."""
        with self.panoptui.using_cursor() as cursor:
            total = source.count(cursor)
            if offset >= total and total:
                offset = ((total - 1) // limit) * limit
            items = source.page(cursor, offset, limit)
            jpegs = browse.thumbnails(cursor, [i.image_id for i in items])
        # Pictures are made here, off the event loop, which then only has to draw them. The
        # request number is read across threads: an int, at worst one picture late.
        drawing = self.panoptui.drawing
        pictures = {}
        for image_id, jpeg in jpegs.items():
            if request != self.page_request and not self._passing_due():
                return None
            pictures[image_id] = drawing.picture(jpeg, *size)
        return Page(offset, total, items, pictures, jpegs, source)

    def _load_ended(self, request: int, page: Page | None) -> None:
        self.page_loading = False
        if request != self.page_request:
            if page is not None:
                self._show_passing(page)
            self._start_load()  # the user moved on while this page loaded
        elif page is not None:
            self._show_page(page)

    def _passing_due(self) -> bool:
        """Whether a page the keys have gone past is still worth finishing, to show in passing:
        when the grid has drawn none for PASSING_PAGE seconds. Where pages load slower than keys
        come (sixel pictures take milliseconds each to make), every load would be overtaken, and
        the grid would stand still until the keys stop. (Read in the loading thread: a float.)"""
        return time.monotonic() - self.grid_drawn_at >= PASSING_PAGE

    def _show_passing(self, page: Page) -> None:
        """A page passed by while skimming: drawn in the grid, so that it follows the keys;
        nothing else changes (the view, the cursor and what actions act on wait for the page
        the keys stopped on)."""
        if self.list_mode or page.source is not self.view.source:
            return
        selected = self.panoptui.selection
        self.query_one(ThumbGrid).show_page(page.items, page.pictures, -1, selected)
        self.grid_drawn_at = time.monotonic()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # A page that cannot load (the database refused, a bug) is said, not silently blank.
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            text = str(event.worker.error).strip() or repr(event.worker.error)
            self.notify(f"cannot show this page: {text.splitlines()[0]}", severity="error")

    def _show_page(self, page: Page) -> None:
        self.view.offset, self.total, self.items = page.offset, page.total, page.items
        self.pictures, self.jpegs = page.pictures, page.jpegs
        self.view.cursor = min(self.view.cursor, max(0, len(page.items) - 1))
        self._redraw()
        self._show_details()
        self.page_shown_at = self.grid_drawn_at = time.monotonic()
        waiting, self.after_page = self.after_page, []
        for action in waiting:
            action()

    def _page_pending(self, action: Callable[[], None]) -> bool:
        """Whether the page under the cursor is still loading; ``action`` then runs once it is
        shown."""
        if self.items or not self.page_loading:
            return False
        self.after_page.append(action)
        return True

    def _show_status(self) -> None:
        page = max(1, self.capacity)
        pages = max(1, -(-self.total // page))
        selected = len(self.panoptui.selection)
        accept = self.view.source.accept_tag if isinstance(self.view.source, RankedImages) else None
        # The selection's count first: a long title is cut at the end of the line, not it.
        parts = [f"{selected:,} selected"] if selected else []
        parts += [
            self.view.source.title,
            count_text(self.total, "image"),
            f"page {self.view.offset // page + 1:,}/{pages:,}",
        ]
        source = self.view.source
        if accept:
            parts.append(f"a: accept into {accept}, R: refuse")
        if isinstance(source, RankedImages) and source.min_score is not None:
            parts.append(f"min score {source.min_score:.2f} ([ ])")
        if self.history:
            parts.append("esc: back")
        jobs = self.panoptui.running_jobs()
        if jobs:
            parts.append(jobs[0].describe())
        if isinstance(source, RankedImages) and source.scored and source.min_score is None:
            parts.append("[ ]: min score")  # a hint, last: the first words cut at 80 columns
        if self.total == 0 and "missing" not in source.title:
            # Nothing here, but images whose files are gone (a Panoptic project imported
            # without its files): say how to see them.
            gone = store.scalar(self.panoptui.db, "SELECT count(*) FROM images WHERE state = ?",
                                [store.IMAGE_MISSING])  # fmt: skip
            if gone:
                parts.append(f"{count_text(int(gone), 'missing image')}: f, missing = true")
        self.query_one("#results-status", Static).update(plain(" · ".join(parts)), layout=False)

    def _show_details(self) -> None:
        pane = self.query_one(DetailPane)
        if not pane.display:
            return
        item = self.current_item
        if item is None:
            pane.request(None, None, None)
            return
        pane.request(item.image_id, self.jpegs.get(item.image_id), item.score)

    def on_job_changed(self, message: JobChanged) -> None:
        if self.is_current:
            self._show_status()

    # --- moving ----------------------------------------------------------------------------

    @property
    def current_item(self) -> Item | None:
        if 0 <= self.view.cursor < len(self.items):
            return self.items[self.view.cursor]
        return None

    def action_move(self, dx: int, dy: int) -> None:
        columns = 1 if self.list_mode else self.query_one(ThumbGrid).columns
        target = self.view.offset + self.view.cursor + dx + dy * columns
        self._go_to(target)

    def action_page(self, direction: int) -> None:
        self._go_to(self.view.offset + self.view.cursor + direction * self.capacity)

    def action_edge(self, end: int) -> None:
        self._go_to(self.total - 1 if end else 0)

    def _go_to(self, index: int) -> None:
        if not self.total:
            return
        index = max(0, min(self.total - 1, index))
        page = self.capacity
        offset = (index // page) * page
        old = self.view.cursor
        self.view.cursor = index - offset
        if offset != self.view.offset:
            # The new page is where the user is from now on, also for keys pressed before it
            # arrives; until then no image is under the cursor.
            self.view.offset, self.items = offset, []
            self.load_page(self.view.source, offset, page)
            return
        if self.list_mode:
            self.query_one(ResultList).move_cursor(row=self.view.cursor)
        else:
            self.query_one(ThumbGrid).move_cursor(old, self.view.cursor)
        self._show_details()

    def on_cell_clicked(self, event: Cell.Clicked) -> None:
        self._go_to(self.view.offset + event.index)

    def on_data_table_row_highlighted(self, event: ResultList.RowHighlighted) -> None:
        if self.list_mode and event.cursor_row != self.view.cursor:
            self.view.cursor = event.cursor_row
            self._show_details()

    def action_back(self) -> None:
        search = self.query_one("#search", Input)
        if search.display:
            search.display = False
            self.query_one("#grid").focus()
            return
        if self.history:
            came_from = self.view.came_from
            self.view = self.history.pop()
            self.reload()
            if came_from is not None:
                self.panoptui.push_screen(came_from())

    def action_toggle_view(self) -> None:
        self.list_mode = not self.list_mode
        self.query_one(ThumbGrid).display = not self.list_mode
        self.query_one(ResultList).display = self.list_mode
        (self.query_one(ResultList) if self.list_mode else self.query_one(ThumbGrid)).focus()
        index = self.view.offset + self.view.cursor
        self.call_after_refresh(self._after_toggle, index)

    def _after_toggle(self, index: int) -> None:
        page = self.capacity
        self.view.offset, self.view.cursor = (index // page) * page, index % page
        self.reload()

    def action_toggle_details(self) -> None:
        pane = self.query_one(DetailPane)
        pane.display = not pane.display
        self._show_details()

    # --- selection and tags ----------------------------------------------------------------

    def action_select(self) -> None:
        if self._page_pending(self.action_select):
            return
        item = self.current_item
        if item is None:
            return
        selection: set[int] = self.panoptui.selection
        selection.symmetric_difference_update({item.image_id})
        self._redraw()

    def action_clear_selection(self) -> None:
        self.panoptui.selection.clear()
        self._redraw()

    def action_select_page(self) -> None:
        """Select the page's images; when they all are already, unselect them."""
        page = {item.image_id for item in self.items}
        selection: set[int] = self.panoptui.selection
        if page <= selection:
            selection -= page
        else:
            selection |= page
        self._redraw()

    def action_select_all(self) -> None:
        self._select_shown(self.view.source, invert=False)

    def action_invert_selection(self) -> None:
        self._select_shown(self.view.source, invert=True)

    @work(thread=True, group="selection", exit_on_error=False)
    def _select_shown(self, source: Source, invert: bool) -> None:
        """Select every image shown (all pages: their ids in one query, in this thread), or
        invert the selection among them (the images not shown keep their state)."""
        with self.panoptui.using_cursor() as cursor:
            ids = source.ids(cursor)
        # Set arithmetic on the event loop, no loop per id: 100,000 ids take a few ms.
        self.panoptui.call_from_thread(self._selected_shown, source, set(ids.tolist()), invert)

    def _selected_shown(self, source: Source, shown: set[int], invert: bool) -> None:
        if source is not self.view.source:
            return  # the user moved on to other results meanwhile
        selection: set[int] = self.panoptui.selection
        if invert:
            selection ^= shown
        else:
            selection |= shown
        self._redraw()

    def action_extend(self, dx: int, dy: int) -> None:
        """Move the cursor and select every image it passes over, the one it leaves included."""
        if not self.total:
            return
        columns = 1 if self.list_mode else self.query_one(ThumbGrid).columns
        start = self.view.offset + self.view.cursor
        target = max(0, min(self.total - 1, start + dx + dy * columns))
        low, high = min(start, target), max(start, target)
        offset = self.view.offset
        if offset <= low and high < offset + len(self.items):
            chosen = self.items[low - offset : high - offset + 1]
            self.panoptui.selection.update(item.image_id for item in chosen)
        else:  # the run goes on to another page: read its ids where pages are read
            self._select_range(self.view.source, low, high - low + 1)
        self._go_to(target)
        if self.view.offset == offset:  # else the grid waits for the new page
            self._redraw()

    @work(thread=True, group="selection", exit_on_error=False)
    def _select_range(self, source: Source, offset: int, count: int) -> None:
        with self.panoptui.using_cursor() as cursor:
            items = source.page(cursor, offset, count)
        self.panoptui.call_from_thread(
            self._selected_shown, source, {item.image_id for item in items}, False
        )

    # --- tiles and names -------------------------------------------------------------------

    def action_tile(self, step: int) -> None:
        """Bigger (step 1) or smaller (-1) tiles, kept in the project's settings."""
        grid = self.query_one(ThumbGrid)
        sizes = settings.TILE_SIZES
        tile = sizes[max(0, min(len(sizes) - 1, sizes.index(grid.tile) + step))]
        if tile == grid.tile:
            self.notify(f"tiles are already {tile}: the {'largest' if step > 0 else 'smallest'}")
            return
        grid.set_tile(tile)  # its Resized message loads a page of the new size
        if not self.panoptui.read_only:  # a read-only project keeps the size for this run
            settings.save(self.panoptui.db, {"tile_size": tile})

    def action_find_name(self) -> None:
        source = self.view.source
        base = source.flt if isinstance(source, AllImages) else browse.ImageFilter()
        fields = [
            Field("filter", "File name or path: a part of it, or a glob (* ? [)",
                  default=base.name, check=lambda pattern: browse.name_filter(pattern, base)),
        ]  # fmt: skip

        def answered(values: dict[str, Any] | None) -> None:
            if values:
                self.show(AllImages(values["filter"]))

        within = f" (within {base.describe()})" if base.tag or base.folder else ""
        self.panoptui.push_screen(FormDialog(f"Find by name{within}", fields, "Find"), answered)

    def _redraw(self) -> None:
        """Draw the page held (its images, the cursor, the selection) and the status line."""
        selected = self.panoptui.selection
        if not self.items and self.page_loading:
            pass  # the page is on its way (a key moved past it): the old one stays till then
        elif self.list_mode:
            self.query_one(ResultList).show_page(
                self.items, self.view.offset, self.view.cursor, selected
            )
        else:
            self.query_one(ThumbGrid).show_page(
                self.items, self.pictures, self.view.cursor, selected
            )
        self._show_status()

    def targets(self) -> list[int]:
        """What an action applies to: the selection, else the image under the cursor."""
        selection = self.panoptui.selection
        if selection:
            return sorted(selection)
        item = self.current_item
        return [item.image_id] if item else []

    def _tag_names(self) -> list[tuple[str, str]]:
        # Each name once: a tag with several parents is listed under each of them.
        return [(n, n) for n in dict.fromkeys(t.name for t in tags.list_tags(self.panoptui.db))]

    def action_set_property(self) -> None:
        """Set (or clear) a property's value on the selection (or the image under the cursor)
        in one step; a new property can be made here too. One journaled change: ctrl+z."""
        if self._page_pending(self.action_set_property):
            return
        ids = self.targets()
        if not ids:
            self.notify("nothing to set: no image here", severity="warning")
            return
        if self.panoptui.refuse_write("set a property"):
            return
        con = self.panoptui.db
        known = [p for p in properties.list_properties(con) if p.id != store.TAGS_PROPERTY_ID]
        choices = [(f"{p.name} ({p.type}, {p.mode})", p.name) for p in known]
        fields = [
            Field("property", "Property", kind="select", options=[*choices, ("new property…", "")],
                  default=choices[0][1] if choices else ""),
            Field("value", "Value (tags: a, b, c)", optional=True),
            Field("add", "Add these tags to those it holds (multi-tag)", kind="check"),
            Field("clear", "Clear the value instead", kind="check"),
            Field("name", "New property: its name (given: it is made and set)", optional=True),
            Field("type", "New property: its type", kind="select",
                  options=[(t, t) for t in properties.TYPES], default="text"),
            Field("mode", "New property: belongs to", kind="select",
                  options=[("the image (all its copies)", "image"),
                           ("each file (one path)", "file")], default="image"),
        ]  # fmt: skip

        def answered(values: dict[str, Any] | None) -> None:
            if values is None:
                return
            try:
                said = self._set_property(ids, values)
            except (store.ProjectError, ValueError) as exc:
                self.notify(str(exc).splitlines()[0], severity="error")
                return
            self.notify(said)
            self.reload()

        title = f"Set a property on {count_text(len(ids), 'image')}"
        self.panoptui.push_screen(FormDialog(title, fields, "Set"), answered)

    def _set_property(self, ids: list[int], values: dict[str, Any]) -> str:
        con = self.panoptui.db
        if not values["clear"] and not values["value"]:
            raise ValueError("give a value (or tick 'Clear the value instead')")
        if values["name"]:  # a new property's name given: it is the one meant
            prop = properties.create_property(con, values["name"], values["type"], values["mode"])
        elif values["property"]:
            prop = properties.get_property(con, values["property"])
        else:
            raise ValueError("give the new property a name (or choose one)")
        value = None if values["clear"] else properties.parse_value(prop.type, values["value"])
        targets = properties.targets_for_images(con, prop, ids)
        where = count_text(len(ids), "image") + (
            f" ({count_text(len(targets), 'file')})" if prop.mode == "file" else ""
        )
        if values["add"] and prop.type == "multi_tag" and isinstance(value, list):
            added = properties.add_tags(con, prop, targets, value)
            return f"added {', '.join(value)} to {prop.name!r} on {where} ({added} new)"
        properties.set_values(con, prop, targets, value)
        if value is None:
            return f"cleared {prop.name!r} on {where}"
        return f"set {prop.name!r} to {properties.format_value(prop.type, value)} on {where}"

    def action_tag(self) -> None:
        if self._page_pending(self.action_tag):
            return
        ids = self.targets()
        if not ids:
            self.notify("nothing to tag: no image here", severity="warning")
            return
        if self.panoptui.refuse_write("tag images"):
            return
        known = ", ".join(n for n, _ in self._tag_names()[:8])
        fields = [Field("tag", "Tag name", placeholder=f"new or existing ({known})")]

        def answered(values: dict[str, Any] | None) -> None:
            if values:
                self._write_tags(True, values["tag"], ids)

        title = f"Tag {count_text(len(ids), 'image')}"
        self.panoptui.push_screen(FormDialog(title, fields, "Tag"), answered)

    def action_untag(self) -> None:
        if self._page_pending(self.action_untag):
            return
        ids = self.targets()
        names = self._tag_names()
        if not ids or not names:
            self.notify("no tag to remove", severity="warning")
            return
        if self.panoptui.refuse_write("untag images"):
            return

        def answered(values: dict[str, Any] | None) -> None:
            if values:
                self._write_tags(False, values["tag"], ids)

        self.panoptui.push_screen(
            FormDialog(
                f"Untag {count_text(len(ids), 'image')}",
                [Field("tag", "Tag", kind="select", options=names)],
                "Untag",
            ),
            answered,
        )

    @work(thread=True, group="tags", exit_on_error=False)
    def _write_tags(self, add: bool, name: str, ids: list[int]) -> None:
        """Tag (or untag) images in one batched core call, in this thread: 100,000 selected
        images took 0.36 s to tag (0.2 s to untag), a freeze on the event loop. A job's cursor:
        quitting waits for the write rather than cut it."""
        try:
            with self.panoptui.using_cursor(job=True) as cursor:
                if add:
                    changed = tags.tag_images(cursor, name, ids)
                else:
                    tags.untag_images(cursor, name, ids)
                    changed = len(ids)
        except USER_ERRORS as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            self.panoptui.call_from_thread(self.notify, message, severity="error")
            return
        self.panoptui.call_from_thread(self._tags_written, add, name, changed)

    def _tags_written(self, add: bool, name: str, changed: int) -> None:
        if add:
            self.notify(f"tagged {count_text(changed, 'image')} {name!r}")
            self._show_details()
        else:
            self.notify(f"removed tag {name!r} from {count_text(changed, 'image')}")
            self.reload()  # a tag's view loses them

    def action_accept(self) -> None:
        self._judge(accept=True)

    def action_refuse(self) -> None:
        self._judge(accept=False)

    def _judge(self, accept: bool) -> None:
        """Accept recommendations into their tag, or refuse them for it (remembered in the
        project: recommend never proposes them for the tag again): the selected ones among
        those shown, else the one under the cursor. Either way they leave the list."""
        source = self.view.source
        if not isinstance(source, RankedImages) or source.accept_tag is None:
            what = "accept" if accept else "refuse"
            self.notify(f"{what} works on recommendations for a tag (r)", severity="warning")
            return
        if self.panoptui.refuse_write("tag images" if accept else "refuse images"):
            return
        shown = {i for i, _ in source.shown}
        selected = sorted(self.panoptui.selection & shown)
        item = self.current_item
        ids = selected or ([item.image_id] if item else [])
        if not ids:
            return
        if accept:
            tags.tag_images(self.panoptui.db, source.accept_tag, ids)
        else:
            query.refuse_recommendations(self.panoptui.db, source.accept_tag, ids)
        judged = set(ids)
        source.ranked = [(i, s) for i, s in source.ranked if i not in judged]
        self.panoptui.selection.difference_update(judged)
        verb = "accepted" if accept else "refused"
        where = "into" if accept else "for"
        self.notify(f"{verb} {count_text(len(ids), 'image')} {where} {source.accept_tag!r}")
        self.reload()

    def action_min_score(self, step: int) -> None:
        """Raise (step 1) or lower (-1) the minimum score of the results shown, by SCORE_STEP;
        lowered past the lowest score, every image shows again (no minimum)."""
        source = self.view.source
        if not isinstance(source, RankedImages) or not source.scored:
            self.notify("a minimum score works on scored results (similar, search...)")
            return
        scores = [s for _, s in source.ranked if s is not None]
        low = min(scores)
        current = source.min_score
        if current is None:  # the first step starts from the lowest score, on a round value
            current = math.floor(low / SCORE_STEP + 1e-9) * SCORE_STEP
        wanted = round(current + step * SCORE_STEP, 2)
        source.min_score = None if wanted <= low else min(wanted, 1.0)
        self.view.offset = self.view.cursor = 0
        self.reload()

    def action_filter(self) -> None:
        """The filter bar: an expression (Tab completes names and values), sort keys, a
        grouping, a tag or a folder; it can be kept as a named view."""
        con = self.panoptui.db
        current = self.view.source.flt if isinstance(self.view.source, AllImages) else None
        completer = filter_completion.Completer(con.cursor())
        fields = [
            Field("where", "Filter (e.g. published >= 1990-01-01 and topics has any (protest))",
                  default=current and current.where, optional=True,
                  check=lambda text: self._checked(filters.compile_filter, text),
                  complete=completer.complete),
            Field("sort", "Sort by (e.g. date_taken,-width)", default=current and current.sort,
                  optional=True, check=lambda text: self._checked(filters.parse_sort, text),
                  complete=completer.complete),
            Field("group", "Group by (e.g. topics, published:year)", optional=True,
                  check=lambda text: self._checked(filters.parse_group, text),
                  complete=completer.complete),
            Field("tag", "Tag (blank: any)", kind="select", default=current and current.tag,
                  options=self._tag_names(), optional=True),
            Field("folder", "Folder (blank: any)", kind="select",
                  default=current and current.folder,
                  options=[(f, f) for f in browse.directories(con)], optional=True),
            Field("view", "Keep as a view named (blank: not kept)", optional=True),
        ]  # fmt: skip

        # The completer's cursor is not closed here: a suggestion may still be read in its
        # thread when the form closes; it goes with the completer.
        def answered(values: dict[str, Any] | None) -> None:
            if values is None:
                return
            view = views.View(
                values["view"] or "", values["where"], values["sort"], values["group"],
                values["tag"], values["folder"],
            )  # fmt: skip
            if values["view"]:
                if self.panoptui.refuse_write("keep a view"):
                    return
                views.save_view(con, view)
                self.notify(f"kept as view {view.name!r}: < and > switch views")
            self.show_view(view)

        self.panoptui.push_screen(FormDialog("Show images", fields, "Show"), answered)

    def _checked(self, check: Callable[[duckdb.DuckDBPyConnection, str], Any], text: str) -> str:
        """A form field's check: ``text`` when ``check`` takes it (else its FilterError)."""
        check(self.panoptui.db, text)
        return text

    def show_view(self, view: views.View) -> None:
        """Show a view: its images, or its groups when it groups them."""
        flt = browse.ImageFilter(view.tag, view.folder, None, view.where, view.sort)
        if view.group:
            try:
                counts = filters.group_counts(self.panoptui.db, view.group, views.as_where(flt))
            except store.ProjectError as exc:
                self.notify(str(exc), severity="error")
                return
            self.panoptui.push_screen(GroupsScreen(flt, view.group, counts))
            return
        self.show(AllImages(flt))

    def action_view(self, step: int) -> None:
        """Switch to the next (or previous) kept view, as Panoptic's tabs."""
        kept = views.list_views(self.panoptui.db)
        if not kept:
            self.notify("no view kept yet: f, then a name under 'Keep as a view'")
            return
        names = [v.name for v in kept]
        now = self.view_name if self.view_name in names else None
        start = names.index(now) + step if now is not None else (0 if step > 0 else -1)
        index = start % len(kept)
        chosen = kept[index]
        self.view_name = chosen.name
        self.notify(
            f"view {chosen.name!r} ({index % len(kept) + 1} of {len(kept)}): {chosen.describe()}"
        )
        self.show_view(chosen)

    def action_export(self) -> None:
        dialog = export_dialog(self.panoptui.db, len(self.panoptui.selection), shown_view(self))
        self.panoptui.push_screen(dialog, self.panoptui.run_export)

    # --- exploring -------------------------------------------------------------------------

    def _ask(
        self,
        title: str,
        extra: list[Field],
        then: Any,
        need_text: bool = False,
    ) -> None:
        """Ask which vector set (and the action's own values), then run ``then(values)``."""
        set_field = vector_set_field(self.panoptui.db, need_text)
        if set_field is None:
            what = "that embeds text (clip or siglip)" if need_text else ""
            self.notify(
                f"no vector set {what} yet: create one on the Vectors screen (2)",
                severity="warning",
            )
            return

        def answered(values: dict[str, Any] | None) -> None:
            if values is not None:
                then(values)

        self.panoptui.push_screen(FormDialog(title, [set_field, *extra], "Go"), answered)

    def _within(self) -> browse.ImageFilter | None:
        """The images a query runs among: those of the filter shown (None: all). The ids are
        read in the job's thread (``browse.filter_ids``), never on the event loop."""
        source = self.view.source
        if isinstance(source, AllImages) and source.flt != browse.ImageFilter():
            return source.flt
        return None

    def _query_job(
        self,
        label: str,
        run: Callable[[duckdb.DuckDBPyConnection], list[query.Hit]],
        accept_tag: str | None = None,
    ) -> None:
        """Run a query in a job; show its hits when it ends."""

        def found(hits: list[query.Hit]) -> None:
            ranked: list[tuple[int, float | None]] = [(h.image_id, h.score) for h in hits]
            self.show(RankedImages(label, ranked, accept_tag))
            if not ranked:
                self.notify(f"{label}: no images found", severity="warning")

        start_query(self.panoptui, label, run, found)

    def _matrix(self, cur: duckdb.DuckDBPyConnection, set_id: int) -> query.VectorMatrix:
        vector_set = vector_sets.get_set(cur, set_id)
        return self.panoptui.matrix(cur, set_id, vector_set.count)

    def action_similar(self) -> None:
        """Images like the one under the cursor, or like the selection when there is one (close
        to the selected images' mean, as recommend ranks them; the selected left out), or like
        an image file from anywhere (the form's path field). A filtered view asks whether to
        look among its images or the whole project (the form says which)."""
        if self._page_pending(self.action_similar):
            return
        item = self.current_item
        selection = sorted(self.panoptui.selection)
        flt = self._within()
        if selection:
            like = f"the {count_text(len(selection), 'selected image')}"
        elif item is not None:
            like = item.path.rsplit("/", 1)[-1]
        else:
            like = ""
        fields = [
            Field("k", "How many", kind="int", default=DEFAULT_K, minimum=1),
            Field("file", f"Like an image file instead of {like}" if like else "Like an image file",
                  kind="path", optional=bool(like), placeholder="path of any image file",
                  check=an_image_file),
        ]  # fmt: skip
        if flt is not None:
            fields.append(
                Field("scope", "Among", kind="select", default="filter",
                      options=[(f"the images shown: {flt.describe()}", "filter"),
                               ("the whole project", "all")])
            )  # fmt: skip
            title = "Similar images"
        else:
            title = "Similar images (among the whole project)"
        device = settings.load(self.panoptui.db).device

        def go(values: dict[str, Any]) -> None:
            set_id, k, path = values["set_id"], values["k"], values.get("file")
            within = flt if values.get("scope", "all") == "filter" else None

            def run(cur: duckdb.DuckDBPyConnection) -> list[query.Hit]:
                vector_set = vector_sets.get_set(cur, set_id)
                matrix = self.panoptui.matrix(cur, set_id, vector_set.count)
                scope = None if within is None else browse.filter_ids(cur, within)
                if path:  # the CLI's `panoptui similar PROJECT FILE`: the same core call
                    embedder = self.panoptui.text_embedder(vector_set, device)
                    return query.similar_to_file(
                        cur, matrix, embedder, vector_set, path, k, within=scope
                    )
                if selection:
                    return query.recommend(cur, matrix, selection, k, within=scope)
                assert item is not None
                return query.similar_to_image(cur, matrix, item.image_id, k, within=scope)

            label = f"similar to {path.rsplit('/', 1)[-1] if path else like}"
            among = f" among {within.describe()}" if within is not None else ""
            self._query_job(f"{label}{among} (set {set_id})", run)

        self._ask(title, fields, go)

    def action_search(self) -> None:
        self.panoptui.warm_up_models()
        search = self.query_one("#search", Input)
        search.display = True
        search.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "search" or not event.value.strip():
            return
        text = event.value.strip()
        event.input.display = False  # the results' title keeps the text
        self.query_one("#grid").focus()
        within = self._within()
        device = settings.load(self.panoptui.db).device

        def go(values: dict[str, Any]) -> None:
            set_id, k = values["set_id"], values["k"]

            def run(cur: duckdb.DuckDBPyConnection) -> list[query.Hit]:
                vector_set = vector_sets.get_set(cur, set_id)
                matrix = self.panoptui.matrix(cur, set_id, vector_set.count)
                scope = None if within is None else browse.filter_ids(cur, within)
                return query.search_text(
                    cur, matrix, lambda v: self.panoptui.text_embedder(v, device), vector_set,
                    text, k, scope,
                )  # fmt: skip

            self._query_job(f"search {text!r} (set {set_id})", run)

        self._ask(
            f"Search: {text}",
            [Field("k", "How many", kind="int", default=DEFAULT_K, minimum=1)],
            go,
            True,
        )

    def action_recommend(self) -> None:
        if self._page_pending(self.action_recommend):
            return
        source = self.view.source
        selection = sorted(self.panoptui.selection)
        tag = source.flt.tag if isinstance(source, AllImages) else None
        extra = [Field("k", "How many", kind="int", default=DEFAULT_K, minimum=1)]
        if selection:
            extra.append(Field("tag", "Accept into tag (a)", default=tag, optional=True))
            title = f"Recommend images like the {len(selection)} selected"
        elif tag:
            title = f"Recommend images for tag {tag}"
        else:
            names = self._tag_names()
            if not names:
                self.notify("select images (space) or tag some first", severity="warning")
                return
            extra.append(Field("tag", "For tag", kind="select", default=names[0][1], options=names))
            title = "Recommend images for a tag"

        # Among the images of a filter, a folder or a name shown (not of a tag shown: its
        # images are the ones recommendations are for, and never among them).
        flt = source.flt if isinstance(source, AllImages) else None
        among = (
            replace(flt, tag=None, sort=None)
            if flt is not None and (flt.where or flt.folder or flt.name)
            else None
        )

        def go(values: dict[str, Any]) -> None:
            set_id, k = values["set_id"], values["k"]
            target = values.get("tag", tag)

            def run(cur: duckdb.DuckDBPyConnection) -> list[query.Hit]:
                # Nothing selected: the tag is the one shown or the one the form asked for.
                group = selection or tags.tag_members(cur, cast(str, target)).tolist()
                matrix = self._matrix(cur, set_id)
                scope = None if among is None else browse.filter_ids(cur, among)
                return query.recommend(cur, matrix, group, k, within=scope, tag=target)

            # Said as it is: from a selection, even on a tag's view (the tag then only
            # receives what is accepted).
            seeds = f"like the {len(selection)} selected" if selection else f"for {target}"
            scope_said = f" among {among.describe()}" if among is not None else ""
            label = f"recommended {seeds}{scope_said} (set {set_id})"
            if selection:  # the seeds: what the user selects next is among the recommended
                self.panoptui.selection.difference_update(selection)
            self._query_job(label, run, accept_tag=target)

        self._ask(title, extra, go)

    def action_cluster(self) -> None:
        if self.panoptui.refuse_write("save a clustering"):
            return
        source = self.view.source
        # What is shown: a filter's images, or a list (a cluster, a query's answer), else all.
        within: Any = self._within()
        if isinstance(source, RankedImages):
            within = [i for i, _ in source.shown]
        scope = source.title if within is not None else "all images"
        fields = [
            Field("k", "Clusters (blank: choose automatically)", kind="int", minimum=2,
                  optional=True),
            Field("name", "Name (blank: made up)", optional=True, check=not_a_number),
        ]  # fmt: skip

        def go(values: dict[str, Any]) -> None:
            start_clustering(
                self.panoptui, values["set_id"], values["k"], values.get("name"), within
            )

        self._ask(f"Cluster {scope}", fields, go)

    def action_duplicates(self) -> None:
        fields = [
            Field(
                "threshold",
                "Cosine at least",
                kind="float",
                default=duplicates.DEFAULT_THRESHOLD,
                minimum=-1,
                maximum=1,
            )
        ]
        within = self._within()
        scope = f" among {within.describe()}" if within is not None else ""
        self._ask(
            f"Find near-duplicates{scope}",
            fields,
            lambda v: start_duplicates(self.panoptui, v["set_id"], v["threshold"], within),
        )

    def action_map(self) -> None:
        if self.panoptui.refuse_write("save a map"):
            return
        fields = [
            Field(
                "method",
                "Method",
                kind="select",
                default="pca",
                options=[("PCA", "pca"), ("t-SNE", "tsne"), ("UMAP", "umap")],
            )
        ]
        within = self._within()
        scope = f" of {within.describe()}" if within is not None else ""
        self._ask(
            f"2-D map{scope}",
            fields,
            lambda v: start_map(self.panoptui, v["set_id"], v["method"], within),
        )

    def action_classify(self) -> None:
        """Label the images shown by names (typed, or a tag family's), zero-shot."""
        from panoptui.tui.screens.classify import ask_classify

        ask_classify(self, self._within())

    def action_cancel_job(self) -> None:
        from panoptui.tui.job import EXPLORING  # the jobs started here: query, cluster, map...

        self.panoptui.cancel_jobs(EXPLORING)

    # --- orderings of the images shown (core/ranking.py) -----------------------------------

    def _shown_ids(self) -> browse.ImageFilter | list[int] | None:
        """The images an ordering runs among: a list's (a query's answer, a cluster), a
        filter's, or all (None)."""
        source = self.view.source
        if isinstance(source, RankedImages):
            return [i for i, _ in source.ranked]
        return self._within()

    def _show_ranked(self, title: str, ranked: list[ranking.Ranked]) -> None:
        self.show(RankedImages(title, [(r.image_id, r.score) for r in ranked]))

    def action_order(self) -> None:
        """The images shown, most representative of their cluster first (the set's newest
        clustering), or most unusual first."""
        within = self._shown_ids()
        fields = [
            Field("by", "Order", kind="select", default="representative",
                  options=[("Most representative of their cluster first", "representative"),
                           ("Most unusual first", "unusual")]),
            Field("k", "Unusual: neighbours", kind="int", default=ranking.DEFAULT_NEIGHBOURS,
                  minimum=1),
            Field("clustering", "Representative: of clustering (blank: the set's newest)",
                  kind="select", optional=True,
                  options=[(f"{name} (set {s})", name)
                           for name, s in ranking.clusterings(self.panoptui.db)]),
        ]  # fmt: skip

        def go(values: dict[str, Any]) -> None:
            set_id, by, k = values["set_id"], values["by"], values["k"]
            start_rank(
                self.panoptui, set_id, by, k, within, self._show_ranked, values.get("clustering")
            )

        self._ask("Order the images shown", fields, go)

    def action_diverse(self) -> None:
        """A few images that cover those shown (greedy farthest-point sampling)."""
        within = self._shown_ids()
        fields = [
            Field("n", "How many", kind="int", default=ranking.DEFAULT_DIVERSE, minimum=1),
        ]

        def go(values: dict[str, Any]) -> None:
            start_diverse(self.panoptui, values["set_id"], values["n"], within, self._show_ranked)

        self._ask("Diverse images", fields, go)
