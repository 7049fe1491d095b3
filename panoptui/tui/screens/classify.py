"""Labelling by names in the app (issue 14): the dialog (labels typed or a tag parent, the
prompt, a threshold, several labels an image), the job, and the screen of the groups (each a
row of its best-scored pictures, like a clustering), whose ``t`` saves them as tags.

The Results screen binds a key to ``ask_classify(screen, within)``: the same core calls as
`panoptui classify` (core/classify.py).
"""

from __future__ import annotations

import time
from typing import Any

import duckdb
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import Footer, Static

from panoptui.core import browse, classify, store, tags, vector_sets
from panoptui.core.cluster import Cluster
from panoptui.core.text import count_text
from panoptui.tui.job import Job
from panoptui.tui.jobs import open_on_results, said_if_cancelled, saved
from panoptui.tui.literal import marked
from panoptui.tui.screens.base import AppScreen
from panoptui.tui.screens.dialogs import Field, FormDialog, vector_set_field
from panoptui.tui.screens.explore import (
    CANCEL_JOB,
    STRIP_BATCH_S,
    ClusterList,
    ClusterRow,
    FindingsScreen,
)
from panoptui.tui.sources import RankedImages
from panoptui.tui.widgets.navbar import NavBar
from panoptui.tui.widgets.strip_rows import THUMB_SIZE

NO_TAG = ""  # the tag parent field's "none": the labels are typed


class ClassifyDialog(FormDialog):
    """The labelling form: it stays open, saying why, until exactly one of the labels or a tag
    parent is given."""

    def submit(self) -> None:
        values = self.checked_values()
        if values is None:
            return
        if bool(values.get("labels")) == bool(values.get("parent")):
            self.say("give the labels, or choose a tag whose tags are the labels (one of them)")
            return
        if values.get("multiple") and values.get("threshold") is None:
            self.say("several labels an image need a threshold: every label at or above it")
            return
        self.dismiss(values)


def _prompt(text: str) -> str:
    classify.prompt_texts([classify.Label("x", "x")], text)  # its one-line error, in the form
    return text


# A tag parent chosen in the form: its name for a tag of ``tags`` (as before there were other
# tag properties), (property name, tag name) for a tag of another tag property.
Parent = str | tuple[str, str]


def parent_options(con: duckdb.DuckDBPyConnection) -> list[tuple[str, Parent]]:
    """The tags that have tags under them, of every tag property: those of ``tags`` by name,
    then each other property's, said with their property."""
    options: list[tuple[str, Parent]] = []
    for prop in tags.tag_properties(con):
        listed = tags.list_tags(con, prop.id)
        families = sorted({t.parent for t in listed if t.parent}, key=tags.natural_key)
        if prop.id == store.TAGS_PROPERTY_ID:
            options += [(f, f) for f in families]
        else:
            options += [(f"{f} ({prop.name})", (prop.name, f)) for f in families]
    return options


def classify_fields(con: duckdb.DuckDBPyConnection, parent: Parent | None = None) -> list[Field]:
    """The form's fields after the vector set's (``parent``: the tag proposed)."""
    families = parent_options(con)
    return [
        Field("labels", "Labels, comma-separated (or a tag below)", optional=True,
              placeholder="cat, dog, bird", check=classify.parse_labels),
        Field("parent", "The tags under this tag are the labels", kind="select",
              default=parent if parent in [v for _, v in families] else NO_TAG,
              options=[("none: the labels typed", NO_TAG), *families]),
        Field("parent_names", "Tags with tags under them", kind="select", default="use",
              options=[("labels too", "use"), ("left out", "ignore"),
                       ("left out, their name before their children's", "combine")]),
        Field("prompt", "Prompt ({} is the label)", default=classify.DEFAULT_PROMPT,
              check=_prompt),
        Field("threshold", "Threshold (blank: every image gets its best label)", kind="float",
              optional=True, minimum=-1, maximum=1),
        Field("multiple", "Every label at or above the threshold", kind="check"),
    ]  # fmt: skip


