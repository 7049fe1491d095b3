"""The images shown, grouped by a property (issue 13): a row per group, its value and count as
a header and a strip of its first images (in the view's order). ``enter`` opens a group: the
view's filter and the group's own (core/views.group_filter), so it can be refined, sorted and
kept as a view like any other."""

from __future__ import annotations

import time
from typing import Any

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import Footer, Static

from panoptui.core import browse, filters, views
from panoptui.core.text import count_text
from panoptui.tui.literal import marked, plain
from panoptui.tui.screens.base import AppScreen
from panoptui.tui.sources import AllImages
from panoptui.tui.widgets.navbar import NavBar
from panoptui.tui.widgets.strip_rows import THUMB_SIZE, StripList, StripRow

MAX_GROUPS = 500  # rows shown; the others are said in the title
BATCH_S = 0.1  # strips reach the screen this often, at most, while made


def group_label(value: Any) -> str:
    return "(not set)" if value is None else str(value)


class GroupRow(StripRow):
    """One group: its value and count, then its first images in the view's order."""

    def __init__(self, value: Any, count: int, drawing: Any) -> None:
        super().__init__(count, drawing)
        self.value, self.count = value, count

    def describe(self) -> Content:
        return marked(
            "[b]$value[/b]\n$count",
            value=group_label(self.value),
            count=count_text(self.count, "image"),
        )


class GroupsScreen(AppScreen):
    BINDINGS = [
        Binding("enter", "open", "Open", tooltip="the group's images"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(
        self, flt: browse.ImageFilter, group: str, counts: list[tuple[Any, int]], start: int = 0
    ) -> None:
        super().__init__()
        self.flt, self.group, self.counts, self.start_at = flt, group, counts, start
        self.strip_length = 0

    def compose(self) -> ComposeResult:
        yield NavBar("results")
        shown = self.counts[:MAX_GROUPS]
        more = len(self.counts) - len(shown)
        yield Static(
            plain(
                f"{self.flt.describe()}, grouped by {self.group}: "
                f"{count_text(len(self.counts), 'group')}"
                + (f" (the first {len(shown)} shown)" if more > 0 else "")
            ),
            id="groups-title",
        )
        with StripList(id="groups"):
            for value, count in shown:
                yield GroupRow(value, count, self.panoptui.drawing)
        yield Footer()

    def on_mount(self) -> None:
        rows = self.query_one(StripList)
        if rows.rows:
            rows.highlighted = min(self.start_at, len(rows.rows) - 1)
        rows.focus()
        self.call_after_refresh(self._fit_strips)

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self._fit_strips)

    def _fit_strips(self) -> None:
        length = self.query_one(StripList).strip_length()
        for row in self.query(GroupRow):
            row.show_strip(length)
        if length > self.strip_length:
            self.strip_length = length
            self._load_strips(length)

    def group_view(self, value: Any) -> browse.ImageFilter:
        """The view of one group: the view shown and the group's own filter."""
        own = views.group_filter(self.panoptui.db, self.group, value)
        where = f"({self.flt.where}) and ({own})" if self.flt.where else own
        return browse.ImageFilter(
            self.flt.tag, self.flt.folder, self.flt.name, where, self.flt.sort
        )

    @work(thread=True, exclusive=True, group="group-strips", exit_on_error=False)
    def _load_strips(self, length: int) -> None:
        app = self.panoptui
        made: list[tuple[int, list[Any]]] = []
        sent = time.monotonic()
        with app.using_cursor() as cur:
            for index, (value, _) in enumerate(self.counts[:MAX_GROUPS]):
                own = views.group_filter(cur, self.group, value)
                where = f"({self.flt.where}) and ({own})" if self.flt.where else own
                flt = browse.ImageFilter(
                    self.flt.tag, self.flt.folder, self.flt.name, where, self.flt.sort
                )
                first = [i for i, _ in browse.page_images(cur, 0, length, flt)]
                jpegs = browse.thumbnails(cur, first)
                made.append(
                    (index, [app.drawing.picture(jpegs.get(i), *THUMB_SIZE) for i in first])
                )
                if time.monotonic() - sent > BATCH_S:
                    app.call_from_thread(self._strips_shown, made)
                    made, sent = [], time.monotonic()
        app.call_from_thread(self._strips_shown, made)

    def _strips_shown(self, made: list[tuple[int, list[Any]]]) -> None:
        rows = self.query_one(StripList).rows
        for index, pictures in made:
            if index < len(rows):
                rows[index].set_pictures(pictures)

    def action_open(self) -> None:
        rows = self.query_one(StripList)
        index = rows.highlighted
        if index is None or index >= len(self.counts):
            return
        value = self.counts[index][0]
        try:
            flt = self.group_view(value)
        except filters.FilterError as exc:
            self.notify(str(exc), severity="error")
            return
        args = (self.flt, self.group, self.counts, index)
        self.panoptui.open_results(AllImages(flt), came_from=lambda: GroupsScreen(*args))
