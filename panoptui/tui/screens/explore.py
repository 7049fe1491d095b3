"""Screens that show what an exploring job found: a clustering (each cluster a row of its most
representative thumbnails; open, rename, re-cluster inside one, tag one, save all as tags),
near-duplicate groups, and the 2-D map with a cursor. Each shows the progress of the exploring
job running (a re-clustering started here, a map asked for on Results), and
``x`` cancels it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Footer, Static

from panoptui.core import browse, cluster, duplicates, projection, store, vector_sets
from panoptui.core.text import count_text, shown
from panoptui.tui.images import halfcell_strips, open_thumbnail
from panoptui.tui.job import EXPLORING, JobChanged
from panoptui.tui.jobs import (
    start_clustering,
    start_duplicate_histogram,
    start_tags_from_clustering,
    start_tags_from_duplicates,
)
from panoptui.tui.literal import lines, marked, plain
from panoptui.tui.screens.base import AppScreen
from panoptui.tui.screens.dialogs import Field, FormDialog
from panoptui.tui.sources import RankedImages
from panoptui.tui.widgets.grid import DetailPane
from panoptui.tui.widgets.job_progress import JobProgress
from panoptui.tui.widgets.navbar import NavBar
from panoptui.tui.widgets.picture import Picture
from panoptui.tui.widgets.strip_rows import THUMB_SIZE, StripList, StripRow

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


STRIP_BATCH_S = 0.1  # the rows' pictures reach the screen this often, at most, while made


class ClusterRow(StripRow):
    """One cluster: its name, size and cohesion, then a strip of its most representative
    thumbnails (closest to its centre first), as many as ``ClusterList.strip_length`` says."""

    def __init__(self, found: cluster.Cluster, drawing: Any, **kwargs: Any) -> None:
        super().__init__(found.size, drawing, **kwargs)
        self.cluster = found

    def describe(self) -> Content:
        c = self.cluster
        return marked(
            "[b]$title[/b]\n$size images\ncohesion $score",
            title=c.name if c.name is not None else f"cluster {c.label:>3}",
            size=c.size,
            score=f"{c.score:.3f}",
        )


class ClusterList(StripList):
    """The clusters as rows of pictures; up and down move the highlight."""

    @property
    def rows(self) -> list[ClusterRow]:
        return list(self.query(ClusterRow))


class ClustersScreen(FindingsScreen):
    BINDINGS = [
        Binding("enter", "open", "Open", tooltip="the cluster's images, most representative first"),
        Binding("r", "recluster", "Re-cluster", tooltip="cluster inside this cluster"),
        Binding("R", "rename", "Rename", tooltip="give this cluster a name"),
        Binding("T", "tag_cluster", "Tag cluster", tooltip="tag this cluster's images"),
        Binding("t", "save_tags", "Save as tags", tooltip="one tag per cluster"),
        Binding("escape", "app.pop_screen", "Back"),
        CANCEL_JOB,
    ]

    def __init__(self, name: str, clusters: list[cluster.Cluster], highlighted: int = 0) -> None:
        super().__init__()
        self.clustering = name
        self.clusters = clusters
        self.start_at = highlighted
        # Each cluster's members, most representative first, by label (made in a worker).
        self.ranked: dict[int, list[tuple[int, float | None]]] = {}
        self.strip_length = 0

    def compose(self) -> ComposeResult:
        yield NavBar("results")
        yield Static(
            marked(
                "clustering [b]$name[/b]: $count clusters, most cohesive first "
                "(cohesion: mean cosine to the centre; pictures: closest to it first)",
                name=self.clustering,
                count=len(self.clusters),
            ),
            id="explore-title",
        )
        with ClusterList(id="clusters"):
            for c in self.clusters:
                yield ClusterRow(c, self.panoptui.drawing)
        yield self.job_progress()
        yield Footer()

    def on_mount(self) -> None:
        rows = self.query_one(ClusterList)
        if self.clusters:
            rows.highlighted = min(self.start_at, len(self.clusters) - 1)
        rows.focus()
        self.call_after_refresh(self._fit_strips)

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self._fit_strips)

    def _fit_strips(self) -> None:
        """As many thumbnails a row as the width holds; more are loaded when it grows."""
        length = self.query_one(ClusterList).strip_length()
        for row in self.query(ClusterRow):
            row.show_strip(length)
        if length > self.strip_length:
            self.strip_length = length
            self._load_strips(length)

    @work(thread=True, exclusive=True, group="cluster-strips", exit_on_error=False)
    def _load_strips(self, length: int) -> None:
        """Rank each cluster's members by representativeness (the set's vectors are loaded
        once for the app), then make the pictures of the first ``length``."""
        app = self.panoptui
        made: list[tuple[int, list[tuple[int, float | None]], list[Any]]] = []
        sent = time.monotonic()
        with app.using_cursor() as cur:
            set_id = cluster.clustering_set(cur, self.clustering)
            matrix = app.matrix(cur, set_id, vector_sets.get_set(cur, set_id).count)
            for c in self.clusters:
                ranked = self.ranked.get(c.label) or cluster.by_representativeness(matrix, c.ids)
                first = [i for i, _ in ranked[:length]]
                jpegs = browse.thumbnails(cur, first)
                pictures = [app.drawing.picture(jpegs.get(i), *THUMB_SIZE) for i in first]
                made.append((c.label, ranked, pictures))
                # Rows go to the screen a batch at a time: each call waits on the event loop.
                if time.monotonic() - sent > STRIP_BATCH_S:
                    app.call_from_thread(self._strips_shown, made)
                    made, sent = [], time.monotonic()
        app.call_from_thread(self._strips_shown, made)

    def _strips_shown(
        self, made: list[tuple[int, list[tuple[int, float | None]], list[Any]]]
    ) -> None:
        rows = {row.cluster.label: row for row in self.query(ClusterRow)}
        for label, ranked, pictures in made:
            self.ranked[label] = ranked
            row = rows.get(label)
            if row is not None:
                row.set_pictures(pictures)

    @property
    def highlighted(self) -> cluster.Cluster | None:
        index = self.query_one(ClusterList).highlighted
        return self.clusters[index] if index is not None and self.clusters else None

    def _ranked(self, chosen: cluster.Cluster) -> list[tuple[int, float | None]]:
        """The cluster's members, most representative first (ranked now if the worker has
        not reached it yet)."""
        if chosen.label in self.ranked:
            return self.ranked[chosen.label]
        app = self.panoptui
        try:
            set_id = cluster.clustering_set(app.db, self.clustering)
            matrix = app.matrix(app.db, set_id, vector_sets.get_set(app.db, set_id).count)
        except store.ProjectError:  # its vector set is gone: the images still open, unranked
            return [(i, None) for i in chosen.ids]
        self.ranked[chosen.label] = cluster.by_representativeness(matrix, chosen.ids)
        return self.ranked[chosen.label]

    def action_open(self) -> None:
        chosen = self.highlighted
        if chosen is None:
            return
        title = (
            f"{self.clustering}:{chosen.label} ({chosen.size} images, most representative first)"
        )
        index = self.clusters.index(chosen)
        name, clusters = self.clustering, self.clusters
        self.panoptui.open_results(
            RankedImages(title, self._ranked(chosen)),
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

    def action_rename(self) -> None:
        chosen = self.highlighted
        if chosen is None or self.panoptui.refuse_write("rename a cluster"):
            return
        fields = [
            Field("name", "Name (blank: its label again)", default=chosen.name or "",
                  optional=True),
        ]  # fmt: skip
        self.panoptui.push_screen(
            FormDialog(f"Rename cluster {chosen.label}", fields, "Rename"),
            lambda values: self._renamed(chosen, values),
        )

    def _renamed(self, chosen: cluster.Cluster, values: dict[str, Any] | None) -> None:
        if values is None:
            return
        try:
            chosen.name = cluster.rename_cluster(
                self.panoptui.db, self.clustering, chosen.label, values["name"]
            )
        except store.ProjectError as exc:
            self.notify(str(exc), severity="error")
            return
        for row in self.query(ClusterRow):
            if row.cluster is chosen:
                row.redescribe()

    def action_tag_cluster(self) -> None:
        chosen = self.highlighted
        if chosen is None or self.panoptui.refuse_write("tag images"):
            return
        default = f"{self.clustering}/{chosen.name if chosen.name is not None else chosen.label}"
        fields = [Field("tag", "Tag", default=default)]
        self.panoptui.push_screen(
            FormDialog(f"Tag the {chosen.size} images of {chosen.title}", fields, "Tag"),
            lambda values: self._tagged(chosen, values),
        )

    def _tagged(self, chosen: cluster.Cluster, values: dict[str, Any] | None) -> None:
        if values is None:
            return
        try:
            added = cluster.cluster_to_tag(
                self.panoptui.db, self.clustering, chosen.label, values["tag"]
            )
        except store.ProjectError as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(f"tagged {added} images with {values['tag']!r}")

    def action_save_tags(self) -> None:
        start_tags_from_clustering(self.panoptui, self.clustering)


# A duplicate group's row: a line of text, then a card per member (picture and caption), at most
# MAX_MEMBERS; at most MAX_GROUP_ROWS groups are listed (the largest come first).
MEMBER_THUMB = (16, 5)
MAX_MEMBERS = 8
MAX_GROUP_ROWS = 300
SPARK = " ▁▂▃▄▅▆▇█"


def human_size(size: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000  # type: ignore[assignment]
    return str(size)


CARD_WIDTH = 18
PATH_ROWS = 2  # a card shows its path on this many lines


def path_lines(path: str, width: int = CARD_WIDTH, rows: int = PATH_ROWS) -> list[str]:
    """A path shown (control characters escaped) in at most ``rows`` lines of ``width``
    cells, filled from its end and shortened from the left with "…" when longer: the file's
    name and its nearest folders are what tell copies apart ("…/2019/march/IMG_0042.jpg")."""
    from rich.cells import cell_len, get_character_cell_size

    def tail(text: str, room: int) -> int:
        """Where the longest end of ``text`` that fits in ``room`` cells starts."""
        used, start = 0, len(text)
        while start > 0 and used + get_character_cell_size(text[start - 1]) <= room:
            start -= 1
            used += get_character_cell_size(text[start])
        return start

    text, out = shown(path), list[str]()
    while text and len(out) < rows - 1 and cell_len(text) > width:
        start = tail(text, width)
        out.insert(0, text[start:])
        text = text[:start]
    if cell_len(text) > width:
        text = "…" + text[tail(text, width - 1) :]
    return [text, *out] if text or not out else out


class DuplicateCard(Vertical):
    """One image of a group: its picture, then resolution and format, file size and cosine to
    the representative, and its path on two lines (shortened from the left: the whole path is
    in the tooltip). The cards of identical copies each show their own path."""

    DEFAULT_CSS = """
    DuplicateCard { width: 18; height: 9; margin-right: 1; }
    DuplicateCard Picture { width: 16; height: 5; }
    DuplicateCard .card-text { width: 18; height: 4; }
    DuplicateCard.-cursor .card-text { background: $accent 40%; }
    DuplicateCard.-keeper .card-text { text-style: bold; color: $success; }
    """

    def __init__(self, image_id: int, path: str, drawing: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.image_id, self.path, self.drawing = image_id, path, drawing

    def compose(self) -> ComposeResult:
        yield Picture(self.drawing)
        yield Static(self.path_text(), classes="card-text")

    def on_mount(self) -> None:
        self.tooltip = plain(self.path)

    def path_text(self) -> Content:
        return lines(*(plain(line) for line in path_lines(self.path)))

    def describe(self, meta: tuple[int, int, int, str] | None, score: float | None) -> None:
        keeper = "★ keep " if self.has_class("-keeper") else ""
        if meta is None:
            self.query_one(".card-text", Static).update(self.path_text())
            return
        width, height, size, fmt = meta
        numbers = marked(
            "$keeper$res $fmt\n$size  $score",
            keeper=keeper,
            res=f"{width}×{height}",
            fmt=fmt,
            size=human_size(size),
            score="" if score is None else f"{score:.3f}",
        )
        self.query_one(".card-text", Static).update(lines(numbers, self.path_text()))


class DuplicateRow(Vertical):
    """One group: what it is (near or identical bytes) and its images side by side."""

    DEFAULT_CSS = """
    DuplicateRow { height: 11; margin-bottom: 1; }
    DuplicateRow .group-text { height: 1; padding: 0 1; }
    DuplicateRow.-highlight .group-text { background: $accent 40%; text-style: bold; }
    DuplicateRow .group-cards { height: 9; }
    """

    def __init__(
        self, number: int, kind: str, ids: list[int], paths: list[str], drawing: Any
    ) -> None:
        super().__init__()
        self.number, self.kind, self.ids, self.paths = number, kind, ids, paths
        self.drawing = drawing
        self.keeper: int | None = None  # a card's index
        self.cursor = 0
        self.meta: dict[int, tuple[int, int, int, str]] = {}
        self.scores: list[float | None] = [None] * len(ids)
        self.fit = MAX_MEMBERS  # how many cards the width holds (fit_cards)

    def compose(self) -> ComposeResult:
        yield Static(self.title(), classes="group-text")
        with Horizontal(classes="group-cards"):
            for image_id, path in list(zip(self.ids, self.paths, strict=True))[:MAX_MEMBERS]:
                yield DuplicateCard(image_id, path, self.drawing)

    def title(self) -> Content:
        more = len(self.ids) - self.fit
        what = "one image at $n paths" if self.kind == "exact" else "$n images, the first leads"
        return marked(
            f"[b]$kind $number[/b] · {what}$more",
            kind="identical copies" if self.kind == "exact" else "group",
            number=self.number,
            n=len(self.ids),
            more=f" ({more} more: enter shows all)" if more > 0 else "",
        )

    @property
    def cards(self) -> list[DuplicateCard]:
        return list(self.query(DuplicateCard))

    def fit_cards(self, width: int) -> None:
        """Only the cards that the width holds (18 cells and a gap each), at least one."""
        self.fit = max(1, min(MAX_MEMBERS, width // 19))
        for n, card in enumerate(self.cards):
            card.display = n < self.fit
        self.cursor = min(self.cursor, self.fit - 1)
        self.query_one(".group-text", Static).update(self.title())

    def redraw(self) -> None:
        for n, card in enumerate(self.cards):
            card.set_class(n == self.cursor and self.has_class("-highlight"), "-cursor")
            card.set_class(n == self.keeper, "-keeper")
            card.describe(self.meta.get(card.image_id), self.scores[n])

    def on_click(self, event: events.Click) -> None:
        rows = self.parent
        if isinstance(rows, DuplicateList):
            rows.highlighted = rows.rows.index(self)


class DuplicateList(VerticalScroll, can_focus=True):
    """The groups as rows of pictures; up and down move between groups, left and right
    between a group's images."""

    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("left", "member(-1)", "Left", show=False),
        Binding("right", "member(1)", "Right", show=False),
        Binding("home", "move(-1000000)", "First", show=False),
        Binding("end", "move(1000000)", "Last", show=False),
        Binding("pageup", "move(-2)", "Page up", show=False),
        Binding("pagedown", "move(2)", "Page down", show=False),
    ]

    highlighted: reactive[int | None] = reactive(None)

    @property
    def rows(self) -> list[DuplicateRow]:
        return list(self.query(DuplicateRow))

    def action_move(self, step: int) -> None:
        rows = self.rows
        if rows:
            now = self.highlighted if self.highlighted is not None else 0
            self.highlighted = max(0, min(len(rows) - 1, now + step))

    def action_member(self, step: int) -> None:
        row = self.current()
        if row is not None:
            row.cursor = max(0, min(min(len(row.cards), row.fit) - 1, row.cursor + step))
            row.redraw()

    def current(self) -> DuplicateRow | None:
        rows = self.rows
        if self.highlighted is None or not 0 <= self.highlighted < len(rows):
            return None
        return rows[self.highlighted]

    def watch_highlighted(self, index: int | None) -> None:
        for n, row in enumerate(self.rows):
            row.set_class(n == index, "-highlight")
            if row.is_mounted:
                row.redraw()
            if n == index:
                self.scroll_to_widget(row, animate=False)


