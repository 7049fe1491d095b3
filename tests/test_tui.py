"""The terminal app, driven with Textual's Pilot at 80x24: every screen, the main workflow, and
what bad input gets. Assertions read both what the screen shows and what the store holds."""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path

import pytest
import tui_helpers
from model_fixtures import tiny_open_clip_dir
from tui_helpers import PER_FAMILY, SIZE, fill_form, make_app, screen_text, settle, wait_for

from panoptui.core import store, tags, vector_sets, vectorize
from panoptui.tui.images import prepare
from panoptui.tui.screens.dialogs import ERROR_CELLS, ConfirmDialog, Field, FormDialog
from panoptui.tui.screens.explore import ClustersScreen, DuplicatesScreen, MapScreen
from panoptui.tui.screens.help import HelpScreen
from panoptui.tui.screens.project import ProjectScreen
from panoptui.tui.screens.results import ResultsScreen
from panoptui.tui.screens.settings import SettingsScreen
from panoptui.tui.screens.tags import TagsScreen
from panoptui.tui.screens.vectors import VectorsScreen
from panoptui.tui.sources import AllImages, RankedImages

# The shared fixtures: a demo project built once, a fresh copy of it per test.
demo_base, project, drive = tui_helpers.demo_base, tui_helpers.project, tui_helpers.drive


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_open_clip_dir(tmp_path_factory.mktemp("models"))


def sorted_ids(con) -> list[int]:
    return [r[0] for r in con.execute("SELECT id FROM images ORDER BY id").fetchall()]


def notices(app) -> str:
    """Every notification the app has shown (and still holds)."""
    return "\n".join(n.message for n in app._notifications)


def family(path: str) -> str:
    return Path(path).parent.name


def test_results_pages_moves_and_shows_details(drive):
    async def scenario(app, pilot):
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
        await settle(pilot)
        item = screen.current_item
        assert f"image {item.image_id}" in screen_text(app)
        # List view: the same images with paths.
        await pilot.press("g")
        await settle(pilot)
        assert screen.list_mode and item.path.rsplit("/", 1)[-1] in screen_text(app)

    drive(scenario)


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
            sets = vector_sets.list_sets(app.db)
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

            # Export: every file, with its tags (no selection: a selection exports only it).
            await pilot.press("X", "e")
            await fill_form(pilot, {"file": export_file})
            await settle(pilot)
        return tagged

    tagged = run(scenario())
    rows = list(csv.DictReader(export_file.open()))
    assert len(rows) == 36
    assert {int(r["image_id"]) for r in rows if "keepers" in (r["tags"] or "")} == tagged
    assert all("six=" in r["clusters"] for r in rows)


