"""The terminal app, driven with Textual's Pilot at 80x24: every screen, the main workflow, and
what bad input gets. Assertions read both what the screen shows and what the store holds."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import numpy as np
import pytest
from model_fixtures import tiny_open_clip_dir
from tui_helpers import SIZE, demo_project, fill_form, make_app, screen_text, settle, wait_for

from panoptui.core import store, tags, vectorize
from panoptui.core.demo import build_demo
from panoptui.tui.screens.dialogs import ConfirmDialog, FormDialog
from panoptui.tui.screens.explore import ClustersScreen, DuplicatesScreen, MapScreen
from panoptui.tui.screens.help import HelpScreen
from panoptui.tui.screens.project import ProjectScreen
from panoptui.tui.screens.results import ResultsScreen
from panoptui.tui.screens.settings import SettingsScreen
from panoptui.tui.screens.tags import TagsScreen
from panoptui.tui.screens.vectors import VectorsScreen
from panoptui.tui.sources import AllImages, RankedImages

PER_FAMILY = 6  # 36 demo images: several pages at 80x24, quick to build


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="session")
def demo_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo-base")
    build_demo(root, per_family=PER_FAMILY)
    return root


@pytest.fixture
def project(demo_base: Path, tmp_path: Path) -> Path:
    return demo_project(demo_base, tmp_path)


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_open_clip_dir(tmp_path_factory.mktemp("models"))


def sorted_ids(con) -> list[int]:
    return [r[0] for r in con.execute("SELECT id FROM images ORDER BY id").fetchall()]


def family(path: str) -> str:
    return Path(path).parent.name


def test_results_pages_moves_and_shows_details(project):
    async def scenario():
        app = make_app(project)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, ResultsScreen)
            assert screen.total == 6 * PER_FAMILY
            page = screen.capacity
            assert page >= 4, "80x24 shows at least 4 thumbnails"
            text = screen_text(app)
            assert f"{6 * PER_FAMILY} images" in text and "page 1/" in text
            assert screen.items[0].path.endswith("checker_000.jpg")
            await pilot.press("pagedown")
            await settle(pilot)
            assert screen.view.offset == page
            assert screen.items[0].image_id == sorted_ids(app.db)[page]
            await pilot.press("end")
            await settle(pilot)
            assert screen.view.offset + screen.view.cursor == screen.total - 1
            await pilot.press("home", "right", "down")
            await settle(pilot)
            columns = screen.query_one("#grid").columns
            assert screen.view.cursor == 1 + columns
            # The detail pane (hidden at 80 columns) shows metadata, paths and tags.
            await pilot.press("i")
            await pilot.pause()
            item = screen.current_item
            assert f"image {item.image_id}" in screen_text(app)
            # List view: the same images with paths.
            await pilot.press("g")
            await settle(pilot)
            assert screen.list_mode and item.path.rsplit("/", 1)[-1] in screen_text(app)

    run(scenario())


def test_workflow_vectors_similar_search_cluster_tag_export(project, tiny_clip, tmp_path):
    """The main workflow, by keys only: create vectors with a tiny random-weight CLIP, find
    similar images, search by text, cluster, tag a cluster, export."""
    from panoptui.core.models import load_embedder

    export_file = tmp_path / "export.csv"

    async def scenario():
        app = make_app(project)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            # Vectors: create a set with the tiny CLIP (custom spec, local weights).
            await pilot.press("2")
            await settle(pilot)
            assert isinstance(app.screen, VectorsScreen)
            await pilot.press("n")
            assert isinstance(app.screen, FormDialog)
            await fill_form(
                pilot,
                {"custom": "open_clip:tiny", "weights": tiny_clip, "device": "cpu",
                 "batch_size": 8},
            )  # fmt: skip
            await settle(pilot)
            sets = vectorize.list_sets(app.db)
            clip = sets[-1]
            assert (clip.model, clip.count, clip.total, clip.status) == (
                "open_clip:tiny", 36, 36, "complete"
            )  # fmt: skip
            text = screen_text(app)
            assert "open_clip:tiny" in text and "36/36" in text

            # Similar (pixels set, the project's default): the closest images share the family.
            await pilot.press("3")
            await settle(pilot)
            results = app.screen
            query_item = results.current_item
            await pilot.press("s")
            assert isinstance(app.screen, FormDialog)
            assert app.screen.query_one("#field-set_id").value == sets[0].id  # the default
            await fill_form(pilot, {"k": 5})
            await settle(pilot)
            assert isinstance(results.view.source, RankedImages)
            hits = results.view.source.ranked
            assert len(hits) == 5 and query_item.image_id not in [i for i, _ in hits]
            assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
            same = [family(p.path) == family(query_item.path) for p in results.items[:3]]
            assert sum(same) >= 2, [p.path for p in results.items[:3]]
            assert "similar to" in screen_text(app)

            # Text search asks among the sets that embed text only: the tiny CLIP.
            await pilot.press("slash")
            await pilot.press(*"red stripes", "enter")
            assert isinstance(app.screen, FormDialog)
            assert app.screen.query_one("#field-set_id").value == clip.id
            await fill_form(pilot, {"k": 10})
            await settle(pilot)
            ranked = results.view.source.ranked
            embedder = load_embedder("open_clip:tiny", str(tiny_clip), "cpu")
            matrix = app.matrix(app.db, clip.id, clip.count)
            expected = matrix.top_k(embedder.embed_texts(["red stripes"])[0], 10)
            assert [i for i, _ in ranked] == [i for i, _ in expected]

            # Back to every image, cluster with the pixels set into 6 clusters.
            await pilot.press("escape", "escape")
            await settle(pilot)
            assert isinstance(results.view.source, AllImages)
            await pilot.press("c")
            await fill_form(pilot, {"set_id": sets[0].id, "k": 6, "name": "six"})
            await settle(pilot)
            assert isinstance(app.screen, ClustersScreen)
            assert sum(c.size for c in app.screen.clusters) == 36
            assert "cluster   0" in screen_text(app)
            first = app.screen.clusters[0]

            # Open the first cluster, select all of it and tag it.
            await pilot.press("enter")
            await settle(pilot)
            assert app.screen is results and results.total == first.size
            assert {i.image_id for i in results.items} <= set(first.ids)
            await pilot.press("t")
            await fill_form(pilot, {"tag": "keepers"})
            await settle(pilot)
            # Nothing selected: the image under the cursor is tagged; now select the rest.
            assert tags.tag_members(app.db, "keepers").tolist() == [results.items[0].image_id]
            for _ in range(min(first.size, results.capacity)):
                await pilot.press("space", "right")
            await pilot.press("t")
            await fill_form(pilot, {"tag": "keepers"})
            await settle(pilot)
            tagged = set(tags.tag_members(app.db, "keepers").tolist())
            assert tagged == {i.image_id for i in results.items}

            # Export: every file, with its tags.
            await pilot.press("e")
            await fill_form(pilot, {"file": export_file})
            await settle(pilot)
        return tagged

    tagged = run(scenario())
    rows = list(csv.DictReader(export_file.open()))
    assert len(rows) == 36
    assert {int(r["image_id"]) for r in rows if "keepers" in (r["tags"] or "")} == tagged
    assert all("six=" in r["clusters"] for r in rows)
