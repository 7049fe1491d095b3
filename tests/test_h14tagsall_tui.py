"""Issue 14 (review), in the app: the Tags screen shows the tags of every tag property (each
property a row, its tag tree under it); enter shows a tag's images, L proposes its family with
its property and labels by it; rename and delete say they act on the tags of ``tags`` only.
(With only ``tags`` the screen is as before: tests/test_snapshots.py's tags shot.)"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import tui_helpers
from test_h14tagsall import kind_family
from textual.widgets import DataTable
from tui_helpers import fill_form, make_app, screen_text, settle, wait_for

from panoptui.core import browse, store, tags, vector_sets
from panoptui.tui.screens.classify import ClassifyDialog, LabelsScreen
from panoptui.tui.screens.dialogs import ConfirmDialog, FormDialog
from panoptui.tui.screens.results import ResultsScreen
from panoptui.tui.screens.tags import TagsScreen
from panoptui.tui.sources import AllImages

demo_base = tui_helpers.demo_base
TEXT_SET = 2


@pytest.fixture
def project(demo_base: Path, tmp_path: Path) -> Path:
    """The demo project with the tag properties kind and place (test_h14tagsall.kind_family),
    and set 2: the pixel vectors again, as a set that embeds text (its model a stub here)."""
    target = tui_helpers.demo_project(demo_base, tmp_path)
    con = store.open_project(target)
    try:
        kind_family(con)
        (pixels,) = vector_sets.list_sets(con)
        now = datetime.now()
        con.execute(
            "INSERT INTO vector_sets (id, model, family, greyscale, weights, dim, embeds_text, "
            "batch_size, state, created_at, updated_at) "
            "VALUES (?, 'stub:text', 'open_clip', false, NULL, ?, true, 32, 'complete', ?, ?)",
            [TEXT_SET, pixels.dim, now, now],
        )
        store.create_vector_table(con, TEXT_SET, pixels.dim)
        con.execute(
            f"INSERT INTO {store.vector_table(TEXT_SET)} SELECT * FROM "
            f"{store.vector_table(pixels.id)}"
        )
    finally:
        con.close()
    return target


class RandomText:
    """A text's vector: random, the same for the same text; records what it was asked."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.asked: list[str] = []

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        self.asked += texts
        return np.stack(
            [np.random.default_rng(sum(map(ord, t))).normal(size=self.dim) for t in texts]
        ).astype(np.float32)


def cells(screen: TagsScreen) -> list[tuple[str, str, str]]:
    table = screen.query_one("#tags", DataTable)
    return [
        tuple(str(cell).rstrip() for cell in table.get_row_at(n)) for n in range(table.row_count)
    ]


def row_of(screen: TagsScreen, prop: str, name: str | None, parent: str | None = None) -> int:
    """The table row of another property's line (name None) or of one of its tags."""
    for n, (other_prop, tag) in enumerate(screen.others):
        if other_prop.name != prop:
            continue
        if (name is None and tag is None) or (
            tag is not None and tag.name == name and (parent is None or tag.parent == parent)
        ):
            return len(screen.rows) + n
    raise AssertionError(f"no row {prop} {name}")


def test_the_tags_screen_shows_and_uses_every_tag_property(project, monkeypatch):
    async def scenario(app, pilot):
        stub = RandomText(vector_sets.get_set(app.db, TEXT_SET).dim)
        monkeypatch.setattr(app, "text_embedder", lambda vector_set, device: stub)
        await settle(pilot)
        first_two = [
            int(i)
            for (i,) in app.db.execute("SELECT id FROM images ORDER BY id LIMIT 2").fetchall()
        ]
        await pilot.press("4")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TagsScreen)
        # The tags of ``tags`` first, as before; then each other property, its tree under it.
        own = [t.name for t in tags.list_tags(app.db)]
        shown = cells(screen)
        assert [c[0].strip() for c in shown[: len(own)]] == own
        assert shown[len(own) :] == [
            ("kind", "", "(tag property)"),
            ("  animal", "4", "kind"),
            ("    cat", "2", "animal"),
            ("    dog", "2", "animal"),
            ("      puppy", "1", "dog"),
            ("  pet", "2", "kind"),
            ("    cat", "2", "pet"),
            ("place", "", "(tag property)"),
            ("  indoor", "1", "place"),
        ]
        title = "1 tag + 2 tag properties below · L: label by a family · 0 selected"
        assert title in screen_text(app).splitlines()

        table = screen.query_one("#tags", DataTable)
        # R and delete on another property's tag act on it, in its property: each asks first
        # (left unanswered here; the CLI test renames and deletes).
        table.move_cursor(row=row_of(screen, "kind", "dog"))
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="the rename")
        assert app.screen.query_one("#field-name").value == "dog"
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, what="the tags")
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, what="the tags")

        # L on a family of kind: proposed with its property; the labels are its tags.
        table.move_cursor(row=row_of(screen, "kind", "animal"))
        await pilot.press("L")
        await wait_for(pilot, lambda: isinstance(app.screen, ClassifyDialog), what="the form")
        assert app.screen.query_one("#field-parent").value == ("kind", "animal")
        await fill_form(pilot, {"set_id": TEXT_SET, "prompt": "{}"})
        await settle(pilot)
        await pilot.press("3")  # the groups wait on the Results screen
        await settle(pilot)
        labels = app.screen
        assert isinstance(labels, LabelsScreen)
        assert stub.asked == ["cat", "dog", "puppy"]
        assert [g.label for g in labels.labelling.groups] == ["cat", "dog", "puppy"]
        assert labels.tag_parent == "animal"

        # Enter on a tag of kind: its images, by a filter on kind.
        await pilot.press("4")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TagsScreen)
        screen.query_one("#tags", DataTable).move_cursor(row=row_of(screen, "kind", "cat"))
        await pilot.press("enter")
        await settle(pilot)
        results = app.screen
        assert isinstance(results, ResultsScreen)
        source = results.view.source
        assert isinstance(source, AllImages)
        assert source.flt.where == "kind has any (cat)"
        assert browse.filter_ids(app.db, source.flt).tolist() == first_two
        assert results.total == 2

    async def main() -> None:
        app = make_app(project)
        async with app.run_test(size=(80, 30)) as pilot:
            await scenario(app, pilot)

    asyncio.run(main())
