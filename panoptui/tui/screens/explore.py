"""Screens that show what an exploring job found: a clustering (open a cluster, re-cluster inside
one, save as tags), near-duplicate groups, and the 2-D map with a cursor. Each shows the progress
of the exploring job running (a re-clustering started here, a map asked for on Results), and
``x`` cancels it."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from panoptui.core import browse, cluster, projection
from panoptui.tui.job import EXPLORING, JobChanged
from panoptui.tui.jobs import (
    start_clustering,
    start_tags_from_clustering,
    start_tags_from_duplicates,
)
from panoptui.tui.literal import marked, plain
from panoptui.tui.screens.base import AppScreen
from panoptui.tui.screens.dialogs import Field, FormDialog
from panoptui.tui.sources import RankedImages
from panoptui.tui.widgets.grid import DetailPane
from panoptui.tui.widgets.job_progress import JobProgress
from panoptui.tui.widgets.navbar import NavBar

# Said under the progress of a running job on these screens: the key is not in the footer, where
# it would be a dead key most of the time.
CANCEL_HINT = "x: cancel"
# In each screen's own BINDINGS (not inherited): Help and the palette read those.
CANCEL_JOB = Binding(
    "x", "cancel_job", "Cancel job", show=False, tooltip="stop a clustering, map... running"
)


class FindingsScreen(AppScreen):
    """What the screens of findings share: the line of the exploring job running (hidden when
    none runs, so that the screen keeps its room), and ``x`` to cancel it (CANCEL_JOB)."""

    def job_progress(self) -> JobProgress:
        return JobProgress(EXPLORING, hint=CANCEL_HINT, id="explore-job")

    def resumed(self) -> None:
        self._draw_job()

    def on_job_changed(self, message: JobChanged) -> None:
        if message.job.kind in EXPLORING and self.is_attached:
            self._draw_job()

    def _draw_job(self) -> None:
        """The first exploring job running (one of each kind may), or no line."""
        running = [j for j in self.panoptui.running_jobs() if j.kind in EXPLORING]
        progress = self.query_one("#explore-job", JobProgress)
        progress.display = bool(running)
        if running:
            progress.show(running[0])

    def action_cancel_job(self) -> None:
        self.panoptui.cancel_jobs(EXPLORING)


class ClustersScreen(FindingsScreen):
    BINDINGS = [
        Binding("enter", "open", "Open", tooltip="show the cluster's images"),
        Binding("r", "recluster", "Re-cluster", tooltip="cluster inside this cluster"),
        Binding("t", "save_tags", "Save as tags", tooltip="one tag per cluster"),
        Binding("escape", "app.pop_screen", "Back"),
        CANCEL_JOB,
    ]

    def __init__(self, name: str, clusters: list[cluster.Cluster], highlighted: int = 0) -> None:
        super().__init__()
        self.clustering = name
        self.clusters = clusters
        self.start_at = highlighted

    def compose(self) -> ComposeResult:
        yield NavBar("results")
        yield Static(
            marked(
                "clustering [b]$name[/b]: $count clusters, most cohesive first "
                "(score: mean cosine to the centre)",
                name=self.clustering,
                count=len(self.clusters),
            ),
            id="explore-title",
        )
        yield OptionList(
            *(
                Option(
                    plain(f"cluster {c.label:>3}   {c.size:>7} images   score {c.score:.3f}"),
                    id=str(c.label),
                )
                for c in self.clusters
            ),
            id="clusters",
        )
        yield self.job_progress()
        yield Footer()

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if self.clusters:
            options.highlighted = min(self.start_at, len(self.clusters) - 1)
        options.focus()

    @property
    def highlighted(self) -> cluster.Cluster | None:
        index = self.query_one(OptionList).highlighted
        return self.clusters[index] if index is not None else None

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        chosen = self.highlighted
        if chosen is None:
            return
        title = f"{self.clustering}:{chosen.label} ({chosen.size} images)"
        index = self.clusters.index(chosen)
        name, clusters = self.clustering, self.clusters
        self.panoptui.open_results(
            RankedImages(title, [(i, None) for i in chosen.ids]),
            came_from=lambda: ClustersScreen(name, clusters, index),
        )

    def action_recluster(self) -> None:
        chosen = self.highlighted
        if chosen is None or chosen.size < 3:
            self.notify("pick a cluster of 3 images or more", severity="warning")
            return
        if self.panoptui.refuse_write("save a clustering"):
            return
        set_id = cluster.clustering_set(self.panoptui.db, self.clustering)
        fields = [
            Field("k", "Clusters (blank: choose automatically)", kind="int", minimum=2,
                  optional=True),
        ]  # fmt: skip

        def go(values: dict[str, Any] | None) -> None:
            if values is None:
                return
            name = f"{self.clustering}:{chosen.label}/" + (
                str(values["k"]) if values["k"] else "auto"
            )
            start_clustering(
                self.panoptui, set_id, values["k"], name, [int(i) for i in chosen.ids],
                label=f"re-clustering {name}", unique=True,
            )  # fmt: skip

        self.panoptui.push_screen(
            FormDialog(f"Re-cluster cluster {chosen.label}", fields, "Go"), go
        )

    def action_save_tags(self) -> None:
        start_tags_from_clustering(self.panoptui, self.clustering)


class DuplicatesScreen(FindingsScreen):
    BINDINGS = [
        Binding("enter", "open", "Open", tooltip="show the group's images"),
        Binding("t", "save_tags", "Save as tags", tooltip="one tag per group"),
        Binding("escape", "app.pop_screen", "Back"),
        CANCEL_JOB,
    ]

    def __init__(
        self, groups: list[list[int]], set_id: int, threshold: float, highlighted: int = 0
    ) -> None:
        super().__init__()
        self.groups, self.set_id, self.threshold = groups, set_id, threshold
        self.start_at = highlighted

    def compose(self) -> ComposeResult:
        yield NavBar("results")
        yield Static(
            plain(
                f"{len(self.groups)} groups of near-duplicates in vector set {self.set_id} "
                f"(cosine ≥ {self.threshold:g})"
            ),
            id="explore-title",
        )
        paths = browse.paths_of(self.panoptui.db, [g[0] for g in self.groups])
        yield OptionList(
            *(
                Option(
                    plain(f"group {n:>4}  {len(g):>4} images   {paths.get(g[0], '')}"), id=str(n)
                )
                for n, g in enumerate(self.groups, 1)
            ),
            id="duplicates",
        )
        yield self.job_progress()
        yield Footer()

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if self.groups:
            options.highlighted = min(self.start_at, len(self.groups) - 1)
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        index = self.query_one(OptionList).highlighted
        if index is None:
            return
        group = self.groups[index]
        title = f"near-duplicate group {index + 1} ({len(group)} images)"
        args = (self.groups, self.set_id, self.threshold, index)
        self.panoptui.open_results(
            RankedImages(title, [(i, None) for i in group]),
            came_from=lambda: DuplicatesScreen(*args),
        )

    def action_save_tags(self) -> None:
        start_tags_from_duplicates(self.panoptui, self.groups, self.set_id, self.threshold)


WHITE = Style(color="white")


class Scatter(Widget, can_focus=True):
    """Points in terminal cells, coloured by cluster; a cursor cell moves with the arrows."""

    cursor: reactive[tuple[int, int]] = reactive((0, 0))

    def __init__(self, points: np.ndarray, labels: np.ndarray, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        lo, hi = points.min(axis=0), points.max(axis=0)
        self.unit = (points - lo) / np.where(hi > lo, hi - lo, 1)  # 0..1 on both axes
        self.labels = labels
        colours = projection.palette(int(labels.max()) + 1 if len(labels) else 1)
        self.colours = [Style(color=f"rgb({r},{g},{b})") for r, g, b in colours]
        self.cells = np.zeros((0, 2), int)
        self.start_cursor: tuple[int, int] | None = None  # where the cursor was, coming back
        self._counted: tuple[tuple[int, int], np.ndarray, np.ndarray] | None = None
        self._rows: dict[int, Strip] = {}

    def on_resize(self, event: events.Resize) -> None:
        w, h = max(1, event.size.width), max(1, event.size.height)
        self.cells = np.column_stack(
            [np.round(self.unit[:, 0] * (w - 1)), np.round((1 - self.unit[:, 1]) * (h - 1))]
        ).astype(int)
        self._counted = None
        if self.start_cursor is not None:
            self.cursor, self.start_cursor = self.start_cursor, None
        elif self.cursor == (0, 0) and len(self.cells):
            self.cursor = (w // 2, h // 2)

    def points_at(self, x: int, y: int) -> np.ndarray:
        """Indices of the points in a cell."""
        if not len(self.cells):
            return np.zeros(0, int)
        return np.flatnonzero((self.cells[:, 0] == x) & (self.cells[:, 1] == y))

    def _grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Points per cell and the label drawn there, for the current size (made once)."""
        w, h = self.size.width, self.size.height
        if self._counted is None or self._counted[0] != (w, h):
            count = np.zeros((h, w), int)
            label = np.full((h, w), -1)
            inside = (self.cells[:, 0] < w) & (self.cells[:, 1] < h)
            cells, labels = self.cells[inside], self.labels[inside]
            np.add.at(count, (cells[:, 1], cells[:, 0]), 1)
            label[cells[:, 1], cells[:, 0]] = labels
            self._counted = ((w, h), count, label)
            self._rows = {}
        return self._counted[1], self._counted[2]

    def _row(self, y: int, cursor_x: int | None) -> Strip:
        count, label = self._grid()
        segments = []
        for x in range(self.size.width):
            n = count[y, x]
            glyph = " " if n == 0 else "·" if n == 1 else "•" if n < 5 else "●"
            style = self.colours[label[y, x] % len(self.colours)] if label[y, x] >= 0 else WHITE
            if x == cursor_x:
                glyph, style = ("+" if n == 0 else glyph), Style(reverse=True, bold=True)
            segments.append(Segment(glyph, style))
        return Strip(segments, self.size.width)

    def render_line(self, y: int) -> Strip:
        # Rows are made once per size; only the cursor's row is made again as it moves.
        if y >= self.size.height:
            return Strip.blank(self.size.width)
        cx, cy = self.cursor
        if y == cy:
            return self._row(y, cx)
        self._grid()
        if y not in self._rows:
            self._rows[y] = self._row(y, None)
        return self._rows[y]