def ask_classify(
    screen: AppScreen, within: browse.ImageFilter | None = None, parent: Parent | None = None
) -> None:
    """Ask for the labels and run the labelling (among the images of ``within``, when given);
    its groups open over the Results screen."""
    app = screen.panoptui
    set_field = vector_set_field(app.db, need_text=True)
    if set_field is None:
        screen.notify(
            "no vector set that embeds text (clip or siglip) yet: create one on the Vectors "
            "screen (2)",
            severity="warning",
        )
        return
    title = "Label by names" + (f" (among {within.describe()})" if within is not None else "")
    fields = [set_field, *classify_fields(app.db, parent)]

    def answered(values: dict[str, Any] | None) -> None:
        if values is not None:
            start_classify(screen, values, within)

    app.push_screen(ClassifyDialog(title, fields, "Label"), answered)


def start_classify(
    screen: AppScreen, values: dict[str, Any], within: browse.ImageFilter | None
) -> Job | None:
    """The labelling as a query job (x cancels it); its groups open when it is done."""
    app = screen.panoptui
    device = app_device(app)
    set_id, prompt = values["set_id"], values["prompt"]

    def work_(cur: duckdb.DuckDBPyConnection, job: Job) -> classify.Labelling:
        if values.get("parent"):
            prop, name = tag_parent(cur, values["parent"])
            labels = classify.tag_labels(cur, name, values["parent_names"], prop)
        else:
            labels = values["labels"]
        vector_set = vector_sets.get_set(cur, set_id)
        matrix = app.matrix(cur, set_id, vector_set.count)
        scope = None if within is None else browse.filter_ids(cur, within)
        return saved(
            job,
            classify.classify_set(
                cur, matrix, lambda v: app.text_embedder(v, device), vector_set, labels,
                prompt, values.get("threshold"), bool(values.get("multiple")), scope,
            ),
        )  # fmt: skip

    def done(job: Job) -> None:
        if job.state == "done":
            labelling: classify.Labelling = job.result
            what = f"labelling ({len(labelling.groups)} labels)"
            chosen = values.get("parent")
            # The tags are saved under a tag of ``tags`` named as the family was.
            parent = (chosen[1] if isinstance(chosen, tuple) else chosen) or "labels"
            open_on_results(
                app, what, lambda shown: shown.show_found(LabelsScreen(labelling, parent))
            )
        said_if_cancelled(app, job)

    return app.start_job("query", f"labelling by names (set {set_id})", work_, done)


def tag_parent(con: duckdb.DuckDBPyConnection, parent: Parent) -> tuple[int, str]:
    """The property id and the tag name of a parent chosen in the form."""
    if isinstance(parent, tuple):
        prop_name, name = parent
        return tags.tag_property(con, prop_name).id, name
    return store.TAGS_PROPERTY_ID, parent


def app_device(app: Any) -> str:
    from panoptui.core import settings

    return settings.load(app.db).device


class LabelRow(ClusterRow):
    """A label's group: its label, size and mean score, then its best-scored pictures."""

    def describe(self) -> Content:
        c = self.cluster
        return marked(
            "[b]$title[/b]\n$size\nmean score $score",
            title=c.title,
            size=count_text(c.size, "image"),
            score=f"{c.score:.3f}",
        )