def test_project_screen_errors_add_folder_and_rescan(drive, tmp_path):
    extra = tmp_path / "more"
    extra.mkdir()
    from panoptui.core.samples import family_image

    family_image("circles", 99).save(extra / "new.png")
    (extra / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (extra / "empty.png").write_bytes(b"")

    async def scenario(app, pilot):
        await settle(pilot)
        assert isinstance(app.screen, ProjectScreen)
        text = screen_text(app)
        assert "36 images" in text and "Import errors (0)" in text
        await pilot.press("a")
        await fill_form(pilot, {"folder": extra})
        await settle(pilot)
        text = screen_text(app)
        assert "37 images" in text and "Import errors (2)" in text
        table = app.screen.query_one("#errors")
        rows = [table.get_row_at(r) for r in range(table.row_count)]
        # The file first (its name stays in view at 80 columns), then the reason.
        assert [Path(str(path)).name for path, _ in rows] == ["broken.jpg", "empty.png"]
        reasons = [str(reason) for _, reason in rows]
        assert all(reasons) and len(reasons) == 2
        assert all(reason in text for reason in reasons)  # in view at 80 columns
        # A file removed, then a rescan: it is counted missing.
        (extra / "new.png").unlink()
        await pilot.press("r")
        await settle(pilot)
        assert "1 missing" in screen_text(app)
        # A folder that does not exist is refused with a message, nothing imported.
        await pilot.press("a")
        await fill_form(pilot, {"folder": tmp_path / "nowhere"})
        await settle(pilot)
        assert not app.running_jobs()
        assert "is not a folder" in notices(app)
        assert "36 images" in screen_text(app)  # the removed file's image is not counted

    drive(scenario, start="project")


@pytest.fixture
def slow_batches(monkeypatch):
    """Vector batches that take a while to commit: time to browse, cancel and quit mid-job."""
    original = vectorize.commit_batch

    def slow(*args, **kwargs):
        time.sleep(0.15)
        return original(*args, **kwargs)

    monkeypatch.setattr(vectorize, "commit_batch", slow)


async def create_set(pilot, model: str, batch_size: int) -> None:
    await pilot.press("2")
    await pilot.press("n")
    await fill_form(pilot, {"model": model, "device": "cpu", "batch_size": batch_size})
    if isinstance(pilot.app.screen, ConfirmDialog):  # the demo has a pixels set: compute again
        await pilot.press("y")
    await wait_for(pilot, lambda: pilot.app.jobs["vectors"].set_id is not None, what="set made")


def test_vector_job_survives_browsing_cancels_and_resumes(drive, slow_batches):
    async def scenario(app, pilot):
        await settle(pilot)
        await create_set(pilot, "pixels", batch_size=2)
        job = app.jobs["vectors"]
        await wait_for(pilot, lambda: job.progress and job.progress.done >= 2)
        # Browse elsewhere: the job goes on (it belongs to the App, not the screen).
        for key in "3142":
            await pilot.press(key)
            await pilot.pause(0.1)
        assert job.running
        done_before = job.progress.done
        await wait_for(pilot, lambda: job.progress.done > done_before, what="progress")
        assert "vectors (pixels):" in screen_text(app)  # the live progress line
        await pilot.press("x")
        await settle(pilot)
        assert job.state == "cancelled"
        stopped = vector_sets.get_set(app.db, job.set_id)
        assert stopped.status == "incomplete" and 0 < stopped.count < 36
        assert "resume: r" in screen_text(app)
        # Resume the highlighted (newest) set.
        await pilot.press("end", "r")
        await settle(pilot)
        resumed = vector_sets.get_set(app.db, job.set_id)
        assert (resumed.count, resumed.status) == (36, "complete")
        assert "36/36" in screen_text(app)

    drive(scenario)


def test_quit_during_a_job_asks_and_leaves_it_resumable(project, slow_batches):
    async def scenario():
        app = make_app(project)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await create_set(pilot, "pixels", batch_size=1)
            job = app.jobs["vectors"]
            await pilot.press("q")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmDialog)
            assert "still running" in screen_text(app)
            await pilot.press("n")  # keep working
            await pilot.pause()
            assert job.running and not isinstance(app.screen, ConfirmDialog)
            await pilot.press("q")
            await pilot.pause()
            await pilot.press("y")
            await wait_for(pilot, lambda: not app.is_running, what="exit")
        return job

    job = run(scenario())
    assert job.state == "cancelled"
    con = store.open_project(project, read_only=True)
    try:
        vector_set = vector_sets.get_set(con, job.set_id)
    finally:
        con.close()
    assert vector_set.status == "incomplete" and 0 < vector_set.count < 36


def test_settings_are_checked_and_saved_in_the_project(project, drive):
    from textual.widgets import Input

    from panoptui.core import settings

    async def scenario(app, pilot):
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        assert screen.query_one("#batch_size", Input).value == "32"
        screen.query_one("#batch_size", Input).value = "lots"
        await pilot.press("ctrl+s")
        assert "a number 1-4096" in screen_text(app)
        assert settings.load(app.db).batch_size == 32  # nothing stored
        screen.query_one("#batch_size", Input).value = "16"
        screen.query_one("#device", Input).value = "cpu"
        screen.query_one("#thumb_size", Input).value = "128"
        screen.query_one("#image_protocol").value = "none"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "saved" in screen_text(app)

    drive(scenario, start="settings")
    con = store.open_project(project, read_only=True)
    try:
        saved = settings.load(con)
    finally:
        con.close()
    assert saved == settings.Settings(
        device="cpu", batch_size=16, thumb_size=128, image_protocol="none"
    )