@dataclass
class DuplicatesState:
    """What the duplicates screen keeps when it is made again (coming back from a group's
    images through ``came_from``): the keepers chosen (a group's images → the keeper's card)
    and the histogram, whose job may end while the user looks elsewhere."""

    keepers: dict[tuple[int, ...], int] = field(default_factory=dict)
    histogram: duplicates.Histogram | None = None
    histogram_note: str = ""  # "computing…", "cancelled": said while there is no histogram


class DuplicatesScreen(FindingsScreen):
    """Near-duplicate groups (each a representative and the images within the threshold of
    it, none chaining) and images whose identical bytes sit at several paths, each group as
    its pictures with resolution, format, file size, cosine to the representative and path.
    The user picks a keeper (``k``) and tags the others ``duplicate-of/<keeper id>`` (``D``), or
    says the group holds no duplicates (``n``: remembered in the project, never proposed
    again); ``h`` shows the spread of nearest-neighbour cosines, to choose a threshold (a
    job: its progress on the job line, ``x`` cancels it)."""

    BINDINGS = [
        Binding("enter", "open", "Open", tooltip="show the group's images"),
        Binding("k", "keeper", "Keeper", tooltip="keep the image under the cursor"),
        Binding("D", "tag_others", "Tag others", tooltip="tag the others duplicate-of/KEEPER"),
        Binding("n", "not_duplicates", "Not dups", tooltip="never propose this group again"),
        Binding("h", "histogram", "Histogram", tooltip="nearest-neighbour cosines"),
        Binding("t", "save_tags", "Save as tags", tooltip="one tag per group"),
        Binding("escape", "app.pop_screen", "Back"),
        CANCEL_JOB,
    ]

    DEFAULT_CSS = """
    DuplicatesScreen #duplicates-histogram { height: auto; max-height: 3; padding: 0 1; }
    """

    def __init__(
        self,
        groups: list[list[int]],
        set_id: int,
        threshold: float,
        highlighted: int = 0,
        state: DuplicatesState | None = None,
    ) -> None:
        super().__init__()
        self.groups, self.set_id, self.threshold = groups, set_id, threshold
        self.start_at = highlighted
        self.state = state or DuplicatesState()

    def compose(self) -> ComposeResult:
        db = self.panoptui.db
        self.exact = duplicates.exact_duplicates(db)
        shown_groups = self.groups[:MAX_GROUP_ROWS]
        paths = browse.paths_of(db, [i for g in shown_groups for i in g])
        yield NavBar("results")
        yield Static(self.title_text(), id="explore-title")
        yield Static("", id="duplicates-histogram")
        with DuplicateList(id="duplicates"):
            for n, g in enumerate(shown_groups, 1):
                row = DuplicateRow(n, "near", g, [paths.get(i, "") for i in g], self.drawing)
                row.keeper = self.state.keepers.get(tuple(g))
                yield row
            for n, group in enumerate(self.exact, 1):
                ids = [m["id"] for m in group]
                yield DuplicateRow(n, "exact", ids, [m["path"] for m in group], self.drawing)
        yield self.job_progress()
        yield Footer()

    def title_text(self) -> Content:
        """How many groups (those still listed: ``n`` removes one), at which threshold."""
        shown_groups = min(len(self.groups), MAX_GROUP_ROWS)
        more = len(self.groups) - shown_groups
        return plain(
            f"{count_text(len(self.groups), 'group')} of near-duplicates in vector set "
            f"{self.set_id} "
            f"(cosine ≥ {self.threshold:g} to the first)"
            + (f", the {shown_groups} largest shown" if more > 0 else "")
            + f"; {count_text(len(self.exact), 'image')} with identical copies"
            # They come after every near group: say where, or a user scrolls to find them.
            + (" (listed last: end)" if self.exact and self.groups else "")
        )

    @property
    def drawing(self) -> Any:
        return self.panoptui.drawing

    def resumed(self) -> None:
        super().resumed()
        self.draw_histogram()

    def on_mount(self) -> None:
        rows = self.query_one(DuplicateList)
        self.draw_histogram()
        count = len(rows.rows)
        if count:
            rows.highlighted = min(self.start_at, count - 1)
        rows.focus()
        self._load_cards()
        self.call_after_refresh(self._fit_cards)

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self._fit_cards)

    def _fit_cards(self) -> None:
        rows = self.query_one(DuplicateList)
        width = rows.scrollable_content_region.width or self.app.size.width
        for row in rows.rows:
            row.fit_cards(width)

    @work(thread=True, exclusive=True, group="duplicate-cards", exit_on_error=False)
    def _load_cards(self) -> None:
        """Each shown image's size, format and picture, and its cosine to its group's
        representative (from the set's stored vectors), a group at a time."""
        app = self.panoptui
        with app.using_cursor() as cur:
            rows = [(r.ids[:MAX_MEMBERS], r.kind) for r in self.query(DuplicateRow)]
            for index, (ids, kind) in enumerate(rows):
                meta = {
                    int(i): (int(w), int(h), int(s), str(f))
                    for i, w, h, s, f in cur.execute(
                        "SELECT id, width, height, size, format FROM images "
                        "WHERE id IN (SELECT unnest(?::BIGINT[]))",
                        [ids],
                    ).fetchall()
                }
                scores: list[float | None] = [1.0] * len(ids)
                if kind == "near":
                    scores = duplicates.scores_to_first(cur, self.set_id, ids)
                jpegs = browse.thumbnails(cur, list(set(ids)))
                pictures = [app.drawing.picture(jpegs.get(i), *MEMBER_THUMB) for i in ids]
                app.call_from_thread(self._cards_shown, index, meta, scores, pictures)

    def _cards_shown(
        self,
        index: int,
        meta: dict[int, tuple[int, int, int, str]],
        scores: list[float | None],
        pictures: list[Any],
    ) -> None:
        rows = self.query_one(DuplicateList).rows
        if index >= len(rows):
            return
        row = rows[index]
        row.meta, row.scores = meta, scores + [None] * (len(row.ids) - len(scores))
        for card, made in zip(row.cards, pictures, strict=False):
            card.query_one(Picture).set_picture(made)
        row.redraw()

    def current(self) -> DuplicateRow | None:
        return self.query_one(DuplicateList).current()

    def _near_row(self) -> DuplicateRow | None:
        """The highlighted group, if it is one of near-duplicates (an exact one is one image:
        nothing to keep or tag apart)."""
        row = self.current()
        if row is not None and row.kind == "exact":
            self.notify("identical bytes: one image at several paths, nothing to choose")
            return None
        return row

    def action_keeper(self) -> None:
        row = self._near_row()
        if row is not None:
            row.keeper = row.cursor
            self.state.keepers[tuple(row.ids)] = row.cursor
            row.redraw()

    def action_tag_others(self) -> None:
        row = self._near_row()
        if row is None or self.panoptui.refuse_write("tag duplicates"):
            return
        keeper = row.ids[row.keeper if row.keeper is not None else 0]
        others = [i for i in row.ids if i != keeper]
        try:
            tag = duplicates.tag_duplicates_of(self.panoptui.db, keeper, others)
        except store.ProjectError as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(f"tagged {len(others)} images {tag!r}")

    def action_not_duplicates(self) -> None:
        row = self._near_row()
        if row is None or self.panoptui.refuse_write("remember not duplicates"):
            return
        duplicates.mark_not_duplicates(self.panoptui.db, row.ids)
        rows = self.query_one(DuplicateList)
        index = rows.rows.index(row)
        if row.ids in self.groups:
            self.groups.remove(row.ids)
        row.remove()
        remaining = len(rows.rows) - 1
        rows.highlighted = min(index, remaining - 1) if remaining > 0 else None
        self.query_one("#explore-title", Static).update(self.title_text())
        if self.state.histogram is not None:  # its counts were before this pair was left out
            self.state.histogram, self.state.histogram_note = None, "h: the histogram again"
            self.draw_histogram()
        self.notify(f"group {row.number}: not duplicates, never proposed again")

    def action_histogram(self) -> None:
        """The histogram as a job (progress on the job line, ``x`` cancels it): at 100,000
        images it compares every pair. Its end reaches this screen, or the one made again in
        its place (same state), when it shows; a user who left breaks nothing."""
        state, app = self.state, self.panoptui

        def ended(found: duplicates.Histogram | None, how: str) -> None:
            if found is not None:
                state.histogram, state.histogram_note = found, ""
            else:
                state.histogram_note = "" if how == "failed" else f"histogram {how}"
            screen = app.screen
            if isinstance(screen, DuplicatesScreen) and screen.state is state:
                screen.draw_histogram()

        if start_duplicate_histogram(app, self.set_id, self.threshold, ended) is not None:
            state.histogram, state.histogram_note = None, "nearest-neighbour cosines: computing…"
            self.draw_histogram()

    def draw_histogram(self) -> None:
        """The histogram, or what is said instead (computing, cancelled), or no line."""
        shown_at = self.query_one("#duplicates-histogram", Static)
        found, note = self.state.histogram, self.state.histogram_note
        shown_at.display = found is not None or bool(note)
        if found is None:
            shown_at.update(plain(note))
            return
        widest = max(found.counts, default=0) or 1
        spark = "".join(SPARK[round(8 * c / widest)] for c in found.counts)
        groups = "  ".join(
            ("▸" if t == self.threshold else "") + f"{t:g}: {g} groups"
            for t, (g, _) in found.groups.items()
        )
        shown_at.update(lines(plain(f"nearest-neighbour cosine 0 {spark} 1"), plain(groups)))

    def action_open(self) -> None:
        row = self.current()
        if row is None:
            return
        index = self.query_one(DuplicateList).rows.index(row)
        what = "near-duplicate group" if row.kind == "near" else "identical copies"
        title = f"{what} {row.number} ({count_text(len(row.ids), 'image')})"
        args = (self.groups, self.set_id, self.threshold, index, self.state)
        self.panoptui.open_results(
            RankedImages(title, [(i, None) for i in dict.fromkeys(row.ids)]),
            came_from=lambda: DuplicatesScreen(*args),
        )

    def action_save_tags(self) -> None:
        start_tags_from_duplicates(self.panoptui, self.groups, self.set_id, self.threshold)