class LabelsScreen(FindingsScreen):
    BINDINGS = [
        Binding("enter", "open", "Open", tooltip="the label's images, best score first"),
        Binding("t", "save_tags", "Save as tags", tooltip="one tag per label, under a parent"),
        Binding("escape", "app.pop_screen", "Back"),
        CANCEL_JOB,
    ]

    def __init__(
        self, labelling: classify.Labelling, parent: str = "labels", highlighted: int = 0
    ) -> None:
        super().__init__()
        self.labelling = labelling
        self.groups: list[Cluster] = labelling.as_clusters()
        self.tag_parent = parent
        self.start_at = highlighted
        self.strip_length = 0

    def compose(self) -> ComposeResult:
        yield NavBar("results")
        unlabelled = len(self.labelling.unlabelled)
        yield Static(
            marked(
                "labelled by names: $count labels, $none under the threshold "
                "(pictures: best score first)",
                count=len(self.groups),
                none=count_text(unlabelled, "image"),
            ),
            id="explore-title",
        )
        with ClusterList(id="labels"):
            for group in self.groups:
                yield LabelRow(group, self.panoptui.drawing)
        yield self.job_progress()
        yield Footer()

    def on_mount(self) -> None:
        rows = self.query_one(ClusterList)
        if self.groups:
            rows.highlighted = min(self.start_at, len(self.groups) - 1)
        rows.focus()
        self.call_after_refresh(self._fit_strips)

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self._fit_strips)

    def _fit_strips(self) -> None:
        length = self.query_one(ClusterList).strip_length()
        for row in self.query(LabelRow):
            row.show_strip(length)
        if length > self.strip_length:
            self.strip_length = length
            self._load_strips(length)

    @work(thread=True, exclusive=True, group="label-strips", exit_on_error=False)
    def _load_strips(self, length: int) -> None:
        """The pictures of each group's ``length`` best-scored images."""
        app = self.panoptui
        made: list[tuple[int, list[Any]]] = []
        sent = time.monotonic()
        with app.using_cursor() as cur:
            for group in self.groups:
                first = group.ids[:length]
                jpegs = browse.thumbnails(cur, first)
                pictures = [app.drawing.picture(jpegs.get(i), *THUMB_SIZE) for i in first]
                made.append((group.label, pictures))
                if time.monotonic() - sent > STRIP_BATCH_S:
                    app.call_from_thread(self._strips_shown, made)
                    made, sent = [], time.monotonic()
        app.call_from_thread(self._strips_shown, made)

    def _strips_shown(self, made: list[tuple[int, list[Any]]]) -> None:
        rows = {row.cluster.label: row for row in self.query(LabelRow)}
        for label, pictures in made:
            row = rows.get(label)
            if row is not None:
                row.set_pictures(pictures)

    @property
    def highlighted(self) -> Cluster | None:
        index = self.query_one(ClusterList).highlighted
        return self.groups[index] if index is not None and self.groups else None

    def action_open(self) -> None:
        chosen = self.highlighted
        if chosen is None:
            return
        group = self.labelling.groups[chosen.label]
        ranked: list[tuple[int, float | None]] = list(zip(group.ids, group.scores, strict=True))
        title = f"label {group.label!r} ({count_text(group.size, 'image')}, best score first)"
        labelling, parent, index = self.labelling, self.tag_parent, chosen.label
        self.panoptui.open_results(
            RankedImages(title, ranked),
            came_from=lambda: LabelsScreen(labelling, parent, index),
        )

    def action_save_tags(self) -> None:
        app = self.panoptui
        if app.refuse_write("save tags"):
            return
        if not any(g.ids for g in self.labelling.groups):
            self.notify("no image has a label: nothing to tag", severity="warning")
            return

        def answered(values: dict[str, Any] | None) -> None:
            if values:
                self.tag_parent = values["parent"]
                start_save_labels(self, self.labelling, values["parent"])

        fields = [Field("parent", "Under the tag", default=self.tag_parent, check=tags.clean_name)]
        app.push_screen(FormDialog("Save the labels as tags", fields, "Save"), answered)


def start_save_labels(screen: AppScreen, labelling: classify.Labelling, parent: str) -> Job | None:
    """One tag per label with images, PARENT/LABEL, in one undo."""
    app = screen.panoptui

    def work_(cur: duckdb.DuckDBPyConnection, job: Job) -> list[str]:
        return classify.save_as_tags(cur, labelling, parent)

    def done(job: Job) -> None:
        if job.state == "done":
            app.notify(f"made {len(job.result)} tags under {parent!r}")

    return app.start_job("tags", f"tags from labels under {parent}", work_, done)
