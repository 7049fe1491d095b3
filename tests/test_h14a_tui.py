"""Labelling by names in the app (issue 14): the dialog, the job, the groups as rows of
pictures equal to the core's labelling, enter opens a group best first, t saves the groups as
tags. The demo project gets a text-capable set (its pixel vectors again) whose text model is a
stub with planted vectors: each family's name embeds as the mean of that family's images."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import tui_helpers
from textual.widgets import Static
from tui_helpers import fill_form, make_app, settle, wait_for

from panoptui.core import classify, store, tags, vector_sets
from panoptui.core.query import VectorMatrix
from panoptui.tui.screens.classify import ClassifyDialog, LabelRow, LabelsScreen
from panoptui.tui.screens.dialogs import FormDialog
from panoptui.tui.screens.results import ResultsScreen
from panoptui.tui.sources import RankedImages
from panoptui.tui.widgets.picture import Picture

demo_base = tui_helpers.demo_base
FAMILIES = ["circles", "stripes", "gradient"]
TEXT_SET = 2


@pytest.fixture
def project(demo_base: Path, tmp_path: Path) -> Path:
    """The demo project, with set 2: the pixel vectors again, as a set that embeds text."""
    target = tui_helpers.demo_project(demo_base, tmp_path)
    con = store.open_project(target)
    try:
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


class FamilyText:
    """A text's vector: the mean of the images of the family named in it."""

    def __init__(self, con) -> None:
        matrix = VectorMatrix.load(con, TEXT_SET)
        paths = dict(con.execute("SELECT image_id, path FROM files").fetchall())
        self.means = {
            family: matrix.vectors[[f"/{family}/" in paths[int(i)] for i in matrix.ids]].mean(0)
            for family in FAMILIES
        }
        self.asked: list[str] = []

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        self.asked += texts
        return np.stack([next(v for f, v in self.means.items() if f in t) for t in texts])


async def submit(pilot, values: dict) -> None:
    """Fill the form and press Enter in its labels box (the form submits on Enter)."""
    await fill_form(pilot, values, submit=False)
    pilot.app.screen.query_one("#field-labels").focus()
    await pilot.press("enter")
    await pilot.pause()


def said(dialog) -> str:
    return str(dialog.query_one("#form-error", Static).render())


def test_label_by_names_shows_the_groups_and_saves_them_as_tags(project, monkeypatch):
    async def scenario(app, pilot):
        stub = FamilyText(app.db)
        monkeypatch.setattr(app, "text_embedder", lambda vector_set, device: stub)
        await settle(pilot)
        results = app.screen
        assert isinstance(results, ResultsScreen)

        await pilot.press("L")  # Results' key for it
        await wait_for(pilot, lambda: isinstance(app.screen, ClassifyDialog), what="the form")
        # Neither labels nor a tag: the form says so and stays open.
        await submit(pilot, {"set_id": TEXT_SET})
        assert isinstance(app.screen, ClassifyDialog)
        assert "one of them" in said(app.screen)
        await submit(pilot, {"labels": "a", "prompt": "no place for it"})
        assert "has no {} where the label goes" in said(app.screen)
        await submit(pilot, {"prompt": "{}", "multiple": True})
        assert "need a threshold" in said(app.screen)
        await submit(
            pilot, {"multiple": False, "labels": ", ".join(FAMILIES), "prompt": "{} pictures"}
        )
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, LabelsScreen)
        assert stub.asked == [f"{f} pictures" for f in FAMILIES]

        # The groups are the core's labelling of the same vectors and texts.
        matrix = VectorMatrix.load(app.db, TEXT_SET)
        want = classify.classify(
            matrix, stub.embed_texts([f"{f} pictures" for f in FAMILIES]), FAMILIES
        )
        assert [(g.label, g.ids) for g in screen.labelling.groups] == [
            (g.label, g.ids) for g in want.groups
        ]
        assert all(g.size for g in want.groups)  # each family's name finds images
        rows = list(screen.query(LabelRow))
        assert [r.cluster.title for r in rows] == FAMILIES
        assert sum(r.cluster.size for r in rows) == len(matrix)
        # Each group with images shows pictures of them.
        await wait_for(
            pilot,
            lambda: all([p for p in r.query(Picture) if p.display] for r in rows if r.cluster.size),
        )

        # Enter: the highlighted group's images, best score first.
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ResultsScreen)
        source = app.screen.view.source
        assert isinstance(source, RankedImages)
        first = want.groups[0]
        assert [i for i, _ in source.ranked] == first.ids
        assert [s for _, s in source.ranked] == pytest.approx(first.scores)

        # Back, then t: the groups saved as tags under a parent, one undo.
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, LabelsScreen)
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, FormDialog)
        await fill_form(pilot, {"parent": "by name"})
        await settle(pilot)
        for group in want.groups:
            if group.ids:
                members = tags.tag_members(app.db, f"by name/{group.label}")
                assert sorted(members.tolist()) == sorted(group.ids)

    async def main() -> None:
        app = make_app(project)
        async with app.run_test(size=tui_helpers.SIZE) as pilot:
            await scenario(app, pilot)

    asyncio.run(main())


def test_the_tags_screen_proposes_the_highlighted_tag_family(project, monkeypatch):
    async def scenario(app, pilot):
        await settle(pilot)
        con = app.db
        first = int(con.execute("SELECT min(id) FROM images").fetchone()[0])
        for family in FAMILIES:
            tags.create_tag(con, f"shapes/{family}", parent="shapes")
        tags.tag_images(con, "shapes/circles", [first])
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("L")
        await wait_for(pilot, lambda: isinstance(app.screen, ClassifyDialog), what="the form")
        assert app.screen.query_one("#field-parent").value == "shapes"

    async def run() -> None:
        app = make_app(project)
        async with app.run_test(size=(80, 24)) as pilot:
            await scenario(app, pilot)

    asyncio.run(run())