# A braille cell holds 2 x 4 dots: the bit of each (column, row) in the cell (U+2800 + bits).
BRAILLE_BITS = np.array([[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]], np.uint8)
# Zoomed in until this few images are in view, each is drawn as its thumbnail at its point, in
# half blocks of THUMB_CELLS (they read on every terminal, and sit among the dots as text does).
THUMBS_AT = 16
THUMB_CELLS = (12, 6)
BOX_HINT = "box: arrows grow the box · v selects · enter opens · esc drops it"
LEGEND_ROWS = 12  # more groups than this: the first ones (a legend is not a list)
MAX_ZOOM = 1024.0


def box_edge(x: int, y: int, rect: tuple[int, int, int, int]) -> str:
    """The box-drawing character of a cell on the box's outline ("" inside): corners, sides,
    and a line for a box one cell thin."""
    x0, x1, y0, y1 = rect
    left, right, top, bottom = x == x0, x == x1, y == y0, y == y1
    if not (left or right or top or bottom):
        return ""
    if x0 == x1 and y0 == y1:
        return "□"
    if x0 == x1:
        return "│"
    if y0 == y1:
        return "─"
    corners = {(1, 0, 1, 0): "┌", (0, 1, 1, 0): "┐", (1, 0, 0, 1): "└", (0, 1, 0, 1): "┘"}
    return corners.get((left, right, top, bottom), "│" if left or right else "─")