class MapScreen(FindingsScreen):
    BINDINGS = [
        Binding("left", "move(-1, 0)", "←", show=False),
        Binding("right", "move(1, 0)", "→", show=False),
        Binding("up", "move(0, -1)", "↑", show=False),
        Binding("down", "move(0, 1)", "↓", show=False),
        Binding("enter", "open", "Open", tooltip="show the images near the cursor"),
        Binding("escape", "app.pop_screen", "Back"),
        CANCEL_JOB,
    ]

    def __init__(
        self,
        ids: np.ndarray,
        points: np.ndarray,
        labels: np.ndarray,
        title: str,
        cursor: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.ids, self.points, self.labels, self.map_title = ids, points, labels, title
        self.start_cursor = cursor

    def compose(self) -> ComposeResult:
        yield NavBar("results")
        yield Static(
            plain(
                f"{self.map_title}: {len(self.ids)} images, coloured by the newest clustering; "
                "arrows move the cursor"
            ),
            id="explore-title",
        )
        with Horizontal():
            yield Scatter(self.points, self.labels, id="scatter")
            yield DetailPane(self.panoptui.drawing, id="map-details")
        yield self.job_progress()
        yield Footer()

    def on_mount(self) -> None:
        scatter = self.query_one(Scatter)
        scatter.focus()
        if self.start_cursor is not None:
            scatter.start_cursor = self.start_cursor
        self.call_after_refresh(self._show_under_cursor)

    def action_move(self, dx: int, dy: int) -> None:
        scatter = self.query_one(Scatter)
        x, y = scatter.cursor
        w, h = scatter.size.width, scatter.size.height
        scatter.cursor = (max(0, min(w - 1, x + dx)), max(0, min(h - 1, y + dy)))
        self._show_under_cursor()

    def nearest(self) -> int | None:
        """The point nearest the cursor (in cells)."""
        scatter = self.query_one(Scatter)
        if not len(scatter.cells):
            return None
        x, y = scatter.cursor
        d = np.abs(scatter.cells[:, 0] - x) + 2 * np.abs(scatter.cells[:, 1] - y)
        return int(np.argmin(d))

    def _show_under_cursor(self) -> None:
        index = self.nearest()
        pane = self.query_one(DetailPane)
        pane.request(None if index is None else int(self.ids[index]), None, None)

    def action_open(self) -> None:
        scatter = self.query_one(Scatter)
        inside = scatter.points_at(*scatter.cursor)
        if not len(inside):
            nearest = self.nearest()
            inside = np.array([nearest]) if nearest is not None else inside
        if not len(inside):
            return
        ranked: list[tuple[int, float | None]] = [(int(self.ids[i]), None) for i in inside]
        data, cursor = (self.ids, self.points, self.labels, self.map_title), scatter.cursor
        self.panoptui.open_results(
            RankedImages(f"map cell ({len(ranked)} images)", ranked),
            came_from=lambda: MapScreen(*data[:3], title=data[3], cursor=cursor),
        )
