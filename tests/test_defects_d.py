"""Defects of issue 11 (helper D's part): tags shown over an open finding, parent tags, natural
order of tags, dialogs' focus and fields, opening a folder that holds a project, the command
palette across screens, the export dialog, Help's keys. Each test fails without its fix."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import tui_helpers
from tui_helpers import fill_form, screen_text, settle, wait_for

from panoptui.core import tags
from panoptui.tui.screens.dialogs import ConfirmDialog, FormDialog
from panoptui.tui.screens.explore import MapScreen
from panoptui.tui.screens.results import ResultsScreen
from panoptui.tui.screens.tags import TagsScreen

demo_base, project, drive = tui_helpers.demo_base, tui_helpers.project, tui_helpers.drive


async def opened(pilot, screen_class) -> None:
    """Wait until a screen of this class is on top (two CPUs shared by many: never assume)."""
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, screen_class), 30, screen_class)
    await pilot.pause()


def test_a_tag_opened_from_tags_shows_its_images_over_an_open_map(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        tags.tag_images(app.db, "pair", [1, 2])
        # A map open over the Results screen, as a finished map job leaves it.
        ids = np.arange(1, 37, dtype=np.int64)
        points = np.random.default_rng(0).random((36, 2)).astype(np.float32)
        app.show_map(ids, points, np.zeros(36, np.int64), "map")
        await settle(pilot)
        assert isinstance(app.screen, MapScreen)
        await pilot.press("4")
        await settle(pilot)
        assert isinstance(app.screen, TagsScreen)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is results and isinstance(results, ResultsScreen)
        assert results.total == 2 and {i.image_id for i in results.items} == {1, 2}
        assert "tag pair" in screen_text(app)

    drive(scenario)


def make_parent_tag(con, children: int = 12) -> None:
    """A clustering saved as tags: c/1 ... c/N under c, each child with one image."""
    tags.create_tag(con, "c")
    for n in range(1, children + 1):
        tags.create_tag(con, f"c/{n}", parent="c")
        tags.tag_images(con, f"c/{n}", [n])


def test_parent_tags_show_count_and_delete_their_children_in_natural_order(project):
    from panoptui.core import browse, store

    con = store.open_project(project)
    try:
        make_parent_tag(con)
        tags.create_tag(con, "c/2/a", parent="c/2")  # a grandchild
        tags.tag_images(con, "c/2/a", [30])
        tags.tag_images(con, "top", [5])
        listed = tags.list_tags(con)
        names = [t.name for t in listed]
        # Natural order, each tag followed by those under it.
        assert names[:5] == ["c", "c/1", "c/2", "c/2/a", "c/3"]
        assert names[-3:] == ["c/11", "c/12", "top"]
        counts = {t.name: t.images for t in listed}
        # A parent counts its own images and those under it, as its view shows them.
        assert counts["c"] == 13 and counts["c/2"] == 2 and counts["c/2/a"] == 1
        assert {t.name: t.depth for t in listed}["c/2/a"] == 2
        flt = browse.ImageFilter(tag="c")
        assert browse.count_images(con, flt) == 13
        assert set(browse.filter_ids(con, flt).tolist()) == {*range(1, 13), 30}
        assert tags.tag_members(con, "c").tolist() == [*range(1, 13), 30]
        assert tags.child_tags(con, "c")[:3] == ["c/1", "c/2", "c/3"]
        under = tags.tags_under(con, "c")
        assert len(under) == 13 and under[:4] == ["c/1", "c/2", "c/2/a", "c/3"]
        assert tags.delete_tag(con, "c") == under
        assert [t.name for t in tags.list_tags(con)] == ["top"]
        # Nothing left behind: no tag whose parent is gone, no image tagged by a deleted tag.
        assert store.scalar(con, "SELECT count(*) FROM tags") == 1
        assert store.scalar(con, "SELECT count(*) FROM image_tags") == 1
    finally:
        con.close()


def test_deleting_a_parent_tag_says_what_goes_and_the_cursor_stays_near(drive):
    async def scenario(app, pilot):
        make_parent_tag(app.db)
        tags.tag_images(app.db, "d", [20])
        await pilot.press("4")
        await settle(pilot)
        table = app.screen.query_one("#tags")
        # c, c/1 ... c/12, d: the cursor on c/10 (row 10).
        table.move_cursor(row=10)
        await pilot.pause()
        assert app.screen.highlighted == "c/10"
        await pilot.press("R")
        await opened(pilot, FormDialog)
        await pilot.pause()
        assert isinstance(app.screen, FormDialog)
        app.screen.query_one("#field-name").value = "c/0"
        await pilot.press("enter")
        await settle(pilot)
        # Renamed c/0 sorts first among c's: the cursor follows it.
        assert app.screen.highlighted == "c/0" and table.cursor_row == 1
        table.move_cursor(row=5)  # c/4
        await pilot.pause()
        await pilot.press("delete")
        await opened(pilot, ConfirmDialog)
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        assert table.cursor_row == 5 and app.screen.highlighted == "c/5"
        table.move_cursor(row=0)
        await pilot.pause()
        await pilot.press("delete")
        await opened(pilot, ConfirmDialog)
        await pilot.pause()
        question = app.screen.question
        assert "Delete tag c and the 11 tags under it" in question
        assert "(c/0, c/1, c/2, c/3, c/5 and 6 more)" in question
        assert "11 tags under it" in screen_text(app)
        await pilot.press("y")
        await settle(pilot)
        assert [t.name for t in tags.list_tags(app.db)] == ["d"]
        assert app.screen.highlighted == "d"

    drive(scenario)


def test_dialogs_open_on_their_first_field_and_selects_find_by_first_letters(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        for name in ("alpha", "beta", "bravo", "Brown"):
            tags.tag_images(app.db, name, [1])
        for key, field in (("f", "where"), ("u", "tag"), ("m", "set_id")):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, FormDialog), (key, app.screen, app.focused)
            assert app.focused is app.screen.query_one(f"#field-{field}"), key
            await pilot.press("escape")
            await settle(pilot)
            results.query_one("#grid").focus()  # keys to the grid, wherever focus went back
        await pilot.press("f")
        await opened(pilot, FormDialog)
        await pilot.pause()
        select = app.screen.query_one("#field-tag")
        select.focus()  # below the filter expression (issue 13)
        await pilot.pause()
        await pilot.press("b", "r")  # typed on the closed select: "br" finds bravo
        await pilot.pause()
        assert select.value == "bravo" and not select.expanded
        await pilot.press("o")  # "bro": Brown, whatever its case
        await pilot.pause()
        assert select.value == "Brown"
        await asyncio.sleep(0.8)  # a pause: the next letters start a new search
        await pilot.press("a")
        await pilot.pause()
        assert select.value == "alpha" and app.current_mode == "results"
        await pilot.click("#ok")
        await settle(pilot)
        assert app.screen is results and "tag alpha" in screen_text(app)

    drive(scenario)


def test_the_cluster_dialog_refuses_a_number_for_a_name(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("c")
        await opened(pilot, FormDialog)
        await pilot.pause()
        await fill_form(pilot, {"name": "12"})
        assert isinstance(app.screen, FormDialog)  # still open, saying why
        assert "'12' is a number" in screen_text(app)
        assert "cluster" not in app.jobs
        await fill_form(pilot, {"k": 3, "name": "twelve"})
        await settle(pilot)
        assert app.jobs["cluster"].state == "done"

    drive(scenario)


def test_complete_path_completes_as_a_shell_does(tmp_path, monkeypatch):
    from panoptui.tui.screens.dialogs import complete_path

    (tmp_path / "photos-2024").mkdir()
    (tmp_path / "photos-2025").mkdir()
    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "inner").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden").mkdir()
    root = str(tmp_path)
    assert complete_path(f"{root}/ph") == f"{root}/photos-202"  # what both share
    assert complete_path(f"{root}/photos-202") is None  # two differ at once
    assert complete_path(f"{root}/sc") == f"{root}/scans/"  # one folder: into it
    assert complete_path(f"{root}/scans/") == f"{root}/scans/inner/"
    assert complete_path(f"{root}/no", folders_only=True) is None
    assert complete_path(f"{root}/no") == f"{root}/notes.txt"
    assert complete_path(f"{root}/.h") == f"{root}/.hidden/"
    assert complete_path(f"{root}/nowhere/x") is None
    monkeypatch.setenv("HOME", root)
    assert complete_path("~/sc") == "~/scans/"  # what was typed is kept
    monkeypatch.chdir(tmp_path)
    assert complete_path("sca") == "scans/"


def test_the_add_folder_path_completes_with_tab(drive, tmp_path):
    (tmp_path / "holiday-photos").mkdir()

    async def scenario(app, pilot):
        await pilot.press("a")
        await opened(pilot, FormDialog)
        await pilot.pause()
        field = app.screen.query_one("#field-folder")
        assert app.focused is field
        field.value = str(tmp_path / "holi")
        field.cursor_position = len(field.value)
        await pilot.press("tab")
        await pilot.pause()
        assert field.value == f"{tmp_path}/holiday-photos/"
        assert app.focused is field  # Tab completed; it did not move on
        await pilot.press("tab")  # a folder with nothing in it: nothing to add, Tab moves on
        await pilot.pause()
        assert app.focused is not field

    drive(scenario, start="project")


def test_the_palette_finds_every_screens_actions_and_runs_them_there(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        assert isinstance(app.screen, TagsScreen)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        # Tags' own by their names; every other screen's by its title and name.
        for needed in ("Rename", "Delete", "Results: Similar", "Results: Filter",
                       "Results: Cluster", "Vectors: New vectors", "Vectors: Delete",
                       "Project: Add", "Settings: Save", "Results screen", "Help"):  # fmt: skip
            assert needed in commands, needed
        assert "Tags: Rename" not in commands
        commands["Results: Filter"].callback()
        await settle(pilot)
        assert app.current_mode == "results" and isinstance(app.screen, FormDialog)
        assert app.screen.title_text == "Show images"
        await pilot.press("escape")
        await settle(pilot)
        # From Results, over an open map: the Vectors screen's action runs there.
        app.show_map(np.arange(1, 4), np.zeros((3, 2), np.float32), np.zeros(3, np.int64), "m")
        await settle(pilot)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert "Open" in commands and "Results: Similar" in commands
        commands["Vectors: New vectors"].callback()
        await settle(pilot)
        assert app.current_mode == "vectors" and isinstance(app.screen, FormDialog)
        assert app.screen.title_text == "Create new vectors"
        await pilot.press("escape")
        await settle(pilot)
        # Through the palette itself, typed as a user would: Tags' delete, from Vectors.
        tags.tag_images(app.db, "gone", [3])
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Tags: Delete")
        await wait_for(pilot, lambda: "Tags: Delete" in screen_text(app), 30, "the command")
        await pilot.press("enter")
        await opened(pilot, ConfirmDialog)
        assert app.current_mode == "tags" and "Delete tag gone?" in app.screen.question
        await pilot.press("y")
        await settle(pilot)
        assert tags.list_tags(app.db) == [] and isinstance(app.screen, TagsScreen)

    drive(scenario, start="tags")


def test_help_lists_esc(drive):
    from panoptui.tui.screens.help import HelpScreen

    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("question_mark")
        await opened(pilot, HelpScreen)
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        everywhere = text.split("\n\n")[0]
        assert "esc " in everywhere and "closes a dialog" in everywhere
        assert "esc                Cancel" in text  # a form's
        assert "n, esc             No" in text  # a question's
        assert "esc, q, ?          Close" in text  # Help's own
        assert "tab, shift+tab" in text

    drive(scenario, size=(100, 60))


def test_opening_a_folder_that_holds_a_project_opens_it(tmp_path, monkeypatch):
    import argparse

    import pytest

    from panoptui.cli import app as cli
    from panoptui.core import store

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    opened: list[tuple[object, ...]] = []
    monkeypatch.setattr(cli, "_run_app", lambda *args, **kw: opened.append((*args, kw)) or 0)

    def open_path(path) -> tuple[object, ...]:
        opened.clear()
        assert cli.cmd_open(argparse.Namespace(path=str(path), image_protocol=None)) == 0
        return opened[0]

    # The demo's layout: FOLDER/images and FOLDER/project.
    demo = tmp_path / "demo"
    (demo / "images").mkdir(parents=True)
    store.open_project(demo / "project", create=True).close()
    assert open_path(demo) == (demo / "project", None, "results", {})
    # A folder opened before: FOLDER/.panoptui, even where the folder is read-only now (whose
    # default project would be in the user's data folder).
    photos = tmp_path / "photos"
    photos.mkdir()
    assert open_path(photos) == (
        cli.default_project_for(photos),
        None,
        "project",
        {"folder": str(photos)},
    )  # nothing there yet: offered one
    store.open_project(photos / ".panoptui", create=True).close()
    monkeypatch.setattr(cli.os, "access", lambda path, mode: False)
    assert open_path(photos) == (photos / ".panoptui", None, "results", {})
    # Two projects in one folder: the user says which, in one line.
    store.open_project(demo / "other", create=True).close()
    with pytest.raises(store.ProjectError, match="holds 2 projects .other, project.; open one"):
        open_path(demo)


def test_export_asks_to_overwrite_in_the_dialog_and_remembers_the_path(
    drive, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "mine.csv"
    target.write_text("precious")

    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("e")
        await opened(pilot, FormDialog)
        await pilot.pause()
        field = app.screen.query_one("#field-file")
        # First export of the project: a file in the current folder, ready to go.
        assert field.value == str(tmp_path / "panoptui-export.csv") and app.focused is field
        await fill_form(pilot, {"file": "mine.txt"})  # a wrong extension: said in the form
        assert isinstance(app.screen, FormDialog) and "name a .csv or .parquet" in screen_text(app)
        await fill_form(pilot, {"file": str(target)})
        await opened(pilot, ConfirmDialog)
        assert "mine.csv exists" in app.screen.question
        await pilot.press("n")  # back to the form, the path as typed
        await opened(pilot, FormDialog)
        assert field.value == str(target)
        assert target.read_text() == "precious"
        await pilot.press("enter")  # Enter in the path field: asked again
        await opened(pilot, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        assert app.screen.__class__.__name__ == "ResultsScreen"
        assert app.jobs["export"].state == "done"
        assert target.read_text().startswith("path,")
        await pilot.press("e")  # the next export proposes the same file
        await opened(pilot, FormDialog)
        await pilot.pause()
        assert app.screen.query_one("#field-file").value == str(target)

    drive(scenario)


def test_the_cli_lists_tags_as_a_tree_and_says_what_a_delete_took(tmp_path):
    from helpers import run_cli

    from panoptui.core import store

    project = tmp_path / "project"
    con = store.open_project(project, create=True)
    for n in (10, 2, 1):
        tags.create_tag(con, f"c/{n}", parent="c")
    tags.create_tag(con, "c/2/x", parent="c/2")
    tags.create_tag(con, "other")
    con.close()
    listed = run_cli("tags", str(project))
    assert listed.returncode == 0, listed.stderr
    assert [line.split("  (")[0] for line in listed.stdout.splitlines()] == [
        "c", "  c/1", "  c/2", "    c/2/x", "  c/10", "other"
    ]  # fmt: skip
    done = run_cli("tags", str(project), "--delete", "c", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "deleted 4 tags under 'c' too"
    assert json.loads(done.stdout) == [
        {"name": "other", "parent": None, "images": 0, "property": "tags"}
    ]