class Scatter(Widget, can_focus=True):
    """Points as braille dots (2 x 4 per cell), coloured by group, on the widget's own
    background and foreground (the theme's: a fixed white or black vanishes on one kind of
    terminal). A cursor cell moves with the arrows; the view zooms (``zoom``) around ``centre``
    (in 0..1 map units), and a rectangle from ``corner`` to the cursor picks images."""

    # The box being drawn: its outline in the accent colour (box lines on the cells without a
    # dot, reversed where one is) and a tint inside, so that it shows on blank cells and on
    # light and dark themes alike.
    COMPONENT_CLASSES = {"scatter--box", "scatter--inside"}
    DEFAULT_CSS = """
    Scatter > .scatter--box { color: $accent; text-style: bold; }
    Scatter > .scatter--inside { background: $accent 20%; }
    """

    cursor: reactive[tuple[int, int]] = reactive((0, 0))
    corner: reactive[tuple[int, int] | None] = reactive(None)

    def __init__(self, points: np.ndarray, labels: np.ndarray, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        lo, hi = points.min(axis=0), points.max(axis=0)
        unit = (points - lo) / np.where(hi > lo, hi - lo, 1)  # 0..1 on both axes
        # A small margin, so that the outermost dots are not on the border; y grows downwards.
        self.unit = 0.01 + 0.98 * np.column_stack([unit[:, 0], 1 - unit[:, 1]])
        self.zoom = 1.0
        self.centre = (0.5, 0.5)
        self.set_labels(labels)
        self.cells = np.zeros((0, 2), int)
        self.dots = np.zeros((0, 2), int)
        self.start_cursor: tuple[int, int] | None = None  # where the cursor was, coming back
        self._drawn: tuple[Any, np.ndarray, np.ndarray] | None = None
        # Each drawn thumbnail: (left cell, top cell, its rows of half blocks).
        self.thumbs: list[tuple[int, int, list[Strip]]] = []

    def in_view(self) -> np.ndarray:
        """Indices of the points in the view."""
        return np.flatnonzero(self.cells[:, 0] >= 0)

    def set_thumbs(self, pictures: dict[int, list[Strip]]) -> None:
        """Thumbnails (by point index) drawn centred on their points, in the view."""
        tw, th = THUMB_CELLS
        w, h = self.size.width, self.size.height
        self.thumbs = []
        for index, rows in pictures.items():
            x, y = (int(v) for v in self.cells[index])
            left, top = max(0, min(w - tw, x - tw // 2)), max(0, min(h - th, y - th // 2))
            self.thumbs.append((left, top, rows))
        self.refresh()

    def set_labels(self, labels: np.ndarray) -> None:
        self.labels = labels
        colours = projection.palette(max(1, int(labels.max()) + 1 if len(labels) else 1))
        self.colours = [Style(color=f"rgb({r},{g},{b})") for r, g, b in colours]
        self._drawn = None
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        w, h = max(1, event.size.width), max(1, event.size.height)
        self.place()
        if self.start_cursor is not None:
            self.cursor, self.start_cursor = self.start_cursor, None
        elif self.cursor == (0, 0) and len(self.cells):
            self.cursor = (w // 2, h // 2)

    def place(self) -> None:
        """Each point's dot and cell in the current view and size (off the view: -1)."""
        w, h = max(1, self.size.width), max(1, self.size.height)
        half = 0.5 / self.zoom
        view = (self.unit - (np.array(self.centre) - half)) * self.zoom  # 0..1 inside the view
        dots = np.floor(view * np.array([2 * w, 4 * h])).astype(int)
        outside = (view < 0).any(axis=1) | (view >= 1).any(axis=1)
        dots[outside] = -1
        self.dots = dots
        self.cells = np.where(dots >= 0, dots // np.array([2, 4]), -1)
        self.thumbs = []  # placed for the old view: the screen draws them again
        self._drawn = None
        self.refresh()

    def set_view(self, zoom: float, centre: tuple[float, float]) -> None:
        self.zoom = min(MAX_ZOOM, max(1.0, zoom))
        half = 0.5 / self.zoom  # the view stays on the map
        self.centre = (min(1 - half, max(half, centre[0])), min(1 - half, max(half, centre[1])))
        self.place()

    def unit_at(self, x: int, y: int) -> tuple[float, float]:
        """The map position (0..1) at the middle of a cell."""
        w, h = max(1, self.size.width), max(1, self.size.height)
        half = 0.5 / self.zoom
        return (
            self.centre[0] - half + (x + 0.5) / w / self.zoom,
            self.centre[1] - half + (y + 0.5) / h / self.zoom,
        )

    def points_at(self, x: int, y: int) -> np.ndarray:
        """Indices of the points in a cell."""
        if not len(self.cells):
            return np.zeros(0, int)
        return np.flatnonzero((self.cells[:, 0] == x) & (self.cells[:, 1] == y))

    def points_in(self, corner: tuple[int, int], other: tuple[int, int]) -> np.ndarray:
        """Indices of the points in the rectangle of cells between two corners."""
        (x0, x1), (y0, y1) = sorted((corner[0], other[0])), sorted((corner[1], other[1]))
        c = self.cells
        return np.flatnonzero((c[:, 0] >= x0) & (c[:, 0] <= x1) & (c[:, 1] >= y0) & (c[:, 1] <= y1))

    def _grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Each cell's braille bits and the label drawn there (made once per view and size)."""
        w, h = self.size.width, self.size.height
        if self._drawn is None or self._drawn[0] != (w, h):
            bits = np.zeros((h, w), np.uint8)
            label = np.full((h, w), -1)
            inside = (self.cells[:, 0] >= 0) & (self.cells[:, 0] < w) & (self.cells[:, 1] < h)
            cells, dots = self.cells[inside], self.dots[inside]
            np.bitwise_or.at(
                bits, (cells[:, 1], cells[:, 0]), BRAILLE_BITS[dots[:, 0] % 2, dots[:, 1] % 4]
            )
            # A cell of several groups shows the largest group's colour: ungrouped last.
            labels = self.labels[inside]
            order = np.argsort(labels, kind="stable")
            label[cells[order, 1], cells[order, 0]] = labels[order]
            self._drawn = ((w, h), bits, label)
        return self._drawn[1], self._drawn[2]

    def render_line(self, y: int) -> Strip:
        w = self.size.width
        if y >= self.size.height:
            return Strip.blank(w)
        bits, label = self._grid()
        base = self.rich_style  # the theme's colours, so the dots read on light and dark
        cx, cy = self.cursor
        rect = None
        if self.corner is not None:
            (x0, x1), (y0, y1) = sorted((self.corner[0], cx)), sorted((self.corner[1], cy))
            rect = (x0, x1, y0, y1)
        if rect:
            box = base + self.get_component_rich_style("scatter--box", partial=True)
            # The tint's alpha over the widget's background (a Rich style has no alpha).
            tint = self.get_component_styles("scatter--inside").background
            inside = base + Style(bgcolor=(self.background_colors[1] + tint).rich_color)
        segments = []
        for x in range(w):
            b, group = int(bits[y, x]), int(label[y, x])
            glyph = chr(0x2800 + b) if b else " "
            dot = self.colours[group % len(self.colours)] if group >= 0 else Style()
            style = base + dot
            if rect and rect[0] <= x <= rect[1] and rect[2] <= y <= rect[3]:
                edge = box_edge(x, y, rect)
                if not edge:
                    style = inside + dot
                elif b:
                    style = style + Style(reverse=True)
                else:
                    glyph, style = edge, box
            if (x, y) == (cx, cy):
                glyph, style = ("+" if not b else glyph), base + Style(reverse=True, bold=True)
            segments.append(Segment(glyph, style))
        line = Strip(segments, w)
        for left, top, rows in self.thumbs:
            if top <= y < top + len(rows):
                picture = rows[y - top]
                right = left + picture.cell_length
                line = Strip.join([line.crop(0, left), picture, line.crop(right, w)])
        return line

    def watch_cursor(self) -> None:
        self.refresh()

    def watch_corner(self) -> None:
        self.refresh()


class MapScreen(FindingsScreen):
    DEFAULT_CSS = """
    #map-side { width: 34; height: 1fr; }
    #map-legend { height: auto; max-height: 13; border-left: vkey $panel-lighten-2; padding: 0 1; }
    #map-box { height: auto; padding: 0 1; color: $accent; text-style: bold; display: none; }
    """
    BINDINGS = [
        Binding("left", "move(-1, 0)", "←", show=False),
        Binding("right", "move(1, 0)", "→", show=False),
        Binding("up", "move(0, -1)", "↑", show=False),
        Binding("down", "move(0, 1)", "↓", show=False),
        Binding("enter", "open", "Open", tooltip="show the images near the cursor or in the box"),
        Binding("plus,equals_sign", "zoom(2)", "Zoom in", tooltip="zoom in at the cursor"),
        Binding("minus", "zoom(0.5)", "Zoom out"),
        Binding("h", "pan(-1, 0)", "Pan ←", show=False),
        Binding("l", "pan(1, 0)", "Pan →", show=False),
        Binding("k", "pan(0, -1)", "Pan ↑", show=False),
        Binding("j", "pan(0, 1)", "Pan ↓", show=False),
        Binding("0", "reset_view", "Whole map", show=False),
        Binding(
            "v", "box", "Select box", tooltip="start a box at the cursor; again: select inside"
        ),
        Binding("c", "colour", "Colour by", tooltip="colour by a clustering or a tag family"),
        Binding("escape", "back", "Back"),
        CANCEL_JOB,
    ]

    def __init__(
        self,
        ids: np.ndarray,
        points: np.ndarray,
        labels: np.ndarray,
        title: str,
        cursor: tuple[int, int] | None = None,
        set_id: int | None = None,
        colour: tuple[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.ids, self.points, self.labels, self.map_title = ids, points, labels, title
        self.start_cursor = cursor
        self.set_id = set_id
        self.colour = colour  # ("clustering" | "tag", name) chosen, or None: the default
        self.colouring = projection.Colouring(
            labels, [f"group {g}" for g in range(int(labels.max()) + 1 if len(labels) else 0)],
            "groups",
        )  # fmt: skip

    def compose(self) -> ComposeResult:
        yield NavBar("results")
        yield Static(id="explore-title")
        with Horizontal():
            yield Scatter(self.points, self.labels, id="scatter")
            with Vertical(id="map-side"):
                yield Static(id="map-box")
                yield Static(id="map-legend")
                yield DetailPane(self.panoptui.drawing, id="map-details")
        yield self.job_progress()
        yield Footer()

    def on_mount(self) -> None:
        scatter = self.query_one(Scatter)
        scatter.focus()
        if self.start_cursor is not None:
            scatter.start_cursor = self.start_cursor
        if self.set_id is not None:
            self._recolour(self.colour)
        else:
            self._draw_legend()
        self.call_after_refresh(self._show_under_cursor)

    def _recolour(self, choice: tuple[str, str] | None) -> None:
        """Colour by a clustering or tag family, or (None) by the set's newest clustering."""
        assert self.set_id is not None
        kind, name = choice if choice else ("", "")
        self.colour = choice
        self.colouring = projection.colouring(
            self.panoptui.db, self.set_id, self.ids,
            by_clustering=name if kind == "clustering" else None,
            by_tag=name if kind == "tag" else None,
            newest_clustering=choice is None,
        )  # fmt: skip
        self.labels = self.colouring.groups
        self.query_one(Scatter).set_labels(self.labels)
        self._draw_legend()

    def _draw_legend(self) -> None:
        scatter = self.query_one(Scatter)
        self.query_one("#explore-title", Static).update(
            plain(
                f"{self.map_title}: {len(self.ids)} images, coloured by "
                f"{self.colouring.title}; zoom ×{scatter.zoom:g} (+/-, hjkl)"
            )
        )
        legend = Text()
        for group, name, images in self.colouring.legend()[:LEGEND_ROWS]:
            colour = scatter.colours[group % len(scatter.colours)] if group >= 0 else Style()
            legend.append("⣿ ", colour)
            legend.append(f"{name} ", Style(bold=group < 0))  # a name is shown literally
            legend.append(f"{images}\n", Style(dim=True))
        self.query_one("#map-legend", Static).update(legend)

    def action_move(self, dx: int, dy: int) -> None:
        scatter = self.query_one(Scatter)
        x, y = scatter.cursor
        w, h = scatter.size.width, scatter.size.height
        if not (0 <= x + dx < w and 0 <= y + dy < h) and scatter.zoom > 1:
            self.action_pan(dx, dy)  # pushing on the border moves the view
        scatter.cursor = (max(0, min(w - 1, x + dx)), max(0, min(h - 1, y + dy)))
        self._show_under_cursor()
        if scatter.corner is not None:
            self._draw_box()

    def action_pan(self, dx: int, dy: int) -> None:
        scatter = self.query_one(Scatter)
        step = 0.25 / scatter.zoom
        scatter.set_view(
            scatter.zoom, (scatter.centre[0] + dx * step, scatter.centre[1] + dy * step)
        )
        self._after_view()

    def action_zoom(self, factor: float) -> None:
        scatter = self.query_one(Scatter)
        scatter.set_view(scatter.zoom * factor, scatter.unit_at(*scatter.cursor))
        scatter.cursor = (scatter.size.width // 2, scatter.size.height // 2)
        self._after_view()

    def action_reset_view(self) -> None:
        self.query_one(Scatter).set_view(1.0, (0.5, 0.5))
        self._after_view()

    def _draw_box(self) -> None:
        """While a box is drawn, beside the map: how many images it holds and the keys (the
        title keeps its lines: a longer one would shrink the canvas under the box)."""
        scatter = self.query_one(Scatter)
        shown_at = self.query_one("#map-box", Static)
        shown_at.display = scatter.corner is not None
        if scatter.corner is not None:
            inside = len(scatter.points_in(scatter.corner, scatter.cursor))
            said = [f"box: {count_text(inside, 'image')}", "arrows grow the box"]
            shown_at.update(lines(*map(plain, [*said, "v selects · enter opens", "esc drops it"])))

    def _after_view(self) -> None:
        self.query_one(Scatter).corner = None  # a box is in cells: a new view drops it
        self._draw_box()
        self._draw_legend()
        self._show_under_cursor()
        self._draw_thumbs()

    def _draw_thumbs(self) -> None:
        """Zoomed in to THUMBS_AT images or fewer: each drawn as its thumbnail."""
        scatter = self.query_one(Scatter)
        shown = scatter.in_view()
        if scatter.zoom <= 1 or not 0 < len(shown) <= THUMBS_AT:
            return
        jpegs = browse.thumbnails(self.panoptui.db, [int(self.ids[i]) for i in shown])
        pictures = {}
        for index in shown:
            jpeg = jpegs.get(int(self.ids[index]))
            img = open_thumbnail(jpeg) if jpeg else None
            if img is not None:
                pictures[int(index)] = halfcell_strips(img, *THUMB_CELLS)
        scatter.set_thumbs(pictures)

    def action_box(self) -> None:
        """First press: a corner at the cursor; second: the images inside become the
        selection."""
        scatter = self.query_one(Scatter)
        if scatter.corner is None:
            scatter.corner = scatter.cursor
            self._draw_box()
            self.notify(BOX_HINT)
            return
        inside = scatter.points_in(scatter.corner, scatter.cursor)
        scatter.corner = None
        self._draw_box()
        selection = self.panoptui.selection
        selection.clear()
        selection.update(int(i) for i in self.ids[inside])
        self.notify(f"{len(inside)} images selected")

    def action_back(self) -> None:
        scatter = self.query_one(Scatter)
        if scatter.corner is not None:
            scatter.corner = None  # escape drops a box being drawn first
            self._draw_box()
            return
        self.panoptui.pop_screen()

    def action_colour(self) -> None:
        if self.set_id is None:
            self.notify("this map does not know its vector set", severity="warning")
            return
        choices = projection.colour_choices(self.panoptui.db, self.set_id)
        # Options by index: a select's values are plain, the choices are (kind, name).
        picks: list[tuple[str, str] | None] = [None, *choices, ("", "")]
        labels = ["the newest clustering"] + [f"{k} {n}" for k, n in choices] + ["nothing"]
        current = picks.index(self.colour) if self.colour in picks else 0
        fields = [Field("colour", "Colour the dots by", kind="select", default=current,
                        options=[(label, n) for n, label in enumerate(labels)])]  # fmt: skip

        def chosen(values: dict[str, Any] | None) -> None:
            if values is not None:
                self._recolour(picks[int(values["colour"])])

        self.panoptui.push_screen(FormDialog("Colour the map", fields, "Colour"), chosen)

    def nearest(self) -> int | None:
        """The point nearest the cursor (in cells)."""
        scatter = self.query_one(Scatter)
        if not len(scatter.cells):
            return None
        x, y = scatter.cursor
        d = np.abs(scatter.cells[:, 0] - x) + 2 * np.abs(scatter.cells[:, 1] - y)
        d[scatter.cells[:, 0] < 0] = np.iinfo(d.dtype).max  # off the view
        return int(np.argmin(d)) if scatter.cells[:, 0].max() >= 0 else None

    def _show_under_cursor(self) -> None:
        index = self.nearest()
        pane = self.query_one(DetailPane)
        pane.request(None if index is None else int(self.ids[index]), None, None)

    def action_open(self) -> None:
        scatter = self.query_one(Scatter)
        if scatter.corner is not None:  # a box being drawn: its images
            inside = scatter.points_in(scatter.corner, scatter.cursor)
            scatter.corner = None
        else:
            inside = scatter.points_at(*scatter.cursor)
        if not len(inside):
            nearest = self.nearest()
            inside = np.array([nearest]) if nearest is not None else inside
        if not len(inside):
            return
        ranked: list[tuple[int, float | None]] = [(int(self.ids[i]), None) for i in inside]
        data, cursor = (self.ids, self.points, self.labels, self.map_title), scatter.cursor
        set_id, colour = self.set_id, self.colour
        self.panoptui.open_results(
            RankedImages(f"map ({count_text(len(ranked), 'image')})", ranked),
            came_from=lambda: MapScreen(
                *data[:3], title=data[3], cursor=cursor, set_id=set_id, colour=colour
            ),
        )