def test_tags_screen_shows_renames_deletes_and_filters(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        await pilot.press("space", "right", "space", "t")
        await fill_form(pilot, {"tag": "pair"})
        await settle(pilot)
        chosen = {i.image_id for i in results.items[:2]}
        assert set(tags.tag_members(app.db, "pair").tolist()) == chosen
        await pilot.press("4")
        await settle(pilot)
        assert isinstance(app.screen, TagsScreen)
        assert "pair" in screen_text(app) and "2 images selected" in screen_text(app)
        await pilot.press("R")
        await fill_form(pilot, {"name": "duo"})
        await settle(pilot)
        assert "duo" in screen_text(app)
        await pilot.press("enter")  # show the tag's images
        await settle(pilot)
        assert app.screen is results and results.total == 2
        assert {i.image_id for i in results.items} == chosen
        # Untag one of them, from the Results screen.
        await pilot.press("X")  # clear the selection: act on the cursor's image
        await pilot.press("u")
        await fill_form(pilot, {"tag": "duo"})
        await settle(pilot)
        assert len(tags.tag_members(app.db, "duo")) == 1
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("delete")
        await pilot.press("y")
        await settle(pilot)
        assert tags.list_tags(app.db) == []

    drive(scenario)


def test_recommend_for_a_tag_and_accept(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        first = results.items[0]
        tags.tag_images(app.db, "mine", [first.image_id])
        await pilot.press("f")
        await fill_form(pilot, {"tag": "mine"})
        await settle(pilot)
        assert results.total == 1
        await pilot.press("r")
        await fill_form(pilot, {"k": 4})
        await settle(pilot)
        source = results.view.source
        assert isinstance(source, RankedImages) and source.accept_tag == "mine"
        assert len(source.ranked) == 4 and first.image_id not in [i for i, _ in source.ranked]
        assert "a: accept into mine" in screen_text(app)
        best = results.current_item.image_id
        await pilot.press("a")
        await settle(pilot)
        assert set(tags.tag_members(app.db, "mine").tolist()) == {first.image_id, best}
        assert len(source.ranked) == 3 and best not in [i for i, _ in source.ranked]

    drive(scenario)


def test_duplicates_and_map_screens(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        await pilot.press("d")
        await fill_form(pilot, {"threshold": 0.5})
        await settle(pilot)
        assert isinstance(app.screen, DuplicatesScreen)
        groups = app.screen.groups
        assert groups and all(len(g) >= 2 for g in groups)
        assert f"{len(groups)} groups of near-duplicates" in screen_text(app)
        await pilot.press("t")  # one tag per group, under duplicates-SET-THRESHOLD
        await settle(pilot)
        await pilot.press("t")  # a second time: tags of their own, not merged
        await settle(pilot)
        made = {t.name: t.images for t in tags.list_tags(app.db)}
        sizes = [len(g) for g in groups]
        for name in ("duplicates-1-0.5", "duplicates-1-0.5-2"):
            assert [made[f"{name}/{n}"] for n in range(1, len(groups) + 1)] == sizes
        await pilot.press("down", "enter")  # the second group
        await settle(pilot)
        assert app.screen is results and results.total == len(groups[1])
        assert "group 2" in screen_text(app)
        await pilot.press("escape")  # back to the groups, on the same one
        await settle(pilot)
        assert isinstance(app.screen, DuplicatesScreen)
        assert app.screen.query_one("#duplicates").highlighted == 1
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("m")
        await fill_form(pilot, {"method": "pca"})
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MapScreen) and len(screen.ids) == 36
        scatter = screen.query_one("#scatter")
        before = scatter.cursor
        shown = screen.query_one("#map-details .meta").render()
        await pilot.press("left", "left", "up")
        await settle(pilot)
        assert scatter.cursor == (before[0] - 2, before[1] - 1)
        assert "image " in str(screen.query_one("#map-details .meta").render())
        assert shown is not None
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is results and results.total >= 1

    drive(scenario, size=(100, 30))


def test_bad_values_in_a_dialog_are_said_and_the_dialog_stays(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("s")
        await fill_form(pilot, {"k": "many"})
        assert isinstance(app.screen, FormDialog)
        assert "'many' is not a whole number" in screen_text(app)
        await fill_form(pilot, {"k": "0"})
        assert "at least 1" in screen_text(app)
        await pilot.press("escape")
        assert not isinstance(app.screen, FormDialog)
        # Text search with no set that embeds text: a message, no dialog.
        await pilot.press("slash", *"cat", "enter")
        await pilot.pause()
        assert not isinstance(app.screen, FormDialog)
        assert "embeds text" in notices(app)

    drive(scenario)


def test_a_duplicates_threshold_out_of_range_is_refused_in_the_form(drive):
    # Its bounds (-1, 1) were once passed by position into the wrong parameters of Field.
    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("d")
        await fill_form(pilot, {"threshold": "2"})
        assert isinstance(app.screen, FormDialog)
        assert "at most 1" in screen_text(app)
        await fill_form(pilot, {"threshold": "-1.5"})
        assert isinstance(app.screen, FormDialog)
        assert "at least -1" in screen_text(app)
        await pilot.press("escape")
        assert not isinstance(app.screen, FormDialog)
        assert "duplicates" not in app.jobs

    drive(scenario)


def test_fields_take_their_options_by_name_and_refuse_what_cannot_hold():
    with pytest.raises(TypeError):
        Field("threshold", "Cosine at least", "float", 0.9, -1, 1)
    with pytest.raises(ValueError, match="minimum"):
        Field("k", "How many", kind="int", minimum=2, maximum=1)
    with pytest.raises(ValueError, match="bounds"):
        Field("name", "Name", minimum=0)


def test_help_lists_every_binding_and_the_palette_every_action(drive):
    from textual.binding import Binding

    from panoptui.tui.app import PanoptuiApp

    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "Everywhere" in screen_text(app)
        text = str(app.screen.query_one("#help-text").render())  # all of it, scrolled or not
        for cls in [PanoptuiApp, *PanoptuiApp.MODES.values()]:
            for b in cls.BINDINGS:
                if isinstance(b, Binding) and b.description:
                    assert b.description in text, (cls.__name__, b.description)
        await pilot.press("escape")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for needed in ("Project screen", "Vectors screen", "Similar", "Search", "Cluster",
                       "Dups", "Map", "Tag", "Export", "Help", "Quit"):  # fmt: skip
            assert needed in titles, needed

    drive(scenario, size=(100, 60))


def test_a_folder_of_images_is_offered_a_project(tmp_path):
    from panoptui.core.samples import write_samples

    folder = tmp_path / "photos"
    write_samples(folder, per_family=2)
    project = tmp_path / "photos" / ".panoptui"

    async def scenario():
        app = make_app(project, folder=str(folder))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, ConfirmDialog)
            assert "is not a panoptui project" in screen_text(app)
            await pilot.press("y")
            await settle(pilot)
            assert isinstance(app.screen, ProjectScreen)
            assert "12 images" in screen_text(app)

    run(scenario())
    assert store.is_project(project)


def test_filter_by_folder_and_query_within_it(project, drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        stripes = str(project.parent / "images" / "stripes")
        await pilot.press("f")
        options = [v for _, v in app.screen.query_one("#field-folder")._options]
        assert stripes in options and str(project.parent / "images") in options
        await fill_form(pilot, {"folder": stripes})
        await settle(pilot)
        assert results.total == PER_FAMILY
        assert all(family(i.path) == "stripes" for i in results.items)
        await pilot.press("s")
        await fill_form(pilot, {"k": 50})
        await settle(pilot)
        ranked = results.view.source.ranked
        assert len(ranked) == PER_FAMILY - 1  # the rest of the folder, nothing outside
        assert all(family(i.path) == "stripes" for i in results.items)

    drive(scenario)


def test_a_failing_job_is_a_notification_not_a_crash(drive, tmp_path):
    garbage = tmp_path / "weights.pt"
    garbage.write_bytes(b"not a checkpoint")

    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("n")
        await fill_form(pilot, {"custom": "timm:no_such_model_xyz", "device": "cpu"})
        await settle(pilot)
        assert "timm has no model 'no_such_model_xyz'" in notices(app)
        assert app.jobs["vectors"].state == "failed"
        assert "failed" in screen_text(app)
        # A file that is no checkpoint: said in the form, before any job.
        await pilot.press("n")
        await fill_form(pilot, {"custom": "timm:resnet18", "weights": garbage, "device": "cpu"})
        assert isinstance(app.screen, FormDialog)
        assert "not a weights file" in str(app.screen.query_one("#form-error").render())
        await pilot.press("escape")
        await settle(pilot)
        assert [s.model for s in vector_sets.list_sets(app.db)] == ["pixels"]  # nothing made
        assert app.is_running

    drive(scenario, start="vectors")


def test_the_create_vectors_form_says_what_core_would_refuse_and_keeps_what_was_typed(
    drive, tmp_path, monkeypatch
):
    import torch

    # No CUDA here, whatever the machine running the tests has.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    weights = tmp_path / "weights.pt"
    weights.write_bytes(b"PK\x03\x04 a zip, as torch.save writes")

    async def scenario(app, pilot):
        await settle(pilot)
        before = vector_sets.list_sets(app.db)
        await pilot.press("n")
        dialog = app.screen
        dialog.query_one("#field-custom").focus()  # it opens on the model list (Enter opens it)
        typed = {"custom": "pixels", "weights": "", "device": "banana", "batch_size": "8"}
        # Each value core refuses: the reason in the form, which stays open as typed.
        for name, value, reason in [
            ("device", "banana", "unknown device 'banana'"),
            ("device", "cuda:9", "torch sees no CUDA GPU"),
            ("custom", "nope", "unknown model 'nope'"),
            ("weights", str(tmp_path / "missing.pt"), "missing.pt not found"),
            ("weights", "/" + "long-folder-name/" * 30 + "w.pt", "folder-name/w.pt not found"),
            ("batch_size", "5000", "batch size 5000 is out of range: give 1 to 4096"),
        ]:
            typed[name] = value
            # Enter in the focused box, as a user fixing a value does (a second click on OK
            # within the button's 0.2 s press effect would be ignored).
            await fill_form(pilot, typed, submit=False)
            await pilot.press("enter")
            assert app.screen is dialog, name
            error = str(dialog.query_one("#form-error").render())
            assert reason in error and "\n" not in error, (name, error)
            assert len(error) <= ERROR_CELLS  # a long path loses its middle
            assert "Create  Cancel (esc)" in screen_text(app)  # the buttons still in view
            for field, kept in typed.items():
                assert dialog.query_one(f"#field-{field}").value == kept
            assert dialog.focused is dialog.query_one(f"#field-{name}")
            typed[name] = {"custom": "pixels", "weights": "", "device": "cpu"}.get(name, "8")
        assert not app.running_jobs() and vector_sets.list_sets(app.db) == before
        # All values good: the form closes and the job runs with them.
        await fill_form(pilot, typed)
        assert app.screen is not dialog
        await pilot.press("y")  # the demo has a pixels set: compute one again
        await settle(pilot)
        made = vector_sets.list_sets(app.db)[-1]
        assert len(vector_sets.list_sets(app.db)) == len(before) + 1
        assert (made.model, made.batch_size, made.count) == ("pixels", 8, 36)
        # A weights path that exists passes the form (pixels then refuses it in the job).
        await pilot.press("n")
        await fill_form(pilot, {"model": "pixels", "weights": weights, "device": "cpu"})
        assert not isinstance(app.screen, FormDialog)
        await settle(pilot)
        assert "pixels descriptor has no weights" in notices(app)

    drive(scenario, start="vectors")


def test_the_running_sets_row_follows_the_job(drive, slow_batches, monkeypatch):
    from panoptui.tui.screens import vectors as vectors_screen

    monkeypatch.setattr(vectors_screen, "ROW_INTERVAL", 0)  # every progress message

    async def scenario(app, pilot):
        await settle(pilot)
        await create_set(pilot, "pixels", batch_size=2)
        job = app.jobs["vectors"]
        table = app.screen.query_one("#sets")

        def shown_count() -> int:
            return int(str(table.get_row(str(job.set_id))[4]).split("/")[0])

        # While the job runs, the row's count moves with its progress (it read 0/36 until
        # the job ended).
        await wait_for(pilot, lambda: not job.running or shown_count() >= 4, what="row")
        assert job.running and 4 <= shown_count() < 36
        assert "running" in str(table.get_row(str(job.set_id))[6])
        await pilot.press("x")
        await settle(pilot)
        assert shown_count() == vector_sets.get_set(app.db, job.set_id).count

    drive(scenario)


def test_without_an_image_protocol_the_grid_still_works(project):
    async def scenario():
        app = make_app(project)
        app.drawing = prepare("none")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            results = app.screen
            assert "checker_000.jpg" in screen_text(app)
            picture = results.query(".picture").first()
            assert picture.styles.background.a > 0  # the image's mean colour
            await pilot.press("pagedown")
            await settle(pilot)
            assert results.view.offset == results.capacity

    run(scenario())


def test_a_project_error_in_a_key_handler_is_a_notification(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        # Renaming a tag to a name taken: core says no, the App shows it and carries on.
        tags.tag_images(app.db, "a", [1])
        tags.tag_images(app.db, "b", [2])
        app.screen.refresh_tags()
        await pilot.press("R")
        await fill_form(pilot, {"name": "b"})  # the name is taken
        await settle(pilot)
        assert "a tag 'b' exists already" in notices(app)
        assert app.is_running and isinstance(app.screen, TagsScreen)
        assert {t.name for t in tags.list_tags(app.db)} == {"a", "b"}
        await pilot.press("R")  # the screen still hears keys
        assert isinstance(app.screen, FormDialog)
        await pilot.press("escape")

    drive(scenario, start="tags")


def test_clusters_auto_recluster_inside_one_and_save_as_tags(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("c")
        await fill_form(pilot, {"name": "auto"})  # k left blank: chosen automatically
        await settle(pilot)
        top = app.screen
        assert isinstance(top, ClustersScreen) and len(top.clusters) >= 2
        assert sum(c.size for c in top.clusters) == 36
        biggest = max(range(len(top.clusters)), key=lambda n: top.clusters[n].size)
        for _ in range(biggest):
            await pilot.press("down")
        chosen = top.clusters[biggest]
        await pilot.press("r")
        await fill_form(pilot, {"k": 2})
        await settle(pilot)
        inner = app.screen
        assert isinstance(inner, ClustersScreen) and inner is not top
        assert len(inner.clusters) == 2
        assert sorted(i for c in inner.clusters for i in c.ids) == sorted(chosen.ids)
        assert inner.clustering.startswith(f"auto:{chosen.label}/2")
        await pilot.press("t")
        await settle(pilot)
        made = {t.name: t.images for t in tags.list_tags(app.db)}
        assert made[f"{inner.clustering}/0"] + made[f"{inner.clustering}/1"] == chosen.size
        await pilot.press("escape")  # back to the first clustering
        assert app.screen is top

    drive(scenario)


def test_accepting_recommendations_made_from_a_selection(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        seeds = [i.image_id for i in results.items[:2]]
        await pilot.press("space", "right", "space", "r")
        await fill_form(pilot, {"k": 5, "tag": "good"})
        await settle(pilot)
        assert app.selection == set()  # the seeds are not what the user picks next
        ranked = [i for i, _ in results.view.source.ranked]
        assert not set(seeds) & set(ranked)
        await pilot.press("a")  # accept the image under the cursor
        await settle(pilot)
        assert tags.tag_members(app.db, "good").tolist() == [ranked[0]]
        await pilot.press("space", "right", "space", "a")  # accept two selected ones
        await settle(pilot)
        assert set(tags.tag_members(app.db, "good").tolist()) == set(ranked[:3])

    drive(scenario)


def test_list_view_pages_with_the_usual_keys_and_quick_keys_add_up(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        await pilot.press("g")
        await settle(pilot)
        page = results.capacity
        assert results.list_mode and page < 36
        await pilot.press("pagedown")
        await settle(pilot)
        assert results.view.offset == page
        await pilot.press("home")
        await settle(pilot)
        for _ in range(page):  # down past the last row of the page: the next page
            await pilot.press("down")
        await settle(pilot)
        assert results.view.offset == page and results.view.cursor == 0
        await pilot.press("g")
        await settle(pilot)
        # Keys pressed before a page arrives count from where the user is going.
        results.action_edge(0)
        await settle(pilot)
        grid_page = results.capacity
        results.action_page(1)
        results.action_page(1)
        await settle(pilot)
        assert results.view.offset == 2 * grid_page

    drive(scenario)


def test_findings_open_on_results_and_escape_goes_back_to_them(drive, monkeypatch):
    import threading

    from panoptui.core import cluster

    # The clustering waits for the test's go: the user is on another screen when it ends.
    go = threading.Event()
    original = cluster.cluster_set

    def held(*args, **kwargs):
        go.wait(30)
        return original(*args, **kwargs)

    monkeypatch.setattr(cluster, "cluster_set", held)

    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("c")
        await fill_form(pilot, {"k": 3})
        await pilot.press("2")
        await pilot.pause()
        assert app.current_mode == "vectors" and app.jobs["cluster"].running
        go.set()
        await settle(pilot)
        assert app.current_mode == "vectors"  # not pulled away: told, the clusters wait
        await pilot.press("3")
        await settle(pilot)
        assert app.current_mode == "results" and isinstance(app.screen, ClustersScreen)
        clusters = app.screen
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ResultsScreen)
        assert app.screen.total == clusters.clusters[1].size
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ClustersScreen)
        assert app.screen.clusters == clusters.clusters
        assert app.screen.query_one("#clusters").highlighted == 1

    drive(scenario)


def test_no_screen_opens_before_the_project_exists(tmp_path):
    from panoptui.core.samples import write_samples

    folder = tmp_path / "photos"
    write_samples(folder, per_family=1)

    async def scenario():
        app = make_app(folder / ".panoptui", folder=str(folder))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            app.action_screen("settings")
            await pilot.press("4")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmDialog)
            assert [c.title for c in app.get_system_commands(app.screen)] == ["Quit"]
            await pilot.press("n")
            await wait_for(pilot, lambda: not app.is_running, what="exit")

    run(scenario())
    assert not store.is_project(folder / ".panoptui")
